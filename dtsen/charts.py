"""Charts for people in the Dagster UI: PNG files rendered with matplotlib, embedded in asset metadata."""
from __future__ import annotations

import base64
import os

import matplotlib

matplotlib.use("Agg")  # no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def bar_chart(df: pd.DataFrame, x: str, ys: list[str], title: str, path: str, ylabel: str = "",
              horizontal: bool = False, labels: dict[str, str] | None = None) -> str:
    """Grouped bars of columns `ys` over categories `x`; writes a PNG and returns its path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    n = len(df)
    fig, ax = plt.subplots(figsize=(9, max(3.5, 0.28 * n) if horizontal else 4.5), dpi=100)
    pos = np.arange(n)
    width = 0.8 / max(len(ys), 1)
    for i, y in enumerate(ys):
        off = pos + (i - (len(ys) - 1) / 2) * width
        name = (labels or {}).get(y, y)
        if horizontal:
            ax.barh(off, df[y].to_numpy(dtype=float), height=width, label=name)
        else:
            ax.bar(off, df[y].to_numpy(dtype=float), width=width, label=name)
    ticks = df[x].astype(str).to_list()
    if horizontal:
        ax.set_yticks(pos, ticks, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(ylabel)
    else:
        ax.set_xticks(pos, ticks)
        ax.set_ylabel(ylabel)
    if len(ys) > 1:
        ax.legend(fontsize=8)
    ax.set_title(title)
    ax.grid(axis="x" if horizontal else "y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def png_markdown(path: str, alt: str) -> str:
    """Markdown that shows the PNG inline in the Dagster UI (a data URI: no file server needed)."""
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode()
    return f"![{alt}](data:image/png;base64,{data})"

"""Charts for people in the Dagster UI: PNG files rendered with matplotlib, embedded in asset metadata."""

from __future__ import annotations

import base64
import os

import numpy as np
import pandas as pd


class _Pyplot:
    """matplotlib.pyplot imported on first use, without a display (the code location loads faster without it)."""

    def __getattr__(self, name):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot

        return getattr(matplotlib.pyplot, name)


plt = _Pyplot()


def bar_chart(
    df: pd.DataFrame,
    x: str,
    ys: list[str],
    title: str,
    path: str,
    ylabel: str = "",
    horizontal: bool = False,
    labels: dict[str, str] | None = None,
) -> str:
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


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def threshold_chart(curve: pd.DataFrame, chosen: float, title: str, path: str) -> str:
    """Pairwise precision, recall and F1 against the clustering threshold, the chosen threshold marked. The x axis
    is -log10(1 - threshold), so 0.9, 0.99 and 0.999 sit evenly apart."""
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    x = -np.log10(1 - curve["threshold"].astype(float).clip(upper=1 - 1e-9))
    for col, style in (("precision", "o-"), ("recall", "s-"), ("f1", "^-")):
        ax.plot(x, curve[col].astype(float), style, label=col)
    cx = -np.log10(1 - chosen)
    ax.axvline(cx, color="black", linestyle="--", linewidth=1)
    f1_at = np.interp(cx, x, curve["f1"].astype(float))
    ax.annotate(
        f"chosen {chosen:g}\nF1 {f1_at:.4f}", (cx, f1_at), xytext=(8, -30), textcoords="offset points", fontsize=8
    )
    ax.set_xticks(x, [f"{t:g}" for t in curve["threshold"]], fontsize=7)
    ax.set_xlabel("match probability threshold")
    ax.set_ylabel("pairwise score")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def match_weights_chart(weights: pd.DataFrame, title: str, path: str) -> str:
    """Match weight (log2 m/u) of every comparison level, grouped by comparison (the model's evidence)."""
    n = len(weights)
    fig, ax = plt.subplots(figsize=(9, max(4, 0.24 * n)), dpi=100)
    pos = np.arange(n)
    w = weights["match_weight"].astype(float).to_numpy()
    colors = np.where(w >= 0, "#3a7d44", "#b33c3c")
    ax.barh(pos, w, color=colors)
    ax.set_yticks(pos, [f"{c}: {lv}" for c, lv in zip(weights["comparison"], weights["level"])], fontsize=6.5)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("match weight (bits of evidence: log2 m/u)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def error_by_group_chart(
    df: pd.DataFrame, label: str, cols: dict[str, str], sizes: str, national: dict[str, float], title: str, path: str
) -> str:
    """Horizontal grouped bars per group (e.g. province) with the sample size in each label and the national value
    of each measure as a dashed line of the same colour: a province's 71% on 7 families reads as what it is."""
    n = len(df)
    fig, ax = plt.subplots(figsize=(9, max(4, 0.3 * n)), dpi=100)
    pos = np.arange(n)
    width = 0.8 / max(len(cols), 1)
    for i, (col, name) in enumerate(cols.items()):
        bars = ax.barh(
            pos + (i - (len(cols) - 1) / 2) * width, df[col].astype(float).to_numpy(), height=width, label=name
        )
        if col in national and national[col] == national[col]:
            ax.axvline(
                national[col],
                color=bars.patches[0].get_facecolor() if bars.patches else None,
                linestyle="--",
                linewidth=1,
                label=f"{name}, national {national[col]:.1%}",
            )
    ax.set_yticks(pos, [f"{g} (n={int(s):,})" for g, s in zip(df[label], df[sizes])], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("share")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def desil_profile_chart(profile: pd.DataFrame, title: str, path: str) -> str:
    """Per national desil: predicted monthly consumption per capita (median and 10-90% range); with the truth, the
    share of people who are truly in the bottom 40% on a second axis. Shows how well the desil separate people,
    which the people-per-desil bars (a tenth each, by construction) cannot."""
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    x = profile["desil"].astype(int).to_numpy()
    med = profile["pcc_median"].astype(float).to_numpy() / 1000
    lo = profile["pcc_p10"].astype(float).to_numpy() / 1000
    hi = profile["pcc_p90"].astype(float).to_numpy() / 1000
    ax.bar(x, med, color="#5b8db8", label="predicted consumption per capita (median)")
    ax.errorbar(
        x, med, yerr=[med - lo, hi - med], fmt="none", ecolor="black", capsize=3, linewidth=0.8, label="10-90% range"
    )
    ax.set_xticks(x)
    ax.set_xlabel("national desil (1 = poorest tenth of people)")
    ax.set_ylabel("thousand rupiah per person per month")
    if "true_bottom40_share" in profile and profile["true_bottom40_share"].notna().any():
        ax2 = ax.twinx()
        ax2.plot(
            x,
            profile["true_bottom40_share"].astype(float) * 100,
            "o-",
            color="#c0504d",
            label="truly in the bottom 40% (%)",
        )
        ax2.set_ylim(0, 100)
        ax2.set_ylabel("% of people truly in the bottom 40%")
        ax2.legend(fontsize=7, loc="upper center")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)

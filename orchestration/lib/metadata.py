"""How asset metadata reads in the Dagster UI: tables with whole numbers as whole numbers."""

from __future__ import annotations

import math
import numbers

import pandas as pd


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, numbers.Integral):
        return f"{int(v):,}"
    if isinstance(v, numbers.Real):
        f = float(v)
        return f"{int(f):,}" if f.is_integer() and abs(f) < 1e15 else f"{f:,.4f}".rstrip("0").rstrip(".")
    return str(v).replace("|", "\\|").replace("\n", " ")


def md_table(df: pd.DataFrame | None) -> str:
    """A Markdown table: counts and rupiah as whole numbers with thousands separators (a sum that DuckDB returns
    as a wide integer or a float shows as 7,548, not 7548.0), shares with up to four decimals."""
    if df is None or len(df) == 0:
        return "_no rows_"
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)

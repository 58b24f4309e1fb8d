"""Vectorised text operations on pandas object Series via pyarrow compute (C++), for million-row columns."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _arrow(s: pd.Series) -> pa.Array:
    return pa.array(s.to_numpy(dtype=object), type=pa.string(), from_pandas=True)


def _back(arr: pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(arr.to_pandas(), index=index).astype(object).where(lambda x: x.notna(), None)


def upper_single_spaced(s: pd.Series) -> pd.Series:
    """Upper case, runs of white space collapsed to one space, no surrounding spaces."""
    a = pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.utf8_upper(_arrow(s)), r"\s+", " "))
    return _back(a, s.index)

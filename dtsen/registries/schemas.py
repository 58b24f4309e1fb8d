"""pandera checks for small delivered frames (the banks' and PT Pos' reconciliation files).

The registries' row rules run inside DuckDB (`rules.py`): the same contract words, evaluated where the file is read.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from .rules import DEFAULT_MAX_LENGTH, MAX_LENGTH


def one_of(allowed: set[str], label: str) -> pa.Check:
    return pa.Check(lambda s: s.isin(sorted(allowed)), error=f"{label} not one of {sorted(allowed)}")


def date_checks(col: str, fmt: str, limit: pd.Timestamp) -> list[pa.Check]:
    """Checks on a text date column and its parsed companion `<col>__date` (parsed by the reader).

    DataFrame-level checks: the error text starts with the field name, which `failures` reports."""
    parsed = col + "__date"
    label = fmt.replace("%d", "DD").replace("%m", "MM").replace("%Y", "YYYY")
    return [
        pa.Check(lambda df: df[col].isna() | df[parsed].notna(), error=f"{col} not a valid {label} date"),
        pa.Check(
            lambda df: df[parsed].isna() | (pd.to_datetime(df[parsed]) < limit), error=f"{col} after the delivery month"
        ),
    ]


def non_negative(label: str) -> pa.Check:
    return pa.Check(lambda s: pd.to_numeric(s, errors="coerce") >= 0, error=f"{label} not a non-negative number")


def _col(*checks: pa.Check, required: bool = False) -> pa.Column:
    return pa.Column(checks=list(checks), nullable=not required, required=True, coerce=False)


def too_long(df: pd.DataFrame) -> pd.DataFrame:
    """Text values over their column's MAX_LENGTH: index, field, value (its start), reason."""
    parts = []
    for c in df.columns:
        if c.startswith("_") or c.endswith("__date") or df[c].dtype != object:
            continue
        limit = MAX_LENGTH.get(c.lower(), DEFAULT_MAX_LENGTH)
        lengths = df[c].str.len()
        bad = (lengths > limit).fillna(False).to_numpy()
        if bad.any():
            idx = bad.nonzero()[0]
            parts.append(
                pd.DataFrame(
                    {
                        "index": idx,
                        "field": c,
                        "value": df[c].to_numpy()[idx].astype(str),
                        "reason": [
                            f"{c} longer than {limit} characters ({n:,})" for n in lengths.to_numpy()[idx].astype(int)
                        ],
                    }
                )
            )
    if not parts:
        return pd.DataFrame(
            {
                "index": pd.Series(dtype="int64"),
                "field": pd.Series(dtype=object),
                "value": pd.Series(dtype=object),
                "reason": pd.Series(dtype=object),
            }
        )
    out = pd.concat(parts, ignore_index=True)
    out["value"] = out["value"].str.slice(0, 60) + "..."
    return out


def failures(schema: pa.DataFrameSchema, df: pd.DataFrame) -> pd.DataFrame:
    """Validate lazily; return one row per failing (row, field): index, field, value, reason."""
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as e:
        fc = e.failure_cases
        fc = fc[fc["index"].notna()]
        # dataframe-level checks report every column of a failing row: keep the field their message names
        frame_level = fc["schema_context"].astype(str) == "DataFrameSchema"
        named = fc["check"].astype(str).str.split(" ").str[0]
        fc = fc[~frame_level | (fc["column"].astype(str) == named)]
        reason = fc["check"].astype(str).replace({"not_nullable": "required value missing"})
        field = fc["column"].astype(object)
        return pd.DataFrame(
            {
                "index": fc["index"].astype("int64").to_numpy(),
                "field": field.to_numpy(),
                "value": fc["failure_case"].astype(str).str.slice(0, 200).to_numpy(),
                "reason": reason.to_numpy(),
            }
        )
    return pd.DataFrame(
        {
            "index": pd.Series(dtype="int64"),
            "field": pd.Series(dtype=object),
            "value": pd.Series(dtype=object),
            "reason": pd.Series(dtype=object),
        }
    )


def split(
    df: pd.DataFrame,
    rejects: pd.DataFrame,
    path: str,
    fails: pd.DataFrame,
    source: str,
    delivery: str,
    extra_bad: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accepted rows and quarantine rows (reader rejects + schema failures + extra row problems) of a frame."""
    q_parts = []
    if len(rejects):
        q_parts.append(rejects.assign(file=path))
    bad = pd.concat(
        [b for b in (fails, extra_bad, too_long(df)) if b is not None and len(b)] or [fails], ignore_index=True
    )
    bad["index"] = bad["index"].astype("int64")
    if len(bad):
        lines = df["_line"].to_numpy()[bad["index"].to_numpy()]
        q_parts.append(
            pd.DataFrame(
                {
                    "line": lines,
                    "field": bad["field"].to_numpy(),
                    "value": bad["value"].to_numpy(),
                    "reason": bad["reason"].to_numpy(),
                    "file": path,
                }
            )
        )
    q = (
        pd.concat(q_parts, ignore_index=True)
        if q_parts
        else pd.DataFrame(columns=["line", "field", "value", "reason", "file"])
    )
    q = q.assign(source=source, delivery=delivery)[["source", "delivery", "file", "line", "field", "value", "reason"]]
    q = q.sort_values(["file", "line", "field"], kind="stable").reset_index(drop=True)
    accepted = df.drop(index=bad["index"].unique()) if len(bad) else df
    return accepted.reset_index(drop=True), q

"""NIK and KK structure: parse and validate vectorised (pandas), used by ingestion and linkage.

NIK = PPKKCC DDMMYY NNNN: district of first issue, birth date (women: day + 40), serial from 0001.
An invalid NIK is flagged (and not used as a key), never a reason to drop the record (docs: Programmes and rules, rule 1).
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa

NIK_FLAGS = ("missing", "bad_format", "bad_date", "unknown_district")


def mask_nik(nik: pd.Series) -> pd.Series:
    """Keep only the region part (first 6 digits) of an identifier for display."""
    s = nik.astype(object).where(nik.notna(), None)
    return (s.str[:6] + "*" * 10).where(s.notna(), None)


def nik_flag_sql(col: str, districts_table: str | None = None) -> str:
    """SQL expression for the NIK flag (NULL when valid): missing, bad_format (not 16 digits), bad_date (DDMMYY,
    women's day + 40, is no calendar date of 20YY), unknown_district (first 6 digits not a district code).

    districts_table: a relation with one column `kode` of known district codes (None: not checked)."""
    dd = f"TRY_CAST(substr({col}, 7, 2) AS INTEGER)"
    day = f"({dd} - CASE WHEN {dd} > 40 THEN 40 ELSE 0 END)"
    mm, yy = f"TRY_CAST(substr({col}, 9, 2) AS INTEGER)", f"TRY_CAST(substr({col}, 11, 2) AS INTEGER)"
    # calendar arithmetic, not a date parse: every 20YY year divisible by 4 is a leap year (2000 included)
    is_date = (
        f"({mm} BETWEEN 1 AND 12 AND {day} BETWEEN 1 AND CASE WHEN {mm} = 2 THEN 28 + ({yy} % 4 = 0)::INT "
        f"WHEN {mm} IN (4, 6, 9, 11) THEN 30 ELSE 31 END)"
    )
    unknown = (
        f"WHEN substr({col}, 1, 6) NOT IN (SELECT kode FROM {districts_table}) THEN 'unknown_district' "
        if districts_table
        else ""
    )
    return (
        f"CASE WHEN {col} IS NULL THEN 'missing' "
        f"WHEN NOT regexp_full_match({col}, '[0-9]{{16}}') THEN 'bad_format' "
        f"WHEN NOT {is_date} THEN 'bad_date' {unknown}END"
    )


def identity_sql(nik: str, kk: str, sex: str, bd: str) -> str:
    """Select list of the identity columns over a relation that has `nik_flag` (from `nik_flag_sql`) and the
    given columns: nik, nik_raw, nik_flag, nik_date_mismatch, nik_sex_mismatch, no_kk, no_kk_raw, no_kk_flag."""
    dd = f"TRY_CAST(substr({nik}, 7, 2) AS INTEGER)"
    return f"""CASE WHEN nik_flag IS NULL THEN {nik} END AS nik, {nik} AS nik_raw, nik_flag,
        coalesce(nik_flag IS NULL AND {bd} IS NOT NULL AND
            (substr({nik}, 9, 4) <> strftime({bd}, '%m%y')
             OR {dd} - CASE WHEN {dd} > 40 THEN 40 ELSE 0 END <> day({bd})), false) AS nik_date_mismatch,
        coalesce(nik_flag IS NULL AND {sex} IS NOT NULL AND (({dd} > 40) <> ({sex} = 2)), false) AS nik_sex_mismatch,
        CASE WHEN regexp_full_match({kk}, '[0-9]{{16}}') THEN {kk} END AS no_kk, {kk} AS no_kk_raw,
        CASE WHEN {kk} IS NULL THEN 'missing' WHEN NOT regexp_full_match({kk}, '[0-9]{{16}}')
             THEN 'bad_format' END AS no_kk_flag"""


def identity_columns(
    nik: pd.Series, kk: pd.Series, sex: pd.Series, birth_date: pd.Series, districts: set[str]
) -> pd.DataFrame:
    """NIK/KK flags and NIK-vs-record cross-checks for many rows at once (DuckDB, vectorised).

    Returns nik, nik_raw, nik_flag, nik_date_mismatch, nik_sex_mismatch, no_kk, no_kk_raw, no_kk_flag."""
    con = duckdb.connect()
    try:
        con.register(
            "t",
            pa.table(
                {
                    "rn": pa.array(range(len(nik)), type=pa.int64()),
                    "nik": pa.array(nik.to_numpy(dtype=object), type=pa.string()),
                    "kk": pa.array(kk.to_numpy(dtype=object), type=pa.string()),
                    "sex": pa.array(
                        pd.to_numeric(sex, errors="coerce").astype("Int8").to_numpy(dtype=object), type=pa.int8()
                    ),
                    "bd": pa.array(pd.to_datetime(birth_date, errors="coerce").to_numpy(), type=pa.timestamp("ns")),
                }
            ),
        )
        con.register("districts", pa.table({"kode": pa.array(sorted(districts), type=pa.string())}))
        out = con.sql(f"""
            WITH f AS (SELECT *, {nik_flag_sql("nik", "districts")} AS nik_flag FROM t)
            SELECT {identity_sql("nik", "kk", "sex", "bd")}
            FROM f ORDER BY rn""").arrow()  # DuckDB scans in parallel: the order must be asked for
    finally:
        con.close()
    df = out.to_pandas() if hasattr(out, "to_pandas") else out.read_all().to_pandas()
    df.index = nik.index
    return df

"""NIK and KK structure: parse and validate vectorised (pandas), used by ingestion and linkage.

NIK = PPKKCC DDMMYY NNNN: district of first issue, birth date (women: day + 40), serial from 0001.
An invalid NIK is flagged (and not used as a key), never a reason to drop the record (DOMAIN.md rule 1).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

NIK_FLAGS = ("missing", "bad_format", "bad_date", "unknown_district")


def _matches(s: pd.Series, pattern: str) -> pd.Series:
    """Boolean full-match of an object Series (nulls do not match)."""
    return s.str.fullmatch(pattern).astype("boolean").fillna(False).astype(bool)


def _valid_date(y: pd.Series, m: pd.Series, d: pd.Series) -> pd.Series:
    return pd.to_datetime(pd.DataFrame({"year": y, "month": m, "day": d}), errors="coerce")


def parse_nik(nik: pd.Series, districts: set[str] | None = None) -> pd.DataFrame:
    """Split NIKs into parts and a flag: None when valid, else one of NIK_FLAGS.

    Returns columns nik_flag, district, female (bool), birth_day, birth_month, birth_yy, serial.
    """
    s = nik.astype(object).where(nik.notna(), None).str.strip()
    fmt = _matches(s, r"\d{16}")
    dd = pd.to_numeric(s.str[6:8].where(fmt), errors="coerce")
    mm = pd.to_numeric(s.str[8:10].where(fmt), errors="coerce")
    yy = pd.to_numeric(s.str[10:12].where(fmt), errors="coerce")
    female = (dd > 40).where(fmt)
    day = dd - np.where(dd > 40, 40, 0)
    ok_date = _valid_date(2000 + yy, mm, day).notna() & fmt  # 2000 is a leap year: 29 Feb is allowed
    district = s.str[:6].where(fmt)
    flag = pd.Series(None, index=nik.index, dtype="object")
    flag = flag.mask(s.isna() | (s == ""), "missing")
    flag = flag.mask(flag.isna() & ~fmt, "bad_format")
    flag = flag.mask(flag.isna() & ~ok_date, "bad_date")
    if districts is not None:
        unknown = ~district.isin(districts).fillna(False).astype(bool)
        flag = flag.mask(flag.isna() & unknown, "unknown_district")
    return pd.DataFrame({
        "nik_flag": flag, "district": district, "female": female.where(fmt),
        "birth_day": day.where(ok_date), "birth_month": mm.where(ok_date), "birth_yy": yy.where(ok_date),
        "serial": s.str[12:16].where(fmt),
    }, index=nik.index)


def nik_date_mismatch(parts: pd.DataFrame, birth_date: pd.Series) -> pd.Series:
    """True where a structurally valid NIK's embedded date disagrees with the recorded birth date."""
    bd = pd.to_datetime(birth_date, errors="coerce")
    have = parts["birth_day"].notna() & bd.notna()
    same = (parts["birth_day"] == bd.dt.day) & (parts["birth_month"] == bd.dt.month) & \
        (parts["birth_yy"] == bd.dt.year % 100)
    return (have & ~same).astype(bool)


def nik_sex_mismatch(parts: pd.DataFrame, sex: pd.Series) -> pd.Series:
    """True where the +40 sex marker disagrees with the recorded sex (1 male, 2 female)."""
    have = parts["female"].notna() & sex.notna()
    return (have & (parts["female"].astype("boolean") != (sex == 2))).fillna(False).astype(bool)


def kk_flag(kk: pd.Series) -> pd.Series:
    s = kk.astype(object).where(kk.notna(), None).str.strip()
    flag = pd.Series(None, index=kk.index, dtype="object")
    flag = flag.mask(s.isna() | (s == ""), "missing")
    return flag.mask(flag.isna() & ~_matches(s, r"\d{16}"), "bad_format")


def mask_nik(nik: pd.Series) -> pd.Series:
    """Keep only the region part (first 6 digits) of an identifier for display."""
    s = nik.astype(object).where(nik.notna(), None)
    return (s.str[:6] + "*" * 10).where(s.notna(), None)

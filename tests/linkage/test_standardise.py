"""Indonesian name normalisation and NIK parsing (table-driven)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from dtsen.linkage.standardise import phonetic_sql, tokens_sql
from dtsen.registries.nik import identity_columns

NAMES = [
    ("H. MOCH. SOEHARTO, S.PD.", "MUHAMMAD SUHARTO"),
    ("M. YUSUF BIN ABDULLAH", "MUHAMMAD YUSUF"),
    ("Muhamad Rizki", "MUHAMMAD RIZKI"),
    ("MOH. RIZKI", "MUHAMMAD RIZKI"),
    ("ST. NURUL HIDAYAH", "SITI NUR HIDAYAH"),
    ("SITY AMINAH", "SITI AMINAH"),
    ("HJ. SITI AMINAH", "SITI AMINAH"),
    ("DRS. AHMAD FAUZI, M.PD.", "AHMAD FAUZI"),
    ("ACHMAD FAUZI", "AHMAD FAUZI"),
    ("ABD. GANI RASYID", "ABDUL GANI RASYID"),
    ("I WAYAN SUDARMA", "WAYAN SUDARMA"),
    ("NI MADE AYU", "MADE AYU"),
    ("DJOKO TJAHJONO", "YOKO CAHYONO"),  # old J = new Y: one form for matching
    ("SURJADI", "SURYADI"),
    ("HACLI", "HADI"),  # OCR: d read as cl
    ("BUDI SANTOSO ST.", "BUDI SANTOSO"),  # trailing S.T. written without its inner dot
    ("ST. AMINAH", "SITI AMINAH"),
    ("SOETRISNO", "SUTRISNO"),
    ("CHOIRUL ANAM", "KHOIRUL ANAM"),
    ("SITI AMINAH BR. SIREGAR", "SITI AMINAH SIREGAR"),
    ("BUDI M. SANTOSO", "BUDI SANTOSO"),
    ("Nur  Hayati", "NUR HAYATI"),
    ("MAR'ATUN", "MARATUN"),
    ("=AHMAD", "AHMAD"),
    ("JUSUF KALLA", "YUSUF KALLA"),
    ("YOH. KALLA", "YOH KALLA"),
    ("TEUKU UMAR", "UMAR"),
]


@pytest.mark.parametrize("raw,expected", NAMES)
def test_name_normalisation(raw, expected):
    con = duckdb.connect()
    con.register("df", pd.DataFrame({"name": [raw]}))
    got = con.execute(f"SELECT array_to_string({tokens_sql('name')}, ' ') FROM df").fetchall()[0][0]
    assert got == expected


@pytest.mark.parametrize(
    "a,b",
    [
        ("CAHYONO", "TJAHJONO"),
        ("YUSUF", "JUSUF"),
        ("FAUZI", "PAUZI"),
        ("NURHAYATI", "NUR HAYATI"),
        ("SUTRISNO", "SOETRISNO"),
        ("KHOIRUL", "CHOIRUL"),
    ],
)
def test_phonetic_key_joins_spelling_variants(a, b):
    con = duckdb.connect()
    con.register("df", pd.DataFrame({"name": [a, b]}))
    keys = con.execute(f"""SELECT {phonetic_sql("replace(n, ' ', '')")} FROM
                           (SELECT array_to_string({tokens_sql("name")}, ' ') AS n FROM df)""").fetchall()
    assert keys[0][0] == keys[1][0]


def test_phonetic_key_separates_different_names():
    con = duckdb.connect()
    con.register("df", pd.DataFrame({"name": ["BUDI", "BAYU", "SITI", "SARI"]}))
    keys = [r[0] for r in con.execute(f"SELECT {phonetic_sql('name')} FROM df").fetchall()]
    assert len(set(keys)) == 4


def test_phonetic_key_collapses_runs_as_letter_by_letter():
    """The key collapses every letter's runs in two passes; the definition is one pass per letter. The same key for
    random strings over the letters (runs of every length, the collapsed letters next to each other and to others)."""
    import random

    from dtsen.linkage.standardise import COLLAPSED

    rng = random.Random(7)
    words = [
        "".join(rng.choice(COLLAPSED + "AEIOUHYJZ") * rng.choice([1, 1, 2, 3]) for _ in range(rng.randint(1, 12)))
        for _ in range(20_000)
    ] + ["", "B", "BB", "WWMMNN", "ABBCCDDGGKKLLMMNNPPRRSSTTWW"]
    con = duckdb.connect()
    con.register("w", pd.DataFrame({"x": words}))
    base = "(left(x, 1) || regexp_replace(substr(x, 2), '[AEIOUH]', '', 'g'))"
    one_by_one = base
    for letter in COLLAPSED:
        one_by_one = f"regexp_replace({one_by_one}, '{letter}{letter}+', '{letter}', 'g')"
    got = con.execute(
        f"SELECT {phonetic_sql('x')}, {one_by_one} FROM (SELECT x FROM w WHERE NOT regexp_matches(x, "
        f"'KH|SY|TH|DH|PH|DZ|Z|Y|J|V|F|Q|X'))"
    ).fetchall()
    assert len(got) > 1_000 and all(a == b for a, b in got)


NIKS = [  # nik, sex, birth date, expected flag, date mismatch, sex mismatch
    ("3201015101900001", 2, "1990-01-11", None, False, False),  # woman: day 51 = 11 + 40
    ("3201011101900001", 1, "1990-01-11", None, False, False),
    ("3201011101900001", 2, "1990-01-11", None, False, True),  # the +40 marker says male
    ("3201011101900001", 1, "1991-01-11", None, True, False),  # embedded date disagrees: a flag, still valid
    ("320101110190001", 1, None, "bad_format", False, False),  # 15 digits
    ("32010A1101900001", 1, None, "bad_format", False, False),
    ("3201013213900001", 1, None, "bad_date", False, False),  # month 13
    ("3201013002900001", 1, None, "bad_date", False, False),  # 30 February
    ("3201017002000001", 2, None, "bad_date", False, False),  # 30 February, a woman
    ("3201014902000001", 2, "2000-02-09", None, False, False),  # 9 February 2000
    ("9999991101900001", 1, None, "unknown_district", False, False),
    (None, 1, None, "missing", False, False),
]


def test_nik_parsing_flags_and_cross_checks():
    df = pd.DataFrame(NIKS, columns=["nik", "sex", "bd", "flag", "date_mm", "sex_mm"])
    out = identity_columns(df["nik"], df["nik"], df["sex"], pd.to_datetime(df["bd"]), {"320101"})
    assert list(out["nik_flag"].where(out["nik_flag"].notna(), None)) == list(df["flag"])
    assert list(out["nik_date_mismatch"]) == list(df["date_mm"])
    assert list(out["nik_sex_mismatch"]) == list(df["sex_mm"])
    valid = df["flag"].isna()
    assert (out.loc[valid, "nik"] == df.loc[valid, "nik"]).all() and out.loc[~valid, "nik"].isna().all()


def test_nik_flags_keep_row_order_on_large_inputs():
    """DuckDB scans registered tables in parallel; the output must still line up with the input rows."""
    n = 300_000
    nik = pd.Series([f"3201{i % 97:02d}0101{i % 100:02d}{i % 10000:04d}" for i in range(n)])
    out = identity_columns(nik, nik, pd.Series([1] * n), pd.Series([pd.NaT] * n), {"320101"})
    assert (out["nik_raw"].to_numpy() == nik.to_numpy()).all()

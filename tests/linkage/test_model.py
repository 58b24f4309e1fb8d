"""The model's name and NIK relations on pairs of records, as the comparison levels and the cluster constraint read
them (table-driven, through the same standardisation the pipeline uses)."""

from __future__ import annotations

import json

import duckdb
import pytest

from dtsen.linkage import model as lm
from dtsen.linkage.standardise import linkage_input_sql


def pair(
    name_l: str,
    name_r: str,
    nik_l: str | None = None,
    nik_r: str | None = None,
    dob_l: str | None = None,
    dob_r: str | None = None,
    village_l: str | None = None,
    village_r: str | None = None,
    kk_l: str | None = None,
    kk_r: str | None = None,
    columns: list[str] = lm.PAIR_COLUMNS,
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("""CREATE TABLE r (source VARCHAR, record_id VARCHAR, delivery VARCHAR, nik VARCHAR,
        nik_date_mismatch BOOLEAN, nik_sex_mismatch BOOLEAN, no_kk VARCHAR, name VARCHAR, sex TINYINT,
        birth_date DATE, village_code VARCHAR, district_code VARCHAR, regency_code VARCHAR, province_code VARCHAR,
        family_id_src VARCHAR)""")
    for rid, name, nik, dob, village, kk in (
        ("l", name_l, nik_l, dob_l, village_l, kk_l),
        ("r", name_r, nik_r, dob_r, village_r, kk_r),
    ):
        con.execute(
            "INSERT INTO r VALUES ('x', ?, '2025-01', ?, false, false, ?, ?, 1, ?, ?, left(?, 6), left(?, 4), "
            "left(?, 2), NULL)",
            [rid, nik, kk, name, dob, village, village, village, village],
        )
    cols = ", ".join(f"a.{c} AS {c}_l, b.{c} AS {c}_r" for c in columns)
    con.execute(f"""CREATE TABLE p AS WITH li AS ({linkage_input_sql("r")})
                    SELECT {cols} FROM li a, li b WHERE a.record_id = 'l' AND b.record_id = 'r'""")
    return con


# what the family, location and name-or-date conditions read besides the NIK/name columns of the cluster constraint
COMPARISON_COLUMNS = [
    *lm.PAIR_COLUMNS,
    "no_kk",
    "village_code",
    "regency_code",
    "province_code",
    "birth_date",
    "birth_year",
    "birth_month",
    "birth_day",
]


def holds(con: duckdb.DuckDBPyConnection, expr: str) -> bool:
    return bool(con.execute(f"SELECT coalesce({expr}, false) FROM p").fetchall()[0][0])


@pytest.mark.parametrize(
    "a,b",
    [
        ("A. RAHMAN", "AHMAD RAHMAN"),  # A. is the commonest short form of Ahmad
        ("KMG. SUDARTA", "KOMANG SUDARTA"),  # letters in order, not a prefix
        ("YOH. DONGORAN", "YOHANES DONGORAN"),
        ("ELIS. HARIYAH", "ELISABETH HARIYAH"),
        ("SITI SALWA AGUST.", "ST. SALWA AGUSTINA"),
    ],
)
def test_abbreviations_match_their_names(a, b):
    con = pair(a, b)
    assert holds(con, lm.ABBREVIATED)
    assert holds(con, lm.NAME_AGREES)
    assert not holds(con, lm.ONE_TOKEN_DIFFERS)  # a short form is not a sibling's other given name


@pytest.mark.parametrize(
    "a,b",
    [
        ("FRANS. SITOMPUL", "FERDINAND SITOMPUL"),  # FRANS is not in FERDINAND: twins
        ("A. RAHMAN", "BUDI RAHMAN"),
    ],
)
def test_an_abbreviation_that_fits_nothing_is_no_match(a, b):
    con = pair(a, b)
    assert not holds(con, lm.ABBREVIATED)
    assert not holds(con, lm.NAME_TYPO_EQUAL)


@pytest.mark.parametrize(
    "a,b,expected",
    [
        ("DIAH WIDISSTUTI", "WIDIASTUTI DIAH", True),  # order swapped and a typo
        ("RAFI HARIANTO", "HARYANTO RAFI", True),
        ("SITI ICHA", "SITI ICHA ANDRIANI", False),  # within, not equal
        ("NUR DINA OKTAVIANI", "NUR IDA OKTAVIANI", False),
    ],
)
def test_same_tokens_in_any_order_up_to_spelling(a, b, expected):
    assert holds(pair(a, b), lm.TOKENS_FUZZY_EQUAL) is expected


def test_siblings_given_names_clearly_differ():
    con = pair("SITI ALMIRA WINARSIH", "SITI NURLAILA WINARSIH")
    assert holds(con, lm.ONE_TOKEN_DIFFERS) and not holds(con, lm.NAME_AGREES)


@pytest.mark.parametrize(
    "a,b,nik_a,nik_b,dob_a,dob_b,conflict",
    [
        # twins: only the serial differs and two given names
        (
            "NUR DINA OKTAVIANI",
            "NUR IDA OKTAVIANI",
            "7210016210130001",
            "7210016210130002",
            "2013-10-22",
            "2013-10-22",
            True,
        ),
        # a serial typo: the same name
        (
            "MAHENDRA JUMARI",
            "JUMARI MAHENDRA",
            "1377010912850001",
            "1377010912850010",
            "1985-12-09",
            "1985-12-09",
            False,
        ),
        # sisters with the same name: each NIK agrees with its own birth date, the dates differ
        ("ESTER PURBA", "ESTER PURBA", "1210014602200001", "1210016602200001", "2020-02-06", "2020-02-26", True),
        # a district digit typo: one person
        ("ANWAR SIHOTANG", "ANWAR SIHOTANG", "1105011310630001", "1505011310630001", "1963-10-13", "1963-10-13", False),
        # two typos of one NIK (a transposition and a digit): still within two edits
        (
            "FERDINAND SOPACUA",
            "FERDINAND SOPACUA",
            "1807011501550001",
            "8107011501550081",
            "1955-01-15",
            "1955-01-15",
            False,
        ),
    ],
)
def test_nik_conflicts(a, b, nik_a, nik_b, dob_a, dob_b, conflict):
    assert holds(pair(a, b, nik_a, nik_b, dob_a, dob_b), lm.NIK_CONFLICT) is conflict


@pytest.mark.parametrize(
    "nik_a,nik_b,village_a,village_b,conflict",
    [
        # the same name and birth date in two districts, each NIK issued where its record lives: two people
        ("3310022505540001", "3310032505540001", "3310022002", "3310032001", True),
        ("1672014811720001", "1871014811720001", "1672011004", "1871011006", True),
        # a district digit typo in one record: its NIK does not name the district it lives in: one person
        ("3310022505540001", "3310032505540001", "3310022002", "3310022002", False),
        # moved (the NIK keeps the district it was issued in), one NIK with a typo: one person
        ("3310022505540001", "3310032505540001", "3310022002", "3374011001", False),
    ],
)
def test_two_niks_each_of_its_own_district_are_two_people(nik_a, nik_b, village_a, village_b, conflict):
    con = pair("ARIF", "ARIF", nik_a, nik_b, "1954-05-25", "1954-05-25", village_a, village_b)
    assert holds(con, lm.NIK_CONFLICT) is conflict


def test_a_move_counts_once_not_twice():
    """A family that moves gets a new KK: a different KK where the villages differ too is the move, which the
    location comparison already counts; the same person at a new address is not penalised twice."""
    family = next(c for c in lm.dtsen_settings()["comparisons"] if c["output_column_name"] == "family")

    def level(village_b: str, kk_b: str) -> dict:
        con = pair(
            "SITI AMINAH",
            "SITI AMINAH",
            None,
            None,
            "1980-03-01",
            "1980-03-01",
            "3310022002",
            village_b,
            "3310020101850001",
            kk_b,
            columns=COMPARISON_COLUMNS,
        )
        return next(
            lv for lv in family["comparison_levels"] if lv["sql_condition"] == "ELSE" or holds(con, lv["sql_condition"])
        )

    moved = level("3374011001", "3374010202200001")
    assert moved["label_for_charts"] == lm.MOVED_KK_LABEL
    assert moved["m_probability"] / moved["u_probability"] == lm.MOVED_KK_BF == 1.0
    assert level("3310022002", "3310020202200001")["label_for_charts"] == "different KK"  # same village, other card
    assert level("3374011001", "3310020101850001")["label_for_charts"] == "same KK"


def test_saved_model_weighs_a_move_by_how_far_it_goes():
    """Location levels as the saved model reads them: a move within the regency or the province (most moves) is
    weaker evidence than the same village, but stronger than a namesake in another province; the pair falls into the
    level its codes name. Every location level has a trained m: a level the training population never showed (one
    district per regency at 100 k) kept a placeholder m and weighed moves within a regency against a match."""
    saved = json.loads(lm.MODEL_PATH.read_text())
    location = next(c for c in saved["comparisons"] if c["output_column_name"] == "location")
    u = {"village": 1e-3, "district": 2e-3, "regency": 2e-3, "province": 8e-2, "else": 0.9}  # as at 1 M persons
    levels = lm.location_comparison(u)["comparison_levels"]
    m = {
        lv["label_for_charts"]: lv["m_probability"]
        for lv in location["comparison_levels"]
        if not lv.get("is_null_level")
    }
    assert set(m) == {"same village", "same district", "same regency", "same province", "else"}
    assert m["same regency"] != 0.001 and all(v > 0 for v in m.values())

    def bf(village_b: str) -> float:
        con = pair(
            "SITI AMINAH",
            "SITI AMINAH",
            None,
            None,
            "1980-03-01",
            "1980-03-01",
            "3310022002",
            village_b,
            columns=COMPARISON_COLUMNS,
        )
        lv = next(lv for lv in levels[1:] if lv["sql_condition"] == "ELSE" or holds(con, lv["sql_condition"]))
        return m[lv["label_for_charts"]] / lv["u_probability"]

    same, regency, province, far = bf("3310022002"), bf("3310052001"), bf("3374011001"), bf("3175011001")
    assert same > province > far and regency > province


@pytest.mark.parametrize(
    "a,b",
    [
        ("SITI AMINAH", "SITI AMINAH"),
        ("SITI AMINAH", "SITIAMINAH"),
        ("AMINAH SITI", "SITI AMINAH"),
        ("SITI AMINAH", "SITI AMINA"),
        ("SITI AMINAH", "SITI RAHAYU"),
        ("BUDI SANTOSO", "JOKO WIDODO"),
        ("A. RAHMAN", "AHMAD RAHMAN"),
        ("NUR", "NUR SARINAH"),
        ("MUHAMMAD IQBAL", "MUHAMMAD IKBAL"),
        ("", "SITI"),
        (None, "SITI"),
        (None, None),
        ("MUHAMMAD RIZKI ANDI", "MUHAMMAD RIZKI BUDIMAN"),  # Jaro-Winkler 0.95, yet one given name clearly differs
    ],
)
def test_name_disagrees_is_not_name_agrees(a, b):
    """NAME_DISAGREES is NAME_AGREES negated by De Morgan (written out so DuckDB can skip decided pairs): the same
    truth value on every pair, NULL included, for both dates close and far."""
    for dob_r in ("1980-03-01", "1990-07-07", None):
        con = pair(a, b, None, None, "1980-03-01", dob_r, columns=COMPARISON_COLUMNS)
        row = con.execute(
            f"SELECT NOT {lm.DOB_CLOSE} OR NOT {lm.NAME_AGREES}, {lm.NAME_OR_DOB_DISAGREE}, "
            f"NOT {lm.NAME_AGREES}, {lm.NAME_DISAGREES} FROM p"
        ).fetchall()[0]
        assert row[0] == row[1] and row[2] == row[3], (a, b, dob_r, row)


def test_cheap_damerau_bounds_equal_damerau_levenshtein():
    """`damerau_within`/`damerau_beyond` skip DuckDB's slow Damerau-Levenshtein where plain Levenshtein decides;
    they must agree with it on every pair, transpositions and empty strings included."""
    con = duckdb.connect()
    words = [
        "",
        "A",
        "AB",
        "BA",
        "ABC",
        "ACB",
        "BAC",
        "CBA",
        "ABCD",
        "BADC",
        "DCBA",
        "ABDC",
        "AAB",
        "ABAB",
        "BABA",
        "SITI",
        "STII",
        "ISTI",
        "SITTI",
        "STI",
        "TARNO",
        "KARNO",
        "TRANO",
        "ANWAR",
        "NAWAR",
        "ANWRA",
        "NWARA",
        "1105011310630001",
        "1105011310630010",
        "1150011310630001",
        "8107011501550081",
        "1807011501550001",
    ]
    con.execute("CREATE TABLE w AS SELECT unnest(?) AS x", [words])
    for k in (1, 2, 3):
        wrong = con.execute(f"""SELECT count(*) FROM w a, w b WHERE
            ({lm.damerau_within("a.x", "b.x", k)}) IS DISTINCT FROM (damerau_levenshtein(a.x, b.x) <= {k})
            OR ({lm.damerau_beyond("a.x", "b.x", k)}) IS DISTINCT FROM (damerau_levenshtein(a.x, b.x) > {k})""").fetchall()
        assert wrong == [(0,)], k


def test_saved_model_uses_the_comparison_sql_of_the_code():
    """The trained model carries its levels' SQL; it must be the code's (a level rewritten for speed or meaning
    without the saved model following would score with the old SQL)."""
    import json

    saved = {c["output_column_name"]: c for c in json.loads(lm.MODEL_PATH.read_text())["comparisons"]}
    for comp in lm.dtsen_settings()["comparisons"]:
        levels = saved[comp["output_column_name"]]["comparison_levels"]
        assert [(lv["label_for_charts"], lv["sql_condition"]) for lv in levels] == [
            (lv["label_for_charts"], lv["sql_condition"]) for lv in comp["comparison_levels"]
        ], comp["output_column_name"]

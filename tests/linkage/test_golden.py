"""Survivorship rules of the golden record (golden.py), each on a handful of records whose answer is known."""

from __future__ import annotations

import duckdb
import pytest

from dtsen import warehouse as wh
from dtsen.linkage.family import INPUT_COLUMNS as FAMILY_INPUT
from dtsen.linkage.family import family_keys_sql
from dtsen.linkage.golden import INPUT_COLUMNS, golden_sql, lineage_sql

# (person, source, delivery, record_id, nik, date/sex mismatch, name, village, education, kks)
RECORDS = [
    # P1: the NIK whose date and sex agree beats the one more records carry; two DTKS say BUDI, Regsosek BUDY;
    # the latest delivery with a village gives the address; Regsosek gives education; the latest DTKS gives kks
    ("P1", "dtks", "2025-01", "d1", "3201010101900001", True, "BUDI", "3201010001", 3, 1),
    ("P1", "dtks", "2025-02", "d2", "3201010101900001", True, "BUDI", "3201010002", 4, 0),
    ("P1", "regsosek", "2025-01", "r1", "3201014101900009", False, "BUDY", "3201010003", 2, None),
    ("P1", "p3ke", "2025-03", "p1", None, None, "BUDI", None, None, None),
    # P2: every count tied: the source rank decides names (Regsosek first), then the record id within a source
    ("P2", "dtks", "2025-01", "d9", "3201010101900002", False, "SITI", "3201010001", None, None),
    ("P2", "regsosek", "2025-01", "r3", "3201010101900002", False, "SITY", "3201010001", None, None),
    ("P2", "regsosek", "2025-01", "r2", None, None, "SITU", "3201010002", None, None),
    # P3: one record without NIK, name or village: NULL values do not win, the record still gives a golden row
    ("P3", "p3ke", "2025-01", "p7", None, None, "ANI", None, None, None),
]


@pytest.fixture()
def golden():
    con = duckdb.connect()
    con.execute(f"CREATE TABLE recs (rid BIGINT, person_id VARCHAR, {wh.PERSON_COLUMNS})")
    ordered = sorted(RECORDS, key=lambda r: (r[1], r[3]))  # rid follows (source, record_id)
    for rid, (pid, source, delivery, rec, nik, mismatch, name, village, edu, kks) in enumerate(ordered, 1):
        con.execute(
            """INSERT INTO recs (rid, person_id, source, delivery, record_id, nik, nik_date_mismatch,
                       nik_sex_mismatch, name, name_raw, village_code, education, kks)
                       VALUES (?, ?, ?, ?, ?, ?, ?, false, ?, ?, ?, ?, ?)""",
            [rid, pid, source, delivery, rec, nik, mismatch, name, name, village, edu, kks],
        )
    con.execute(f"CREATE TABLE golden AS SELECT 'S' AS snapshot, * FROM ({golden_sql('recs')})")
    out = con.execute("SELECT * FROM golden ORDER BY person_id").df().set_index("person_id")
    # each field's source record, read back through the record numbers as dtsen.person_lineage does
    xwalk = "(SELECT 'S' AS snapshot, rid AS record_no, source, delivery, record_id FROM recs)"
    lineage = f"SELECT person_id, field, src FROM ({lineage_sql('golden', xwalk)})"
    for pid, field, src in con.execute(lineage).fetchall():
        out.loc[pid, f"{field}_src"] = src
    con.close()
    return out


def test_nik_agreeing_with_the_record_beats_the_majority(golden):
    assert golden.loc["P1", "nik"] == "3201014101900009" and golden.loc["P1", "nik_src"] == "regsosek:r1"


def test_majority_then_source_rank_then_record_id(golden):
    assert golden.loc["P1", "name"] == "BUDI" and golden.loc["P1", "name_src"] == "dtks:d1"
    assert golden.loc["P2", "name"] == "SITU" and golden.loc["P2", "name_src"] == "regsosek:r2"
    assert golden.loc["P2", "nik"] == "3201010101900002" and golden.loc["P2", "nik_src"] == "regsosek:r3"


def test_latest_delivery_with_a_village_gives_the_address_group(golden):
    assert golden.loc["P1", "village_code"] == "3201010002" and golden.loc["P1", "village_code_src"] == "dtks:d2"
    assert golden.loc["P1", "district_code"] == "320101"


def test_groups_from_their_own_source(golden):
    assert golden.loc["P1", "education"] == 2 and golden.loc["P1", "education_src"] == "regsosek:r1"
    assert golden.loc["P1", "kks"] == 0 and golden.loc["P1", "kks_src"] == "dtks:d2"
    assert list(golden.loc["P1", "sources"]) == ["dtks", "p3ke", "regsosek"] and golden.loc["P1", "n_records"] == 4


def test_a_person_of_empty_fields_keeps_a_row(golden):
    assert golden.loc["P3", "name"] == "ANI"
    assert golden.loc["P3", ["nik", "nik_src", "village_code", "kks"]].isna().all()
    assert len(golden) == 3


def test_the_rules_read_only_the_columns_they_declare():
    """The build hands the golden and family rules only the record columns they declare (INPUT_COLUMNS): a rule
    reading another column fails here, not at 1 M records."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE full_recs (rid BIGINT, person_id VARCHAR, {wh.PERSON_COLUMNS})")
    con.execute(
        "INSERT INTO full_recs (rid, person_id, source, delivery, record_id, name, name_raw) "
        "VALUES (1, 'P1', 'dtks', '2025-01', 'd1', 'BUDI', 'BUDI')"
    )
    golden_cols = ", ".join(["rid", "person_id", *INPUT_COLUMNS])
    con.execute(f"CREATE TABLE narrow AS SELECT {golden_cols} FROM full_recs")
    assert con.execute(f"SELECT name FROM ({golden_sql('narrow')})").fetchall() == [("BUDI",)]
    con.execute(f"CREATE TABLE narrow_family AS SELECT {', '.join(FAMILY_INPUT)} FROM full_recs")
    assert con.execute(f"SELECT family_key FROM ({family_keys_sql('narrow_family')})").fetchall() == [("P:P1",)]

"""Ingestion: every source reads its generated files, bad rows are quarantined, bad files fail cleanly."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from dtsen import warehouse as wh
from dtsen.registries.engine import clean_name_sql, collapse_name_sql
from dtsen.registries.files import DeliveryFileError
from dtsen.registries.ingest import SOURCES, WarehouseWriteError, ingest
from dtsen.registries.rules import required

M1, M2 = "2025-01", "2025-02"


@pytest.fixture()
def land(small_landing, tmp_path) -> Path:
    """A private copy of the small landing folder that a test may break."""
    dst = tmp_path / "landing"
    shutil.copytree(small_landing, dst)
    return dst


@pytest.fixture()
def con(tmp_path):
    c = wh.connect(str(tmp_path / "w.duckdb"))
    yield c
    c.close()


def ingest_all(con, land, month):
    return {s: ingest(con, str(land), month, s) for s in ["referensi"] + SOURCES}


def count(con, sql, *params):
    return con.execute(sql, list(params)).fetchall()[0][0]


def test_every_source_ingests_its_generated_files(con, land):
    res = ingest_all(con, land, M1)
    for s in ["referensi", "dtks", "regsosek", "p3ke", "susenas", "dukcapil", "asn", "bpjstk"]:
        assert res[s].delivered, s
        assert res[s].rows_read > 0, s
        assert res[s].rows_read == res[s].rows_accepted + res[s].rows_quarantined
    dtks = pd.read_csv(land / "dtks" / M1 / "dtks.csv", dtype=str)
    assert count(con, "SELECT count(*) FROM sources.dtks_person WHERE delivery = ?", M1) == len(dtks)
    ind = pd.read_parquet(land / "regsosek" / M1 / "individu.parquet")
    assert count(con, "SELECT count(*) FROM sources.regsosek_person") == len(ind)
    assert count(con, "SELECT count(*) FROM sources.regsosek_family") == len(
        pd.read_parquet(land / "regsosek" / M1 / "keluarga.parquet")
    )
    # canonical shape: cleaned values beside raw ones
    row = (
        con.execute("SELECT * FROM sources.person_record WHERE source='p3ke' AND nik IS NOT NULL LIMIT 1").df().iloc[0]
    )
    assert row["nik"] == row["nik_raw"] and row["birth_date"] is not None and row["sex"] in (1, 2)
    rates = con.execute("SELECT source, avg((nik_flag IS NULL)::INT) FROM sources.person_record GROUP BY 1").fetchall()
    assert all(0.85 < r < 1.0 for _, r in rates)
    assert count(con, "SELECT count(*) FROM sources.person_record WHERE village_code IS NULL") == 0
    # the second month: DTKS and the lists arrive, the snapshots do not
    res2 = ingest_all(con, land, M2)
    assert res2["dtks"].delivered and not res2["regsosek"].delivered and not res2["p3ke"].delivered
    assert "no regsosek delivery" in res2["regsosek"].note


def test_nik_problems_are_flags_not_quarantine(con, land):
    path = land / "dtks" / M1 / "dtks.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[0, "NIK"] = df.loc[0, "NIK"][:15]  # 15 digits
    df.loc[1, "NIK"] = "32010A0101900001"  # a letter
    df.loc[2, "NIK"] = "3201019913900001"  # month 13
    df.loc[3, "NIK"] = "9999990101900001"  # district not in the reference
    df.to_csv(path, index=False)
    ingest(con, str(land), M1, "referensi")
    r = ingest(con, str(land), M1, "dtks")
    assert r.rows_quarantined == 0
    flags = con.execute("SELECT record_id, nik, nik_flag FROM sources.dtks_person").df().set_index("record_id")
    ids = df["ID_DTKS"]
    assert list(flags.loc[ids[:4], "nik_flag"]) == ["bad_format", "bad_format", "bad_date", "unknown_district"]
    assert flags.loc[ids[:4], "nik"].isna().all()


def test_row_level_problems_are_quarantined_with_line_field_and_reason(con, land):
    path = land / "dtks" / M1 / "dtks.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    col = {c: i for i, c in enumerate(header)}

    def edit(line_no: int, field: str, value: str):
        cells = lines[line_no - 1].split(",")
        cells[col[field]] = value
        lines[line_no - 1] = ",".join(cells)

    assert all('"' not in ln for ln in lines[1:12]), "test expects unquoted rows at the top"
    edit(2, "TGL_LAHIR", "31-02-1980")  # impossible date
    edit(3, "KODE_DESA", "9999999999")  # unknown village
    edit(4, "JNS_KEL", "3")  # outside the code list
    edit(5, "NAMA", "")  # the name is required
    lines[5] = lines[5] + ",EXTRA"  # line 6: more fields than the header
    edit(7, "ID_DTKS", lines[7].split(",")[0])  # line 7 repeats the id of line 8
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest(con, str(land), M1, "referensi")
    r = ingest(con, str(land), M1, "dtks")
    q = con.execute("SELECT line, field, value, reason FROM sources.quarantine WHERE source='dtks' ORDER BY line").df()
    got = {(int(x.line), x.field): x.reason for x in q.itertuples()}
    assert got[(2, "TGL_LAHIR")] == "TGL_LAHIR not a valid DD-MM-YYYY date"
    assert got[(3, "KODE_DESA")] == "KODE_DESA not in the region reference"
    assert got[(4, "JNS_KEL")].startswith("JNS_KEL outside code list")
    assert got[(5, "NAMA")] == "required value missing"
    assert q.loc[q["line"] == 6, "reason"].iloc[0] == "more fields than the header"
    # an ID_DTKS held by two records: the file does not say which is the record, so both are quarantined
    for line in (7, 8):
        reason = q.loc[(q["line"] == line) & (q["field"] == "ID_DTKS"), "reason"].iloc[0]
        assert reason == "record id held by 2 rows of this delivery (lines 7, 8): none is taken"
    assert r.rows_quarantined == 7
    assert q.loc[q["line"] == 3, "value"].iloc[0] == "9999999999"
    # counts reconcile, nothing lost
    stored = count(con, "SELECT count(*) FROM sources.dtks_person")
    assert stored + r.rows_quarantined == r.rows_read == len(lines) - 1
    # the quarantined lines are not in the table, their neighbours are
    assert r.quarantine_by_reason["required value missing"] == 1


def test_admin_list_with_bad_nik_is_quarantined_and_empty_list_is_fine(con, land):
    """An empty list is a delivery (a month with nobody on it); a re-delivery that empties a list already held is
    another matter (tests/registries/test_hostile.py: held until confirmed)."""
    p = land / "asn" / M1 / "asn.csv"
    p.write_text("nik\n", encoding="utf-8")
    r = ingest(con, str(land), M1, "asn")
    assert r.delivered and r.rows_read == 0 and not r.held
    assert count(con, "SELECT count(*) FROM sources.asn WHERE delivery = ?", M1) == 0
    p.write_text("nik\n123\n3201011201900001\n", encoding="utf-8")
    r = ingest(con, str(land), M1, "asn")
    assert (r.rows_read, r.rows_accepted, r.rows_quarantined) == (2, 1, 1)
    assert r.quarantine_by_reason == {"nik not 16 digits": 1}


def test_extra_column_is_a_warning(con, land):
    path = land / "p3ke" / M1 / "p3ke.csv"
    df = pd.read_csv(path, sep="|", dtype=str, keep_default_na=False)
    df["catatan"] = "x"
    df.to_csv(path, sep="|", index=False)
    ingest(con, str(land), M1, "referensi")
    r = ingest(con, str(land), M1, "p3ke")
    assert r.rows_accepted == len(df)
    assert any("unknown extra column(s) ['catatan']" in w for w in r.warnings)


# ------------------------------------------------------------------ file-level failures
def _break_missing_column(land):
    p = land / "dtks" / M2 / "dtks.csv"
    pd.read_csv(p, dtype=str, keep_default_na=False).drop(columns=["NAMA"]).to_csv(p, index=False)
    return p, "missing required column(s) ['NAMA']"


def _break_delimiter(land):
    p = land / "dtks" / M2 / "dtks.csv"
    pd.read_csv(p, dtype=str, keep_default_na=False).to_csv(p, index=False, sep=";")
    return p, "wrong delimiter"


def _break_encoding(land):
    p = land / "dtks" / M2 / "dtks.csv"
    p.write_bytes(p.read_text(encoding="utf-8").encode("utf-16"))
    return p, "not UTF-8"


def _break_empty(land):
    p = land / "dtks" / M2 / "dtks.csv"
    p.write_bytes(b"")
    return p, "empty file"


def _break_header_only(land):
    p = land / "dtks" / M2 / "dtks.csv"
    p.write_text(p.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    return p, "no data rows"


def _break_file_type(land):
    p = land / "dtks" / M2 / "dtks.csv"
    shutil.copy(land / "regsosek" / M1 / "keluarga.parquet", p)
    return p, "wrong file type: this is a Parquet file"


def _break_parquet(land):
    folder = land / "regsosek" / M2
    shutil.copytree(land / "regsosek" / M1, folder)
    p = folder / "individu.parquet"
    p.write_text("id_keluarga,nama\n1,x\n", encoding="utf-8")
    return p, "not a Parquet file"


@pytest.mark.parametrize(
    "breaker",
    [
        _break_missing_column,
        _break_delimiter,
        _break_encoding,
        _break_empty,
        _break_header_only,
        _break_file_type,
        _break_parquet,
    ],
)
def test_file_level_problem_fails_partition_and_keeps_earlier_data(con, land, breaker):
    ingest_all(con, land, M1)
    before = con.execute(
        "SELECT source, delivery, count(*) FROM sources.person_record GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    q_before = count(con, "SELECT count(*) FROM sources.quarantine")
    path, expected = breaker(land)
    source = "regsosek" if "regsosek" in str(path) else "dtks"
    ingest(con, str(land), M2, "referensi")
    with pytest.raises(DeliveryFileError) as err:
        ingest(con, str(land), M2, source)
    msg = str(err.value)
    assert str(path) in msg and expected in msg
    after = con.execute(
        "SELECT source, delivery, count(*) FROM sources.person_record GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert after == before  # earlier partitions untouched, nothing half-written for M2
    assert count(con, "SELECT count(*) FROM sources.quarantine") == q_before


def test_failed_rerun_leaves_the_good_partition_in_place(con, land):
    ingest_all(con, land, M1)
    n = count(con, "SELECT count(*) FROM sources.dtks_person WHERE delivery = ?", M1)
    calls = []

    class DiskFullOnQuarantine:  # the warehouse connection, failing after the old rows were deleted in the transaction
        def __getattr__(self, name):
            return getattr(con, name)

        def execute(self, sql, *args):
            calls.append(sql)
            if sql.startswith("INSERT INTO sources.quarantine"):
                raise duckdb.IOException("disk full")
            return con.execute(sql, *args)

    with pytest.raises(WarehouseWriteError, match="disk full"):
        ingest(DiskFullOnQuarantine(), str(land), M1, "dtks")
    assert any(c.startswith("DELETE FROM sources.dtks_person") for c in calls)
    assert any(c.startswith("INSERT INTO sources.dtks_person") for c in calls)
    assert count(con, "SELECT count(*) FROM sources.dtks_person WHERE delivery = ?", M1) == n


def test_rerun_replaces_exactly_that_partition(con, land):
    ingest_all(con, land, M1)
    ingest_all(con, land, M2)
    snap = con.execute(
        "SELECT source, delivery, count(*) FROM sources.person_record GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    logs = count(con, "SELECT count(*) FROM sources.ingest_log")
    ingest_all(con, land, M1)
    assert (
        con.execute("SELECT source, delivery, count(*) FROM sources.person_record GROUP BY ALL ORDER BY ALL").fetchall()
        == snap
    )
    assert count(con, "SELECT count(*) FROM sources.ingest_log") == logs
    assert count(con, "SELECT count(*) - count(DISTINCT (source, delivery, record_id)) FROM sources.person_record") == 0


def test_missing_region_reference_is_a_clear_error(con, land):
    from dtsen.registries.ingest import NoRegionReference

    with pytest.raises(NoRegionReference, match=r"referensi/wilayah\.csv"):
        ingest(con, str(land), M1, "dtks")


def test_line_numbers_follow_quoted_multiline_fields(tmp_path):
    from dtsen.registries.files import read_csv_file

    p = tmp_path / "a.csv"
    p.write_bytes(b'A,B\n1,"x\ny"\n\n2,z\n3\n4,w\n')
    raw = read_csv_file(str(p), ",", ["A", "B"], "upper", allow_empty=False)
    assert list(raw.frame["_line"]) == [2, 5, 7]
    assert list(raw.rejects["line"]) == [6]
    assert raw.rows_read == 4


def _every_code_point() -> duckdb.DuckDBPyConnection:
    """A connection with table t: one row per Unicode code point (surrogates excluded), column ch."""
    c = duckdb.connect()
    c.execute("CREATE TABLE t AS SELECT chr(i::INT) AS ch FROM range(1, 1114112) r(i) WHERE i < 55296 OR i > 57343")
    return c


def test_clean_name_rewrites_only_where_collapsing_changes_the_name():
    """The canonical name is the raw name in upper case with its white space collapsed and trimmed; the rewrite is
    done only where it changes something. The same name as the rewrite everywhere for every code point, alone,
    at either end, inside, doubled."""
    c = _every_code_point()
    for value in (
        "ch",
        "ch || 'a'",
        "'a' || ch",
        "'a' || ch || 'b'",
        "ch || ch",
        "'a' || ch || ch || 'b'",
        "'a ' || ch || 'b'",
        "'a' || ch || ' b'",
    ):
        differ = c.execute(
            f"SELECT count(*), any_value(ch) FROM (SELECT ch, {value} AS x FROM t) "
            f"WHERE {clean_name_sql('x')} IS DISTINCT FROM {collapse_name_sql('x')}"
        ).fetchall()
        assert differ[0][0] == 0, (value, differ, hex(ord(differ[0][1])))
    assert c.execute(f"SELECT {clean_name_sql('x')} FROM (SELECT 'siti  aminah' AS x)").fetchall() == [("SITI AMINAH",)]


def test_required_text_is_missing_when_only_white_space_of_any_kind():
    """A value made only of white space (ASCII or a Unicode space such as no-break or ideographic) is missing, exactly
    where collapsing its white space and trimming it leaves nothing, for every code point, alone or repeated."""
    bad = required("x").bad
    c = _every_code_point()
    spec = f"coalesce({collapse_name_sql('x')} = '', true)"
    for value in ("ch", "ch || ' ' || ch", "ch || 'A'"):
        differ = c.execute(f"SELECT count(*) FROM (SELECT {value} AS x FROM t) WHERE ({bad}) <> ({spec})").fetchall()
        assert differ == [(0,)], value
    missing = {
        v: c.execute(f"SELECT {bad} FROM (SELECT ?::VARCHAR AS x)", [v]).fetchall()[0][0]
        for v in (None, "", " \t\r\n", "\u00a0", "\u3000 \u2003", "SITI", " SITI\u00a0AMINAH ", "\u200b")
    }
    assert missing == {
        None: True,
        "": True,
        " \t\r\n": True,
        "\u00a0": True,
        "\u3000 \u2003": True,
        "SITI": False,
        " SITI\u00a0AMINAH ": False,
        "\u200b": False,
    }


def _stored_layout(path: str) -> None:
    """Rebuild the person tables as warehouses made before wh.PERSON_GENERATED stored them: every column stored."""
    c = duckdb.connect(path)
    for table in wh.SOURCE_PERSON_TABLES:
        c.execute(f"CREATE TABLE {table}_old AS SELECT * FROM {table}")
        c.execute(f"DROP TABLE {table}")
        c.execute(f"CREATE TABLE {table} ({wh.PERSON_COLUMNS})")
        c.execute(f"INSERT INTO {table} SELECT * FROM {table}_old")
        c.execute(f"DROP TABLE {table}_old")
    c.close()


def generated(path: str, table: str) -> set[str]:
    c = duckdb.connect(path, read_only=True)
    try:
        schema, name = table.split(".")
        return {
            r[0]
            for r in c.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND "
                "table_name = ? AND column_default IS NOT NULL",
                [schema, name],
            ).fetchall()
        }
    finally:
        c.close()


def test_person_tables_compute_their_derived_columns_and_older_warehouses_migrate(land, tmp_path):
    """NIK, KK and the region codes above the village are computed when read (generated columns), with the values
    the mapping gave when it stored them; a warehouse that stored them is rebuilt on connect with the same rows, and
    one whose stored values disagree with the expressions is refused with the table named, unchanged."""
    path = str(tmp_path / "w.duckdb")
    c = wh.connect(path)
    ingest_all(c, land, M1)
    before = c.execute("SELECT * FROM sources.person_record ORDER BY source, record_id").df()
    c.close()
    assert generated(path, "sources.dtks_person") == set(wh.PERSON_GENERATED)
    assert before["nik"].notna().sum() > 0 and before["district_code"].notna().all()
    assert (before["nik"].isna() == before["nik_flag"].notna()).all()
    assert (before["district_code"] == before["village_code"].str[:6]).all()

    _stored_layout(path)
    assert all(generated(path, t) == set() for t in wh.SOURCE_PERSON_TABLES)
    c = wh.connect(path)  # migrates
    after = c.execute("SELECT * FROM sources.person_record ORDER BY source, record_id").df()
    ingest(c, str(land), M1, "dtks")  # and ingestion writes to the rebuilt tables
    c.close()
    assert all(generated(path, t) == set(wh.PERSON_GENERATED) for t in wh.SOURCE_PERSON_TABLES)
    pd.testing.assert_frame_equal(after, before)

    _stored_layout(path)
    c = duckdb.connect(path)
    c.execute("UPDATE sources.p3ke_person SET district_code = '999999' WHERE line = 2")
    c.close()
    with pytest.raises(RuntimeError, match=r"sources.p3ke_person: 1 row\(s\)"):
        wh.connect(path)
    assert generated(path, "sources.p3ke_person") == set()
    c = duckdb.connect(path, read_only=True)
    assert c.execute("SELECT count(*) FROM sources.p3ke_person WHERE district_code = '999999'").fetchall()[0][0] == 1
    c.close()

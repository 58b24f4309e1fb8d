"""Hostile deliveries, as an agency's broken export would arrive: nothing is lost, nothing crashes, every failure names
the file (and the line and field where there is one). One test per point of issue 12, then a seeded fuzz test."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dtsen import warehouse as wh
from dtsen.registries.files import MAX_RECORD_BYTES, DeliveryFileError
from dtsen.registries.ingest import ingest

M1 = "2025-01"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def land(small_landing, tmp_path) -> Path:
    dst = tmp_path / "landing"
    shutil.copytree(small_landing, dst, ignore=shutil.ignore_patterns("truth"))
    return dst


@pytest.fixture()
def con(tmp_path):
    c = wh.connect(str(tmp_path / "w.duckdb"))
    ingest(c, str(tmp_path / "landing"), M1, "referensi") if (tmp_path / "landing").exists() else None
    yield c
    c.close()


def records_in(path: Path) -> int:
    """Records of a CSV counted independently (Python's csv module, quoted newlines inside fields)."""
    import csv

    csv.field_size_limit(1 << 30)
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = [r for r in csv.reader(f, delimiter="|" if path.name == "p3ke.csv" else ",") if r]
    return len(rows) - 1


def stored_and_quarantined(con, source: str, table: str) -> tuple[int, int]:
    stored = con.execute(f"SELECT count(*) FROM {table} WHERE delivery = ?", [M1]).fetchall()[0][0]
    quarantined = con.execute(
        "SELECT count(DISTINCT (file, line)) FROM sources.quarantine WHERE source = ? AND delivery = ?", [source, M1]
    ).fetchall()[0][0]
    return stored, quarantined


def dtks_lines(land: Path) -> tuple[Path, list[str]]:
    path = land / "dtks" / M1 / "dtks.csv"
    return path, path.read_text(encoding="utf-8").splitlines(keepends=True)


# 1. a line longer than the reader's limit is quarantined, not silently skipped; later lines keep their numbers
def test_a_record_longer_than_the_reader_limit_is_quarantined_with_its_line(land, con):
    path, lines = dtks_lines(land)
    fields = lines[5].rstrip("\n").split(",")
    fields[9] = "X" * (MAX_RECORD_BYTES + 10)  # ALAMAT
    lines[5] = ",".join(fields) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    r = ingest(con, str(land), M1, "dtks")
    assert r.rows_read == records_in(path) == len(lines) - 1
    stored, quarantined = stored_and_quarantined(con, "dtks", "sources.dtks_person")
    assert stored + quarantined == r.rows_read
    q = con.execute("SELECT line, reason FROM sources.quarantine WHERE source = 'dtks'").fetchall()
    assert (6, f"record longer than {MAX_RECORD_BYTES:,} bytes: not read") in q
    # the row after it keeps its own line number
    after = lines[6].split(",")[0]
    assert con.execute("SELECT line FROM sources.dtks_person WHERE record_id = ?", [after]).fetchall()[0][0] == 7


# 2. individu rows of a family missing from keluarga are quarantined, the rest loads
def test_orphan_individu_rows_are_quarantined(land, con):
    folder = land / "regsosek" / M1
    kel = pq.read_table(folder / "keluarga.parquet")
    gone = kel.column("id_keluarga")[0].as_py()
    pq.write_table(kel.filter(pa.compute.not_equal(kel.column("id_keluarga"), gone)), folder / "keluarga.parquet")
    r = ingest(con, str(land), M1, "regsosek")
    ind = pd.read_parquet(folder / "individu.parquet")
    orphans = int((ind["id_keluarga"] == gone).sum())
    assert orphans > 0 and r.rows_quarantined >= orphans
    reasons = con.execute(
        "SELECT DISTINCT reason FROM sources.quarantine WHERE source = 'regsosek' AND field = 'id_keluarga'"
    ).fetchall()
    assert ("family not in keluarga.parquet (or its family row was quarantined)",) in reasons
    stored = con.execute("SELECT count(*) FROM sources.regsosek_person").fetchall()[0][0]
    assert stored == len(ind) - orphans


# 3. a NUL byte after the first 64 KiB quarantines its row, it never reaches the warehouse
def test_a_nul_byte_deep_in_the_file_quarantines_its_row(land, con):
    path = land / "dtks" / M1 / "dtks.csv"
    raw = bytearray(path.read_bytes())
    assert len(raw) > 70_000
    at = raw.index(b"\n", 70_000) + 5  # inside the record after byte 70,000
    raw[at:at] = b"\x00"
    path.write_bytes(bytes(raw))
    r = ingest(con, str(land), M1, "dtks")
    assert (
        con.execute(
            "SELECT count(*) FROM sources.dtks_person WHERE contains(name_raw, chr(0)) "
            "OR contains(coalesce(address, ''), chr(0))"
        ).fetchall()[0][0]
        == 0
    )
    assert r.quarantine_by_reason.get("NUL byte in the record") == 1
    stored, quarantined = stored_and_quarantined(con, "dtks", "sources.dtks_person")
    assert stored + quarantined == r.rows_read


def test_nul_bytes_everywhere_make_a_binary_file(land, con):
    path = land / "dtks" / M1 / "dtks.csv"
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([lines[0]] + [ln + b"\x00" for ln in lines[1:]]))
    with pytest.raises(DeliveryFileError, match=r"dtks\.csv: wrong file type: binary content"):
        ingest(con, str(land), M1, "dtks")


# 4. a field over its column's length limit is quarantined, never stored
def test_a_one_mebibyte_name_is_quarantined(land, con):
    path, lines = dtks_lines(land)
    fields = lines[3].rstrip("\n").split(",")
    fields[3] = "A" * (1 << 20) + " B"  # NAMA, 1 MiB: under the record limit? no: the whole record is over it
    lines[3] = ",".join(fields) + "\n"
    fields = lines[4].rstrip("\n").split(",")
    fields[3] = "SITI " + "N" * 400  # a 405-character name: readable, over the NAMA limit of 150
    lines[4] = ",".join(fields) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    r = ingest(con, str(land), M1, "dtks")
    q = dict(con.execute("SELECT line, reason FROM sources.quarantine WHERE source = 'dtks'").fetchall())
    assert q[4].startswith("record longer than")
    assert q[5] == "NAMA longer than 150 characters (405)"
    assert con.execute("SELECT max(length(name_raw)) FROM sources.dtks_person").fetchall()[0][0] <= 150
    assert r.rows_read == r.rows_accepted + r.rows_quarantined


# 5. BANK filled while KKS = 0 is quarantined, whatever the bank
def test_bank_without_kks_is_quarantined(land, con):
    path = land / "dtks" / M1 / "dtks.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    i = df.index[df["KKS"] == "0"][0]
    df.loc[i, "BANK"] = "BRI"  # a Himbara bank
    df.to_csv(path, index=False)
    ingest(con, str(land), M1, "dtks")
    q = con.execute("SELECT line, field, reason FROM sources.quarantine WHERE source = 'dtks'").fetchall()
    assert (i + 2, "BANK", "BANK given while KKS = 0 (the contract: BANK empty when KKS = 0)") in q


# 6. a Parquet file with two columns of one name: a clear file error
def test_parquet_with_a_duplicated_column(land, con):
    folder = land / "regsosek" / M1
    t = pq.read_table(folder / "individu.parquet")
    t = pa.Table.from_arrays(t.columns + [t.column("nama")], names=t.column_names + ["nama"])
    pq.write_table(t, folder / "individu.parquet")
    with pytest.raises(DeliveryFileError, match=r"individu\.parquet: duplicated column names \['nama'\]"):
        ingest(con, str(land), M1, "regsosek")


# 7. a month outside the partitions: the valid months, not a traceback
def test_dtsen_run_with_a_month_outside_the_partitions(land, tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestration.operate.cli",
            "run",
            "--landing",
            str(land),
            "--month",
            "2019-12",
            "--data",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2
    assert "month 2019-12 is before the first month 2025-01" in res.stderr and "valid months: 2025-01 .." in res.stderr
    assert "Traceback" not in res.stderr


# 8. two bad rows in a list of six deaths warn; they do not stop the month
def test_a_tiny_list_with_two_bad_rows_warns_not_fails(land, tmp_path):
    import dagster as dg

    from assets.registries import registry_assets
    from orchestration.lib.resources import DataResource, IngestSettings

    path = land / "dukcapil" / M1 / "kematian.csv"
    path.write_text(
        "nik,tgl_meninggal\n"
        + "".join(f"320101010190{i:04d},2025-01-0{i + 1}\n" for i in range(4))
        + "12345,2025-01-05\n3201010101900099,not-a-date\n",
        encoding="utf-8",
    )
    res = {"data": DataResource(root=str(tmp_path), landing=str(land)), "ingest_settings": IngestSettings()}
    result = dg.materialize(
        registry_assets,
        partition_key=M1,
        resources=res,
        instance=dg.DagsterInstance.ephemeral(),
        selection=[dg.AssetKey(["sources", "region_reference"]), dg.AssetKey(["sources", "dukcapil_deaths"])],
    )
    assert result.success
    checks = {
        (e.event_specific_data.asset_key.path[-1], e.event_specific_data.check_name): e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks[("dukcapil_deaths", "quarantine_share_warn")] is False  # a third of the rows: it warns
    assert checks[("dukcapil_deaths", "quarantine_share_max")] is True  # 2 rows: under the floor, no stop
    assert checks[("dukcapil_deaths", "rows_reconcile")] is True


# 9. the latest survey unusable: the survey year before, with a warning and the year said
def test_an_unusable_latest_survey_falls_back_to_the_year_before(land, con):
    old = land / "susenas" / "2024" / "susenas.parquet"
    newer = land / "susenas" / "2025"
    newer.mkdir()
    (newer / "susenas.parquet").write_bytes(old.read_bytes()[:5000])  # truncated
    r = ingest(con, str(land), M1, "susenas")
    assert r.note == "survey year 2024"
    assert any("2025/susenas.parquet: unusable (truncated or not a Parquet file" in w for w in r.warnings)
    assert con.execute("SELECT DISTINCT survey_year FROM sources.susenas").fetchall() == [("2024",)]
    # the refused file is named where an operator looks: the result, and the ingest log beside the file used
    refused = str(newer / "susenas.parquet")
    assert list(r.refused) == [refused] and r.refused[refused].startswith("unusable (truncated or not a Parquet")
    log = dict(con.execute("SELECT file, warnings FROM sources.ingest_log WHERE source = 'susenas'").fetchall())
    assert set(log) == {refused, str(old)} and log[refused].startswith("refused: unusable (truncated")


def test_a_refused_survey_year_is_a_failed_warning_check_and_in_the_summary(land, tmp_path):
    """In Dagster: the month builds on the year before, and the refusal is a WARN check that fails (with the file
    and why), in the asset's metadata and in the run's summary, not only a line in the log."""
    import io

    import dagster as dg

    from dtsen.layout import DataLayout
    from orchestration.operate.runner import materialize_month, print_summary

    old = land / "susenas" / "2024" / "susenas.parquet"
    (land / "susenas" / "2025").mkdir()
    (land / "susenas" / "2025" / "susenas.parquet").write_bytes(old.read_bytes()[:5000])
    run = materialize_month(
        str(land), M1, str(tmp_path), instance=dg.DagsterInstance.ephemeral(), job_name="ingest_job"
    )
    assert run.success, run.errors
    assert "sources/susenas:no_refused_file (WARN)" in run.failed_checks
    assert str(land / "susenas" / "2025" / "susenas.parquet") in run.materialized["sources/susenas"]["refused"]
    out = io.StringIO()
    print_summary(run, DataLayout.resolve(str(tmp_path)), out=out)
    assert "REFUSED " + str(land / "susenas" / "2025" / "susenas.parquet") + ": unusable" in out.getvalue()


# 10. a region code with two meanings makes the reference a file error; an exact repeat is only a duplicate
def test_a_region_code_with_two_meanings_is_a_file_error(land, tmp_path):
    path = land / "referensi" / "wilayah.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    c = wh.connect(str(tmp_path / "w4.duckdb"))
    try:
        path.write_text("".join(lines + [lines[5]]), encoding="utf-8")  # repeated word for word
        r = ingest(c, str(land), M1, "referensi")
        assert r.rows_quarantined == 1
        kode, nama, tingkat, induk = lines[5].rstrip("\n").split(",")
        path.write_text("".join(lines + [f"{kode},ANOTHER NAME,{tingkat},{induk}\n"]), encoding="utf-8")
        with pytest.raises(DeliveryFileError, match=rf"wilayah\.csv: region code\(s\) with two meanings \['{kode}'\]"):
            ingest(c, str(land), "2025-02", "referensi")
        assert c.execute("SELECT count(*) FROM sources.region WHERE delivery = '2025-02'").fetchall()[0][0] == 0
    finally:
        c.close()


# 11. a truncated Parquet file says so
def test_a_truncated_parquet_file(land, con):
    path = land / "regsosek" / M1 / "keluarga.parquet"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DeliveryFileError, match=r"keluarga\.parquet: truncated or not a Parquet file"):
        ingest(con, str(land), M1, "regsosek")


# ---- a seeded fuzz test: deliveries mutated at random either fail with a file-named message or reconcile exactly
MUTATIONS = [
    "truncate",
    "flip",
    "nul",
    "huge_field",
    "dup_column",
    "drop_column",
    "shuffle_columns",
    "wrong_type",
    "empty",
    "garbage_row",
    "quote",
    "long_line",
]
TARGETS = {
    "dtks": ("dtks/{m}/dtks.csv", ",", "sources.dtks_person"),
    "p3ke": ("p3ke/{m}/p3ke.csv", "|", "sources.p3ke_person"),
    "dukcapil": ("dukcapil/{m}/kematian.csv", ",", "sources.death"),
    "regsosek": ("regsosek/{m}/individu.parquet", None, "sources.regsosek_person"),
}


def mutate_csv(raw: bytes, kind: str, delim: str, rnd: random.Random) -> bytes:
    lines = raw.split(b"\n")
    d = delim.encode()
    if kind == "truncate":
        return raw[: rnd.randint(0, len(raw))]
    if kind == "flip":
        b = bytearray(raw)
        for _ in range(rnd.randint(1, 20)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        return bytes(b)
    if kind == "nul":
        b = bytearray(raw)
        for _ in range(rnd.randint(1, 3)):
            b.insert(rnd.randrange(len(b)), 0)
        return bytes(b)
    if kind == "huge_field":
        i = rnd.randrange(1, max(len(lines) - 1, 2))
        fields = lines[i].split(d)
        fields[rnd.randrange(len(fields))] = b"Z" * rnd.choice([300, 5000, MAX_RECORD_BYTES + 5])
        lines[i] = d.join(fields)
        return b"\n".join(lines)
    if kind in ("dup_column", "drop_column", "shuffle_columns"):
        rows = [ln.split(d) for ln in lines]
        n = len(rows[0])
        j = rnd.randrange(n)
        if kind == "dup_column":
            rows = [r + [r[j]] if len(r) == n else r for r in rows]
        elif kind == "drop_column":
            rows = [r[:j] + r[j + 1 :] if len(r) == n else r for r in rows]
        else:
            order = list(range(n))
            rnd.shuffle(order)
            rows = [[r[k] for k in order] if len(r) == n else r for r in rows]
        return b"\n".join(d.join(r) for r in rows)
    if kind == "wrong_type":
        i = rnd.randrange(1, max(len(lines) - 1, 2))
        fields = lines[i].split(d)
        fields[rnd.randrange(len(fields))] = rnd.choice([b"abc", b"-1", b"99999999999999999999", b"3.5", b"\xff\xfe"])
        lines[i] = d.join(fields)
        return b"\n".join(lines)
    if kind == "empty":
        return rnd.choice([b"", lines[0] + b"\n"])
    if kind == "garbage_row":
        lines.insert(rnd.randrange(1, len(lines)), bytes(rnd.randrange(32, 127) for _ in range(rnd.randint(1, 80))))
        return b"\n".join(lines)
    if kind == "quote":
        i = rnd.randrange(1, max(len(lines) - 1, 2))
        lines[i] = b'"' + lines[i]
        return b"\n".join(lines)
    lines.insert(rnd.randrange(1, len(lines)), d.join([b"Y" * (MAX_RECORD_BYTES + 1)] * 2))  # long_line
    return b"\n".join(lines)


def mutate_parquet(path: Path, kind: str, rnd: random.Random) -> None:
    raw = path.read_bytes()
    t = pq.read_table(path)
    if kind in ("truncate", "flip", "nul", "empty"):
        path.write_bytes(mutate_csv(raw, kind, ",", rnd) if kind != "empty" else b"")
        return
    cols, names = list(t.columns), list(t.column_names)
    j = rnd.randrange(len(names))
    if kind == "dup_column":
        cols, names = cols + [cols[j]], names + [names[j]]
    elif kind == "drop_column":
        cols, names = cols[:j] + cols[j + 1 :], names[:j] + names[j + 1 :]
    elif kind == "shuffle_columns":
        order = list(range(len(names)))
        rnd.shuffle(order)
        cols, names = [cols[k] for k in order], [names[k] for k in order]
    elif kind == "wrong_type":
        cols[j] = pa.array([str(v) for v in cols[j].to_pylist()], pa.string())
    elif kind in ("huge_field", "long_line", "garbage_row", "quote"):
        k = names.index("nama")
        values = cols[k].to_pylist()
        values[rnd.randrange(len(values))] = "N" * rnd.choice([200, 100_000]) if kind != "quote" else '"' + values[0]
        cols[k] = pa.array(values, pa.string())
    pq.write_table(pa.Table.from_arrays(cols, names=names), path)


@pytest.fixture(scope="module")
def fuzz_base(small_landing, tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz")
    landing = base / "landing"
    shutil.copytree(small_landing, landing, ignore=shutil.ignore_patterns("truth"))
    w = base / "base.duckdb"
    c = wh.connect(str(w))
    ingest(c, str(landing), M1, "referensi")
    c.close()
    return landing, w


def test_fuzzed_deliveries_fail_cleanly_or_reconcile_exactly(fuzz_base, tmp_path):
    landing, base_db = fuzz_base
    rnd = random.Random(20261201)
    outcomes = {"reconciled": 0, "file error": 0}
    cases = 200  # a few hundred mutations, ~0.25 s each
    for case in range(cases):
        source = rnd.choice(sorted(TARGETS))
        kind = rnd.choice(MUTATIONS)
        rel, delim, table = TARGETS[source]
        path = landing / rel.format(m=M1)
        original = path.read_bytes()
        work = tmp_path / f"w{case % 2}.duckdb"
        shutil.copy(base_db, work)
        try:
            if delim is None:
                mutate_parquet(path, kind, rnd)
            else:
                path.write_bytes(mutate_csv(original, kind, delim, rnd))
            c = wh.connect(str(work))
            try:
                r = ingest(c, str(landing), M1, source)
            except DeliveryFileError as e:
                assert str(e).startswith(str(landing)), (case, source, kind, str(e))
                # nothing of the failed delivery was written
                assert c.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] == 0, (case, source, kind)
                outcomes["file error"] += 1
            else:
                for f in r.files:  # every file's records = stored + quarantined, from the warehouse
                    stored = sum(
                        c.execute(f"SELECT count(*) FROM {t} WHERE file = ?", [f.file]).fetchall()[0][0]
                        for t in (table, "sources.regsosek_family")
                    )
                    quarantined = c.execute(
                        "SELECT count(DISTINCT line) FROM sources.quarantine WHERE file = ?", [f.file]
                    ).fetchall()[0][0]
                    assert f.rows_read == stored + quarantined, (case, source, kind, f)
                    if delim is not None and f.file == str(path) and kind not in ("flip", "quote", "truncate"):
                        assert f.rows_read == records_in(path), (case, source, kind)
                outcomes["reconciled"] += 1
            finally:
                c.close()
        finally:
            path.write_bytes(original)
    assert sum(outcomes.values()) == cases
    assert outcomes["reconciled"] > 25 and outcomes["file error"] > 25, outcomes


# 11. a re-delivered list that excludes people shrinks to nothing: held, the earlier rows stay, until confirmed
def test_an_emptied_death_list_is_held_until_an_operator_confirms_it(land, con):
    deaths = land / "dukcapil" / M1 / "kematian.csv"
    ingest(con, str(land), M1, "dukcapil")
    recorded = con.execute("SELECT nik, death_date FROM sources.death ORDER BY nik").fetchall()
    assert len(recorded) >= 2
    deaths.write_text("nik,tgl_meninggal\n", encoding="utf-8")  # the agency re-delivers the month header-only
    r = ingest(con, str(land), M1, "dukcapil")
    assert r.held.startswith(f"{deaths}: 0 accepted rows where the list held {len(recorded)} ({M1})")
    assert "confirmed_shrinks: ['dukcapil/2025-01']" in r.held
    assert con.execute("SELECT nik, death_date FROM sources.death ORDER BY nik").fetchall() == recorded
    confirmed = ingest(con, str(land), M1, "dukcapil", frozenset({"dukcapil/2025-01"}))
    assert not confirmed.held and con.execute("SELECT count(*) FROM sources.death").fetchall() == [(0,)]


def test_a_shrunk_list_is_a_failed_blocking_check_in_dagster(land, tmp_path):
    """Through Dagster: the held list's blocking check fails with the file and how to confirm it (so nothing
    downstream runs on it), and the confirmation is run configuration of ingest_settings."""
    import dagster as dg

    from assets.registries import registry_assets
    from orchestration.lib.resources import DataResource, IngestSettings

    def run(settings: IngestSettings):
        return dg.materialize(
            registry_assets,
            partition_key=M1,
            resources={"data": DataResource(root=str(tmp_path), landing=str(land)), "ingest_settings": settings},
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )

    assert run(IngestSettings()).success
    (land / "asn" / M1 / "asn.csv").write_text("nik\n", encoding="utf-8")
    result = run(IngestSettings())
    checks = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    held = checks[("asn_list", "list_not_shrunk")]
    assert not held.passed and held.severity == dg.AssetCheckSeverity.ERROR and "asn/2025-01" in held.description
    assert all(c.passed for (_, name), c in checks.items() if name == "list_not_shrunk" and c is not held)
    assert run(IngestSettings(confirmed_shrinks=["asn/2025-01"])).success


# 12. a month re-delivered with one registry broken: the other deliveries already written are put back
def test_a_failed_month_puts_back_the_deliveries_it_had_replaced(land, tmp_path):
    from dtsen.registries.ingest import SOURCES, RolledBack, ingest_month

    c = wh.connect(str(tmp_path / "w5.duckdb"))
    try:
        ingest(c, str(land), M1, "referensi")
        first = ingest_month(c, str(land), M1, SOURCES)
        assert not [s for s, r in first.items() if isinstance(r, Exception)], first
        tables = ["sources.death", "sources.p3ke_person", "sources.regsosek_family", "sources.quarantine"]
        before = {t: c.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
        log = c.execute("SELECT source, file, rows_read FROM sources.ingest_log ORDER BY ALL").fetchall()
        deaths = land / "dukcapil" / M1 / "kematian.csv"
        deaths.write_text(deaths.read_text(encoding="utf-8") + "3201010101900777,2025-01-05\n", encoding="utf-8")
        path, lines = dtks_lines(land)
        path.write_text(lines[0].replace("NIK,", "NIX,", 1) + "".join(lines[1:]), encoding="utf-8")
        again = ingest_month(c, str(land), M1, SOURCES)
        assert isinstance(again["dtks"], DeliveryFileError)
        assert isinstance(again["dukcapil"], RolledBack) and "because dtks could not be ingested" in str(
            again["dukcapil"]
        )
        assert {t: c.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables} == before
        assert c.execute("SELECT source, file, rows_read FROM sources.ingest_log ORDER BY ALL").fetchall() == log
    finally:
        c.close()

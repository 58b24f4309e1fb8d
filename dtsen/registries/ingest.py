"""Ingestion of one source's delivery for one month into the warehouse (plain functions, no Dagster).

Every function reads the contract files of `<landing>/<source>/<YYYY-MM>/`, validates them with the pandera
schemas, maps accepted rows onto the canonical shape and replaces exactly that delivery's partition in one
transaction, together with its quarantine rows and its ingest log. Nothing is dropped silently: every data row
of every file is either accepted or quarantined with its line, field, value and reason.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pyarrow as pa

from dtsen import warehouse as wh
from dtsen.privacy import mask_name
from dtsen.textops import upper_single_spaced

from .files import DeliveryFileError, RawFile, read_csv_file, read_parquet_file
from .nik import identity_sql, mask_nik, nik_flag_sql
from .rules import (
    BINARY,
    EDUCATION,
    HIMBARA,
    MARITAL,
    NON_NEGATIVE,
    PROXY_CODES,
    RELATIONSHIP,
    SCHOOL,
    WORK,
    Rule,
    code_in,
    date_not_after,
    date_text,
    digits,
    duplicates_sql,
    failures_sql,
    ident,
    in_reference,
    lit,
    max_length,
    non_negative,
    one_of,
    positive,
    required,
)

DTKS_COLUMNS = [
    "ID_DTKS",
    "NIK",
    "NO_KK",
    "NAMA",
    "JNS_KEL",
    "TMP_LAHIR",
    "TGL_LAHIR",
    "HUB_KRT",
    "ALAMAT",
    "RT",
    "RW",
    "KODE_DESA",
    "DISABILITAS_BERAT",
    "HAMIL",
    "PENDIDIKAN",
    "PEKERJAAN",
    "KKS",
    "BANK",
    "TGL_UPDATE",
]
P3KE_COLUMNS = [
    "id_keluarga_p3ke",
    "id_individu_p3ke",
    "kode_kemendagri",
    "nik",
    "no_kk",
    "nama",
    "jk",
    "tgl_lahir",
    "hubungan",
    "alamat",
    "desil_p3ke",
    "pekerjaan",
    "pendidikan",
]
KELUARGA_COLUMNS = {
    "id_keluarga": "str",
    "kode_desa": "str",
    "alamat": "str",
    **{
        c: "int"
        for c in [
            "status_bangunan",
            "luas_lantai_m2",
            "jenis_lantai",
            "jenis_dinding",
            "jenis_atap",
            "sumber_air_minum",
            "fasilitas_bab",
            "sumber_penerangan",
            "bahan_bakar_masak",
            "aset_kulkas",
            "aset_motor",
            "aset_mobil",
            "aset_lahan_m2",
            "aset_ternak",
            "jumlah_art",
            "desa_terpencil",
        ]
    },
}
INDIVIDU_COLUMNS = {
    "id_keluarga": "str",
    "no_urut": "int",
    "nik": "str",
    "no_kk": "str",
    "nama": "str",
    "jenis_kelamin": "str",
    "tanggal_lahir": "date",
    "hubungan_kk": "int",
    "status_kawin": "int",
    "pendidikan": "int",
    "jenjang_sekolah": "str",
    "bekerja": "int",
    "lapangan_usaha": "int",
    "disabilitas_berat": "int",
    "hamil": "int",
}
ADMIN = {  # kind -> (source name, folder, file, required columns, table)
    "kematian": ("dukcapil", "dukcapil", "kematian.csv", ["nik", "tgl_meninggal"], "sources.death"),
    "asn": ("asn", "asn", "asn.csv", ["nik"], "sources.asn"),
    "upah": ("bpjstk", "bpjstk", "upah.csv", ["nik", "upah_bulanan", "kode_prov"], "sources.wage"),
}
PERSON_TABLE = {
    "dtks": "sources.dtks_person",
    "regsosek": "sources.regsosek_person",
    "p3ke": "sources.p3ke_person",
    "usulan": "sources.usulan_person",
}
# the caseworker desk's monthly export of approved decisions (`dtsen.web.export`): CSV, comma, lowercase header,
# dates YYYY-MM-DD; a month with no decision has no folder (or header-only files)
USULAN_FAMILY_COLUMNS = [
    "no_tiket",
    "kode_desa",
    "alamat",
    *[c for c in KELUARGA_COLUMNS if c not in ("id_keluarga", "kode_desa", "alamat")],
    "tgl_verifikasi",
    "tgl_keputusan",
]
USULAN_MEMBER_COLUMNS = [
    "no_tiket",
    "no_urut",
    "nik",
    "no_kk",
    "nama",
    "jenis_kelamin",
    "tanggal_lahir",
    "hubungan_kk",
    "pendidikan",
    "pekerjaan",
    "jenjang_sekolah",
    "disabilitas_berat",
    "hamil",
]
SANGGAHAN_COLUMNS = ["no_tiket", "id_dtsen", "alasan", "keterangan", "kode_desa", "tgl_keputusan"]
OBJECTION_REASONS = {"meninggal", "pindah", "tidak_miskin", "ganda", "asn", "lainnya"}


class NoRegionReference(Exception):
    pass


class WarehouseWriteError(RuntimeError):
    """Writing to the warehouse failed (disk, lock): the platform's problem, not the delivery's. Rolled back."""


@dataclass
class FileReport:
    file: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int


@dataclass
class IngestResult:
    source: str
    delivery: str
    delivered: bool
    files: list[FileReport] = field(default_factory=list)
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    nik_valid_rate: float | None = None
    preview: pd.DataFrame | None = None
    note: str = ""

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def quarantine_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0


def month_end(month: str) -> pd.Timestamp:
    return (pd.Period(month, "M") + 1).to_timestamp()


def delivery_dir(landing: str, folder: str, month: str) -> str:
    return os.path.join(landing, folder, month)


# ------------------------------------------------------------------ shared steps (all in DuckDB)
_I8 = "TRY_CAST(TRY_CAST({} AS DOUBLE) AS TINYINT)"


def _int8(col: str) -> str:
    return _I8.format(ident(col))


def _sex_letter(col: str) -> str:
    return f"CASE {ident(col)} WHEN 'L' THEN 1 WHEN 'P' THEN 2 END::TINYINT"


def clean_name(s: pd.Series) -> pd.Series:
    """Upper case, single spaces, no surrounding spaces (for frames; `clean_name_sql` is the same in SQL)."""
    return upper_single_spaced(s)


def clean_name_sql(col: str) -> str:
    # most names need no collapsing: only a name with white space or a Unicode space (which trim() removes) at
    # either end, two white spaces together or white space other than the space is rewritten (the rewrite over
    # every name cost 0.12 s per million, the test for it 0.04 s)
    return (
        f"CASE WHEN regexp_matches({col}, '^[\\s\\p{{Zs}}]|[\\s\\p{{Zs}}]$|\\s\\s|[\\t\\n\\f\\r]') "
        f"THEN {collapse_name_sql(col)} ELSE upper({col}) END"
    )


def collapse_name_sql(col: str) -> str:
    """Upper case with every run of white space one space, none at either end (`clean_name_sql` does it only where
    it changes something)."""
    return f"trim(regexp_replace(upper({col}), '\\s+', ' ', 'g'))"


def _region_sql(village: str) -> str:
    return (
        f"{village} AS village_code, left({village}, 6) AS district_code, left({village}, 4) AS regency_code, "
        f"left({village}, 2) AS province_code"
    )


def reference_codes(con: duckdb.DuckDBPyConnection, month: str) -> tuple[set[str], set[str]]:
    """Village and district codes of the latest region reference delivered up to `month`."""
    delivery = _reference_delivery(con, month)
    ref = con.execute("SELECT kode, tingkat FROM sources.region WHERE delivery = ?", [delivery]).df()
    return set(ref.loc[ref["tingkat"] == "desa", "kode"]), set(ref.loc[ref["tingkat"] == "kecamatan", "kode"])


def _reference_delivery(con: duckdb.DuckDBPyConnection, month: str) -> str:
    row = con.execute("SELECT max(delivery) FROM sources.region WHERE delivery <= ?", [month]).fetchall()[0]
    if row is None or row[0] is None:
        raise NoRegionReference(
            f"no region reference ingested for {month} or earlier: deliver "
            "referensi/wilayah.csv and materialise region_reference first"
        )
    return row[0]


def _reference_tables(con: duckdb.DuckDBPyConnection, month: str) -> None:
    """TEMP tables _villages and _districts (column kode) from the latest region reference up to the month."""
    delivery = _reference_delivery(con, month)
    for name, level in (("_villages", "desa"), ("_districts", "kecamatan")):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT DISTINCT kode FROM sources.region "
            f"WHERE delivery = ? AND tingkat = ?",
            [delivery, level],
        )


def _text_columns(raw: RawFile) -> list[str]:
    return [f.name for f in raw.table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]


@dataclass
class _Staged:
    """A file's rows registered in DuckDB (`name`) with its failures (`name`_fail: line, field, value, reason)."""

    raw: RawFile
    name: str

    @property
    def fail(self) -> str:
        return self.name + "_fail"

    @property
    def accepted(self) -> str:
        """The rows that broke no rule."""
        return f"(SELECT * FROM {self.name} WHERE _line NOT IN (SELECT line FROM {self.fail}))"


def _stage(
    con: duckdb.DuckDBPyConnection, name: str, raw: RawFile, rules: list[Rule], extra: list[str] | None = None
) -> _Staged:
    """Register the file's rows and evaluate every rule on them (plus the too-long rule on each text column and any
    extra failure queries over `name`, e.g. duplicate ids)."""
    con.register(name, raw.table)
    parts = [failures_sql(name, rules + max_length(_text_columns(raw)))] + (extra or [])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_fail AS " + " UNION ALL ".join(f"({p})" for p in parts))
    return _Staged(raw, name)


def _quarantine(con: duckdb.DuckDBPyConnection, source: str, delivery: str, staged: list[_Staged]) -> str:
    """TEMP table _quarantine: reader rejects and rule failures of the delivery's files, in file and line order."""
    parts = []
    for st in staged:
        parts.append(f"SELECT {lit(st.raw.path)} AS file, line, field, value, reason FROM {st.fail}")
        if len(st.raw.rejects):
            con.register(st.name + "_rejects", st.raw.rejects)
            parts.append(
                f"SELECT {lit(st.raw.path)} AS file, line::BIGINT AS line, field::VARCHAR AS field, "
                f"value::VARCHAR AS value, reason::VARCHAR AS reason FROM {st.name}_rejects"
            )
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _quarantine AS
        SELECT {lit(source)} AS source, {lit(delivery)} AS delivery, file, line, field, value, reason
        FROM ({" UNION ALL ".join(parts)}) ORDER BY file, line, field""")
    return "SELECT * FROM _quarantine"


def _duplicates(table: str, column: str) -> str:
    return duplicates_sql(table, ident(column), column)


# the canonical person record: a failure here is a bug in the mapping, not bad input
_GUARD = {
    "source": "source NOT IN ('dtks', 'regsosek', 'p3ke', 'usulan')",
    "delivery": "NOT regexp_full_match(delivery, '[0-9]{4}-[0-9]{2}')",
    "line": "line IS NULL OR line < 1",
    "nik": "NOT regexp_full_match(nik, '[0-9]{16}')",
    "nik_flag": "nik_flag NOT IN ('missing', 'bad_format', 'bad_date', 'unknown_district')",
    "no_kk": "NOT regexp_full_match(no_kk, '[0-9]{16}')",
    "name": "name IS NULL OR name = ''",
    "sex": "sex NOT IN (1, 2)",
    "relationship": f"relationship NOT IN ({', '.join(map(str, sorted(RELATIONSHIP)))})",
    "village_code": "NOT regexp_full_match(village_code, '[0-9]{10}')",
    "education": f"education NOT IN ({', '.join(map(str, sorted(EDUCATION)))})",
    "work": f"work NOT IN ({', '.join(map(str, sorted(WORK)))})",
    "desil_p3ke": "desil_p3ke NOT IN (1, 2, 3, 4)",
}


def _guard_persons(con: duckdb.DuckDBPyConnection, table: str, delivery: str) -> None:
    counts = ", ".join(f"count(*) FILTER (WHERE coalesce({bad}, false))" for bad in _GUARD.values())
    row = con.execute(
        f"SELECT {counts}, count(*) - count(DISTINCT record_id) FROM {table} WHERE delivery = ?", [delivery]
    ).fetchall()[0]
    broken = {c: n for c, n in zip(list(_GUARD) + ["record_id (unique)"], row) if n}
    if broken:
        raise AssertionError(f"canonical person records of {table} {delivery} break their schema: {broken}")


def _write(
    con: duckdb.DuckDBPyConnection,
    source: str,
    delivery: str,
    raws: list[RawFile],
    tables: list[tuple[str, str | pd.DataFrame, str, str]],
    quarantine: str | pd.DataFrame,
    warnings: list[str],
    guard: bool = False,
) -> tuple[list[FileReport], dict[str, int]]:
    """Replace exactly this delivery's partition (all tables, quarantine, log) in one transaction.

    tables: (table, rows as a SQL query or a frame, WHERE clause selecting the partition, value bound to its ?).
    quarantine: a relation or frame with source, delivery, file, line, field, value, reason.
    Every file's records (counted from the file itself) must equal its rows stored plus its quarantined lines, and
    the stored person records must pass their guard; otherwise nothing is written and the file is named.
    Returns the per-file reports and the quarantined lines by reason.
    """
    registered = []

    def relation(rows: str | pd.DataFrame, name: str) -> str:
        if isinstance(rows, str):
            return f"({rows})"
        con.register(name, rows)
        registered.append(name)
        return f"(SELECT * FROM {name})"

    try:
        q = relation(quarantine, "_quarantine_frame")
        with wh.transaction(con):
            try:
                for i, (table, rows, where, key) in enumerate(tables):
                    con.execute(f"DELETE FROM {table} WHERE {where}", [key])
                    if not (isinstance(rows, pd.DataFrame) and rows.empty):
                        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {relation(rows, f'_rows_{i}')}")
                con.execute("DELETE FROM sources.quarantine WHERE source = ? AND delivery = ?", [source, delivery])
                con.execute(
                    f"INSERT INTO sources.quarantine BY NAME SELECT source, delivery, file, line, field, "
                    f"value, reason FROM {q}"
                )
            except duckdb.Error as e:
                raise WarehouseWriteError(
                    f"writing {source} {delivery} to the warehouse failed (nothing was "
                    f"changed): {type(e).__name__}: {e}"
                ) from e
            stored_sql = " UNION ALL ".join(
                f"SELECT file, count(*) AS n FROM {t} WHERE {w} GROUP BY file" for t, _, w, _ in tables
            )
            stored = dict(con.execute(stored_sql, [k for _, _, _, k in tables]).fetchall())
            quarantined = dict(con.execute(f"SELECT file, count(DISTINCT line) FROM {q} GROUP BY file").fetchall())
            files = [
                FileReport(r.path, r.rows_read, int(stored.get(r.path, 0)), int(quarantined.get(r.path, 0)))
                for r in raws
            ]
            for f in files:
                if f.rows_accepted + f.rows_quarantined != f.rows_read:
                    raise DeliveryFileError(
                        f.file,
                        f"cannot account for every record: {f.rows_read:,} in the file, "
                        f"{f.rows_accepted:,} to store and {f.rows_quarantined:,} "
                        f"quarantined",
                    )
            if guard:
                _guard_persons(con, tables[0][0], delivery)
            by_reason = {
                str(r): int(n)
                for r, n in con.execute(
                    f"SELECT reason, count(DISTINCT line) AS n FROM {q} GROUP BY reason ORDER BY n DESC, reason"
                ).fetchall()
            }
            con.execute("DELETE FROM sources.ingest_log WHERE source = ? AND delivery = ?", [source, delivery])
            now = pd.Timestamp.now()
            for f in files:
                con.execute(
                    "INSERT INTO sources.ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        source,
                        delivery,
                        f.file,
                        f.rows_read,
                        f.rows_accepted,
                        f.rows_quarantined,
                        "\n".join(w for w in warnings if f.file in w) or None,
                        now,
                    ],
                )
    finally:
        for name in registered:
            con.unregister(name)
    return files, by_reason


def _drop_staged(con: duckdb.DuckDBPyConnection, staged: list[_Staged]) -> None:
    for st in staged:
        con.unregister(st.name)
        if len(st.raw.rejects):
            con.unregister(st.name + "_rejects")
        con.execute(f"DROP TABLE IF EXISTS {st.fail}")
    con.execute("DROP TABLE IF EXISTS _quarantine")


def _absent(source: str, month: str, path: str) -> IngestResult:
    return IngestResult(
        source=source,
        delivery=month,
        delivered=False,
        note=f"no {source} delivery for {month} ({path} not found): nothing changed",
    )


def _person_select(source: str, month: str, path: str, base: str) -> str:
    """The canonical person record from `base`, a query giving the source's columns under canonical names plus
    _nik, _kk, _sex (TINYINT), _bd (DATE), _name (raw name) and line."""
    fixed = {
        "nik",
        "nik_raw",
        "nik_flag",
        "nik_date_mismatch",
        "nik_sex_mismatch",
        "no_kk",
        "no_kk_raw",
        "no_kk_flag",
        "name",
        "name_raw",
        "sex",
        "birth_date",
        "source",
        "delivery",
        "file",
    }
    rest = [c for c in wh.PERSON_COLUMN_NAMES if c not in fixed]
    # the table computes its generated columns (wh.PERSON_GENERATED) itself: they are not inserted
    return f"""SELECT * EXCLUDE ({", ".join(wh.PERSON_GENERATED)}) FROM (
               SELECT {lit(source)} AS source, {lit(month)} AS delivery, {lit(path)} AS file,
                      {identity_sql("_nik", "_kk", "_sex", "_bd")},
                      {clean_name_sql("_name")} AS name, _name AS name_raw, _sex AS sex, _bd AS birth_date,
                      {", ".join(rest)}
               FROM (SELECT *, {nik_flag_sql("_nik", "_districts")} AS nik_flag FROM ({base})))"""


def _store_persons(
    con: duckdb.DuckDBPyConnection,
    source: str,
    month: str,
    staged: list[_Staged],
    base: str,
    warnings: list[str],
    extra_tables: list | None = None,
) -> IngestResult:
    """Canonical mapping, partition replacement (with the guard) and the result of a person source's delivery."""
    path = staged[-1].raw.path
    q = _quarantine(con, source, month, staged)
    files, by_reason = _write(
        con,
        source,
        month,
        [st.raw for st in staged],
        [(PERSON_TABLE[source], _person_select(source, month, path, base), "delivery = ?", month)]
        + (extra_tables or []),
        q,
        warnings,
        guard=True,
    )
    _drop_staged(con, staged)
    (rate,) = con.execute(
        f"SELECT avg((nik_flag IS NULL)::INT) FROM {PERSON_TABLE[source]} WHERE delivery = ?", [month]
    ).fetchall()[0]
    head = con.execute(
        f"SELECT record_id, nik_raw, nik_flag, name, sex, birth_date, village_code "
        f"FROM {PERSON_TABLE[source]} WHERE delivery = ? ORDER BY line LIMIT 5",
        [month],
    ).df()
    return IngestResult(
        source,
        month,
        True,
        files,
        by_reason,
        warnings,
        nik_valid_rate=float(rate) if rate is not None else None,
        preview=_person_preview(head),
    )


def _person_preview(head: pd.DataFrame) -> pd.DataFrame:
    """Five rows for the UI, identity masked: NIK to its region part, name to initials, birth date to the year."""
    return pd.DataFrame(
        {
            "record_id": head["record_id"],
            "nik": mask_nik(head["nik_raw"]),
            "nik_flag": head["nik_flag"].fillna(""),
            "name": head["name"].map(mask_name),
            "sex": head["sex"].astype("Int8"),
            "birth_year": pd.to_datetime(head["birth_date"]).dt.year.astype("Int64"),
            "village_code": head["village_code"],
        }
    )


# ------------------------------------------------------------------ region reference
LEVEL_LENGTH = {"provinsi": 2, "kabupaten": 4, "kecamatan": 6, "desa": 10}


def ingest_region(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    path = os.path.join(landing, "referensi", "wilayah.csv")
    if not os.path.exists(path):
        return _absent("referensi", month, path)
    raw = read_csv_file(path, ",", ["kode", "nama", "tingkat", "kode_induk"], "lower", allow_empty=False)
    # the reference is authoritative: one code with two meanings makes it ambiguous, so the file is refused (the
    # previous reference stays); a row repeated word for word is only a duplicate (quarantined)
    con.register("_region_raw", raw.table)
    codes = [
        r[0]
        for r in con.execute(
            "SELECT kode FROM (SELECT DISTINCT kode, nama, tingkat, kode_induk FROM _region_raw) WHERE kode IS NOT NULL "
            "GROUP BY kode HAVING count(*) > 1 ORDER BY kode"
        ).fetchall()
    ]
    con.unregister("_region_raw")
    if codes:
        raise DeliveryFileError(
            path,
            f"region code(s) with two meanings {codes[:5]}{' ...' if len(codes) > 5 else ''}:"
            f" the reference is ambiguous",
        )
    length = "CASE tingkat " + " ".join(f"WHEN {lit(k)} THEN {n}" for k, n in LEVEL_LENGTH.items()) + " END"
    rules = [
        required("kode"),
        required("nama"),
        required("tingkat"),
        one_of("tingkat", set(LEVEL_LENGTH)),
        Rule(
            "kode",
            f"kode IS NOT NULL AND coalesce(NOT (regexp_full_match(kode, '[0-9]+') AND length(kode) = {length}), true)",
            lit("kode length does not match tingkat"),
        ),
    ]
    st = _stage(con, "_region", raw, rules, [_duplicates("_region", "kode")])
    q = _quarantine(con, "referensi", month, [st])
    rows = (
        f"SELECT kode, nama, tingkat, coalesce(kode_induk, '') AS kode_induk, _line AS line, "
        f"{lit(month)} AS delivery, {lit(path)} AS file FROM {st.accepted}"
    )
    files, by_reason = _write(
        con, "referensi", month, [raw], [("sources.region", rows, "delivery = ?", month)], q, raw.warnings
    )
    _drop_staged(con, [st])
    preview = con.execute(
        "SELECT kode, nama, tingkat, kode_induk FROM sources.region WHERE delivery = ? ORDER BY line LIMIT 5", [month]
    ).df()
    return IngestResult("referensi", month, True, files, by_reason, raw.warnings, preview=preview)


# ------------------------------------------------------------------ DTKS
def ingest_dtks(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    path = os.path.join(delivery_dir(landing, "dtks", month), "dtks.csv")
    if not os.path.exists(path):
        return _absent("dtks", month, path)
    _reference_tables(con, month)
    raw = read_csv_file(
        path, ",", DTKS_COLUMNS, "upper", allow_empty=False, dates={"TGL_LAHIR": "%d-%m-%Y", "TGL_UPDATE": "%d-%m-%Y"}
    )
    end = month_end(month)
    rules = [
        required("ID_DTKS"),
        required("NAMA"),
        code_in("JNS_KEL", {1, 2}),
        *date_text("TGL_LAHIR", "%d-%m-%Y", end),
        code_in("HUB_KRT", RELATIONSHIP),
        digits("RT", 3),
        digits("RW", 3),
        in_reference("KODE_DESA", "_villages"),
        code_in("DISABILITAS_BERAT", BINARY),
        code_in("HAMIL", BINARY),
        code_in("PENDIDIKAN", EDUCATION),
        code_in("PEKERJAAN", WORK),
        code_in("KKS", BINARY),
        one_of("BANK", HIMBARA),
        *date_text("TGL_UPDATE", "%d-%m-%Y", end),
        Rule(
            "BANK",
            "BANK IS NOT NULL AND TRY_CAST(KKS AS DOUBLE) = 0",
            lit("BANK given while KKS = 0 (the contract: BANK empty when KKS = 0)"),
        ),
    ]
    st = _stage(con, "_dtks", raw, rules, [_duplicates("_dtks", "ID_DTKS")])
    base = f"""SELECT ID_DTKS AS record_id, _line AS line, NIK AS _nik, NO_KK AS _kk, NAMA AS _name,
                      {_int8("JNS_KEL")} AS _sex, JNS_KEL AS sex_raw, TGL_LAHIR__date AS _bd,
                      TGL_LAHIR AS birth_date_raw, TMP_LAHIR AS birth_place, {_int8("HUB_KRT")} AS relationship,
                      ALAMAT AS address, RT AS rt, RW AS rw, {_region_sql("KODE_DESA")},
                      NO_KK AS family_id_src, {_int8("PENDIDIKAN")} AS education, {_int8("PEKERJAAN")} AS work,
                      ({_int8("PEKERJAAN")} > 0)::TINYINT AS working, {_int8("DISABILITAS_BERAT")} AS disability,
                      {_int8("HAMIL")} AS pregnant, NULL AS school_level, NULL::TINYINT AS marital_status,
                      {_int8("KKS")} AS kks, BANK AS bank, NULL::TINYINT AS desil_p3ke, TGL_UPDATE__date AS updated_at
               FROM {st.accepted}"""
    # DTKS has no household id of its own: the KK is its family key (family_id_src)
    return _store_persons(con, "dtks", month, [st], base, raw.warnings)


# ------------------------------------------------------------------ P3KE
def ingest_p3ke(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    path = os.path.join(delivery_dir(landing, "p3ke", month), "p3ke.csv")
    if not os.path.exists(path):
        return _absent("p3ke", month, path)
    _reference_tables(con, month)
    raw = read_csv_file(path, "|", P3KE_COLUMNS, "lower", allow_empty=False, dates={"tgl_lahir": "%Y%m%d"})
    rules = [
        required("id_keluarga_p3ke"),
        required("id_individu_p3ke"),
        required("nama"),
        in_reference("kode_kemendagri", "_villages"),
        one_of("jk", {"L", "P"}),
        *date_text("tgl_lahir", "%Y%m%d", month_end(month)),
        code_in("hubungan", RELATIONSHIP),
        code_in("desil_p3ke", {1, 2, 3, 4}),
        code_in("pekerjaan", WORK),
        code_in("pendidikan", EDUCATION),
    ]
    st = _stage(con, "_p3ke", raw, rules, [_duplicates("_p3ke", "id_individu_p3ke")])
    base = f"""SELECT id_individu_p3ke AS record_id, _line AS line, nik AS _nik, no_kk AS _kk, nama AS _name,
                      {_sex_letter("jk")} AS _sex, jk AS sex_raw, tgl_lahir__date AS _bd, tgl_lahir AS birth_date_raw,
                      NULL AS birth_place, {_int8("hubungan")} AS relationship, alamat AS address, NULL AS rt,
                      NULL AS rw, {_region_sql("kode_kemendagri")}, id_keluarga_p3ke AS family_id_src,
                      {_int8("pendidikan")} AS education, {_int8("pekerjaan")} AS work,
                      ({_int8("pekerjaan")} > 0)::TINYINT AS working, NULL::TINYINT AS disability,
                      NULL::TINYINT AS pregnant, NULL AS school_level, NULL::TINYINT AS marital_status,
                      NULL::TINYINT AS kks, NULL AS bank, {_int8("desil_p3ke")} AS desil_p3ke, NULL::DATE AS updated_at
               FROM {st.accepted}"""
    return _store_persons(con, "p3ke", month, [st], base, raw.warnings)


# ------------------------------------------------------------------ Regsosek
def _keluarga_rules(with_consumption: bool = False, key: str = "id_keluarga") -> list[Rule]:
    """The household table's rules (Regsosek keluarga, the survey, a proposal's verified household)."""
    rules = [required(key), in_reference("kode_desa", "_villages")]
    rules += [code_in(c, allowed) for c, allowed in PROXY_CODES.items()] + [non_negative(c) for c in NON_NEGATIVE]
    if with_consumption:
        rules += [required("pengeluaran_per_kapita", text=False), positive("pengeluaran_per_kapita")]
    return rules


def _keluarga_rows(st: _Staged, month: str, extra: str = "", key: str = "id_keluarga") -> str:
    """Accepted household rows; proxies delivered as text (CSV) are read as numbers the way the rules judged them."""
    text = set(_text_columns(st.raw))
    proxies = ", ".join(
        f"TRY_CAST(TRY_CAST({c} AS DOUBLE) AS BIGINT) AS {c}" if c in text else c
        for c in KELUARGA_COLUMNS
        if c not in ("id_keluarga", "kode_desa", "alamat")
    )
    return (
        f"SELECT {lit(month)} AS delivery, {key}, {lit(st.raw.path)} AS file, _line AS line, "
        f"kode_desa AS village_code, alamat AS address, {proxies}{extra} FROM {st.accepted}"
    )


def _member_checks(table: str, family_col: str, families: _Staged, missing: str) -> list[str]:
    """Failure queries for a member table: a (family, no_urut) twice, and members whose family row is absent or
    quarantined (`missing` names where it should have been)."""
    key = f"CASE WHEN {family_col} IS NOT NULL AND no_urut IS NOT NULL THEN {family_col} || '-' || no_urut END"
    orphans = (
        f"SELECT _line AS line, {lit(family_col)} AS field, left({family_col}, 200) AS value, "
        f"{lit(missing + ' (or its family row was quarantined)')} AS reason FROM {table} "
        f"WHERE {family_col} IS NOT NULL AND {family_col} NOT IN (SELECT {family_col} FROM {families.accepted})"
    )
    return [duplicates_sql(table, key, f"{family_col}-no_urut"), orphans]


def ingest_regsosek(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    folder = delivery_dir(landing, "regsosek", month)
    kpath, ipath = os.path.join(folder, "keluarga.parquet"), os.path.join(folder, "individu.parquet")
    if not os.path.isdir(folder):
        return _absent("regsosek", month, folder)
    _reference_tables(con, month)
    kraw = read_parquet_file(kpath, KELUARGA_COLUMNS)
    iraw = read_parquet_file(ipath, INDIVIDU_COLUMNS)
    kst = _stage(con, "_keluarga", kraw, _keluarga_rules(), [_duplicates("_keluarga", "id_keluarga")])
    rules = [
        required("id_keluarga"),
        required("no_urut", text=False),
        required("nama"),
        one_of("jenis_kelamin", {"L", "P"}),
        date_not_after("tanggal_lahir", month_end(month)),
        code_in("hubungan_kk", RELATIONSHIP),
        code_in("status_kawin", MARITAL),
        code_in("pendidikan", EDUCATION),
        one_of("jenjang_sekolah", SCHOOL),
        code_in("bekerja", BINARY),
        code_in("lapangan_usaha", WORK),
        code_in("disabilitas_berat", BINARY),
        code_in("hamil", BINARY),
    ]
    ist = _stage(
        con, "_individu", iraw, rules, _member_checks("_individu", "id_keluarga", kst, "family not in keluarga.parquet")
    )
    base = f"""SELECT i.id_keluarga || '-' || i.no_urut AS record_id, i._line AS line, i.nik AS _nik, i.no_kk AS _kk,
                      i.nama AS _name, {_sex_letter("jenis_kelamin")} AS _sex, i.jenis_kelamin AS sex_raw,
                      i.tanggal_lahir::DATE AS _bd, strftime(i.tanggal_lahir::DATE, '%Y-%m-%d') AS birth_date_raw,
                      NULL AS birth_place, {_int8("hubungan_kk")} AS relationship, k.alamat AS address, NULL AS rt,
                      NULL AS rw, {_region_sql("k.kode_desa")}, i.id_keluarga AS family_id_src,
                      {_int8("pendidikan")} AS education, {_int8("lapangan_usaha")} AS work,
                      {_int8("bekerja")} AS working, {_int8("disabilitas_berat")} AS disability,
                      {_int8("hamil")} AS pregnant, i.jenjang_sekolah AS school_level,
                      {_int8("status_kawin")} AS marital_status, NULL::TINYINT AS kks, NULL AS bank,
                      NULL::TINYINT AS desil_p3ke, NULL::DATE AS updated_at
               FROM {ist.accepted} i LEFT JOIN {kst.accepted} k USING (id_keluarga)"""
    return _store_persons(
        con,
        "regsosek",
        month,
        [kst, ist],
        base,
        kraw.warnings + iraw.warnings,
        extra_tables=[("sources.regsosek_family", _keluarga_rows(kst, month), "delivery = ?", month)],
    )


# ------------------------------------------------------------------ consumption survey
def survey_years(landing: str, month: str) -> list[str]:
    """Survey years delivered up to the month's year, latest first."""
    year = int(month[:4])
    return [
        str(y)
        for y in sorted(
            (
                int(os.path.basename(p))
                for p in glob.glob(os.path.join(landing, "susenas", "*"))
                if os.path.basename(p).isdigit() and int(os.path.basename(p)) <= year
            ),
            reverse=True,
        )
    ]


def ingest_susenas(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    """The latest usable survey year up to the month: a year whose file cannot be read, or whose every row is
    quarantined, is skipped with a warning and the year before is used (the year used is in the note)."""
    years = survey_years(landing, month)
    if not years:
        return _absent("susenas", month, os.path.join(landing, "susenas", f"<= {month[:4]}"))
    _reference_tables(con, month)
    cols = dict(KELUARGA_COLUMNS, pengeluaran_per_kapita="int")
    skipped: list[str] = []
    first_error: DeliveryFileError | None = None
    for year in years:
        path = os.path.join(landing, "susenas", year, "susenas.parquet")
        try:
            raw = read_parquet_file(path, cols)
        except DeliveryFileError as e:
            first_error = first_error or e
            skipped.append(f"{path}: unusable ({e.problem}); the survey year before is used")
            continue
        st = _stage(
            con, "_susenas", raw, _keluarga_rules(with_consumption=True), [_duplicates("_susenas", "id_keluarga")]
        )
        (accepted,) = con.execute(f"SELECT count(*) FROM {st.accepted}").fetchall()[0]
        if accepted == 0:
            _drop_staged(con, [st])
            skipped.append(f"{path}: unusable (every row quarantined); the survey year before is used")
            continue
        q = _quarantine(con, "susenas", month, [st])
        warnings = skipped + raw.warnings
        rows = _keluarga_rows(st, month, f", {lit(year)} AS survey_year, pengeluaran_per_kapita")
        files, by_reason = _write(
            con, "susenas", month, [raw], [("sources.susenas", rows, "survey_year = ?", year)], q, warnings
        )
        _drop_staged(con, [st])
        return IngestResult("susenas", month, True, files, by_reason, warnings, note=f"survey year {year}")
    raise first_error or DeliveryFileError(
        os.path.join(landing, "susenas"), "no usable survey year: " + "; ".join(skipped)
    )


def latest_survey_year(landing: str, month: str) -> str | None:
    years = survey_years(landing, month)
    return years[0] if years else None


# ------------------------------------------------------------------ proposals and objections (the caseworker desk)
def ingest_usulan(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    """Approved proposals: the verified family (its Regsosek-style proxies) and its members as person records, so
    linkage links a proposed person who is already registered instead of adding them twice."""
    folder = delivery_dir(landing, "usulan", month)
    fpath, mpath = os.path.join(folder, "usulan_keluarga.csv"), os.path.join(folder, "usulan_anggota.csv")
    if not os.path.isdir(folder):
        return _absent("usulan", month, folder)
    _reference_tables(con, month)
    end = month_end(month)
    fraw = read_csv_file(
        fpath,
        ",",
        USULAN_FAMILY_COLUMNS,
        "lower",
        allow_empty=True,
        dates={"tgl_verifikasi": "%Y-%m-%d", "tgl_keputusan": "%Y-%m-%d"},
    )
    mraw = read_csv_file(
        mpath, ",", USULAN_MEMBER_COLUMNS, "lower", allow_empty=True, dates={"tanggal_lahir": "%Y-%m-%d"}
    )
    frules = [
        *_keluarga_rules(key="no_tiket"),
        required("kode_desa"),
        *date_text("tgl_verifikasi", "%Y-%m-%d", end),
        required("tgl_keputusan"),
        *date_text("tgl_keputusan", "%Y-%m-%d", end),
    ]
    fst = _stage(con, "_usulan_kel", fraw, frules, [_duplicates("_usulan_kel", "no_tiket")])
    mrules = [
        required("no_tiket"),
        required("no_urut"),
        positive("no_urut"),
        required("nama"),
        one_of("jenis_kelamin", {"L", "P"}),
        *date_text("tanggal_lahir", "%Y-%m-%d", end),
        code_in("hubungan_kk", RELATIONSHIP),
        code_in("pendidikan", EDUCATION),
        code_in("pekerjaan", WORK),
        one_of("jenjang_sekolah", SCHOOL),
        code_in("disabilitas_berat", BINARY),
        code_in("hamil", BINARY),
    ]
    mst = _stage(
        con,
        "_usulan_ang",
        mraw,
        mrules,
        _member_checks("_usulan_ang", "no_tiket", fst, "proposal not in usulan_keluarga.csv"),
    )
    base = f"""SELECT a.no_tiket || '-' || a.no_urut AS record_id, a._line AS line, a.nik AS _nik, a.no_kk AS _kk,
                      a.nama AS _name, {_sex_letter("jenis_kelamin")} AS _sex, a.jenis_kelamin AS sex_raw,
                      a.tanggal_lahir__date AS _bd, a.tanggal_lahir AS birth_date_raw, NULL AS birth_place,
                      {_int8("hubungan_kk")} AS relationship, k.alamat AS address, NULL AS rt, NULL AS rw,
                      {_region_sql("k.kode_desa")}, a.no_tiket AS family_id_src, {_int8("pendidikan")} AS education,
                      {_int8("pekerjaan")} AS work, ({_int8("pekerjaan")} > 0)::TINYINT AS working,
                      {_int8("disabilitas_berat")} AS disability, {_int8("hamil")} AS pregnant,
                      a.jenjang_sekolah AS school_level, NULL::TINYINT AS marital_status, NULL::TINYINT AS kks,
                      NULL AS bank, NULL::TINYINT AS desil_p3ke, k.tgl_verifikasi__date AS updated_at
               FROM {mst.accepted} a JOIN {fst.accepted} k USING (no_tiket)"""
    family_rows = _keluarga_rows(
        fst, month, ", tgl_verifikasi__date AS verified_on, tgl_keputusan__date AS decided_on", key="no_tiket"
    )
    return _store_persons(
        con,
        "usulan",
        month,
        [fst, mst],
        base,
        fraw.warnings + mraw.warnings,
        extra_tables=[("sources.usulan_family", family_rows, "delivery = ?", month)],
    )


def ingest_sanggahan(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    """Approved objections: the DTSEN person named, the reason and the case number (exclusions in the marts)."""
    path = os.path.join(delivery_dir(landing, "sanggahan", month), "sanggahan.csv")
    if not os.path.exists(path):
        return _absent("sanggahan", month, path)
    _reference_tables(con, month)
    raw = read_csv_file(path, ",", SANGGAHAN_COLUMNS, "lower", allow_empty=True, dates={"tgl_keputusan": "%Y-%m-%d"})
    rules = [
        required("no_tiket"),
        required("id_dtsen"),
        Rule(
            "id_dtsen",
            "id_dtsen IS NOT NULL AND NOT regexp_full_match(id_dtsen, 'DP[0-9A-Z]+')",
            lit("id_dtsen not a DTSEN person id"),
        ),
        required("alasan"),
        one_of("alasan", OBJECTION_REASONS),
        in_reference("kode_desa", "_villages"),
        required("tgl_keputusan"),
        *date_text("tgl_keputusan", "%Y-%m-%d", month_end(month)),
    ]
    st = _stage(con, "_sanggahan", raw, rules, [_duplicates("_sanggahan", "no_tiket")])
    q = _quarantine(con, "sanggahan", month, [st])
    rows = (
        f"SELECT {lit(month)} AS delivery, no_tiket, id_dtsen AS person_id, alasan AS reason, keterangan AS note, "
        f"kode_desa AS village_code, tgl_keputusan__date AS decided_on, {lit(path)} AS file, _line AS line "
        f"FROM {st.accepted}"
    )
    files, by_reason = _write(
        con, "sanggahan", month, [raw], [("sources.objection", rows, "delivery = ?", month)], q, raw.warnings
    )
    _drop_staged(con, [st])
    head = con.execute(
        "SELECT no_tiket, person_id, reason, village_code FROM sources.objection WHERE delivery = ? "
        "ORDER BY line LIMIT 5",
        [month],
    ).df()
    return IngestResult("sanggahan", month, True, files, by_reason, raw.warnings, preview=head)


# ------------------------------------------------------------------ administrative lists
def ingest_admin(con: duckdb.DuckDBPyConnection, landing: str, month: str, kind: str) -> IngestResult:
    source, folder, fname, required_columns, table = ADMIN[kind]
    path = os.path.join(delivery_dir(landing, folder, month), fname)
    if not os.path.exists(path):
        return _absent(source, month, path)
    raw = read_csv_file(
        path,
        ",",
        required_columns,
        "lower",
        allow_empty=True,
        dates={"tgl_meninggal": "%Y-%m-%d"} if kind == "kematian" else None,
    )
    rules = [required("nik"), digits("nik", 16)]
    columns = ""
    if kind == "kematian":
        rules += date_text("tgl_meninggal", "%Y-%m-%d", month_end(month))
        columns = ", tgl_meninggal__date AS death_date"
    if kind == "upah":
        rules += [required("upah_bulanan"), non_negative("upah_bulanan"), digits("kode_prov", 2)]
        columns = (
            ", coalesce(TRY_CAST(upah_bulanan AS BIGINT), round(TRY_CAST(upah_bulanan AS DOUBLE))::BIGINT) "
            "AS monthly_wage, kode_prov AS province_code"
        )
    st = _stage(con, "_admin", raw, rules, [_duplicates("_admin", "nik")])
    q = _quarantine(con, source, month, [st])
    rows = f"SELECT {lit(month)} AS delivery, nik, {lit(path)} AS file, _line AS line{columns} FROM {st.accepted}"
    files, by_reason = _write(con, source, month, [raw], [(table, rows, "delivery = ?", month)], q, raw.warnings)
    _drop_staged(con, [st])
    head = con.execute(f"SELECT nik FROM {table} WHERE delivery = ? ORDER BY line LIMIT 5", [month]).df()
    return IngestResult(
        source, month, True, files, by_reason, raw.warnings, preview=head.assign(nik=mask_nik(head["nik"]))
    )


SOURCES = ["dtks", "regsosek", "p3ke", "susenas", "dukcapil", "asn", "bpjstk", "usulan", "sanggahan"]


def ingest(con: duckdb.DuckDBPyConnection, landing: str, month: str, source: str) -> IngestResult:
    """Ingest one source's delivery. A problem no check foresaw still fails with the delivery named, never with a
    bare traceback (and, like every failure, leaves the earlier data as it was: nothing is written)."""
    try:
        return _ingest(con, landing, month, source)
    except (DeliveryFileError, NoRegionReference, WarehouseWriteError):
        raise
    except Exception as e:
        where = os.path.join(landing, "referensi") if source == "referensi" else delivery_dir(landing, source, month)
        raise DeliveryFileError(where, f"could not be ingested ({type(e).__name__}: {e})") from e


# the month's deliveries are ingested side by side (`ingest_concurrently`), at most three at once: the three
# registries, the small lists starting as soon as a registry is done (on two cores more at once only contend)
CONCURRENT_INGESTS = 3


# side by side, the deliveries' rows are in memory at once: at 1 M persons (133 MB of files) the peak was 1.5 GB
# against 1.1 GB one after another, about three times the files' bytes more
SIDE_BY_SIDE_FACTOR = 3


def side_by_side(landing: str, month: str, sources: list[str]) -> bool:
    """Whether the sources' deliveries of the month may be ingested at once: while three times their bytes fit in
    an eighth of the memory budget ($DTSEN_MEMORY_BUDGET, 2 GiB of the default 16; about 5 M persons), else one
    after another, as every delivery was before (a national month stays within the budget)."""
    return SIDE_BY_SIDE_FACTOR * sum(delivery_bytes(landing, month, s) for s in sources) <= wh.memory_budget() / 8


def delivery_bytes(landing: str, month: str, source: str) -> int:
    """Bytes of a source's delivery files for the month (0 when none)."""
    files = glob.glob(os.path.join(delivery_dir(landing, source, month), "*"))
    return sum(os.path.getsize(p) for p in files if os.path.isfile(p))


def ingest_concurrently(
    con: duckdb.DuckDBPyConnection, landing: str, month: str, sources: list[str]
) -> dict[str, IngestResult | Exception]:
    """Ingest several sources' deliveries at once, each in a thread with a cursor of its own (its own connection to
    the same database, so its own transaction and temporary tables). Each is `ingest` as alone: it writes its
    partition or nothing, and one source's failure leaves the others' results as they are. Returns per source its
    result, or the exception it failed with. At most CONCURRENT_INGESTS at once, the largest deliveries first (the
    small lists fill in beside the last registry). Measured at 1 M persons on two cores: the three person
    registries in 7.0 s instead of 8.3 s one after the other (reading a file, checking its rows and compressing
    them do not keep both cores busy alone); with the six small deliveries, 9.1-9.4 s instead of 9.6-10.1 s with
    the small ones after the registries. One after another when their deliveries are too large for the memory
    budget (`side_by_side`)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(source: str) -> IngestResult | Exception:
        cur = con.cursor()
        try:
            return ingest(cur, landing, month, source)
        except Exception as e:
            return e
        finally:
            cur.close()

    if len(sources) <= 1 or not side_by_side(landing, month, sources):
        return {s: one(s) for s in sources}
    largest_first = sorted(sources, key=lambda s: -delivery_bytes(landing, month, s))
    with ThreadPoolExecutor(max_workers=min(len(sources), CONCURRENT_INGESTS), thread_name_prefix="ingest") as pool:
        done = dict(zip(largest_first, pool.map(one, largest_first)))
    return {s: done[s] for s in sources}


def _ingest(con: duckdb.DuckDBPyConnection, landing: str, month: str, source: str) -> IngestResult:
    if source == "referensi":
        return ingest_region(con, landing, month)
    if source == "dtks":
        return ingest_dtks(con, landing, month)
    if source == "regsosek":
        return ingest_regsosek(con, landing, month)
    if source == "p3ke":
        return ingest_p3ke(con, landing, month)
    if source == "susenas":
        return ingest_susenas(con, landing, month)
    if source == "usulan":
        return ingest_usulan(con, landing, month)
    if source == "sanggahan":
        return ingest_sanggahan(con, landing, month)
    kind = {"dukcapil": "kematian", "asn": "asn", "bpjstk": "upah"}[source]
    return ingest_admin(con, landing, month, kind)


__all__ = ["SOURCES", "DeliveryFileError", "IngestResult", "NoRegionReference", "ingest", "ingest_concurrently"]

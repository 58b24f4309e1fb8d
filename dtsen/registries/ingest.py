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
import numpy as np
import pandas as pd

from dtsen import warehouse as wh
from dtsen.privacy import mask_name

from . import schemas as sc
from .files import DeliveryFileError, RawFile, read_csv_file, read_parquet_file
from dtsen.textops import prefix, upper_single_spaced

from .nik import identity_columns, mask_nik

DTKS_COLUMNS = ["ID_DTKS", "NIK", "NO_KK", "NAMA", "JNS_KEL", "TMP_LAHIR", "TGL_LAHIR", "HUB_KRT", "ALAMAT", "RT",
                "RW", "KODE_DESA", "DISABILITAS_BERAT", "HAMIL", "PENDIDIKAN", "PEKERJAAN", "KKS", "BANK", "TGL_UPDATE"]
P3KE_COLUMNS = ["id_keluarga_p3ke", "id_individu_p3ke", "kode_kemendagri", "nik", "no_kk", "nama", "jk", "tgl_lahir",
                "hubungan", "alamat", "desil_p3ke", "pekerjaan", "pendidikan"]
KELUARGA_COLUMNS = {"id_keluarga": "str", "kode_desa": "str", "alamat": "str",
                    **{c: "int" for c in ["status_bangunan", "luas_lantai_m2", "jenis_lantai", "jenis_dinding",
                                          "jenis_atap", "sumber_air_minum", "fasilitas_bab", "sumber_penerangan",
                                          "bahan_bakar_masak", "aset_kulkas", "aset_motor", "aset_mobil",
                                          "aset_lahan_m2", "aset_ternak", "jumlah_art", "desa_terpencil"]}}
INDIVIDU_COLUMNS = {"id_keluarga": "str", "no_urut": "int", "nik": "str", "no_kk": "str", "nama": "str",
                    "jenis_kelamin": "str", "tanggal_lahir": "date", "hubungan_kk": "int", "status_kawin": "int",
                    "pendidikan": "int", "jenjang_sekolah": "str", "bekerja": "int", "lapangan_usaha": "int",
                    "disabilitas_berat": "int", "hamil": "int"}
ADMIN = {  # kind -> (source name, folder, file, required columns, table)
    "kematian": ("dukcapil", "dukcapil", "kematian.csv", ["nik", "tgl_meninggal"], "sources.death"),
    "asn": ("asn", "asn", "asn.csv", ["nik"], "sources.asn"),
    "upah": ("bpjstk", "bpjstk", "upah.csv", ["nik", "upah_bulanan", "kode_prov"], "sources.wage"),
}
PERSON_TABLE = {"dtks": "sources.dtks_person", "regsosek": "sources.regsosek_person", "p3ke": "sources.p3ke_person"}


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


# ------------------------------------------------------------------ shared steps
def _split(raw: RawFile, fails: pd.DataFrame, source: str, delivery: str,
           extra_bad: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accepted rows and quarantine rows (reader rejects + schema failures + extra row problems)."""
    df = raw.frame
    q_parts = []
    if len(raw.rejects):
        q_parts.append(raw.rejects.assign(file=raw.path))
    bad = pd.concat([b for b in (fails, extra_bad, sc.too_long(df)) if b is not None and len(b)] or [fails],
                    ignore_index=True)
    bad["index"] = bad["index"].astype("int64")
    if len(bad):
        lines = df["_line"].to_numpy()[bad["index"].to_numpy()]
        q_parts.append(pd.DataFrame({"line": lines, "field": bad["field"].to_numpy(), "value": bad["value"].to_numpy(),
                                     "reason": bad["reason"].to_numpy(), "file": raw.path}))
    q = pd.concat(q_parts, ignore_index=True) if q_parts else pd.DataFrame(
        columns=["line", "field", "value", "reason", "file"])
    q = q.assign(source=source, delivery=delivery)[["source", "delivery", "file", "line", "field", "value", "reason"]]
    q = q.sort_values(["file", "line", "field"], kind="stable").reset_index(drop=True)
    accepted = df.drop(index=np.unique(bad["index"].to_numpy())) if len(bad) else df
    return accepted.reset_index(drop=True), q


def _duplicates(df: pd.DataFrame, key: pd.Series, label: str) -> pd.DataFrame:
    """Second and later occurrences of a record id inside one delivery are quarantined."""
    dup = key.duplicated(keep="first") & key.notna()
    if not dup.any():
        return pd.DataFrame({"index": pd.Series(dtype="int64"), "field": pd.Series(dtype=object),
                             "value": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})
    first_line = df.groupby(key)["_line"].transform("min")
    idx = np.flatnonzero(dup.to_numpy())
    return pd.DataFrame({"index": idx, "field": label, "value": key.to_numpy()[idx],
                         "reason": "duplicate record id in this delivery (first at line "
                                   + first_line.to_numpy()[idx].astype(str) + ")"})


def reference_codes(con: duckdb.DuckDBPyConnection, month: str) -> tuple[set[str], set[str]]:
    """Village and district codes of the latest region reference delivered up to `month`."""
    row = con.execute("SELECT max(delivery) FROM sources.region WHERE delivery <= ?", [month]).fetchall()[0]
    if row is None or row[0] is None:
        raise NoRegionReference(f"no region reference ingested for {month} or earlier: deliver "
                                "referensi/wilayah.csv and materialise region_reference first")
    ref = con.execute("SELECT kode, tingkat FROM sources.region WHERE delivery = ?", [row[0]]).df()
    return set(ref.loc[ref["tingkat"] == "desa", "kode"]), set(ref.loc[ref["tingkat"] == "kecamatan", "kode"])


def _int8(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").astype("Int8")


def clean_name(s: pd.Series) -> pd.Series:
    """Upper case, single spaces, no surrounding spaces. Linkage standardises further."""
    return upper_single_spaced(s)


def _identity(df: pd.DataFrame, nik: pd.Series, kk: pd.Series, sex: pd.Series, birth_date: pd.Series,
              districts: set[str]) -> pd.DataFrame:
    return identity_columns(nik, kk, sex, birth_date, districts).set_axis(df.index)


def _region_parts(village: pd.Series) -> dict[str, pd.Series]:
    return {"village_code": village, "district_code": prefix(village, 6), "regency_code": prefix(village, 4),
            "province_code": prefix(village, 2)}


def _finish_person(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Column order of the warehouse table; canonical pandera guard."""
    for c, sql_type in wh.PERSON_SCHEMA:
        if c not in df.columns:
            df[c] = pd.Series(pd.NA, index=df.index, dtype="Int8") if sql_type == "TINYINT" else None
    df = df[wh.PERSON_COLUMN_NAMES]
    sc.CANONICAL_PERSON.validate(df, lazy=False)
    return df


def _person_preview(df: pd.DataFrame) -> pd.DataFrame:
    head = df.head(5)
    """Five rows for the UI, identity masked: NIK to its region part, name to initials, birth date to the year."""
    return pd.DataFrame({"record_id": head["record_id"], "nik": mask_nik(head["nik_raw"]),
                         "nik_flag": head["nik_flag"].fillna(""), "name": head["name"].map(mask_name),
                         "sex": head["sex"], "birth_year": head["birth_date"].dt.year.astype("Int64"),
                         "village_code": head["village_code"]})


def _write(con: duckdb.DuckDBPyConnection, source: str, delivery: str, tables: list[tuple[str, pd.DataFrame, str]],
           quarantine: pd.DataFrame, files: list[FileReport], warnings: list[str]) -> None:
    """Replace exactly this delivery's partition (all tables, quarantine, log) in one transaction.

    tables: (table, frame, WHERE clause selecting the rows to replace, value bound to its ?).
    Before anything is written, every file's records (counted from the file itself) must equal its rows to store plus
    its quarantined lines; otherwise nothing is written and the file is named.
    """
    for f in files:
        stored = sum(int((frame["file"] == f.file).sum()) for _, frame, _, _ in tables if len(frame))
        quarantined = int(quarantine.loc[quarantine["file"] == f.file, "line"].nunique()) if len(quarantine) else 0
        if stored + quarantined != f.rows_read:
            raise DeliveryFileError(f.file, f"cannot account for every record: {f.rows_read:,} in the file, "
                                            f"{stored:,} to store and {quarantined:,} quarantined")
    try:
        _replace(con, source, delivery, tables, quarantine, files, warnings)
    except Exception as e:
        raise WarehouseWriteError(f"writing {source} {delivery} to the warehouse failed (nothing was changed): "
                                  f"{type(e).__name__}: {e}") from e


def _replace(con: duckdb.DuckDBPyConnection, source: str, delivery: str, tables: list, quarantine: pd.DataFrame,
             files: list[FileReport], warnings: list[str]) -> None:
    with wh.transaction(con):
        for table, frame, where, key in tables:
            con.execute(f"DELETE FROM {table} WHERE {where}", [key])
            wh.insert_frame(con, table, frame)
        con.execute("DELETE FROM sources.quarantine WHERE source = ? AND delivery = ?", [source, delivery])
        wh.insert_frame(con, "sources.quarantine", quarantine)
        con.execute("DELETE FROM sources.ingest_log WHERE source = ? AND delivery = ?", [source, delivery])
        log = pd.DataFrame([{"source": source, "delivery": delivery, "file": f.file, "rows_read": f.rows_read,
                             "rows_accepted": f.rows_accepted, "rows_quarantined": f.rows_quarantined,
                             "warnings": "\n".join(w for w in warnings if f.file in w) or None,
                             "ingested_at": pd.Timestamp.now()} for f in files])
        wh.insert_frame(con, "sources.ingest_log", log)


def _report(raw: RawFile, accepted: int, quarantine: pd.DataFrame) -> FileReport:
    qn = int(quarantine.loc[quarantine["file"] == raw.path, "line"].nunique())
    return FileReport(file=raw.path, rows_read=raw.rows_read, rows_accepted=accepted, rows_quarantined=qn)


def _by_reason(q: pd.DataFrame) -> dict[str, int]:
    if not len(q):
        return {}
    return {str(k): int(v) for k, v in q.groupby("reason")["line"].nunique().sort_values(ascending=False).items()}


def _absent(source: str, month: str, path: str) -> IngestResult:
    return IngestResult(source=source, delivery=month, delivered=False,
                        note=f"no {source} delivery for {month} ({path} not found): nothing changed")


def _person_frame(source: str, month: str, path: str, ok: pd.DataFrame, record_id: pd.Series, nik: pd.Series,
                  kk: pd.Series, name: pd.Series, sex: pd.Series, sex_raw: pd.Series, birth_date: pd.Series,
                  districts: set[str]) -> pd.DataFrame:
    """The part of the canonical person record every source fills the same way."""
    out = pd.DataFrame({"source": source, "delivery": month, "record_id": record_id, "file": path,
                        "line": ok["_line"].astype("int64")})
    out = pd.concat([out, _identity(ok, nik, kk, sex, birth_date, districts)], axis=1)
    out["name"], out["name_raw"] = clean_name(name), name
    out["sex"], out["sex_raw"], out["birth_date"] = sex, sex_raw, birth_date
    return out


def _store_persons(con: duckdb.DuckDBPyConnection, source: str, month: str, person_file: RawFile, out: pd.DataFrame,
                   q: pd.DataFrame, warnings: list[str], other_files: list[tuple[RawFile, int]] | None = None,
                   extra_tables: list | None = None) -> IngestResult:
    """Canonical guard, partition replacement and the result of a person source's delivery.

    other_files: the delivery's other files with their accepted row counts (Regsosek's keluarga.parquet)."""
    out = _finish_person(out, source)
    files = [_report(r, n, q) for r, n in (other_files or [])] + [_report(person_file, len(out), q)]
    _write(con, source, month, [(PERSON_TABLE[source], out, "delivery = ?", month)] + (extra_tables or []), q,
           files, warnings)
    return IngestResult(source, month, True, files, _by_reason(q), warnings,
                        nik_valid_rate=float(out["nik_flag"].isna().mean()) if len(out) else None,
                        preview=_person_preview(out))


# ------------------------------------------------------------------ region reference
def ingest_region(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    path = os.path.join(landing, "referensi", "wilayah.csv")
    if not os.path.exists(path):
        return _absent("referensi", month, path)
    raw = read_csv_file(path, ",", ["kode", "nama", "tingkat", "kode_induk"], "lower", allow_empty=False)
    # the reference is authoritative: one code with two meanings makes it ambiguous, so the file is refused (the
    # previous reference stays); a row repeated word for word is only a duplicate (quarantined)
    ref = raw.frame.drop_duplicates(["kode", "nama", "tingkat", "kode_induk"])
    conflicting = ref.loc[ref["kode"].notna() & ref["kode"].duplicated(keep=False), "kode"]
    if len(conflicting):
        codes = sorted(set(conflicting))
        raise DeliveryFileError(path, f"region code(s) with two meanings {codes[:5]}{' ...' if len(codes) > 5 else ''}:"
                                      f" the reference is ambiguous")
    fails = sc.failures(sc.region_schema(), raw.frame)
    dup = _duplicates(raw.frame, raw.frame["kode"], "kode")
    ok, q = _split(raw, fails, "referensi", month, dup)
    out = ok.rename(columns={"_line": "line"}).assign(delivery=month, file=path)
    out["kode_induk"] = out["kode_induk"].fillna("")
    files = [_report(raw, len(ok), q)]
    _write(con, "referensi", month, [("sources.region", out, "delivery = ?", month)], q, files, raw.warnings)
    return IngestResult("referensi", month, True, files, _by_reason(q), raw.warnings,
                        preview=out.head(5)[["kode", "nama", "tingkat", "kode_induk"]])


# ------------------------------------------------------------------ DTKS
def ingest_dtks(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    path = os.path.join(delivery_dir(landing, "dtks", month), "dtks.csv")
    if not os.path.exists(path):
        return _absent("dtks", month, path)
    villages, districts = reference_codes(con, month)
    raw = read_csv_file(path, ",", DTKS_COLUMNS, "upper", allow_empty=False,
                        dates={"TGL_LAHIR": "%d-%m-%Y", "TGL_UPDATE": "%d-%m-%Y"})
    df = raw.frame
    fails = sc.failures(sc.dtks_schema(villages, month_end(month)), df)
    ok, q = _split(raw, fails, "dtks", month, _duplicates(df, df["ID_DTKS"], "ID_DTKS"))
    sex = _int8(ok["JNS_KEL"])
    out = _person_frame("dtks", month, path, ok, ok["ID_DTKS"], ok["NIK"], ok["NO_KK"], ok["NAMA"], sex,
                        ok["JNS_KEL"], pd.to_datetime(ok["TGL_LAHIR__date"]), districts)
    out["birth_date_raw"], out["birth_place"] = ok["TGL_LAHIR"], ok["TMP_LAHIR"]
    out["relationship"] = _int8(ok["HUB_KRT"])
    out["address"], out["rt"], out["rw"] = ok["ALAMAT"], ok["RT"], ok["RW"]
    for k, v in _region_parts(ok["KODE_DESA"]).items():
        out[k] = v
    out["family_id_src"] = ok["NO_KK"]  # DTKS has no household id of its own: the KK is its family key
    out["education"], out["work"] = _int8(ok["PENDIDIKAN"]), _int8(ok["PEKERJAAN"])
    out["working"] = (out["work"] > 0).astype("Int8")
    out["disability"], out["pregnant"] = _int8(ok["DISABILITAS_BERAT"]), _int8(ok["HAMIL"])
    out["kks"], out["bank"] = _int8(ok["KKS"]), ok["BANK"]
    out["updated_at"] = pd.to_datetime(ok["TGL_UPDATE__date"])
    return _store_persons(con, "dtks", month, raw, out, q, raw.warnings)


# ------------------------------------------------------------------ P3KE
def ingest_p3ke(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    path = os.path.join(delivery_dir(landing, "p3ke", month), "p3ke.csv")
    if not os.path.exists(path):
        return _absent("p3ke", month, path)
    villages, districts = reference_codes(con, month)
    raw = read_csv_file(path, "|", P3KE_COLUMNS, "lower", allow_empty=False, dates={"tgl_lahir": "%Y%m%d"})
    df = raw.frame
    fails = sc.failures(sc.p3ke_schema(villages, month_end(month)), df)
    ok, q = _split(raw, fails, "p3ke", month, _duplicates(df, df["id_individu_p3ke"], "id_individu_p3ke"))
    sex = ok["jk"].map({"L": 1, "P": 2}).astype("Int8")
    out = _person_frame("p3ke", month, path, ok, ok["id_individu_p3ke"], ok["nik"], ok["no_kk"], ok["nama"], sex,
                        ok["jk"], pd.to_datetime(ok["tgl_lahir__date"]), districts)
    out["birth_date_raw"] = ok["tgl_lahir"]
    out["relationship"] = _int8(ok["hubungan"])
    out["address"] = ok["alamat"]
    for k, v in _region_parts(ok["kode_kemendagri"]).items():
        out[k] = v
    out["family_id_src"] = ok["id_keluarga_p3ke"]
    out["education"], out["work"] = _int8(ok["pendidikan"]), _int8(ok["pekerjaan"])
    out["working"] = (out["work"] > 0).astype("Int8")
    out["desil_p3ke"] = _int8(ok["desil_p3ke"])
    return _store_persons(con, "p3ke", month, raw, out, q, raw.warnings)


# ------------------------------------------------------------------ Regsosek
def _keluarga_frame(ok: pd.DataFrame, path: str, month: str) -> pd.DataFrame:
    out = ok.rename(columns={"kode_desa": "village_code", "alamat": "address", "_line": "line"})
    out["delivery"], out["file"] = month, path
    return out


def ingest_regsosek(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    folder = delivery_dir(landing, "regsosek", month)
    kpath, ipath = os.path.join(folder, "keluarga.parquet"), os.path.join(folder, "individu.parquet")
    if not os.path.isdir(folder):
        return _absent("regsosek", month, folder)
    villages, districts = reference_codes(con, month)
    kraw = read_parquet_file(kpath, KELUARGA_COLUMNS)
    iraw = read_parquet_file(ipath, INDIVIDU_COLUMNS)
    kdf = kraw.frame
    kfails = sc.failures(sc.keluarga_schema(villages), kdf)
    kok, kq = _split(kraw, kfails, "regsosek", month, _duplicates(kdf, kdf["id_keluarga"], "id_keluarga"))
    idf = iraw.frame
    ifails = sc.failures(sc.individu_schema(month_end(month)), idf)
    key = idf["id_keluarga"].astype(str) + "-" + idf["no_urut"].astype("Int64").astype(str)
    key = key.where(idf["id_keluarga"].notna() & idf["no_urut"].notna(), None)
    orphan = idf["id_keluarga"].notna() & ~idf["id_keluarga"].isin(kok["id_keluarga"])
    oidx = np.flatnonzero(orphan.to_numpy())
    orphans = pd.DataFrame({"index": oidx, "field": "id_keluarga", "value": idf["id_keluarga"].to_numpy()[oidx],
                            "reason": "family not in keluarga.parquet (or its family row was quarantined)"})
    extra = pd.concat([_duplicates(idf, key, "id_keluarga-no_urut"), orphans], ignore_index=True)
    iok, iq = _split(iraw, ifails, "regsosek", month, extra)
    fam = kok.set_index("id_keluarga")
    sex = iok["jenis_kelamin"].map({"L": 1, "P": 2}).astype("Int8")
    bd = pd.to_datetime(iok["tanggal_lahir"], errors="coerce")
    rid = iok["id_keluarga"].astype(str) + "-" + iok["no_urut"].astype("Int64").astype(str)
    out = _person_frame("regsosek", month, ipath, iok, rid, iok["nik"], iok["no_kk"], iok["nama"], sex,
                        iok["jenis_kelamin"], bd, districts)
    out["birth_date_raw"] = bd.dt.strftime("%Y-%m-%d").where(bd.notna(), None)
    out["relationship"] = _int8(iok["hubungan_kk"])
    out["address"] = fam["alamat"].reindex(iok["id_keluarga"]).to_numpy()
    for k, v in _region_parts(pd.Series(fam["kode_desa"].reindex(iok["id_keluarga"]).to_numpy(),
                                        index=iok.index)).items():
        out[k] = v
    out["family_id_src"] = iok["id_keluarga"]
    out["education"], out["work"] = _int8(iok["pendidikan"]), _int8(iok["lapangan_usaha"])
    out["working"], out["marital_status"] = _int8(iok["bekerja"]), _int8(iok["status_kawin"])
    out["disability"], out["pregnant"] = _int8(iok["disabilitas_berat"]), _int8(iok["hamil"])
    out["school_level"] = iok["jenjang_sekolah"]
    q = pd.concat([kq, iq], ignore_index=True)
    return _store_persons(con, "regsosek", month, iraw, out, q, kraw.warnings + iraw.warnings,
                          other_files=[(kraw, len(kok))],
                          extra_tables=[("sources.regsosek_family", _keluarga_frame(kok, kpath, month), "delivery = ?",
                                         month)])


# ------------------------------------------------------------------ consumption survey
def survey_years(landing: str, month: str) -> list[str]:
    """Survey years delivered up to the month's year, latest first."""
    year = int(month[:4])
    return [str(y) for y in sorted((int(os.path.basename(p)) for p in glob.glob(os.path.join(landing, "susenas", "*"))
                                    if os.path.basename(p).isdigit() and int(os.path.basename(p)) <= year),
                                   reverse=True)]


def ingest_susenas(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    """The latest usable survey year up to the month: a year whose file cannot be read, or whose every row is
    quarantined, is skipped with a warning and the year before is used (the year used is in the note)."""
    years = survey_years(landing, month)
    if not years:
        return _absent("susenas", month, os.path.join(landing, "susenas", f"<= {month[:4]}"))
    villages, _ = reference_codes(con, month)
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
        df = raw.frame
        fails = sc.failures(sc.keluarga_schema(villages, with_consumption=True), df)
        ok, q = _split(raw, fails, "susenas", month, _duplicates(df, df["id_keluarga"], "id_keluarga"))
        if len(ok) == 0:
            skipped.append(f"{path}: unusable (every row quarantined); the survey year before is used")
            continue
        out = _keluarga_frame(ok, path, month)
        out["survey_year"] = year
        files = [_report(raw, len(ok), q)]
        warnings = skipped + raw.warnings
        _write(con, "susenas", month, [("sources.susenas", out, "survey_year = ?", year)], q, files, warnings)
        return IngestResult("susenas", month, True, files, _by_reason(q), warnings,
                            note=f"survey year {year}")
    raise first_error or DeliveryFileError(os.path.join(landing, "susenas"), "no usable survey year: "
                                           + "; ".join(skipped))


def latest_survey_year(landing: str, month: str) -> str | None:
    years = survey_years(landing, month)
    return years[0] if years else None


# ------------------------------------------------------------------ administrative lists
def ingest_admin(con: duckdb.DuckDBPyConnection, landing: str, month: str, kind: str) -> IngestResult:
    source, folder, fname, required, table = ADMIN[kind]
    path = os.path.join(delivery_dir(landing, folder, month), fname)
    if not os.path.exists(path):
        return _absent(source, month, path)
    raw = read_csv_file(path, ",", required, "lower", allow_empty=True,
                        dates={"tgl_meninggal": "%Y-%m-%d"} if kind == "kematian" else None)
    df = raw.frame
    fails = sc.failures(sc.admin_schema(kind, month_end(month)), df) if len(df) else sc.failures(
        sc.admin_schema(kind, month_end(month)), df.head(0))
    ok, q = _split(raw, fails, source, month, _duplicates(df, df["nik"], "nik") if len(df) else None)
    out = pd.DataFrame({"delivery": month, "nik": ok["nik"], "file": path, "line": ok["_line"].astype("int64")})
    if kind == "kematian":
        out["death_date"] = pd.to_datetime(ok["tgl_meninggal__date"])
    if kind == "upah":
        out["monthly_wage"] = pd.to_numeric(ok["upah_bulanan"], errors="coerce").astype("Int64")
        out["province_code"] = ok["kode_prov"]
    files = [_report(raw, len(out), q)]
    _write(con, source, month, [(table, out, "delivery = ?", month)], q, files, raw.warnings)
    return IngestResult(source, month, True, files, _by_reason(q), raw.warnings,
                        preview=out.head(5).assign(nik=mask_nik(out["nik"].head(5)))[["nik"]])


SOURCES = ["dtks", "regsosek", "p3ke", "susenas", "dukcapil", "asn", "bpjstk"]


def ingest(con: duckdb.DuckDBPyConnection, landing: str, month: str, source: str) -> IngestResult:
    """Ingest one source's delivery. A problem no check foresaw still fails with the delivery named, never with a
    bare traceback (and, like every failure, leaves the earlier data as it was: nothing is written)."""
    try:
        return _ingest(con, landing, month, source)
    except (DeliveryFileError, NoRegionReference, WarehouseWriteError):
        raise
    except Exception as e:  # noqa: BLE001 - the safety net: name the delivery, keep the cause
        where = os.path.join(landing, "referensi") if source == "referensi" else delivery_dir(landing, source, month)
        raise DeliveryFileError(where, f"could not be ingested ({type(e).__name__}: {e})") from e


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
    kind = {"dukcapil": "kematian", "asn": "asn", "bpjstk": "upah"}[source]
    return ingest_admin(con, landing, month, kind)


__all__ = ["DeliveryFileError", "IngestResult", "NoRegionReference", "ingest", "SOURCES"]

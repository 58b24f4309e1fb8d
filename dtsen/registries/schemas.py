"""pandera schemas: one raw schema per delivered file (row-level rules -> quarantine) and the canonical
person-record schema every source is mapped onto (a guard: a failure there is a bug, not bad input).

Raw schemas see every value as text (CSV) or as the Parquet type. NIK and KK structure are deliberately not
checked here: an invalid NIK is a flag on an accepted row (DOMAIN.md rule 1), not a reason to quarantine it.
"""
from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

RELATIONSHIP = set(range(1, 9))
EDUCATION = set(range(0, 6))
WORK = set(range(0, 10))
MARITAL = {1, 2, 3, 4}
BINARY = {0, 1}
HIMBARA = {"BRI", "BNI", "MANDIRI", "BTN", "BSI"}
SCHOOL = {"none", "SD", "SMP", "SMA"}
PROXY_CODES = {
    "status_bangunan": {1, 2, 3, 4, 5}, "jenis_lantai": set(range(1, 7)), "jenis_dinding": set(range(1, 6)),
    "jenis_atap": set(range(1, 7)), "sumber_air_minum": set(range(1, 7)), "fasilitas_bab": {1, 2, 3, 4},
    "sumber_penerangan": {1, 2, 3, 4}, "bahan_bakar_masak": {1, 2, 3, 4, 5},
    "aset_kulkas": BINARY, "aset_motor": BINARY, "aset_mobil": BINARY, "desa_terpencil": BINARY,
}
NON_NEGATIVE = ["luas_lantai_m2", "aset_lahan_m2", "aset_ternak", "jumlah_art"]


def code_in(allowed: set[int], label: str) -> pa.Check:
    allowed_list = sorted(allowed)
    return pa.Check(lambda s: pd.to_numeric(s, errors="coerce").isin(allowed_list),
                    error=f"{label} outside code list {allowed_list[0]}-{allowed_list[-1]}"
                    if allowed_list == list(range(allowed_list[0], allowed_list[-1] + 1))
                    else f"{label} outside code list {allowed_list}")


def one_of(allowed: set[str], label: str) -> pa.Check:
    return pa.Check(lambda s: s.isin(sorted(allowed)), error=f"{label} not one of {sorted(allowed)}")


def date_text(fmt: str, label: str) -> pa.Check:
    return pa.Check(lambda s: pd.to_datetime(s, format=fmt, errors="coerce").notna(),
                    error=f"{label} not a valid {fmt.replace('%d', 'DD').replace('%m', 'MM').replace('%Y', 'YYYY')} date")


def not_after(fmt: str | None, limit: pd.Timestamp, label: str) -> pa.Check:
    def check(s: pd.Series) -> pd.Series:
        d = pd.to_datetime(s, format=fmt, errors="coerce") if fmt else pd.to_datetime(s, errors="coerce")
        return d.isna() | (d < limit)
    return pa.Check(check, error=f"{label} after the delivery month")


def digits(n: int, label: str) -> pa.Check:
    return pa.Check(lambda s: s.astype(str).str.fullmatch(r"\d{%d}" % n), error=f"{label} not {n} digits")


def in_reference(codes: set[str], label: str) -> pa.Check:
    ref = sorted(codes)
    return pa.Check(lambda s: s.isin(ref), error=f"{label} not in the region reference")


def non_negative(label: str) -> pa.Check:
    return pa.Check(lambda s: pd.to_numeric(s, errors="coerce") >= 0, error=f"{label} not a non-negative number")


def _col(*checks: pa.Check, required: bool = False) -> pa.Column:
    return pa.Column(checks=list(checks), nullable=not required, required=True, coerce=False)


def dtks_schema(villages: set[str], month_end: pd.Timestamp) -> pa.DataFrameSchema:
    return pa.DataFrameSchema({
        "ID_DTKS": _col(required=True),
        "NAMA": _col(required=True),
        "JNS_KEL": _col(code_in({1, 2}, "JNS_KEL")),
        "TGL_LAHIR": _col(date_text("%d-%m-%Y", "TGL_LAHIR"), not_after("%d-%m-%Y", month_end, "TGL_LAHIR")),
        "HUB_KRT": _col(code_in(RELATIONSHIP, "HUB_KRT")),
        "RT": _col(digits(3, "RT")),
        "RW": _col(digits(3, "RW")),
        "KODE_DESA": _col(in_reference(villages, "KODE_DESA")),
        "DISABILITAS_BERAT": _col(code_in(BINARY, "DISABILITAS_BERAT")),
        "HAMIL": _col(code_in(BINARY, "HAMIL")),
        "PENDIDIKAN": _col(code_in(EDUCATION, "PENDIDIKAN")),
        "PEKERJAAN": _col(code_in(WORK, "PEKERJAAN")),
        "KKS": _col(code_in(BINARY, "KKS")),
        "BANK": _col(one_of(HIMBARA, "BANK")),
        "TGL_UPDATE": _col(date_text("%d-%m-%Y", "TGL_UPDATE"), not_after("%d-%m-%Y", month_end, "TGL_UPDATE")),
    }, strict=False, name="dtks")


def p3ke_schema(villages: set[str], month_end: pd.Timestamp) -> pa.DataFrameSchema:
    return pa.DataFrameSchema({
        "id_keluarga_p3ke": _col(required=True),
        "id_individu_p3ke": _col(required=True),
        "nama": _col(required=True),
        "kode_kemendagri": _col(in_reference(villages, "kode_kemendagri")),
        "jk": _col(one_of({"L", "P"}, "jk")),
        "tgl_lahir": _col(date_text("%Y%m%d", "tgl_lahir"), not_after("%Y%m%d", month_end, "tgl_lahir")),
        "hubungan": _col(code_in(RELATIONSHIP, "hubungan")),
        "desil_p3ke": _col(code_in({1, 2, 3, 4}, "desil_p3ke")),
        "pekerjaan": _col(code_in(WORK, "pekerjaan")),
        "pendidikan": _col(code_in(EDUCATION, "pendidikan")),
    }, strict=False, name="p3ke")


def keluarga_schema(villages: set[str], with_consumption: bool = False) -> pa.DataFrameSchema:
    cols = {"id_keluarga": _col(required=True), "kode_desa": _col(in_reference(villages, "kode_desa"))}
    for c, allowed in PROXY_CODES.items():
        cols[c] = _col(code_in(allowed, c))
    for c in NON_NEGATIVE:
        cols[c] = _col(non_negative(c))
    if with_consumption:
        cols["pengeluaran_per_kapita"] = _col(pa.Check(lambda s: s > 0, error="pengeluaran_per_kapita not positive"),
                                              required=True)
    return pa.DataFrameSchema(cols, strict=False, name="susenas" if with_consumption else "regsosek_keluarga")


def individu_schema(month_end: pd.Timestamp) -> pa.DataFrameSchema:
    return pa.DataFrameSchema({
        "id_keluarga": _col(required=True),
        "no_urut": _col(required=True),
        "nama": _col(required=True),
        "jenis_kelamin": _col(one_of({"L", "P"}, "jenis_kelamin")),
        "tanggal_lahir": _col(not_after(None, month_end, "tanggal_lahir")),
        "hubungan_kk": _col(code_in(RELATIONSHIP, "hubungan_kk")),
        "status_kawin": _col(code_in(MARITAL, "status_kawin")),
        "pendidikan": _col(code_in(EDUCATION, "pendidikan")),
        "jenjang_sekolah": _col(one_of(SCHOOL, "jenjang_sekolah")),
        "bekerja": _col(code_in(BINARY, "bekerja")),
        "lapangan_usaha": _col(code_in(WORK, "lapangan_usaha")),
        "disabilitas_berat": _col(code_in(BINARY, "disabilitas_berat")),
        "hamil": _col(code_in(BINARY, "hamil")),
    }, strict=False, name="regsosek_individu")


def admin_schema(kind: str, month_end: pd.Timestamp) -> pa.DataFrameSchema:
    cols = {"nik": _col(digits(16, "nik"), required=True)}
    if kind == "kematian":
        cols["tgl_meninggal"] = _col(date_text("%Y-%m-%d", "tgl_meninggal"),
                                     not_after("%Y-%m-%d", month_end, "tgl_meninggal"))
    if kind == "upah":
        cols["upah_bulanan"] = _col(non_negative("upah_bulanan"), required=True)
        cols["kode_prov"] = _col(digits(2, "kode_prov"))
    return pa.DataFrameSchema(cols, strict=False, name=kind)


def region_schema() -> pa.DataFrameSchema:
    levels = {"provinsi": 2, "kabupaten": 4, "kecamatan": 6, "desa": 10}

    def code_matches_level(df: pd.DataFrame) -> pd.Series:
        return df["kode"].str.fullmatch(r"\d+") & (df["kode"].str.len() == df["tingkat"].map(levels))

    return pa.DataFrameSchema({
        "kode": _col(required=True),
        "nama": _col(required=True),
        "tingkat": _col(one_of(set(levels), "tingkat"), required=True),
    }, checks=[pa.Check(code_matches_level, error="kode length does not match tingkat")], strict=False,
        name="wilayah")


# ------------------------------------------------------------------ the canonical person record
CANONICAL_PERSON = pa.DataFrameSchema({
    "source": pa.Column(str, pa.Check.isin(["dtks", "regsosek", "p3ke"])),
    "delivery": pa.Column(str, pa.Check.str_matches(r"^\d{4}-\d{2}$")),
    "record_id": pa.Column(str, unique=True),
    "file": pa.Column(str),
    "line": pa.Column("int64", pa.Check.ge(1)),
    "nik": pa.Column(object, pa.Check.str_matches(r"^\d{16}$"), nullable=True),
    "nik_flag": pa.Column(object, pa.Check.isin(["missing", "bad_format", "bad_date", "unknown_district"]),
                          nullable=True),
    "no_kk": pa.Column(object, pa.Check.str_matches(r"^\d{16}$"), nullable=True),
    "name": pa.Column(str, pa.Check.str_length(min_value=1)),
    "name_raw": pa.Column(str),
    "sex": pa.Column("Int8", pa.Check.isin([1, 2]), nullable=True),
    "birth_date": pa.Column("datetime64[ns]", nullable=True),
    "relationship": pa.Column("Int8", pa.Check.isin(sorted(RELATIONSHIP)), nullable=True),
    "village_code": pa.Column(object, pa.Check.str_matches(r"^\d{10}$"), nullable=True),
    "education": pa.Column("Int8", pa.Check.isin(sorted(EDUCATION)), nullable=True),
    "work": pa.Column("Int8", pa.Check.isin(sorted(WORK)), nullable=True),
    "desil_p3ke": pa.Column("Int8", pa.Check.isin([1, 2, 3, 4]), nullable=True),
}, strict=False, name="canonical_person_record")


def failures(schema: pa.DataFrameSchema, df: pd.DataFrame) -> pd.DataFrame:
    """Validate lazily; return one row per failing (row, field): index, field, value, reason."""
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as e:
        fc = e.failure_cases
        fc = fc[fc["index"].notna()]
        reason = fc["check"].astype(str).replace({"not_nullable": "required value missing"})
        field = fc["column"].astype(object)
        # dataframe-level checks name no column: report the key column they look at
        field = field.where(field.notna() & (field.astype(str) != schema.name), "kode")
        return pd.DataFrame({"index": fc["index"].astype("int64").to_numpy(), "field": field.to_numpy(),
                             "value": fc["failure_case"].astype(str).str.slice(0, 200).to_numpy(),
                             "reason": reason.to_numpy()})
    return pd.DataFrame({"index": pd.Series(dtype="int64"), "field": pd.Series(dtype=object),
                         "value": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})

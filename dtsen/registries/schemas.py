"""pandera schemas: one raw schema per delivered file (row-level rules -> quarantine) and the canonical
person-record schema every source is mapped onto (a guard: a failure there is a bug, not bad input).

Raw schemas see every value as text (CSV) or as the Parquet type. NIK and KK structure are deliberately not
checked here: an invalid NIK is a flag on an accepted row (DOMAIN.md rule 1), not a reason to quarantine it.
"""
from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from dtsen.textops import fullmatch

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


def _in_codes(s: pd.Series, allowed_list: list[int], as_text: list[str]) -> pd.Series:
    """Codes as integers of any width: '1', '01' and 1 are the same code. Fast path on exact text."""
    ok = s.isin(as_text) if s.dtype == object else s.isin(allowed_list)
    rest = ~ok
    if rest.any():
        ok = ok.copy()
        ok[rest] = pd.to_numeric(s[rest], errors="coerce").isin(allowed_list).to_numpy()
    return ok


def code_in(allowed: set[int], label: str) -> pa.Check:
    allowed_list = sorted(allowed)
    as_text = [str(a) for a in allowed_list]
    return pa.Check(lambda s: _in_codes(s, allowed_list, as_text),
                    error=f"{label} outside code list {allowed_list[0]}-{allowed_list[-1]}"
                    if allowed_list == list(range(allowed_list[0], allowed_list[-1] + 1))
                    else f"{label} outside code list {allowed_list}")


def one_of(allowed: set[str], label: str) -> pa.Check:
    return pa.Check(lambda s: s.isin(sorted(allowed)), error=f"{label} not one of {sorted(allowed)}")


def date_checks(col: str, fmt: str, limit: pd.Timestamp) -> list[pa.Check]:
    """Checks on a text date column and its parsed companion `<col>__date` (parsed by the reader).

    DataFrame-level checks: the error text starts with the field name, which `failures` reports."""
    parsed = col + "__date"
    label = fmt.replace("%d", "DD").replace("%m", "MM").replace("%Y", "YYYY")
    return [
        pa.Check(lambda df: df[col].isna() | df[parsed].notna(), error=f"{col} not a valid {label} date"),
        pa.Check(lambda df: df[parsed].isna() | (pd.to_datetime(df[parsed]) < limit),
                 error=f"{col} after the delivery month"),
    ]


def not_after(limit: pd.Timestamp, label: str) -> pa.Check:
    """For a date-typed column (Parquet)."""
    return pa.Check(lambda s: pd.to_datetime(s, errors="coerce") < limit, error=f"{label} after the delivery month")


def digits(n: int, label: str) -> pa.Check:
    return pa.Check(lambda s: fullmatch(s, r"\d{%d}" % n), error=f"{label} not {n} digits")


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
        "TGL_LAHIR": _col(),
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
        "TGL_UPDATE": _col(),
    }, checks=date_checks("TGL_LAHIR", "%d-%m-%Y", month_end) + date_checks("TGL_UPDATE", "%d-%m-%Y", month_end)
        + [pa.Check(lambda df: df["BANK"].isna() | ~_in_codes(df["KKS"], [0], ["0"]),
                    error="BANK given while KKS = 0 (the contract: BANK empty when KKS = 0)")],
        strict=False, name="dtks")


def p3ke_schema(villages: set[str], month_end: pd.Timestamp) -> pa.DataFrameSchema:
    return pa.DataFrameSchema({
        "id_keluarga_p3ke": _col(required=True),
        "id_individu_p3ke": _col(required=True),
        "nama": _col(required=True),
        "kode_kemendagri": _col(in_reference(villages, "kode_kemendagri")),
        "jk": _col(one_of({"L", "P"}, "jk")),
        "tgl_lahir": _col(),
        "hubungan": _col(code_in(RELATIONSHIP, "hubungan")),
        "desil_p3ke": _col(code_in({1, 2, 3, 4}, "desil_p3ke")),
        "pekerjaan": _col(code_in(WORK, "pekerjaan")),
        "pendidikan": _col(code_in(EDUCATION, "pendidikan")),
    }, checks=date_checks("tgl_lahir", "%Y%m%d", month_end), strict=False, name="p3ke")


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
        "tanggal_lahir": _col(not_after(month_end, "tanggal_lahir")),
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
    checks = []
    if kind == "kematian":
        cols["tgl_meninggal"] = _col()
        checks = date_checks("tgl_meninggal", "%Y-%m-%d", month_end)
    if kind == "upah":
        cols["upah_bulanan"] = _col(non_negative("upah_bulanan"), required=True)
        cols["kode_prov"] = _col(digits(2, "kode_prov"))
    return pa.DataFrameSchema(cols, checks=checks, strict=False, name=kind)


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
def matches(pattern: str) -> pa.Check:
    return pa.Check(lambda s: fullmatch(s, pattern) | s.isna(), error=f"does not match {pattern}")


CANONICAL_PERSON = pa.DataFrameSchema({
    "source": pa.Column(object, pa.Check.isin(["dtks", "regsosek", "p3ke"])),
    "delivery": pa.Column(object, matches(r"\d{4}-\d{2}")),
    "record_id": pa.Column(object, unique=True),
    "file": pa.Column(object),
    "line": pa.Column("int64", pa.Check.ge(1)),
    "nik": pa.Column(object, matches(r"\d{16}"), nullable=True),
    "nik_flag": pa.Column(object, pa.Check.isin(["missing", "bad_format", "bad_date", "unknown_district"]),
                          nullable=True),
    "no_kk": pa.Column(object, matches(r"\d{16}"), nullable=True),
    "name": pa.Column(object, pa.Check(lambda s: s.str.len() > 0, error="empty name")),
    "name_raw": pa.Column(object),
    "sex": pa.Column("Int8", pa.Check.isin([1, 2]), nullable=True),
    "birth_date": pa.Column("datetime64[ns]", nullable=True),
    "relationship": pa.Column("Int8", pa.Check.isin(sorted(RELATIONSHIP)), nullable=True),
    "village_code": pa.Column(object, matches(r"\d{10}"), nullable=True),
    "education": pa.Column("Int8", pa.Check.isin(sorted(EDUCATION)), nullable=True),
    "work": pa.Column("Int8", pa.Check.isin(sorted(WORK)), nullable=True),
    "desil_p3ke": pa.Column("Int8", pa.Check.isin([1, 2, 3, 4]), nullable=True),
}, strict=False, name="canonical_person_record")


# Longest text a field may hold (characters); a longer value quarantines its row (reason names the limit). Names and
# addresses are generous, identifiers and codes short. Any other text field: DEFAULT_MAX_LENGTH.
MAX_LENGTH = {"nama": 150, "alamat": 300, "tmp_lahir": 100, "nik": 40, "no_kk": 40, "id_dtks": 40, "id_keluarga": 40,
              "id_keluarga_p3ke": 40, "id_individu_p3ke": 40, "kode_desa": 20, "kode_kemendagri": 20, "kode": 20,
              "kode_induk": 20, "disbursement_id": 80}
DEFAULT_MAX_LENGTH = 255


def too_long(df: pd.DataFrame) -> pd.DataFrame:
    """Text values over their column's MAX_LENGTH: index, field, value (its start), reason."""
    parts = []
    for c in df.columns:
        if c.startswith("_") or c.endswith("__date") or df[c].dtype != object:
            continue
        limit = MAX_LENGTH.get(c.lower(), DEFAULT_MAX_LENGTH)
        lengths = df[c].str.len()
        bad = (lengths > limit).fillna(False).to_numpy()
        if bad.any():
            idx = bad.nonzero()[0]
            parts.append(pd.DataFrame({"index": idx, "field": c,
                                       "value": df[c].to_numpy()[idx].astype(str),
                                       "reason": [f"{c} longer than {limit} characters ({n:,})"
                                                  for n in lengths.to_numpy()[idx].astype(int)]}))
    if not parts:
        return pd.DataFrame({"index": pd.Series(dtype="int64"), "field": pd.Series(dtype=object),
                             "value": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})
    out = pd.concat(parts, ignore_index=True)
    out["value"] = out["value"].str.slice(0, 60) + "..."
    return out


def failures(schema: pa.DataFrameSchema, df: pd.DataFrame) -> pd.DataFrame:
    """Validate lazily; return one row per failing (row, field): index, field, value, reason."""
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as e:
        fc = e.failure_cases
        fc = fc[fc["index"].notna()]
        # dataframe-level checks report every column of a failing row: keep the field their message names
        frame_level = fc["schema_context"].astype(str) == "DataFrameSchema"
        named = fc["check"].astype(str).str.split(" ").str[0]
        fc = fc[~frame_level | (fc["column"].astype(str) == named)]
        reason = fc["check"].astype(str).replace({"not_nullable": "required value missing"})
        field = fc["column"].astype(object)
        return pd.DataFrame({"index": fc["index"].astype("int64").to_numpy(), "field": field.to_numpy(),
                             "value": fc["failure_case"].astype(str).str.slice(0, 200).to_numpy(),
                             "reason": reason.to_numpy()})
    return pd.DataFrame({"index": pd.Series(dtype="int64"), "field": pd.Series(dtype=object),
                         "value": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})

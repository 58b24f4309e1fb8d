"""Survivorship: which source record gives each golden-record field. All rules live here.

Source rank for identity fields: Regsosek (door-to-door enumeration) 1, DTKS 2, P3KE 3.
| field | rule |
|---|---|
| nik | a structurally valid NIK (nik_flag null); prefer one whose date and sex marker agree with the record; then the NIK carried by most records; then source rank |
| name, sex, birth_date | the value carried by most records; ties by source rank; nulls last |
| address, rt, rw, village_code, no_kk, relationship | the latest delivery (DTKS is monthly, so usually DTKS); ties by DTKS > Regsosek > P3KE |
| education, work, working, disability, pregnant, school_level, marital_status | Regsosek first (socio-economic detail), then DTKS, then P3KE; nulls last |
| kks, bank | DTKS (the only source that has them) |
| desil_p3ke | P3KE |
Each field comes with `<field>_src` = `<source>:<record_id>` of the record it was taken from.
"""
from __future__ import annotations

IDENTITY_RANK = "CASE source WHEN 'regsosek' THEN 1 WHEN 'dtks' THEN 2 ELSE 3 END"
LATEST_RANK = "CASE source WHEN 'dtks' THEN 1 WHEN 'regsosek' THEN 2 ELSE 3 END"
SOCIO_RANK = IDENTITY_RANK

MAJORITY = ["name", "sex", "birth_date"]
LATEST = ["address", "rt", "rw", "village_code", "no_kk", "relationship"]
SOCIO = ["education", "work", "working", "disability", "pregnant", "school_level", "marital_status"]
DTKS_ONLY = ["kks", "bank"]
P3KE_ONLY = ["desil_p3ke"]
GOLDEN_FIELDS = ["nik"] + MAJORITY + LATEST + SOCIO + DTKS_ONLY + P3KE_ONLY


def _pick(field: str, order: str) -> str:
    return (f"first(struct_pack(v := {field}, src := source || ':' || record_id) ORDER BY ({field} IS NULL), "
            f"{order}, source, record_id) AS {field}__s")


def golden_sql(records: str) -> str:
    """records: relation with person_id plus the canonical person-record columns of the snapshot."""
    counts = ", ".join(f"count(*) OVER (PARTITION BY person_id, {f}) AS n__{f}" for f in ["nik"] + MAJORITY)
    picks = [_pick("nik", "(nik_date_mismatch OR nik_sex_mismatch), n__nik DESC, " + IDENTITY_RANK)]
    picks += [_pick(f, f"n__{f} DESC, {IDENTITY_RANK}") for f in MAJORITY]
    picks += [_pick(f, f"delivery DESC, {LATEST_RANK}") for f in LATEST]
    picks += [_pick(f, SOCIO_RANK) for f in SOCIO]
    picks += [_pick(f, "(source <> 'dtks'), delivery DESC") for f in DTKS_ONLY]
    picks += [_pick(f, "(source <> 'p3ke'), delivery DESC") for f in P3KE_ONLY]
    unpack = ", ".join(f"{f}__s.v AS {f}, CASE WHEN {f}__s.v IS NOT NULL THEN {f}__s.src END AS {f}_src"
                       for f in GOLDEN_FIELDS)
    return f"""
    WITH r AS (SELECT *, {counts} FROM {records}),
    g AS (SELECT person_id, count(*) AS n_records, count(DISTINCT source) AS n_sources,
                 list(DISTINCT source ORDER BY source) AS sources, {', '.join(picks)}
          FROM r GROUP BY person_id)
    SELECT person_id, n_records, n_sources, sources, {unpack},
           substr(village_code__s.v, 1, 6) AS district_code, substr(village_code__s.v, 1, 4) AS regency_code,
           substr(village_code__s.v, 1, 2) AS province_code
    FROM g
    """

"""The registry snapshot the data-exchange API serves: one restricted export per published month.

    <exchange>/<snapshot>/person.parquet   one row per DTSEN person: identity, demographics, place, desil,
                                           death, and per programme eligible / recipient
    <exchange>/<snapshot>/family.parquet   one row per DTSEN family: KK, head, size, place, desil, programmes
    <exchange>/<snapshot>/id_event.parquet the month's id events (new, split_from, merged_into, gone) of persons
                                           and families, for subscribers' notifications
    <exchange>/<snapshot>/region.parquet   the region reference of the month (codes and names, every level)
    <exchange>/<snapshot>/source_record.parquet
                                           every source record behind each person (the crosswalk with the
                                           record's own name, NIK, birth date and place): the caseworker desk
    <exchange>/<snapshot>/welfare.parquet  each family's PMT result with its inputs (proxies and their source,
                                           demographics): the caseworker desk

Unlike the analysts' publication these files hold raw NIK, KK and names (the API's `full` and `payee` clients need
them), so they are written for the platform's service account only (folders 0700, files 0600), beside the
warehouse, never inside `published/`. Each month is written to a temporary folder and renamed into place, so a
server reading the previous month never sees half a file; the server serves the latest month present and notices a
new one without a restart (`latest`).
"""

from __future__ import annotations

import os
import re

import duckdb

from dtsen import builds
from dtsen.folders import folder_in_place

SNAPSHOT_RE = re.compile(r"^\d{4}-\d{2}$")
PROGRAMMES = ("pkh", "sembako", "pbi", "pip")

PERSON_SQL = """
SELECT p.snapshot, p.person_id, p.family_id, p.nik, p.no_kk, a.nik_pseudo, a.no_kk_pseudo, p.name, p.sex,
       p.birth_date, a.age, p.relationship, p.education, p.work, coalesce(p.disability, 0) AS disability,
       p.address, p.rt, p.rw, p.village_code, rv.nama AS village_name, p.district_code, rd.nama AS district_name,
       p.regency_code, rr.nama AS regency_name, p.province_code, rp.nama AS province_name,
       a.is_deceased, a.death_date, w.desil, f.members AS family_size, f.head_person_id = p.person_id AS is_head,
       pkh.family_id IS NOT NULL AS pkh_eligible, coalesce(pkh.is_recipient, false) AS pkh_recipient,
       sem.family_id IS NOT NULL AS sembako_eligible, coalesce(sem.status = 'recipient', false) AS sembako_recipient,
       pbi.person_id IS NOT NULL AS pbi_eligible, coalesce(pbi.status = 'recipient', false) AS pbi_recipient,
       pip.person_id IS NOT NULL AS pip_eligible, coalesce(pip.status = 'recipient', false) AS pip_recipient
FROM dtsen.person p
JOIN {intermediate}.int_persons__aged a USING (person_id)
JOIN dtsen.family f ON f.family_id = p.family_id AND f.snapshot = p.snapshot
LEFT JOIN {intermediate}.int_families__assessed w ON w.family_id = p.family_id
LEFT JOIN {marts}.eligibility_pkh pkh ON pkh.family_id = p.family_id
LEFT JOIN {marts}.eligibility_sembako sem ON sem.family_id = p.family_id
LEFT JOIN {marts}.eligibility_pbi pbi ON pbi.person_id = p.person_id
LEFT JOIN {marts}.eligibility_pip pip ON pip.person_id = p.person_id
LEFT JOIN _region rv ON rv.kode = p.village_code
LEFT JOIN _region rd ON rd.kode = p.district_code
LEFT JOIN _region rr ON rr.kode = p.regency_code
LEFT JOIN _region rp ON rp.kode = p.province_code
WHERE p.snapshot = ?
ORDER BY p.person_id
"""

FAMILY_SQL = """
SELECT f.snapshot, f.family_id, f.no_kk, sf.no_kk_pseudo, f.head_person_id, f.members AS family_size,
       f.village_code, f.district_code, f.regency_code, f.province_code, w.desil,
       bool_or(a.pkh_eligible) AS pkh_eligible, bool_or(a.pkh_recipient) AS pkh_recipient,
       bool_or(a.sembako_eligible) AS sembako_eligible, bool_or(a.sembako_recipient) AS sembako_recipient,
       bool_or(a.pbi_eligible) AS pbi_eligible, bool_or(a.pbi_recipient) AS pbi_recipient,
       bool_or(a.pip_eligible) AS pip_eligible, bool_or(a.pip_recipient) AS pip_recipient,
       bool_and(a.is_deceased) AS all_deceased
FROM dtsen.family f
JOIN {staging}.stg_dtsen__families sf ON sf.family_id = f.family_id  -- the KK pseudonym the marts carry
JOIN _exchange_person a ON a.family_id = f.family_id
LEFT JOIN {intermediate}.int_families__assessed w ON w.family_id = f.family_id
WHERE f.snapshot = ?
GROUP BY ALL
ORDER BY f.family_id
"""

SOURCE_RECORD_SQL = """
SELECT c.person_id, c.family_id, c.source, c.delivery, c.record_id, r.name_raw AS name, r.nik_raw AS nik, r.nik_flag,
       r.no_kk_raw AS no_kk, r.sex, r.birth_date, r.relationship, r.address, r.village_code, r.family_id_src,
       r.updated_at
FROM dtsen.crosswalk c
JOIN sources.person_record r ON r.source = c.source AND r.delivery = c.delivery AND r.record_id = c.record_id
WHERE c.snapshot = ?
ORDER BY c.person_id, c.record_no  -- the record's number in the snapshot: (source, record_id) order, one integer
"""

REGION_SQL = """
SELECT kode, nama, tingkat, nullif(kode_induk, '') AS kode_induk FROM sources.region
WHERE delivery = (SELECT max(delivery) FROM sources.region WHERE delivery <= ?)
ORDER BY kode
"""


def welfare_sql(month: str) -> str:
    from dtsen.welfare.features import family_features_sql

    return f"""
    SELECT w.family_id, w.desil, w.desil_province, w.predicted_pcc, w.model_id, x.* EXCLUDE (family_id)
    FROM welfare.family_welfare w
    JOIN ({family_features_sql(month)}) x USING (family_id)
    WHERE w.snapshot = '{month}'
    ORDER BY w.family_id
    """


ID_EVENT_SQL = """
SELECT 'person' AS kind, person_id AS id, event, related_person_id AS related_id
FROM dtsen.person_id_history WHERE snapshot = ?
UNION ALL
SELECT 'family', family_id, event, related_family_id FROM dtsen.family_id_history WHERE snapshot = ?
ORDER BY 1, 2, 3
"""


def snapshots(out_dir: str) -> list[str]:
    if not os.path.isdir(out_dir):
        return []
    return sorted(
        d
        for d in os.listdir(out_dir)
        if SNAPSHOT_RE.match(d) and os.path.isfile(os.path.join(out_dir, d, "family.parquet"))
    )


def latest(out_dir: str) -> str | None:
    found = snapshots(out_dir)
    return found[-1] if found else None


def export(con: duckdb.DuckDBPyConnection, month: str, out_dir: str) -> dict[str, int]:
    """Write the month's registry snapshot from the build area that holds `month` (`dtsen.builds`: the marts must
    have been built for it; builds.MonthNotBuilt says so otherwise); returns row counts."""
    area = builds.area_of(con, month)
    schemas = {"staging": area.staging, "intermediate": area.intermediate, "marts": area.marts}
    person_sql, family_sql = PERSON_SQL.format(**schemas), FAMILY_SQL.format(**schemas)
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    with folder_in_place(os.path.join(out_dir, month)) as tmp:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _region AS SELECT kode, nama FROM sources.region
                       WHERE delivery = (SELECT max(delivery) FROM sources.region WHERE delivery <= ?)""",
            [month],
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE _exchange_person AS {person_sql}", [month])
        counts = {}
        for name, sql, params in (
            ("person", "SELECT * FROM _exchange_person", []),
            ("family", family_sql, [month]),
            ("id_event", ID_EVENT_SQL, [month, month]),
            ("region", REGION_SQL, [month]),
            ("source_record", SOURCE_RECORD_SQL, [month]),
            ("welfare", welfare_sql(month), []),
        ):
            path = os.path.join(tmp, f"{name}.parquet")
            con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)", params)
            os.chmod(path, 0o600)
            counts[name] = con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0]
        con.execute("DROP TABLE _exchange_person")
        con.execute("DROP TABLE _region")
        os.chmod(tmp, 0o700)
    return counts

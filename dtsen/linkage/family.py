"""The family layer: one current family per DTSEN person.

Rule (the only place it is written):
1. Every source record carries a family key: DTKS its KK number (`KK:`), Regsosek its id_keluarga (`RS:`),
   P3KE its id_keluarga_p3ke (`P3:`), an approved proposal its ticket (`US:`). A DTKS record without a valid KK
   carries none.
2. A Regsosek, P3KE or proposed family is the same family as the DTKS KK most of its members carry in DTKS (ties: the
   smaller KK); failing that, a P3KE family is the Regsosek family most of its members belong to (and that
   family's KK, if it has one); failing that, it stands alone.
3. A person's current family is the family of their most current record: DTKS (latest delivery) first, then
   Regsosek, then P3KE, then a proposal (a proposed person already registered keeps their family). A person with no family key at all forms a one-person family.
"""

from __future__ import annotations

INPUT_COLUMNS = ["person_id", "source", "delivery", "record_id", "no_kk", "family_id_src"]  # what it reads


def family_keys_sql(records: str) -> str:
    """records: person_id + canonical person-record columns. Returns person_id, family_key."""
    return f"""
    WITH rec AS (
        SELECT person_id, source, delivery, record_id,
               CASE WHEN source = 'dtks' AND no_kk IS NOT NULL THEN 'KK:' || no_kk
                    WHEN source = 'regsosek' AND family_id_src IS NOT NULL THEN 'RS:' || family_id_src
                    WHEN source = 'p3ke' AND family_id_src IS NOT NULL THEN 'P3:' || family_id_src
                    WHEN source = 'usulan' AND family_id_src IS NOT NULL THEN 'US:' || family_id_src END AS fkey,
               CASE source WHEN 'dtks' THEN 1 WHEN 'regsosek' THEN 2 WHEN 'p3ke' THEN 3 ELSE 4 END AS frank
        FROM {records}
    ),
    kk_of_person AS (
        SELECT person_id, first(fkey ORDER BY delivery DESC, record_id) AS kk
        FROM rec WHERE fkey LIKE 'KK:%' GROUP BY person_id
    ),
    rs_of_person AS (
        SELECT person_id, first(fkey ORDER BY record_id) AS rs FROM rec WHERE fkey LIKE 'RS:%' GROUP BY person_id
    ),
    key_kk AS (  -- the DTKS KK most members of a Regsosek / P3KE family carry
        SELECT fkey, first(kk ORDER BY n DESC, kk) AS kk FROM (
            SELECT r.fkey, k.kk, count(*) AS n FROM rec r JOIN kk_of_person k USING (person_id)
            WHERE r.fkey NOT LIKE 'KK:%' GROUP BY ALL) GROUP BY fkey
    ),
    key_rs AS (  -- the Regsosek family most members of a P3KE family belong to
        SELECT fkey, first(rs ORDER BY n DESC, rs) AS rs FROM (
            SELECT r.fkey, s.rs, count(*) AS n FROM rec r JOIN rs_of_person s USING (person_id)
            WHERE r.fkey LIKE 'P3:%' GROUP BY ALL) GROUP BY fkey
    ),
    anchor AS (
        SELECT k.fkey, CASE WHEN k.fkey LIKE 'KK:%' THEN k.fkey
                            ELSE coalesce(a.kk, b.kk, s.rs, k.fkey) END AS family_key
        FROM (SELECT DISTINCT fkey FROM rec WHERE fkey IS NOT NULL) k
        LEFT JOIN key_kk a ON a.fkey = k.fkey
        LEFT JOIN key_rs s ON s.fkey = k.fkey
        LEFT JOIN key_kk b ON b.fkey = s.rs
    ),
    best AS (
        SELECT person_id, first(fkey ORDER BY (fkey IS NULL), frank, delivery DESC, record_id) AS fkey
        FROM rec GROUP BY person_id
    )
    SELECT b.person_id, coalesce(a.family_key, 'P:' || b.person_id) AS family_key
    FROM best b LEFT JOIN anchor a ON a.fkey = b.fkey
    """

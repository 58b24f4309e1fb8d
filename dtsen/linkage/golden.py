"""Survivorship: which source record gives each golden-record field. All rules live here.

Source rank for identity fields: Regsosek (door-to-door enumeration) 1, DTKS 2, P3KE 3.
| field | rule |
|---|---|
| nik | a structurally valid NIK (nik_flag null); prefer one whose date and sex marker agree with the record; then the NIK carried by most records; then source rank |
| name, sex, birth_date | the value carried by most records; ties by source rank; nulls last |
| address, rt, rw, village_code, no_kk, relationship | together, from the record of the latest delivery that has a village (DTKS is monthly, so usually DTKS); ties DTKS > Regsosek > P3KE |
| education, work, working, disability, pregnant, school_level, marital_status | together, from one record: Regsosek first (socio-economic detail), then DTKS, then P3KE; records with the fields filled first |
| kks, bank | together, from the latest DTKS record (the only source that has them) |
| desil_p3ke | the P3KE record |
Which record gave which field is kept as record numbers, one per rule (`record_no_<rule>`, the record's
`record_no` in the snapshot's crosswalk); `lineage_sql` reads them back as one row per field and source record
(the view dtsen.person_lineage).
"""

from __future__ import annotations

# Each rule orders a person's records by terms, each a non-negative integer below 2^bits (smaller first, like
# ORDER BY ... ASC), then by rid.
IDENTITY_RANK = ("CASE source WHEN 'regsosek' THEN 1 WHEN 'dtks' THEN 2 ELSE 3 END", 2)
LATEST_RANK = ("CASE source WHEN 'dtks' THEN 1 WHEN 'regsosek' THEN 2 ELSE 3 END", 2)
SOCIO_RANK = IDENTITY_RANK
NEWER_FIRST = ("999999 - CAST(replace(delivery, '-', '') AS INTEGER)", 20)  # YYYY-MM as a number: the latest first
COUNT_BITS = 16  # records carrying one value within a person: more than 65 thousand would tie, never happens


def _flag(condition: str) -> tuple[str, int]:
    """A condition whose true sorts last."""
    return (f"({condition})::INTEGER", 1)


def _more_first(count: str) -> tuple[str, int]:
    """A count, the larger first."""
    top = 2**COUNT_BITS - 1
    return (f"{top} - least({count}, {top})", COUNT_BITS)


MAJORITY = ["name", "sex", "birth_date"]
LATEST = ["address", "rt", "rw", "village_code", "no_kk", "relationship"]
SOCIO = ["education", "work", "working", "disability", "pregnant", "school_level", "marital_status"]
DTKS_ONLY = ["kks", "bank"]
P3KE_ONLY = ["desil_p3ke"]
GOLDEN_FIELDS = ["nik"] + MAJORITY + LATEST + SOCIO + DTKS_ONLY + P3KE_ONLY
RID_BITS = 40  # a trillion records


def _key(terms: list[tuple[str, int]]) -> str:
    """An ordering packed into one BIGINT to take the minimum of: the terms in their bits, the record's rid last, so
    every tie is broken and the same records always give the same golden record. arg_min over an integer is a plain
    hash aggregate (a struct of the terms compared field by field is several times slower; first(... ORDER BY ...)
    would sort every group once per field; a HUGEINT key costs more CPU than a BIGINT)."""
    if sum(bits for _, bits in terms) + RID_BITS > 63:
        raise ValueError(f"an ordering of {terms} does not fit in a BIGINT")
    key = "0::BIGINT"
    for expr, bits in [*terms, ("rid", RID_BITS)]:
        key = f"({key} * {2**bits} + ({expr}))"
    return key


GROUPS = {  # name -> (fields, ordering terms): one record gives all fields of a group, so they stay coherent
    "latest": (LATEST, [_flag("village_code IS NULL"), NEWER_FIRST, LATEST_RANK]),
    "socio": (SOCIO, [_flag("work IS NULL AND education IS NULL"), SOCIO_RANK]),
    "dtks": (DTKS_ONLY, [_flag("source <> 'dtks'"), NEWER_FIRST]),
    "p3ke": (P3KE_ONLY, [_flag("source <> 'p3ke'"), NEWER_FIRST]),
}
# the record columns golden_sql reads besides rid and person_id
INPUT_COLUMNS = ["source", "delivery", "record_id", "nik_date_mismatch", "nik_sex_mismatch", *GOLDEN_FIELDS]
RULE_FIELDS = {**{f: [f] for f in ["nik"] + MAJORITY}, **{g: fields for g, (fields, _) in GROUPS.items()}}
RECORD_NO_COLUMNS = [f"record_no_{rule}" for rule in RULE_FIELDS]


def _gives(group: str) -> str:
    """Whether the record a group's rule picked may give its fields: the source-only groups take a record of their
    source only (a person with no such record gets NULLs), the others any record."""
    return "true" if group in ("latest", "socio") else f"{group}__r.source = '{group}'"


def golden_sql(records: str) -> str:
    """records: a table with `rid` (a unique integer per record below 2^40, numbered in (source, record_id) order:
    the last tie-breaker of every rule), person_id and the canonical person-record columns of the snapshot.

    Each rule picks a record (its rid), not its values: the aggregate over a million persons carries integers and a
    few narrow columns, not wide structs, so it stays in memory; the values are joined back once per rule."""
    counted = ["nik"] + MAJORITY
    key_cols = sorted({"nik_date_mismatch", "nik_sex_mismatch", "village_code", "work", "education", *counted})
    counts = "\n".join(
        f"LEFT JOIN (SELECT person_id, {f}, count(*) AS n__{f} FROM {records} GROUP BY ALL) c_{f} "
        f"ON c_{f}.person_id = x.person_id AND c_{f}.{f} IS NOT DISTINCT FROM x.{f}"
        for f in counted
    )
    rules = {
        "nik": [
            _flag("nik IS NULL"),
            _flag("coalesce(nik_date_mismatch OR nik_sex_mismatch, true)"),
            _more_first("n__nik"),
            IDENTITY_RANK,
        ]
    }
    rules.update({f: [_flag(f"{f} IS NULL"), _more_first(f"n__{f}"), IDENTITY_RANK] for f in MAJORITY})
    rules.update({g: terms for g, (_, terms) in GROUPS.items()})
    picks = ", ".join(f"arg_min(rid, {_key(terms)}) AS {name}__rid" for name, terms in rules.items())
    joins = "\n".join(f"JOIN {records} AS {name}__r ON {name}__r.rid = g.{name}__rid" for name in rules)
    cols = [f"{f}__r.{f} AS {f}" for f in counted]
    for g, (fields, _) in GROUPS.items():
        cols += [f"CASE WHEN {_gives(g)} THEN {g}__r.{f} END AS {f}" for f in fields]
    # the record each rule took its fields from (NULL where it gave none): integers, not '<source>:<record_id>'
    # strings per field (19 string columns cost the build most of their time in writing them)
    for name in rules:
        gave = f"{name}__r.{name} IS NOT NULL" if name in counted else _gives(name)
        cols.append(f"CASE WHEN {gave} THEN {name}__r.rid END AS record_no_{name}")
    return f"""
    WITH k AS (SELECT x.rid, x.person_id, x.source, x.record_id, x.delivery,
                      {", ".join(f"x.{c}" for c in key_cols)}, {", ".join(f"c_{f}.n__{f}" for f in counted)}
               FROM {records} x {counts}),
    g AS (SELECT person_id, count(*) AS n_records, count(DISTINCT source) AS n_sources,
                 list_sort(list(DISTINCT source)) AS sources, {picks}
          FROM k GROUP BY person_id)
    SELECT g.person_id, g.n_records, g.n_sources, g.sources, {", ".join(cols)},
           substr(latest__r.village_code, 1, 6) AS district_code, substr(latest__r.village_code, 1, 4) AS regency_code,
           substr(latest__r.village_code, 1, 2) AS province_code
    FROM g
    {joins}
    """


def lineage_sql(person: str, crosswalk: str) -> str:
    """One row per golden field that has a value: the field and the source record it was taken from
    (snapshot, person_id, field, source, delivery, record_id, src = '<source>:<record_id>'). `person` has the
    record_no_<rule> columns of `golden_sql`, `crosswalk` the snapshot's records with their record_no."""
    fields = [(f, rule) for rule, fs in RULE_FIELDS.items() for f in fs]
    names = ", ".join(f"'{f}'" for f, _ in fields)
    nos = ", ".join(f"CASE WHEN {f} IS NOT NULL THEN record_no_{rule} END" for f, rule in fields)
    return f"""
    WITH f AS (SELECT snapshot, person_id, unnest([{names}]) AS field, unnest([{nos}]) AS record_no FROM {person})
    SELECT f.snapshot, f.person_id, f.field, c.source, c.delivery, c.record_id, c.source || ':' || c.record_id AS src
    FROM f JOIN {crosswalk} c ON c.snapshot = f.snapshot AND c.record_no = f.record_no
    """

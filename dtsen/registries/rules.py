"""Row rules of the delivered registry files, evaluated inside DuckDB.

Each rule names the contract field it judges, a SQL condition that is true when a row breaks it, and the reason
written to quarantine. `failures_sql` turns a file's rules into one query over the staged rows (Arrow, column
`_line` = line in the file) that returns every broken (line, field, value, reason), so a row breaking three rules
is quarantined once with three reasons. The reasons are the contract's words, the same for every source.

Why SQL and not pandera here: docs, Decisions, "Row rules in SQL" (validating in pandas cost many times the read;
pandera's Ibis backend does not say which row failed, and a quarantine must name its line). pandera stays where
frames are small (the banks' reconciliation files, `schemas.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

RELATIONSHIP = set(range(1, 9))
EDUCATION = set(range(0, 6))
WORK = set(range(0, 10))
MARITAL = {1, 2, 3, 4}
BINARY = {0, 1}
HIMBARA = {"BRI", "BNI", "MANDIRI", "BTN", "BSI"}
SCHOOL = {"none", "SD", "SMP", "SMA"}
PROXY_CODES = {
    "status_bangunan": {1, 2, 3, 4, 5},
    "jenis_lantai": set(range(1, 7)),
    "jenis_dinding": set(range(1, 6)),
    "jenis_atap": set(range(1, 7)),
    "sumber_air_minum": set(range(1, 7)),
    "fasilitas_bab": {1, 2, 3, 4},
    "sumber_penerangan": {1, 2, 3, 4},
    "bahan_bakar_masak": {1, 2, 3, 4, 5},
    "aset_kulkas": BINARY,
    "aset_motor": BINARY,
    "aset_mobil": BINARY,
    "desa_terpencil": BINARY,
}
NON_NEGATIVE = ["luas_lantai_m2", "aset_lahan_m2", "aset_ternak", "jumlah_art"]

# Longest text a field may hold (characters); a longer value quarantines its row (reason names the limit). Names and
# addresses are generous, identifiers and codes short. Any other text field: DEFAULT_MAX_LENGTH.
MAX_LENGTH = {
    "nama": 150,
    "alamat": 300,
    "tmp_lahir": 100,
    "nik": 40,
    "no_kk": 40,
    "id_dtks": 40,
    "id_keluarga": 40,
    "id_keluarga_p3ke": 40,
    "id_individu_p3ke": 40,
    "kode_desa": 20,
    "kode_kemendagri": 20,
    "kode": 20,
    "kode_induk": 20,
    "disbursement_id": 80,
}
DEFAULT_MAX_LENGTH = 255


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


@dataclass(frozen=True)
class Rule:
    field: str  # the contract column reported in quarantine
    bad: str  # SQL: true when the row breaks the rule (NULL reads as not broken)
    reason: str  # SQL expression for the reason (usually a literal)
    value: str | None = None  # SQL expression for the value shown (default: the field's value, first 200 chars)


def required(col: str, text: bool = True) -> Rule:
    c = ident(col)
    # a text value of nothing but white space is missing too (it would become an empty name): ASCII white space or a
    # Unicode space (no-break, ideographic, ...), the characters that collapsing white space and trim() remove (the
    # same answer for every code point); a full match stops at the first other character
    bad = f"coalesce(regexp_full_match({c}, '[\\s\\p{{Zs}}]*'), true)" if text else f"{c} IS NULL"
    return Rule(col, bad, lit("required value missing"), "NULL")


def _code_list(allowed: set[int]) -> str:
    a = sorted(allowed)
    return f"{a[0]}-{a[-1]}" if a == list(range(a[0], a[-1] + 1)) else str(a)


def code_in(col: str, allowed: set[int]) -> Rule:
    """A code given as an integer of any width: '1', '01' and 1 are the same code."""
    c = ident(col)
    return Rule(
        col,
        f"{c} IS NOT NULL AND coalesce(TRY_CAST({c} AS DOUBLE) NOT IN "
        f"({', '.join(str(a) for a in sorted(allowed))}), true)",
        lit(f"{col} outside code list {_code_list(allowed)}"),
    )


def one_of(col: str, allowed: set[str]) -> Rule:
    c = ident(col)
    return Rule(
        col, f"{c} NOT IN ({', '.join(lit(a) for a in sorted(allowed))})", lit(f"{col} not one of {sorted(allowed)}")
    )


def digits(col: str, n: int) -> Rule:
    c = ident(col)
    return Rule(col, f"NOT regexp_full_match({c}, '[0-9]{{{n}}}')", lit(f"{col} not {n} digits"))


def in_reference(col: str, codes_table: str) -> Rule:
    """The value is a code of the region reference (`codes_table` has one column `kode`)."""
    c = ident(col)
    return Rule(
        col,
        f"{c} IS NOT NULL AND {c} NOT IN (SELECT kode FROM {codes_table})",
        lit(f"{col} not in the region reference"),
    )


def non_negative(col: str) -> Rule:
    c = ident(col)
    return Rule(
        col, f"{c} IS NOT NULL AND coalesce(TRY_CAST({c} AS DOUBLE) < 0, true)", lit(f"{col} not a non-negative number")
    )


def positive(col: str) -> Rule:
    c = ident(col)
    return Rule(col, f"{c} IS NOT NULL AND coalesce(TRY_CAST({c} AS DOUBLE) <= 0, true)", lit(f"{col} not positive"))


def _limit(month_end: pd.Timestamp) -> str:
    return f"DATE {lit(month_end.strftime('%Y-%m-%d'))}"


def date_text(col: str, fmt: str, month_end: pd.Timestamp) -> list[Rule]:
    """A text date (parsed by the reader into `<col>__date`): valid in its format, and not after the month."""
    c, parsed = ident(col), ident(col + "__date")
    label = fmt.replace("%d", "DD").replace("%m", "MM").replace("%Y", "YYYY")
    return [
        Rule(col, f"{c} IS NOT NULL AND {parsed} IS NULL", lit(f"{col} not a valid {label} date")),
        Rule(col, f"{parsed} >= {_limit(month_end)}", lit(f"{col} after the delivery month")),
    ]


def date_not_after(col: str, month_end: pd.Timestamp) -> Rule:
    """A typed date (Parquet) not after the delivery month."""
    return Rule(col, f"{ident(col)} >= {_limit(month_end)}", lit(f"{col} after the delivery month"))


def max_length(columns: list[str]) -> list[Rule]:
    """Text values longer than their column's MAX_LENGTH (the value shown is its start)."""
    out = []
    for col in columns:
        c, limit = ident(col), MAX_LENGTH.get(col.lower(), DEFAULT_MAX_LENGTH)
        out.append(
            Rule(
                col,
                f"length({c}) > {limit}",
                f"{lit(f'{col} longer than {limit} characters (')} || format('{{:,}}', length({c})) || ')'",
                f"left({c}, 60) || '...'",
            )
        )
    return out


def failures_sql(table: str, rules: list[Rule]) -> str:
    """One query: line, field, value, reason of every rule every row of `table` breaks. One scan finds the rows that
    break any rule (few in a real delivery); each rule is then asked of those rows only."""
    if not rules:
        return "SELECT NULL::BIGINT AS line, NULL AS field, NULL AS value, NULL AS reason WHERE false"
    broken = " OR ".join(f"coalesce({r.bad}, false)" for r in rules)
    parts = [
        f"SELECT _line AS line, {lit(r.field)} AS field, "
        f"{r.value or f'left(CAST({ident(r.field)} AS VARCHAR), 200)'} AS value, {r.reason} AS reason "
        f"FROM _broken WHERE coalesce({r.bad}, false)"
        for r in rules
    ]
    return f"WITH _broken AS MATERIALIZED (SELECT * FROM {table} WHERE {broken}) " + " UNION ALL ".join(parts)


def duplicates_sql(table: str, key: str, label: str, every_holder: bool = False) -> str:
    """Rows of one record id (SQL expression `key`) held twice in a delivery. By default the second and later rows,
    naming the first line (a list naming a NIK twice names one person twice); with `every_holder`, every row that
    holds the id (a registry's record id held by two records: the file does not say which is the record, so none is
    taken). The ids that occur more than once are found first (a hash aggregate); only their rows are ordered."""
    if every_holder:
        reason = "'record id held by ' || n_rows || ' rows of this delivery (lines ' || lines || '): none is taken'"
        keep = ""
    else:
        reason = "'duplicate record id in this delivery (first at line ' || first || ')'"
        keep = "WHERE n > 1"
    return f"""WITH _dup AS MATERIALIZED (SELECT _line, {key} AS k FROM {table}
                                         WHERE {key} IN (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1))
               SELECT line, {lit(label)} AS field, left(k, 200) AS value, {reason} AS reason
               FROM (SELECT _line AS line, k, min(_line) OVER (PARTITION BY k) AS first,
                            row_number() OVER (PARTITION BY k ORDER BY _line) AS n,
                            count(*) OVER (PARTITION BY k) AS n_rows,
                            string_agg(_line::VARCHAR, ', ' ORDER BY _line) OVER (PARTITION BY k) AS lines FROM _dup)
               {keep}"""

"""Queries over the served registry snapshot: the DCI query types turned into SQL with bound parameters only, scoped
to the client's regions and fields, and the rows mapped onto the standard's Member and Group records.

No value from a request is ever spliced into SQL: attribute names are looked up in `ATTRIBUTES` (a fixed map to
column expressions), operators in `OPERATORS`, and every value is a `?` parameter.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb
import orjson

from dtsen.api import exchange
from dtsen.api.config import Client

MEMBER, GROUP = "Member", "Group"


class QueryError(ValueError):
    """The search criteria cannot be run: `code` is the spec's SearchStatusReasonCode."""

    def __init__(self, message: str, code: str = "rjct.search_criteria.invalid"):
        super().__init__(message)
        self.code = code


class Forbidden(Exception):
    """The request asks for something outside the client's rights (decided from the request, never the data)."""


# attribute -> (column on person, column on family, kind, field sets that may filter and sort on it)
ALL = ("full", "payee", "pseudonymous")
ANALYTIC = ("full", "pseudonymous")
ATTRIBUTES: dict[str, tuple[str | None, str | None, str, tuple[str, ...]]] = {
    "province_code": ("province_code", "province_code", "str", ALL),
    "regency_code": ("regency_code", "regency_code", "str", ALL),
    "district_code": ("district_code", "district_code", "str", ALL),
    "village_code": ("village_code", "village_code", "str", ALL),
    "desil": ("desil", "desil", "int", ANALYTIC),
    "poverty_score": ("desil", "desil", "int", ANALYTIC),
    "age": ("age", None, "int", ANALYTIC),
    "sex": ("CASE sex WHEN 1 THEN 'male' WHEN 2 THEN 'female' END", None, "str", ANALYTIC),
    "is_disabled": ("disability > 0", None, "bool", ANALYTIC),
    "is_deceased": ("is_deceased", "all_deceased", "bool", ALL),
    "birth_date": ("birth_date::DATE", None, "date", ("full", "payee")),
    "group_size": ("family_size", "family_size", "int", ANALYTIC),
    "is_head": ("is_head", None, "bool", ALL),
}
for _p in exchange.PROGRAMMES:
    ATTRIBUTES[f"{_p}_eligible"] = (f"{_p}_eligible", f"{_p}_eligible", "bool", ANALYTIC)
    ATTRIBUTES[f"{_p}_recipient"] = (f"{_p}_recipient", f"{_p}_recipient", "bool", ALL)
REGION_ATTRIBUTES = ("province_code", "regency_code", "district_code", "village_code")

OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "lte": "<=", "gte": ">=", "in": "IN"}
COMBINATORS = {"$and": "AND", "$or": "OR"}
MAX_TERMS = 50
MAX_DEPTH = 6
MAX_IN = 1000

# idtype -> (column on person, column on family, field sets that may look up by it)
ID_TYPES = {
    "NIK": ("nik", None, ("full", "payee")),
    "KK": ("no_kk", "no_kk", ("full", "payee")),
    "DTSEN_PERSON_ID": ("person_id", None, ALL),
    "DTSEN_FAMILY_ID": ("family_id", "family_id", ALL),
}
SORTABLE = ("person_id", "family_id", *ATTRIBUTES)

_FLAGS = [f"{p}_{k}" for p in exchange.PROGRAMMES for k in ("eligible", "recipient")]
RECORD_COLUMNS = {  # what member_record and group_record read, and the identifiers the hash indexes are built on
    "person": [
        "person_id",
        "family_id",
        "nik",
        "no_kk",
        "nik_pseudo",
        "no_kk_pseudo",
        "name",
        "sex",
        "birth_date",
        "death_date",
        "address",
        "rt",
        "rw",
        "village_code",
        "village_name",
        "regency_name",
        "province_name",
        "relationship",
        "is_deceased",
        "disability",
        "age",
        "desil",
        "is_head",
        *_FLAGS,
    ],
    "family": ["family_id", "no_kk", "no_kk_pseudo", "head_person_id", "family_size", "village_code", "desil", *_FLAGS],
}
RELATIONSHIP = {
    1: "head",
    2: "spouse",
    3: "child",
    4: "child_in_law",
    5: "grandchild",
    6: "parent",
    7: "parent_in_law",
    8: "other_relative",
    9: "other",
}
SEX = {1: "male", 2: "female"}


@dataclass
class Found:
    """A page of records (dicts, or orjson.Fragment for pages DuckDB built), the total, and the DTSEN ids in it."""

    records: list
    total: int
    person_ids: list[str]
    family_ids: list[str]


@dataclass
class Criteria:
    """One search request's criteria, parsed and checked (the SQL is built from these, never from raw text)."""

    entity: str
    where: str
    params: list
    order: str
    page_size: int
    page_number: int
    # an identifier lookup without sort: (column on person, value), answered from the in-memory hash indexes
    lookup: tuple[str, str] | None = None


def _value(kind: str, v, attribute: str):
    try:
        if kind == "int":
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                raise ValueError
            f = float(v)
            if f != int(f):
                raise ValueError
            return int(f)
        if kind == "bool":
            if isinstance(v, bool):
                return v
            if isinstance(v, str) and v.lower() in ("true", "false", "1", "0"):
                return v.lower() in ("true", "1")
            if isinstance(v, int) and v in (0, 1):
                return bool(v)
            raise ValueError
        if kind == "date":
            return date.fromisoformat(str(v)[:10])
        if isinstance(v, (str, int)) and not isinstance(v, bool):
            return str(v)
        raise ValueError
    except (ValueError, TypeError, OverflowError):
        raise QueryError(f"attribute {attribute!r} expects a {kind} value, got {v!r}") from None


class _Builder:
    def __init__(self, client: Client, entity: str):
        self.client, self.entity = client, entity
        self.params: list = []
        self.terms = 0

    def column(self, attribute: str) -> tuple[str, str]:
        if not isinstance(attribute, str) or attribute not in ATTRIBUTES:
            raise QueryError(f"unknown attribute {attribute!r}; known: {sorted(ATTRIBUTES)}")
        person_col, family_col, kind, allowed = ATTRIBUTES[attribute]
        if self.client.fields not in allowed:
            raise Forbidden(f"attribute {attribute!r} is outside this client's fields ({self.client.fields})")
        col = person_col if self.entity == MEMBER else family_col
        if col is None:
            raise QueryError(f"attribute {attribute!r} is not an attribute of a {self.entity}")
        return col, kind

    def comparison(self, attribute: str, op: str, value) -> str:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QueryError(f"more than {MAX_TERMS} conditions in one query")
        col, kind = self.column(attribute)
        if op not in OPERATORS:
            raise QueryError(f"unknown operator {op!r}; known: {sorted(OPERATORS)}")
        if op == "in":
            if not isinstance(value, list) or not value or len(value) > MAX_IN:
                raise QueryError(f"operator 'in' on {attribute!r} expects a list of 1 to {MAX_IN} values")
            values = [_value(kind, v, attribute) for v in value]
        else:
            values = [_value(kind, value, attribute)]
        if attribute in REGION_ATTRIBUTES and op in ("eq", "in"):
            outside = [v for v in values if not self.client.sees_region(v)]
            if outside:
                raise Forbidden(f"region {outside[0]} is outside this client's regions")
        self.params.extend(values)
        if op == "in":
            return f"({col} IN ({', '.join('?' * len(values))}))"
        return f"({col} {OPERATORS[op]} ?)"

    def expression(self, node, depth: int = 0) -> str:
        """A MongoDB-like expression: {"$and": [...]}, {"$or": [...]}, {"$not": {...}}, {attr: {"$op": v}} or
        {attr: v} (equality); several keys in one object are joined with AND."""
        if depth > MAX_DEPTH:
            raise QueryError(f"expression nested deeper than {MAX_DEPTH}")
        if not isinstance(node, dict) or not node:
            raise QueryError("an expression must be a non-empty object")
        parts = []
        for key, val in node.items():
            if key in COMBINATORS:
                if not isinstance(val, list) or not val:
                    raise QueryError(f"{key} expects a non-empty list")
                parts.append("(" + f" {COMBINATORS[key]} ".join(self.expression(v, depth + 1) for v in val) + ")")
            elif key == "$not":
                parts.append(f"(NOT {self.expression(val, depth + 1)})")
            elif isinstance(key, str) and key.startswith("$"):
                raise QueryError(f"unknown combinator {key!r}; known: $and, $or, $not")
            elif isinstance(val, dict):
                if not val:
                    raise QueryError(f"no condition on {key!r}")
                for op, v in val.items():
                    if not isinstance(op, str) or not op.startswith("$"):
                        raise QueryError(f"operators are written $eq, $lt, ...; got {op!r} on {key!r}")
                    parts.append(self.comparison(key, op[1:], v))
            else:
                parts.append(self.comparison(key, "eq", val))
        return "(" + " AND ".join(parts) + ")"

    def predicate(self, items) -> str:
        """DCI predicate lists: items in seq_num order, each `expression1 [condition expression2]` (condition
        and / or / not, `not` meaning expression1 AND NOT expression2); the items are joined with AND."""
        if not isinstance(items, list) or not items:
            raise QueryError("a predicate query is a non-empty list of expressions")
        parts = []

        def one(e) -> str:
            if not isinstance(e, dict) or not {"attribute_name", "operator", "attribute_value"} <= set(e):
                raise QueryError("each expression needs attribute_name, operator and attribute_value")
            return self.comparison(e["attribute_name"], e["operator"], e["attribute_value"])

        for item in sorted(items, key=lambda i: i.get("seq_num", 0) if isinstance(i, dict) else 0):
            if not isinstance(item, dict) or "expression1" not in item:
                raise QueryError("each predicate needs expression1")
            left = one(item["expression1"])
            cond = item.get("condition")
            if item.get("expression2") is None:
                if cond == "not":
                    left = f"(NOT {left})"
                parts.append(left)
                continue
            right = one(item["expression2"])
            if cond in (None, "and"):
                parts.append(f"({left} AND {right})")
            elif cond == "or":
                parts.append(f"({left} OR {right})")
            elif cond == "not":
                parts.append(f"({left} AND NOT {right})")
            else:
                raise QueryError(f"unknown condition {cond!r}; known: and, or, not")
        return "(" + " AND ".join(parts) + ")"


def region_scope(client: Client, params: list) -> str:
    if client.all_regions:
        return "TRUE"
    params.extend(client.regions)
    return "(" + " OR ".join("starts_with(village_code, ?)" for _ in client.regions) + ")"


def parse(criteria: dict, client: Client, max_page_size: int) -> Criteria:
    """Check the search criteria against the client's rights and build the WHERE clause (values bound)."""
    query_type = criteria.get("query_type")
    if query_type not in ("idtype-value", "expression", "predicate"):
        raise QueryError(f"unknown query_type {query_type!r}")
    if query_type not in client.query_types:
        raise Forbidden(f"query_type {query_type!r} is not allowed for this client")
    query = criteria.get("query")
    entity = criteria.get("response_entity") or criteria.get("reg_record_type") or MEMBER
    if query_type == "expression" and isinstance(query, dict) and isinstance(query.get("value"), dict):
        entity = (query["value"].get("expression") or {}).get("collection") or entity
    entity = {"group": GROUP, "family": GROUP, "member": MEMBER, "person": MEMBER}.get(str(entity).lower())
    if entity is None:
        raise QueryError("response_entity must be Group or Member")
    b = _Builder(client, entity)
    if query_type == "idtype-value":
        if not isinstance(query, dict) or "type" not in query or "value" not in query:
            raise QueryError('an idtype-value query is {"type": ..., "value": ...}')
        idtype = str(query["type"]).upper()
        if idtype not in ID_TYPES:
            raise QueryError(f"unknown identifier type {query['type']!r}; known: {sorted(ID_TYPES)}")
        person_col, family_col, allowed = ID_TYPES[idtype]
        if client.fields not in allowed:
            raise Forbidden(f"identifier type {idtype} is outside this client's fields ({client.fields})")
        value = query["value"]
        if not isinstance(value, (str, int)) or isinstance(value, bool) or len(str(value)) > 64:
            raise QueryError("an identifier value is a string")
        if entity == MEMBER:
            where = f"({person_col} = ?)"
        elif family_col is not None:
            where = f"({family_col} = ?)"
        else:  # a family found through one of its members
            where = f"(family_id IN (SELECT family_id FROM person WHERE {person_col} = ?))"
        b.params.append(str(value))
    elif query_type == "expression":
        expr = (
            query.get("value", {}).get("expression")
            if isinstance(query, dict) and isinstance(query.get("value"), dict)
            else None
        )
        if not isinstance(expr, dict) or "query" not in expr:
            raise QueryError(
                'an expression query is {"type": ..., "value": {"expression": {"collection": ..., "query": {...}}}}'
            )
        where = b.expression(expr["query"])
    else:
        where = b.predicate(query)
    order_parts = []
    for s in criteria.get("sort") or []:
        name = s.get("attribute_name") if isinstance(s, dict) else None
        if name not in SORTABLE:
            raise QueryError(f"cannot sort on {name!r}", "rjct.sort.invalid")
        col = name if name in ("person_id", "family_id") else b.column(name)[0]
        if entity == GROUP and name == "person_id":
            raise QueryError("a Group has no person_id to sort on", "rjct.sort.invalid")
        order_parts.append(f"{col} {'DESC' if s.get('sort_order') == 'desc' else 'ASC'}")
    order_parts.append("family_id" if entity == GROUP else "person_id")
    page = criteria.get("pagination") or {}
    try:
        page_size = int(page.get("page_size", min(100, max_page_size)))
        page_number = int(page.get("page_number", 1))
    except (TypeError, ValueError):
        raise QueryError("page_size and page_number are numbers", "rjct.pagination.invalid") from None
    if not 1 <= page_size <= max_page_size or page_number < 1:
        raise QueryError(f"page_size must be 1..{max_page_size} and page_number >= 1", "rjct.pagination.invalid")
    params = list(b.params)
    scope = region_scope(client, params)
    lookup = None
    if query_type == "idtype-value" and not criteria.get("sort"):
        lookup = (ID_TYPES[str(query["type"]).upper()][0], str(query["value"]))
    return Criteria(entity, f"{where} AND {scope}", params, ", ".join(order_parts), page_size, page_number, lookup)


def _sql_str(value: str) -> str:
    """A constant of this module as a SQL string literal (never a request value: those are bound)."""
    return "'" + value.replace("'", "''") + "'"


def _sql_map(column: str, mapping: dict, default: str | None) -> str:
    cases = " ".join(f"WHEN {k} THEN {_sql_str(v)}" for k, v in mapping.items())
    return f"CASE {column} {cases} ELSE {_sql_str(default) if default is not None else 'NULL::VARCHAR'} END"


def _sql_ident(kind: str, value_sql: str) -> str:
    return f"{{'@type': 'Identifier', 'identifier_type': {_sql_str(kind)}, 'identifier_value': {value_sql}}}"


def _sql_ids(
    first_kind: str, first_col: str, raw: str, pseudo: str, raw_kind: str, pseudo_kind: str, fields: str
) -> str:
    col, kind = (pseudo, pseudo_kind) if fields == "pseudonymous" else (raw, raw_kind)
    first = _sql_ident(first_kind, first_col)
    return f"CASE WHEN coalesce({col}, '') <> '' THEN [{first}, {_sql_ident(kind, col)}] ELSE [{first}] END"


def _sql_attr(name: str, value_sql: str) -> str:
    return f"{{'name': {_sql_str(name)}, 'value': to_json({value_sql})}}"


def _sql_programmes(fields: str) -> list[str]:
    out = []
    for recipient, recipient_name, eligible, eligible_name in _PROGRAMME_KEYS:
        out.append(_sql_attr(recipient_name, f"coalesce({recipient}, false)"))
        if fields in ANALYTIC:
            out.append(_sql_attr(eligible_name, f"coalesce({eligible}, false)"))
    return out


def member_sql(fields: str, snapshot: str) -> dict[str, str]:
    """SQL over `person` columns giving, as JSON text, the Member record (`rec`), its address (`addr`) and its
    identifiers (`ids`): the same record member_record builds in Python (a test holds the two equal), built by
    DuckDB for pages of thousands of members."""
    ids = _sql_ids("DTSEN_PERSON_ID", "person_id", "nik", "nik_pseudo", "NIK", "NIK_PSEUDONYM", fields)
    place = [
        "'@type': 'Address'",
        "'country': 'IDN'",
        "'region': province_name",
        "'city': regency_name",
        "'locality': village_name",
        "'administrative_area_code': village_code",
    ]
    person = ["'@type': 'SRPerson'", f"'identifier': {ids}", f"'sex': {_sql_map('sex', SEX, None)}"]
    if fields != "pseudonymous":
        person += [
            "'name': {'@type': 'Name', 'given_name': name, 'surname': ''}",
            "'birth_date': strftime(birth_date::DATE, '%Y-%m-%d')",
            "'death_date': strftime(death_date::DATE, '%Y-%m-%d')",
        ]
        place.append(
            "'street_address': CASE WHEN coalesce(rt, '') <> '' OR coalesce(rw, '') <> '' THEN "
            "trim(coalesce(address, '') || ' RT ' || coalesce(nullif(rt, ''), '-') || ' RW ' || "
            "coalesce(nullif(rw, ''), '-')) ELSE coalesce(address, '') END"
        )
    address = "{" + ", ".join(place) + "}"
    person.append(f"'address': {address}")
    attributes = [
        _sql_attr("dtsen_family_id", "family_id"),
        _sql_attr("is_deceased", "coalesce(is_deceased, false)"),
        *_sql_programmes(fields),
    ]
    if fields in ANALYTIC:
        attributes += [_sql_attr("age", "age"), _sql_attr("desil", "desil")]
    attributes_sql = f"[{', '.join(attributes)}]"
    if fields == "pseudonymous":
        attributes_sql = (
            f"CASE WHEN coalesce(no_kk_pseudo, '') <> '' THEN "
            f"list_append({attributes_sql}, {_sql_attr('kk_pseudonym', 'no_kk_pseudo')}) "
            f"ELSE {attributes_sql} END"
        )
    rec = [
        "'@type': 'Member'",
        f"'member_identifier': {ids}",
        "'demographic_info': {" + ", ".join(person) + "}",
        f"'relationship_head': {_sql_map('relationship', RELATIONSHIP, 'other')}",
        f"'registration_date': {_sql_str(snapshot + '-01')}",
        f"'additional_attributes': {attributes_sql}",
    ]
    if fields in ANALYTIC:
        rec.append("'is_disabled': coalesce(disability, 0) <> 0")
    return {
        "rec": "to_json({" + ", ".join(rec) + "})::VARCHAR",
        "addr": f"to_json({address})::VARCHAR",
        "ids": f"to_json({ids})::VARCHAR",
    }


class Snapshot:
    """One month's registry: an in-memory DuckDB for expressions and predicates, and Arrow tables with hash indexes
    (identifier -> rows) for identifier lookups, which a SQL engine answers in about a millisecond and a dict in
    microseconds (bench/api.py measures both)."""

    def __init__(self, folder: str, snapshot: str):
        self.snapshot = snapshot
        self.folder = os.path.join(folder, snapshot)
        self.con = duckdb.connect()
        for table in ("person", "family", "id_event"):
            self.con.execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_parquet(?)",
                [os.path.join(self.folder, f"{table}.parquet")],
            )
        # the columns records are made of, again as Arrow, for identifier lookups through the hash indexes (one
        # chunk per column: `take` costs per chunk, not per row)
        self.tables = {
            t: self.con.sql(f"SELECT {', '.join(RECORD_COLUMNS[t])} FROM {t} ORDER BY {t}_id")
            .to_arrow_table()
            .combine_chunks()
            for t in ("person", "family")
        }
        # identifier -> row (an int; a tuple where several rows share it): ints and tuples of ints are not
        # tracked by Python's garbage collector, so a million keys cost no collection pauses
        self.index: dict[tuple[str, str], dict[str, int | tuple[int, ...]]] = {}
        for table, col in (
            ("person", "nik"),
            ("person", "person_id"),
            ("person", "family_id"),
            ("person", "no_kk"),
            ("family", "family_id"),
            ("family", "no_kk"),
        ):
            idx: dict = {}
            for i, v in enumerate(self.tables[table].column(col).to_pylist()):
                if v is None:
                    continue
                seen = idx.get(v)
                idx[v] = i if seen is None else (*seen, i) if isinstance(seen, tuple) else (seen, i)
            self.index[(table, col)] = idx
        self.persons = self.tables["person"].num_rows
        self._local = threading.local()

    def positions(self, table: str, col: str, value: str) -> tuple[int, ...]:
        found = self.index[(table, col)].get(value)
        return () if found is None else found if isinstance(found, tuple) else (found,)

    def rows(self, table: str, col: str, value: str) -> list[dict]:
        found = self.positions(table, col, value)
        return self.tables[table].take(list(found)).to_pylist() if found else []

    def _lookup(self, c: Criteria, client: Client) -> Found:
        col, value = c.lookup
        persons = self.rows("person", col, value) if col != "no_kk" or c.entity == MEMBER else []
        if c.entity == MEMBER:
            hits = persons
        elif col in ("family_id", "no_kk"):
            hits = self.rows("family", col, value)
        else:  # a family found through one of its members
            hits = [
                f for fid in sorted({p["family_id"] for p in persons}) for f in self.rows("family", "family_id", fid)
            ]
        hits = [r for r in hits if client.sees_region(r.get("village_code"))]
        total = len(hits)
        start = (c.page_number - 1) * c.page_size
        page = hits[start : start + c.page_size]
        if c.entity == MEMBER:
            return Found(
                [member_record(r, client, self.snapshot) for r in page], total, [r["person_id"] for r in page], []
            )
        records = self._groups(page, client)
        return Found(
            records,
            total,
            [m["member_identifier"][0]["identifier_value"] for g in records for m in g["member_list"]],
            [f["family_id"] for f in page],
        )

    def _groups(self, families: list[dict], client: Client) -> list[dict]:
        """Group records with their members, the members fetched in one `take` through the family index."""
        positions = [i for f in families for i in self.positions("person", "family_id", f["family_id"])]
        members: dict[str, list[dict]] = {f["family_id"]: [] for f in families}
        for m in self.tables["person"].take(positions).to_pylist() if positions else []:
            members[m["family_id"]].append(m)
        return [
            group_record(
                f,
                sorted(members[f["family_id"]], key=lambda m: (not m["is_head"], m["person_id"])),
                client,
                self.snapshot,
            )
            for f in families
        ]

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cur", None)
        if cur is None:
            cur = self._local.cur = self.con.cursor()
        return cur

    def search(self, c: Criteria, client: Client) -> Found:
        """One page of records (dicts, or JSON text for pages built by DuckDB), its DTSEN ids and the total."""
        if c.lookup is not None:
            return self._lookup(c, client)
        cur = self.cursor()
        table = "family" if c.entity == GROUP else "person"
        offset = (c.page_number - 1) * c.page_size
        # a top-N and a count: cheaper than one query with count(*) OVER () (which keeps every match)
        ids = [
            r[0]
            for r in cur.execute(
                f"SELECT {table}_id FROM {table} WHERE {c.where} ORDER BY {c.order} LIMIT ? OFFSET ?",
                [*c.params, c.page_size, offset],
            ).fetchall()
        ]
        total = cur.execute(f"SELECT count(*) FROM {table} WHERE {c.where}", c.params).fetchall()[0][0]
        if c.entity == MEMBER:
            members = self._member_json(cur, [self.positions("person", "person_id", i)[0] for i in ids], client)
            return Found([orjson.Fragment(m[1]) for m in members], total, ids, [])
        families = (
            self.tables["family"].take([self.positions("family", "family_id", i)[0] for i in ids]).to_pylist()
            if ids
            else []
        )
        positions = [i for f in ids for i in self.positions("person", "family_id", f)]
        by_family: dict[str, list] = {f: [] for f in ids}
        for m in self._member_json(cur, positions, client):
            by_family[m[2]].append(m)
        records, persons = [], []
        for f in families:
            members = sorted(by_family[f["family_id"]], key=lambda m: (not m[3], m[0]))
            persons += [m[0] for m in members]
            records.append(self._group(f, members, client))
        return Found(records, total, persons, ids)

    def _member_json(self, cur, positions: list[int], client: Client) -> list[tuple]:
        """(person_id, Member JSON, family_id, is_head, address JSON, identifiers JSON) for these rows, by DuckDB."""
        if not positions:
            return []
        sql = member_sql(client.fields, self.snapshot)
        cur.register("_page_persons", self.tables["person"].take(positions))
        try:
            return cur.execute(
                f"SELECT person_id, {sql['rec']}, family_id, coalesce(is_head, false), {sql['addr']}, "
                f"{sql['ids']} FROM _page_persons"
            ).fetchall()
        finally:
            cur.unregister("_page_persons")

    def _group(self, f: dict, members: list[tuple], client: Client) -> dict:
        """group_record with its members as JSON built by DuckDB (orjson embeds them as they are)."""
        rec = group_record(f, [], client, self.snapshot)
        head = next((m for m in members if m[0] == f.get("head_person_id")), None)
        rec["group_head_info"] = (
            None if head is None else {"@type": "Member", "member_identifier": orjson.Fragment(head[5])}
        )
        rec["member_list"] = [orjson.Fragment(m[1]) for m in members]
        if members:
            rec["place"] = {"@type": "Place", "address": orjson.Fragment(members[0][4])}
        return rec

    def close(self):
        self.con.close()


def _iso(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.date().isoformat()
    return v.isoformat() if isinstance(v, date) else str(v)


def _ident(kind: str, value) -> dict:
    return {"@type": "Identifier", "identifier_type": kind, "identifier_value": value}


_PROGRAMME_KEYS = [
    (f"{p}_recipient", f"programme.{p.upper()}.recipient", f"{p}_eligible", f"programme.{p.upper()}.eligible")
    for p in exchange.PROGRAMMES
]


def _programmes(r: dict, fields: str) -> list[dict]:
    if fields in ANALYTIC:
        out = []
        for recipient, recipient_name, eligible, eligible_name in _PROGRAMME_KEYS:
            out.append({"name": recipient_name, "value": r[recipient] is True})
            out.append({"name": eligible_name, "value": r[eligible] is True})
        return out
    return [{"name": name, "value": r[recipient] is True} for recipient, name, _, _ in _PROGRAMME_KEYS]


def member_record(r: dict, client: Client, snapshot: str) -> dict:
    """A DTSEN person as the standard's Member (demographic_info an SRPerson); fields as the client may see.
    (Written for speed: a page of 1,000 families builds some 3,500 of these.)"""
    fields = client.fields
    pseudonymous = fields == "pseudonymous"
    ids = [{"@type": "Identifier", "identifier_type": "DTSEN_PERSON_ID", "identifier_value": r["person_id"]}]
    if pseudonymous:
        if r["nik_pseudo"]:
            ids.append({"@type": "Identifier", "identifier_type": "NIK_PSEUDONYM", "identifier_value": r["nik_pseudo"]})
    elif r["nik"]:
        ids.append({"@type": "Identifier", "identifier_type": "NIK", "identifier_value": r["nik"]})
    place = {
        "@type": "Address",
        "country": "IDN",
        "region": r["province_name"],
        "city": r["regency_name"],
        "locality": r["village_name"],
        "administrative_area_code": r["village_code"],
    }
    person = {"@type": "SRPerson", "identifier": ids, "sex": SEX.get(r["sex"])}
    if not pseudonymous:
        person["name"] = {"@type": "Name", "given_name": r["name"], "surname": ""}
        person["birth_date"] = _iso(r["birth_date"])
        person["death_date"] = _iso(r["death_date"])
        street = r["address"] or ""
        if r["rt"] or r["rw"]:
            street = f"{street} RT {r['rt'] or '-'} RW {r['rw'] or '-'}".strip()
        place["street_address"] = street
    person["address"] = place
    attributes = [
        {"name": "dtsen_family_id", "value": r["family_id"]},
        {"name": "is_deceased", "value": bool(r["is_deceased"])},
    ]
    attributes += _programmes(r, fields)
    rec = {
        "@type": "Member",
        "member_identifier": ids,
        "demographic_info": person,
        "relationship_head": RELATIONSHIP.get(r["relationship"], "other"),
        "registration_date": f"{snapshot}-01",
        "additional_attributes": attributes,
    }
    if fields in ANALYTIC:
        rec["is_disabled"] = bool(r["disability"])
        attributes.append({"name": "age", "value": r["age"]})
        attributes.append({"name": "desil", "value": r["desil"]})
    if pseudonymous and r["no_kk_pseudo"]:
        attributes.append({"name": "kk_pseudonym", "value": r["no_kk_pseudo"]})
    return rec


def group_record(f: dict, members: list[dict], client: Client, snapshot: str) -> dict:
    """A DTSEN family as the standard's Group: identifiers, size, place, desil as poverty_score, head, members."""
    fields = client.fields
    ids = [_ident("DTSEN_FAMILY_ID", f["family_id"])]
    if fields == "pseudonymous":
        if f.get("no_kk_pseudo"):
            ids.append(_ident("KK_PSEUDONYM", f["no_kk_pseudo"]))
    elif f.get("no_kk"):
        ids.append(_ident("KK", f["no_kk"]))
    member_records = [member_record(m, client, snapshot) for m in members]
    # the head by reference (its identifiers): the full record is in member_list, once
    head = next(
        (
            {"@type": "Member", "member_identifier": m["member_identifier"]}
            for m, r in zip(member_records, members)
            if r["person_id"] == f.get("head_person_id")
        ),
        None,
    )
    rec = {
        "@type": "Group",
        "group_identifier": ids,
        "group_type": "family",
        "group_size": f.get("family_size"),
        "place": {
            "@type": "Place",
            "address": (
                member_records[0]["demographic_info"]["address"]
                if member_records
                else {"administrative_area_code": f.get("village_code")}
            ),
        },
        "group_head_info": head,
        "member_list": member_records,
        "registration_date": f"{snapshot}-01",
        "additional_attributes": _programmes(f, fields),
    }
    if fields in ANALYTIC:
        rec["poverty_score"] = f.get("desil")
        rec["poverty_score_type"] = "desil (proxy means test; 1 = poorest tenth)"
    return rec


@dataclass
class Registry:
    """The latest exchange snapshot, swapped for a newer one without a restart (checked at most every second)."""

    folder: str
    check_every: float = 1.0
    _current: Snapshot | None = None
    _key: tuple | None = None
    _checked: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _fingerprint(self) -> tuple | None:
        month = exchange.latest(self.folder)
        if month is None:
            return None
        st = os.stat(os.path.join(self.folder, month, "person.parquet"))
        return month, st.st_ino, st.st_mtime_ns

    def current(self) -> Snapshot | None:
        now = time.monotonic()
        if self._current is not None and now - self._checked < self.check_every:
            return self._current
        with self._lock:
            if self._current is not None and time.monotonic() - self._checked < self.check_every:
                return self._current
            key = self._fingerprint()
            if key is not None and key != self._key:
                self._current = Snapshot(self.folder, key[0])  # the old one stays usable for requests in flight
                self._key = key
                gc.collect()
                gc.freeze()  # the snapshot stays for its life: keep its objects out of every later collection
            self._checked = time.monotonic()
            return self._current

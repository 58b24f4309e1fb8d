"""The DCI query types turned into SQL with bound parameters only, scoped to the client's regions and fields.

No value from a request is ever spliced into SQL: attribute names are looked up in `ATTRIBUTES` (a fixed map to
column expressions), operators in `OPERATORS`, and every value is a `?` parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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

FLAGS = [f"{p}_{k}" for p in exchange.PROGRAMMES for k in ("eligible", "recipient")]


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

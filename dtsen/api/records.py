"""The served rows as the standard's records: Member (SRPerson) and Group, built in Python for identifier lookups
and by DuckDB for pages of an expression (`member_sql`; a test holds the two equal)."""

from __future__ import annotations

from datetime import date, datetime

from dtsen.api import exchange
from dtsen.api.config import Client
from dtsen.api.query import ANALYTIC, FLAGS

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
        *FLAGS,
    ],
    "family": ["family_id", "no_kk", "no_kk_pseudo", "head_person_id", "family_size", "village_code", "desil", *FLAGS],
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


def member_sql(fields: str, month: str) -> dict[str, str]:
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
        f"'registration_date': {_sql_str(month + '-01')}",
        f"'additional_attributes': {attributes_sql}",
    ]
    if fields in ANALYTIC:
        rec.append("'is_disabled': coalesce(disability, 0) <> 0")
    return {
        "rec": "to_json({" + ", ".join(rec) + "})::VARCHAR",
        "addr": f"to_json({address})::VARCHAR",
        "ids": f"to_json({ids})::VARCHAR",
    }


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


def member_record(r: dict, client: Client, month: str) -> dict:
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
        "registration_date": f"{month}-01",
        "additional_attributes": attributes,
    }
    if fields in ANALYTIC:
        rec["is_disabled"] = bool(r["disability"])
        attributes.append({"name": "age", "value": r["age"]})
        attributes.append({"name": "desil", "value": r["desil"]})
    if pseudonymous and r["no_kk_pseudo"]:
        attributes.append({"name": "kk_pseudonym", "value": r["no_kk_pseudo"]})
    return rec


def group_record(f: dict, members: list[dict], client: Client, month: str) -> dict:
    """A DTSEN family as the standard's Group: identifiers, size, place, desil as poverty_score, head, members."""
    fields = client.fields
    ids = [_ident("DTSEN_FAMILY_ID", f["family_id"])]
    if fields == "pseudonymous":
        if f.get("no_kk_pseudo"):
            ids.append(_ident("KK_PSEUDONYM", f["no_kk_pseudo"]))
    elif f.get("no_kk"):
        ids.append(_ident("KK", f["no_kk"]))
    member_records = [member_record(m, client, month) for m in members]
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
        "registration_date": f"{month}-01",
        "additional_attributes": _programmes(f, fields),
    }
    if fields in ANALYTIC:
        rec["poverty_score"] = f.get("desil")
        rec["poverty_score_type"] = "desil (proxy means test; 1 = poorest tenth)"
    return rec

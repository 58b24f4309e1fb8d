"""The standard's records are built two ways: in Python for identifier lookups (a few records, microseconds) and by
DuckDB for pages of expressions and predicates (thousands of records). Both must give the same record, for every
field set, every person and every family of the demo's snapshot."""

from __future__ import annotations

import dataclasses
import json

import orjson
import pytest

from dtsen.api import config, registry


@pytest.fixture(scope="module")
def snapshot(exchange_demo):
    snap = registry.Snapshot(str(exchange_demo.parent / "exchange"), "2025-03")
    yield snap
    snap.close()


@pytest.mark.parametrize("fields", ["full", "payee", "pseudonymous"])
@pytest.mark.parametrize("entity", ["Group", "Member"])
def test_records_of_lookups_and_of_expressions_are_the_same(snapshot, fields, entity):
    client = dataclasses.replace(config.load().clients["dev"], fields=fields)
    table = "family" if entity == "Group" else "person"
    villages = [
        r[0]
        for r in snapshot.con.execute(
            f"SELECT DISTINCT village_code FROM {table} WHERE village_code IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]
    idtype = "DTSEN_FAMILY_ID" if entity == "Group" else "DTSEN_PERSON_ID"
    seen = 0
    for village in villages:
        crit = {
            "query_type": "expression",
            "pagination": {"page_size": 1000},
            "query": {
                "type": "ns:dtsen:QueryType:expression",
                "value": {"expression": {"collection": entity, "query": {"village_code": village}}},
            },
        }
        if fields == "payee":  # a payee client filters on place too; the ones it may not use are refused
            crit["query"]["value"]["expression"]["query"] = {"village_code": {"$in": [village]}}
        page = snapshot.search(registry.parse(crit, client, 1000), client)
        ids = page.family_ids if entity == "Group" else page.person_ids
        assert len(ids) == len(page.records) == page.total
        for ident, rec in zip(ids, page.records):
            one = snapshot.search(
                registry.parse(
                    {
                        "query_type": "idtype-value",
                        "response_entity": entity,
                        "query": {"type": idtype, "value": ident},
                    },
                    client,
                    1000,
                ),
                client,
            )
            assert json.loads(orjson.dumps(rec)) == json.loads(orjson.dumps(one.records[0])), ident
            seen += 1
    assert seen == snapshot.con.execute(f"SELECT count(*) FROM {table} WHERE village_code IS NOT NULL").fetchone()[0]

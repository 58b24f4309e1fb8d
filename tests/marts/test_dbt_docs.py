"""dbt's own documentation of who reads what: every column that holds an identifier, personal data or a pseudonym is
tagged with its class, and every consumer of the marts outside dbt is an exposure naming every model it reads (read
off the consumer's code, so a new read without its exposure fails)."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "dbt_project" / "target" / "manifest.json"  # `make setup` prepares it before the tests

PRIVACY = {
    "nik": "raw_identifier",
    "no_kk": "raw_identifier",
    "payee_nik": "raw_identifier",
    "nik_pseudo": "pseudonym",
    "no_kk_pseudo": "pseudonym",
    "name": "personal_data",
    "payee_name": "personal_data",
    "address": "personal_data",
    "person_id": "dtsen_id",
    "family_id": "dtsen_id",
    "head_person_id": "dtsen_id",
    "payee_person_id": "dtsen_id",
}
# a column named like an identifier, which must then be classified above
LOOKS_IDENTIFYING = re.compile(
    r"^(payee_|head_|member_)?(nik|no_kk|name|nama|address|alamat|person_id|family_id)(_pseudo|_raw)?$"
)
# the consumers outside dbt: the code that reads the marts, and the exposure that declares it
CONSUMERS = {
    "payment_lists": ["dtsen/disbursement"],
    "data_exchange_api": ["dtsen/api/exchange.py"],
    "cek_bansos_web": ["dtsen/web"],
}


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def _built(m: dict) -> dict[str, dict]:
    return {n["name"]: n for n in m["nodes"].values() if n["resource_type"] in ("model", "seed")}


def test_every_identifying_column_is_tagged_with_its_class():
    wrong = []
    for name, node in _built(_manifest()).items():
        for col, spec in node["columns"].items():
            tag = (spec.get("meta") or {}).get("privacy")
            if col in PRIVACY and tag != PRIVACY[col]:
                wrong.append(f"{name}.{col}: meta.privacy {tag!r}, expected {PRIVACY[col]!r}")
            elif col not in PRIVACY and (tag or LOOKS_IDENTIFYING.match(col)):
                wrong.append(f"{name}.{col}: meta.privacy {tag!r} on a column this test does not classify")
    assert wrong == []
    tagged = sum(bool((c.get("meta") or {}).get("privacy")) for n in _built(_manifest()).values()
                 for c in n["columns"].values())  # fmt: skip
    assert tagged >= 50  # the marts, history, staging and restricted models all carry identifiers


def _tables_read(paths: list[str]) -> set[str]:
    """Models the code reads by name (`marts.x`, `restricted.x`, `rules.x`, `history.x`, the build area's
    `{area.marts}.x`, or a published file)."""
    found = set()
    for rel in paths:
        root = REPO / rel
        for path in [root] if root.is_file() else sorted(root.rglob("*.py")):
            text = path.read_text()
            found |= set(re.findall(r"\b(?:marts|restricted|rules|history)\}?\.([a-z_]+)", text))
    return found


def test_every_consumer_is_an_exposure_with_what_it_reads():
    m = _manifest()
    built = _built(m)
    exposures = {e["name"]: e for e in m["exposures"].values()}
    assert set(CONSUMERS) | {"analysts_publication"} <= set(exposures)

    def reads(exposure: str) -> set[str]:
        return {built_name for uid in exposures[exposure]["depends_on"]["nodes"]
                for built_name in [uid.split(".")[-1]] if built_name in built}  # fmt: skip

    for exposure, paths in CONSUMERS.items():
        read = _tables_read(paths) & set(built)  # a Python asset's table (history.payment_history) is not dbt's
        assert read, exposure
        assert read - reads(exposure) == set(), exposure
    # the publication carries every table of the schemas it publishes (marts, rules, history)
    published = {n for n, node in built.items() if node["schema"] in ("marts", "rules", "history")}
    assert published - reads("analysts_publication") == set()
    # and no exposure of the analysts reads the restricted schema
    assert not {n for n in reads("analysts_publication") if built[n]["schema"] == "restricted"}

"""The vendored DCI specification files (dtsen/api/spec, Apache-2.0, from spdci/standards) and their known slips.

The published files do not load in a strict OpenAPI validator as they are. `load(name)` returns the document with
only these mechanical repairs, so requests and responses can be validated against the spec's own schemas:

- social: `info.version` is swallowed by the description (a YAML indentation slip); it is set to 1.0.0.
- social: several `$ref`s point *through* another `$ref` (e.g. `.../message/oneOf/0/properties/search_request/...`
  where `oneOf/0` is itself `$ref: SearchRequest`). JSON pointers do not follow references, so each such
  pointer is rewritten to the place it means (the same schema, reached through the referenced component).
- social: every `oneOf` is read as `anyOf`. The published alternatives overlap, so that nothing could ever satisfy
  them: an integer is also a `number` (`attribute_value: 60` fails `oneOf [string, integer, number, ...]`), an
  expression's object value is also an identifier's value (the spec's own expression example fails `query`), and a
  transaction id and a correlation id are both strings (every txn/status request fails). With `anyOf` each value is
  accepted when it fits one of the alternatives the spec lists, which is what the descriptions say.
- jwks: the JWK schema is nested under `JWKSResponse.components.schemas` (a schema has no `components`); it is
  moved to `components.schemas.JWK`.
Every type, enum and `required` list is kept as published.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import yaml

SPEC_DIR = Path(__file__).with_name("spec")
SOCIAL = "social_api_v1.0.0.yaml"
AUTHZ = "authz_core_api_v1.0.0.yaml"
JWKS = "jwks_core_api_v1.0.0.yaml"


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _resolve(doc: dict, pointer: str) -> str | None:
    """The pointer `pointer` means, following any `$ref` met on the way; None if it leads nowhere."""
    node, path = doc, []
    for token in pointer.lstrip("#/").split("/"):
        while isinstance(node, dict) and "$ref" in node and token not in node:
            ref = node["$ref"]
            path = [_unescape(t) for t in ref.lstrip("#/").split("/")]
            node = doc
            for t in path:
                node = node[t]
        key = _unescape(token)
        if isinstance(node, list):
            key = int(key)
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
        path.append(str(key))
    return "#/" + "/".join(_escape(t) for t in path)


def _direct(doc: dict, pointer: str) -> bool:
    node = doc
    for token in pointer.lstrip("#/").split("/"):
        key = _unescape(token)
        try:
            node = node[int(key)] if isinstance(node, list) else node[key]
        except (KeyError, IndexError, ValueError, TypeError):
            return False
    return True


def _each_object(node, fn) -> None:
    """Call `fn` on every object (dict) of a document, depth first, each before its children."""
    if isinstance(node, dict):
        fn(node)
        for v in node.values():
            _each_object(v, fn)
    elif isinstance(node, list):
        for v in node:
            _each_object(v, fn)


def _repair_refs(doc: dict) -> dict:
    def repair(node: dict) -> None:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and not _direct(doc, ref):
            fixed = _resolve(doc, ref)
            if fixed is None:
                raise ValueError(f"unresolvable $ref in the vendored spec: {ref}")
            node["$ref"] = fixed

    _each_object(doc, repair)
    return doc


def _any_of(doc: dict) -> dict:
    """Rename every oneOf to anyOf (and the pointers that pass through one)."""

    def rename(node: dict) -> None:
        if "oneOf" in node:
            node["anyOf"] = node.pop("oneOf")
        if isinstance(node.get("$ref"), str):
            node["$ref"] = node["$ref"].replace("/oneOf/", "/anyOf/")

    _each_object(doc, rename)
    return doc


@cache
def _load(name: str) -> str:
    doc = yaml.safe_load((SPEC_DIR / name).read_text())
    if name == SOCIAL:
        doc["info"].setdefault("version", "1.0.0")
        doc = _any_of(_repair_refs(doc))
    if name == JWKS:
        response = doc["components"]["schemas"]["JWKSResponse"]
        nested = response.pop("components", None)
        if nested:
            doc["components"]["schemas"]["JWK"] = nested["schemas"]["JWK"]
            response["properties"]["keys"]["items"] = {"$ref": "#/components/schemas/JWK"}
    return json.dumps(doc)


def load(name: str) -> dict:
    """A fresh copy of the repaired specification document `name` (one of SOCIAL, AUTHZ, JWKS)."""
    return json.loads(_load(name))  # parsed anew each call: the caller may change it

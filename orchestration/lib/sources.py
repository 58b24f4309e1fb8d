"""The sources of `dtsen.registries.sources` as Dagster sees them: one asset `sources/<asset>` per ingested source,
and the delivered files themselves as external assets `landing/<folder>`."""

from __future__ import annotations

import dagster as dg

from dtsen.registries.sources import SOURCES, Source, source


def source_key(name: str | Source) -> dg.AssetKey:
    spec = source(name) if isinstance(name, str) else name
    return dg.AssetKey(["sources", spec.asset])


def landing_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["landing", name])


REGION_KEY = source_key("referensi")
# every delivery's landing folder -> its asset (what a new delivery there must refresh)
ASSET_OF_FOLDER = {s.name: source_key(s) for s in SOURCES if s.asset}

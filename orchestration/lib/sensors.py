"""What the sensors share: their minimum interval and their cursor (what was seen, per landing folder identity)."""

from __future__ import annotations

import json
import os

from dtsen.deliveries import landing_id

# 0 means back to back (the demo, `dtsen run`, tests): Dagster reads 0 as its default of 30 s, so it becomes 1 s
INTERVAL = max(int(os.environ.get("DTSEN_SENSOR_INTERVAL", "60")), 1)


def load_cursor(cursor: str | None, landing: str | None = None) -> dict:
    """The cursor: what was seen (name -> fingerprint or marker) and content hashes. A landing sensor's cursor
    belongs to the landing folder it was made for: another one (a new identity, dtsen.deliveries.landing_id)
    starts from nothing."""
    state = json.loads(cursor) if cursor else {}
    if landing is not None:
        ident = landing_id(landing)
        if state.get("landing_id", "") != ident:
            state = {"landing_id": ident}
    state.setdefault("seen", {})
    state.setdefault("hashes", {})
    return state


def run_key(state: dict, key: str) -> str:
    """Run keys name the landing folder's identity too: Dagster never repeats a run key, and a new landing with
    the same bytes (the demo run again) must be processed again."""
    return f"{state['landing_id']}:{key}" if state.get("landing_id") else key


def dump_cursor(state: dict) -> str:
    return json.dumps(state, sort_keys=True)

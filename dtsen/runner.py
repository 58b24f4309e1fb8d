"""Run the platform end to end (used by `dtsen demo` / `make run`)."""
from __future__ import annotations

import os

from dtsen.synth import SynthConfig, synth


def demo(persons: int, seed: int, months: int, data: str) -> int:
    landing = os.path.join(data, "landing")
    res = synth(SynthConfig(persons=persons, seed=seed, months=months), landing)
    print(f"demo deliveries in {os.path.abspath(landing)}: {res.counts['records']:,} records, months {res.months}")
    return 0

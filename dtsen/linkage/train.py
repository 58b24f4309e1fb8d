"""Retrain the linkage model on generated data and save it (the command behind `dtsen train-linkage`)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from dtsen import warehouse as wh
from dtsen.registries.ingest import ingest
from dtsen.synth import SynthConfig, synth

from . import model as lm
from .pipeline import train_model

TRAIN_PERSONS = 100_000
TRAIN_SEED = 7


def retrain(
    persons: int = TRAIN_PERSONS, seed: int = TRAIN_SEED, out: str | Path = lm.MODEL_PATH, landing: str | None = None
) -> dict:
    """Generate (or reuse) a landing folder, ingest its first month, train with a fixed seed, save JSON."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dtsen_train_") as tmp:
        if landing is None:
            landing = os.path.join(tmp, "landing")
            synth(SynthConfig(persons=persons, seed=seed, months=1), landing)
        month = sorted(os.listdir(os.path.join(landing, "dtks")))[0]
        con = wh.connect(os.path.join(tmp, "train.duckdb"))
        try:
            for s in ["referensi", "dtks", "regsosek", "p3ke"]:
                ingest(con, landing, month, s)
            path = train_model(con, month, out, seed=seed)
        finally:
            con.close()
    return {"model": str(path), "persons": persons, "seed": seed, "seconds": round(time.perf_counter() - t0, 1)}

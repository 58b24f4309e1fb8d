"""Benchmark of DTSEN linkage: prints one JSON line.

    python bench/linkage.py --persons 1000000 [--seed 1] [--no-generic] [--train]

Generates a population with the project's generator, ingests its first month, then times the linkage stage with the
saved model (as a monthly run does; `--train` retrains on this data first, seeded): prediction, clustering, stable
ids, families and golden records. Quality against the ground truth in the same run, beside two baselines: the
NIK-only join (today's practice) and a generic Splink set-up (raw upper-cased names with Jaro-Winkler, birth date,
sex, KK, village), with misses and false merges by kind and the share of twin pairs merged. Targets (issue 11):
pairwise F1 >= 0.998 with precision >= 0.999 at 1 M persons, twins merged <= 1%, the linkage stage <= 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time

import _common  # noqa: F401 - first: demo mode for every bench (synthetic data); bench/ is on sys.path

from dtsen import warehouse as wh
from dtsen.linkage import model as lm
from dtsen.linkage.evaluate import evaluate_snapshot
from dtsen.linkage.pipeline import build_snapshot, train_model
from dtsen.registries.ingest import ingest
from dtsen.synth import SynthConfig, synth


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-generic", action="store_true", help="skip the generic Splink baseline")
    ap.add_argument("--train", action="store_true", help="retrain on this data (seeded) before linking")
    ap.add_argument("--model", default=None, help="saved model to use (default: the version-controlled one)")
    ap.add_argument("--landing", default=None, help="reuse a landing folder")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_linkage_")
    try:
        landing = args.landing or os.path.join(tmp, "landing")
        if not args.landing:
            synth(SynthConfig(persons=args.persons, seed=args.seed, months=1), landing)
        month = sorted(os.listdir(os.path.join(landing, "dtks")))[0]
        con = wh.connect(os.path.join(tmp, "w.duckdb"), threads=2, memory_limit="4GB")  # as the pipeline
        con.execute(f"SET temp_directory = '{os.path.join(tmp, 'spill')}'")
        for s in ["referensi", "dtks", "regsosek", "p3ke"]:
            ingest(con, landing, month, s)
        con.close()  # the pipeline's linkage asset opens its own connection, with nothing cached from ingestion
        con = wh.connect(os.path.join(tmp, "w.duckdb"), threads=2, memory_limit="4GB")
        con.execute(f"SET temp_directory = '{os.path.join(tmp, 'spill')}'")
        rss_before = peak_mb()
        t0 = time.perf_counter()
        model = (
            train_model(con, month, os.path.join(tmp, "model.json"), seed=args.seed)
            if args.train
            else args.model or str(lm.MODEL_PATH)
        )
        t_train = time.perf_counter() - t0
        t1 = time.perf_counter()
        res = build_snapshot(con, month, model_path=model)
        linkage_secs = time.perf_counter() - t1
        secs = time.perf_counter() - t0
        rss_linkage = peak_mb()
        t2 = time.perf_counter()
        ev = evaluate_snapshot(con, month, os.path.join(landing, "truth", "truth.parquet"), generic=not args.no_generic)
        t_eval = time.perf_counter() - t2
        con.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    m = ev["methods"]
    out = {
        "bench": "linkage",
        "persons": args.persons,
        "records": res.records,
        "dtsen_persons": res.persons,
        "families": res.families,
        "seconds": round(secs, 2),
        "linkage_seconds": round(linkage_secs, 2),
        "train_seconds": round(t_train, 2) if args.train else None,
        "stage_seconds": {k: round(v, 2) for k, v in res.seconds.items()},
        "peak_rss_mb": round(rss_linkage),
        "peak_rss_before_linkage_mb": round(rss_before),
        "f1": round(m["dtsen_model"]["f1"], 5),
        "precision": round(m["dtsen_model"]["precision"], 5),
        "recall": round(m["dtsen_model"]["recall"], 5),
        "bcubed_f1": round(m["dtsen_model"]["bcubed_f1"], 5),
        "baseline_f1": round(m["nik_only"]["f1"], 5),
        "generic_f1": round(m["generic_splink"]["f1"], 5) if "generic_splink" in m else None,
        "largest_cluster": res.largest_cluster,
        "threshold": m["dtsen_model"]["threshold"],
        "f1_by_kind": {
            "misses": m["dtsen_model"]["by_kind"]["misses"],
            "merges": m["dtsen_model"]["by_kind"]["merges"],
        },
        "twins_merged_share": m["dtsen_model"]["by_kind"]["twins_merged_share"],
        "curve": {
            str(r.threshold): [round(r.precision, 5), round(r.recall, 5), round(r.f1, 5)]
            for r in ev["curve"].itertuples()
        },
        "prior": res.parameters.get("prior", {}).get("source"),
        "evaluation_seconds": round(t_eval, 2),
        "target_linkage_seconds": 60,
        "target_f1": 0.998,
        "target_precision": 0.999,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Benchmark of the synthetic generator: prints one JSON line.

    python bench/synth.py --persons 1000000 [--months 1] [--seed 1]

Baseline measured in the same run: DuckDB writing as many CSV rows of 19 random text columns as the generator
wrote person records, i.e. the floor of producing the bytes without any population modelling.
Target (issue 2): 1 M persons in at most 60 s on a 2-core machine.
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
import duckdb

from dtsen.synth import SynthConfig, synth


def baseline(rows: int, out: str) -> float:
    """Floor: DuckDB writes `rows` CSV rows of 19 random text columns (no modelling at all)."""
    con = duckdb.connect()
    con.execute("SET threads = 2")
    cols = ", ".join(f"CAST(hash(i * 19 + {k}) % 1000000000 AS VARCHAR) AS c{k}" for k in range(19))
    t0 = time.perf_counter()
    con.execute(
        f"COPY (SELECT {cols} FROM range({int(rows)}) t(i)) TO '{os.path.join(out, 'baseline.csv')}' "
        "(FORMAT csv, HEADER true)"
    )
    secs = time.perf_counter() - t0
    con.close()
    return secs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_synth_")
    try:
        t0 = time.perf_counter()
        res = synth(SynthConfig(persons=args.persons, seed=args.seed, months=args.months), os.path.join(tmp, "landing"))
        secs = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the baseline runs
        base = baseline(res.counts["records"], tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps(
            {
                "bench": "synth",
                "persons": args.persons,
                "months": args.months,
                "records": res.counts["records"],
                "seconds": round(secs, 2),
                "persons_per_second": round(args.persons / secs),
                "peak_rss_mb": round(peak),
                "baseline_write_seconds": round(base, 2),
                "ratio_to_baseline": round(secs / base, 2),
                "target_seconds": 60,
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()

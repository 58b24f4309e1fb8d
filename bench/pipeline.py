"""End-to-end benchmark of one monthly run through Dagster: prints one JSON line.

    python bench/pipeline.py --persons 1000000 [--landing DIR]

Generates a one-month population with `dtsen synth` in a separate process (so the generator's memory does not
count), then times, in a child process, one full month through Dagster as `make run` does it: monthly_pipeline
(ingest -> link -> rank -> dbt -> publish) followed by the disbursement sensor's run (lists, release checks, files).
The evaluations against the synthetic truth (the linkage's, and the ranking's targeting errors) are left out unless
--evaluate: a real month has no truth, so the run sees the landing folder without its truth/.
dbt's project is parsed for the run's warehouse before the clock starts, as a deployment does once (`make setup`,
`dtsen prepare-dbt`): a month then reuses the saved parse, as every month after the first does anyway.
Stage seconds come from Dagster's step events. Baseline in the same run: the floor of reading every landing file
of the month once with DuckDB (best of three reads). Peak RSS is sampled over the pipeline process plus its
children (dbt runs as a subprocess). Target (issue 6): 1 M persons under 3 minutes and 6 GiB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import _common  # noqa: F401 - first: demo mode for every bench (synthetic data); bench/ is on sys.path

STAGES = {  # step key prefix -> stage
    "sources__": "ingest",
    "dtsen_registry": "link",
    "dtsen__linkage_evaluation": "evaluate",
    "family_welfare": "rank",
    "dtsen_dbt_models": "dbt",
    "analytics__": "publish",
    "disbursement__": "disbursement",
    "exchange__": "exchange",
}


def stage_of(step_key: str) -> str:
    return next((v for k, v in STAGES.items() if step_key.startswith(k)), "other")


class TreeRss:
    """Peak resident memory of this process plus all its children (dbt runs as a subprocess), sampled."""

    def __init__(self, interval: float = 0.25):
        import psutil

        self.proc, self.interval, self.peak, self._stop = psutil.Process(), interval, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        while not self._stop.is_set():
            try:
                rss = self.proc.memory_info().rss + sum(c.memory_info().rss for c in self.proc.children(recursive=True))
            except psutil.Error:
                rss = 0
            self.peak = max(self.peak, rss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()


def without_truth(landing: str, view: str) -> str:
    """The landing folder as a production month sees it: every delivery (linked, not copied) but no synthetic
    ground truth, which would make the ranking evaluate its targeting errors (2-3 s at 1 M) as no real month can."""
    os.makedirs(view, exist_ok=True)
    for name in os.listdir(landing):
        if name != "truth":
            os.symlink(os.path.join(os.path.abspath(landing), name), os.path.join(view, name))
    return view


def run_month(landing: str, work: str, evaluate: bool, engine: str = "duckdb") -> dict:
    """Child process: one month through Dagster, seconds per stage from the run's step events (the linkage scored
    on `engine`)."""
    import dagster as dg

    from dtsen.layout import DataLayout
    from orchestration.operate.runner import _definitions, engine_run_config, execute, tick

    month = sorted(os.listdir(os.path.join(landing, "dtks")))[0]
    if not evaluate:  # beside the landing folder, whose own path it may be under (bench runs without --landing)
        landing = without_truth(landing, os.path.join(work, "landing_without_truth"))
    layout = DataLayout.resolve(os.path.join(work, "data"), landing=landing, env={})
    defs = _definitions(layout)
    # as a deployment does once for its warehouse (`make setup`, `dtsen prepare-dbt`): dbt's saved parse for this
    # warehouse's profile, which every month after the first has anyway; without it the new warehouse path of each
    # bench run made dbt re-parse the whole project (2-3 s) in the month's time
    from orchestration.lib.dbt import prepare_dbt
    from orchestration.lib.resources import DataResource

    prepare_dbt(DataResource(root=layout.root, warehouse=layout.warehouse))
    instance = dg.DagsterInstance.ephemeral()
    selection = None
    if not evaluate:  # the production path: no ground truth to evaluate linkage against
        selection = [
            k
            for k in defs.resolve_job_def("monthly_pipeline").asset_layer.executable_asset_keys
            if k != dg.AssetKey(["dtsen", "linkage_evaluation"])
        ]
    t0 = time.perf_counter()
    with TreeRss() as mem:
        ops = engine_run_config(engine).get("ops", {})
        if not selection:
            ops["dtsen__linkage_evaluation"] = {"config": {"generic_baseline": False}}
        run = execute(
            defs,
            "monthly_pipeline",
            month,
            layout,
            instance,
            {"ops": ops} if ops else None,
            asset_selection=selection,
        )
        if not run.success:
            raise SystemExit(f"monthly_pipeline failed: {run.errors}")
        disb = tick(defs, "disbursement_sensor", instance, {}, layout)
        if not disb or not all(r.success for r in disb):
            raise SystemExit(f"disbursement failed: {[r.errors for r in disb]}")
    total = time.perf_counter() - t0
    seconds: dict[str, float] = {}
    for rec in instance.get_run_records():
        starts = {}
        for ev in instance.all_logs(rec.dagster_run.run_id):
            de = ev.dagster_event
            if de is None or de.step_key is None:
                continue
            if de.event_type_value == "STEP_START":
                starts[de.step_key] = ev.timestamp
            elif de.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and de.step_key in starts:
                st = stage_of(de.step_key)
                seconds[st] = seconds.get(st, 0.0) + ev.timestamp - starts[de.step_key]
    person = run.materialized["dtsen/person"]
    return {
        "month": month,
        "records": int(person["records"]),
        "dtsen_persons": int(person["persons"]),
        "seconds": {k: round(v, 2) for k, v in sorted(seconds.items())},
        "total_seconds": round(total, 2),
        "payment_rows": int(disb[0].materialized["disbursement/payment_lists"]["rows"]),
        # the sampler can miss a short peak; the Python process's own peak is exact
        "peak_rss_mb": round(max(mem.peak / 2**20, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)),
        "peak_rss_self_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--landing", default=None, help="reuse an existing landing folder instead of generating one")
    ap.add_argument(
        "--evaluate",
        action="store_true",
        help="also evaluate the linkage against the synthetic truth (not part of a production month)",
    )
    ap.add_argument("--child", nargs="+", metavar="LANDING WORK EVALUATE [ENGINE]", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        landing, work, evaluate, *engine = args.child
        print(json.dumps(run_month(landing, work, evaluate == "1", *engine)))
        return
    tmp = tempfile.mkdtemp(prefix="bench_pipeline_")
    try:
        landing = args.landing or os.path.join(tmp, "landing")
        if not args.landing:
            subprocess.run(
                [
                    os.path.join(os.path.dirname(sys.executable), "dtsen"),
                    "synth",
                    "--persons",
                    str(args.persons),
                    "--seed",
                    str(args.seed),
                    "--months",
                    "1",
                    "--out",
                    landing,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        from _common import bare_read  # bench/ is on sys.path when run as a script

        month = sorted(os.listdir(os.path.join(landing, "dtks")))[0]
        floor = bare_read(landing, month)
        env = {**os.environ, "DAGSTER_HOME": tmp}
        out = subprocess.run(
            [sys.executable, __file__, "--child", landing, tmp, "1" if args.evaluate else "0"],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        child = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps(
            {
                "bench": "pipeline",
                "persons": args.persons,
                "records": child["records"],
                "dtsen_persons": child["dtsen_persons"],
                "payment_rows": child["payment_rows"],
                "seconds": child["seconds"],
                "total_seconds": child["total_seconds"],
                "floor_seconds": round(floor, 2),
                "ratio_to_floor": round(child["total_seconds"] / floor, 1),
                "peak_rss_mb": child["peak_rss_mb"],
                "peak_rss_python_mb": child["peak_rss_self_mb"],
                "linkage_evaluated": args.evaluate,
                "dbt_parse": "prepared",
                "target_seconds": 180,
                "target_rss_mb": 6144,
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()

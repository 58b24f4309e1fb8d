"""Plot the benchmarks' earlier figures kept as data in bench/results/history.jsonl: the 1 M monthly run and its
stages, change by change, and the 1 M linkage stage. Writes docs/img/bench_history.png (the docs' benchmark page).

    python bench/plot_history.py [--out docs/img/bench_history.png]
"""

from __future__ import annotations

import argparse
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def load(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def plot(records: list[dict], out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pipeline = [r for r in records if r["bench"] == "pipeline" and r["persons"] == 1_000_000]
    linkage = [r for r in records if r["bench"] == "linkage" and r["persons"] == 1_000_000]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    xs = range(1, len(pipeline) + 1)
    a.plot(xs, [_mean(r["total_seconds"]) for r in pipeline], "o-", label="whole month")
    for stage in ("ingest", "link", "dbt"):
        a.plot(xs, [_mean(r["stages"][stage]) for r in pipeline], ".--", label=stage)
    a.set_title("1 M persons: monthly run, seconds (mean of the runs)")
    a.set_xlabel("recorded change (oldest first)")
    b.plot(range(1, len(linkage) + 1), [r["linkage_seconds"][0] for r in reversed(linkage)], "o-")
    b.set_title("1 M persons: linkage stage, seconds")
    b.set_xlabel("recorded change (oldest first)")
    for ax in (a, b):
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
    a.legend()
    fig.suptitle("Earlier benchmark figures (bench/results/history.jsonl; 2 cores, 24 GiB)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default=os.path.join(HERE, "results", "history.jsonl"))
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "img", "bench_history.png"))
    args = ap.parse_args()
    plot(load(args.results), args.out)
    print(json.dumps({"bench": "plot_history", "out": args.out}))


if __name__ == "__main__":
    main()

"""Progress lines of a run while it executes (orchestration/progress.py), on a two-step job in memory."""

from __future__ import annotations

import io
import re
import time
import uuid

import dagster as dg
import pytest

from orchestration.operate.progress import RunProgress


@dg.asset(key=dg.AssetKey(["sources", "demo"]))
def demo_source() -> dg.MaterializeResult:
    time.sleep(0.3)
    return dg.MaterializeResult(metadata={"rows_accepted": 12345})


@dg.asset(deps=[demo_source])
def demo_mart() -> None:
    time.sleep(0.3)


@dg.asset
def broken() -> None:
    raise ValueError("boom")


def _run(selection, raise_on_error=True, interval=0.05) -> str:
    instance = dg.DagsterInstance.ephemeral()
    job = dg.define_asset_job("j", selection=selection)
    defs = dg.Definitions(assets=[demo_source, demo_mart, broken], jobs=[job])
    run_id = str(uuid.uuid4())
    out = io.StringIO()
    with RunProgress(instance, run_id, out, interval=interval):
        defs.resolve_job_def("j").execute_in_process(instance=instance, run_id=run_id, raise_on_error=raise_on_error)
    return out.getvalue()


def test_each_step_starts_and_ends_with_its_time_and_counts():
    text = _run([demo_source, demo_mart])
    lines = text.splitlines()
    starts = [ln for ln in lines if re.search(r"\] start  ", ln)]
    dones = [ln for ln in lines if re.search(r"\] done   \S+ \(\d+\.\d s\)$", ln)]
    assert len(starts) == 2 and len(dones) == 2, text
    assert any("sources/demo (rows_accepted 12,345)" in ln for ln in lines), text
    # in order: the source's start comes before its end, and the mart starts after the source ended
    order = [ln.split("]")[1].split()[0] for ln in lines if "start" in ln or "done" in ln]
    assert order == ["start", "done", "start", "done"], text
    took = [float(re.search(r"\((\d+\.\d) s\)$", ln).group(1)) for ln in dones]
    assert all(t >= 0.2 for t in took), text  # the steps' own durations, from the event log


def test_a_failed_step_is_named():
    text = _run([broken], raise_on_error=False)
    assert re.search(r"\] FAILED broken \(\d+\.\d s\)", text), text


@pytest.mark.parametrize("interval", [0.01, 5.0])
def test_nothing_is_lost_whatever_the_polling_interval(interval):
    assert _run([demo_source, demo_mart], interval=interval).count("] done") == 2


def test_an_unreadable_event_log_never_fails_the_run():
    class Broken:
        def get_records_for_run(self, *a, **k):
            raise OSError("event log unavailable")

    out = io.StringIO()
    with RunProgress(Broken(), str(uuid.uuid4()), out, interval=0.01):
        time.sleep(0.1)
    assert out.getvalue().count("progress unavailable") == 1, out.getvalue()

"""Progress of a run while it executes: each step as it starts and ends, with the elapsed time and the counts it
materialised, read from the run's event log (what the UI's run page shows), printed to a console.

`make run` and `dtsen run` execute runs in their own process with the run's console output going to a log file;
without this, a person would watch minutes of silence. The watcher is a thread that polls the instance's event log
for the run (step start/success/failure and materialisations only), so it works with any event log storage.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

import dagster as dg

WATCHED = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
}
# metadata shown beside a materialised asset, the first one present
COUNT_KEYS = ("rows_accepted", "persons", "families", "rows", "written")


def describe(event: dg.DagsterEvent) -> tuple[str, str] | None:
    """(kind, text) for an event worth a line, else None."""
    t = event.event_type
    if t == dg.DagsterEventType.STEP_START:
        return "start", event.step_key or ""
    if t == dg.DagsterEventType.STEP_SUCCESS:
        return "done", event.step_key or ""
    if t == dg.DagsterEventType.STEP_FAILURE:
        return "FAILED", event.step_key or ""
    if t == dg.DagsterEventType.ASSET_MATERIALIZATION:
        m = event.event_specific_data.materialization
        key = "/".join(m.asset_key.path)
        for k in COUNT_KEYS:
            if k in m.metadata:
                value = m.metadata[k].value
                if isinstance(value, (int, float)):
                    return "built", f"{key} ({k} {value:,.0f})"
        return "built quietly", key  # counted in its step's line (dbt's models: one line per step, not per model)
    return None


class RunProgress(threading.Thread):
    """Print a run's steps to `out` while it executes (use as a context manager around the execution)."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, out: TextIO, interval: float = 1.0):
        super().__init__(daemon=True, name=f"progress-{run_id[:8]}")
        self.instance, self.run_id, self.out, self.interval = instance, run_id, out, interval
        self._stop_event = threading.Event()
        self._cursor: str | None = None
        self._step_started: dict[str, float] = {}
        self._built: dict[str, int] = {}
        self._broken = False
        self._t0 = time.time()  # event timestamps are wall-clock seconds

    def __enter__(self) -> RunProgress:
        self.start()
        return self

    def __exit__(self, *exc) -> bool:
        self._stop_event.set()
        self.join(timeout=30)
        if not self.is_alive():
            self._safe_poll()  # whatever arrived after the last poll
        return False

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            if not self._safe_poll():
                return

    def _safe_poll(self) -> bool:
        """Poll; the console lines are a courtesy, so a failure to read them never fails the run."""
        if self._broken:
            return False
        try:
            self.poll()
            return True
        except Exception as e:
            self._broken = True
            self.out.write(f"  (progress unavailable: {e})\n")
            return False

    def poll(self) -> None:
        while True:
            conn = self.instance.get_records_for_run(self.run_id, cursor=self._cursor, of_type=WATCHED, limit=500)
            for record in conn.records:
                self._line(record.event_log_entry.dagster_event, record.event_log_entry.timestamp)
            self._cursor = conn.cursor
            if not conn.has_more:
                break

    def _line(self, event: dg.DagsterEvent | None, timestamp: float) -> None:
        if event is None:
            return
        d = describe(event)
        if d is None:
            return
        kind, text = d
        elapsed = max(timestamp - self._t0, 0.0)
        step = event.step_key or ""
        if kind.startswith("built"):
            self._built[step] = self._built.get(step, 0) + 1
            if kind != "built":
                return
        if kind == "start":
            self._step_started[text] = timestamp
            line = f"  [{elapsed:7.1f} s] start  {text}"
        elif kind in ("done", "FAILED"):
            took = timestamp - self._step_started.get(text, timestamp)
            n = self._built.get(step, 0)
            assets = f", {n} assets" if n > 1 else ""
            line = f"  [{elapsed:7.1f} s] {kind:<6} {text} ({took:.1f} s{assets})"
        else:
            line = f"  [{elapsed:7.1f} s]        {text}"
        self.out.write(line + "\n")
        self.out.flush()

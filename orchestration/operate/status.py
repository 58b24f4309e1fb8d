"""`dtsen status`: per month, what is built, what is missing and why, what is issued.

Read from the Dagster instance (DAGSTER_HOME: which assets of monthly_pipeline hold the month, the month's last
runs and how they ended), the landing folder (what was delivered for the month), the warehouse when no run holds it
(which build area holds the month: the current marts or the rebuild of an earlier month, `dtsen.builds`) and the
payment files. A month is

- built: every asset of monthly_pipeline holds it (a source that did not deliver that month records that the earlier
  delivery holds, so a one-off or yearly source does not make a month missing);
- partial: some do (the reason is the month's last run, or the assets still missing);
- missing: none do (why: nothing delivered, delivered but never run, or the last run failed).

Nothing identifying is printed: months, asset names, counts, run ids and the runs' error messages (which name files
and fields, never values).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

import dagster as dg
import duckdb

from dtsen.deliveries import scan
from dtsen.layout import DataLayout


@dataclass
class MonthStatus:
    month: str
    state: str  # built | partial | missing
    assets: int  # of monthly_pipeline holding the month
    of: int
    why: str = ""
    area: str = ""  # current | rebuilt (history) | history (in the history marts only) | "" (unknown)
    delivered: list[str] = field(default_factory=list)
    issued: str = ""  # payment files: "" none, else "<n> file(s)" with versions
    last_run: str = ""  # run id and status


def _latest_run(instance: dg.DagsterInstance, job: str, month: str):
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job, tags={"dagster/partition": month}), limit=1)
    return runs[0] if runs else None


def _failure(instance: dg.DagsterInstance, run) -> str:
    """The first step failure's message of a failed run, on one line."""
    for ev in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        err = ev.dagster_event.step_failure_data.error
        text = (err.message if err else ev.message or "").strip().splitlines()
        return f"{ev.step_key}: {text[0] if text else 'failed'}"
    for ev in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
        return (ev.message or "run failed").strip().splitlines()[0]
    return "run failed"


def _areas(layout: DataLayout) -> dict[str, tuple[str, str]] | str:
    """area -> (month, state) from the warehouse, or why it could not be read (a run holding it)."""
    if not os.path.exists(layout.warehouse):
        return {}
    from dtsen import builds
    from dtsen import warehouse as wh

    try:
        con = wh.connect(layout.warehouse, read_only=True)
    except duckdb.Error as e:  # the lock another process holds while it writes the warehouse
        return f"warehouse busy ({type(e).__name__}): areas not shown"
    try:
        return builds.held(con)
    finally:
        con.close()


def _issued(layout: DataLayout, month: str) -> str:
    folder = os.path.join(layout.disbursement, month)
    if not os.path.isdir(folder):
        return ""
    from dtsen.disbursement.files import VERSION_RE

    stems: dict[str, int] = {}
    for _, _, names in os.walk(folder):
        for name in names:
            m = VERSION_RE.match(name)
            if m:
                stems[m["stem"]] = max(stems.get(m["stem"], 0), int(m["n"]))
    if not stems:
        return ""
    superseded = sum(1 for v in stems.values() if v > 1)
    return f"{len(stems)} file(s)" + (f", {superseded} superseded by a later version" if superseded else "")


def month_statuses(
    defs: dg.Definitions, instance: dg.DagsterInstance, layout: DataLayout, months: list[str]
) -> list[MonthStatus]:
    job = defs.resolve_job_def("monthly_pipeline")
    keys = sorted(job.asset_layer.executable_asset_keys, key=lambda k: k.to_user_string())
    held = {k: instance.get_materialized_partitions(k) for k in keys}
    delivered: dict[str, list[str]] = {}
    if os.path.isdir(layout.landing):
        for d in scan(layout.landing):
            delivered.setdefault(d.month, []).append(d.folder)
    areas = _areas(layout)
    out = []
    for month in months:
        have = [k for k in keys if month in held[k]]
        state = "built" if len(have) == len(keys) else "partial" if have else "missing"
        st = MonthStatus(month, state, len(have), len(keys), delivered=sorted(set(delivered.get(month, []))))
        run = _latest_run(instance, "monthly_pipeline", month)
        if run is not None:
            st.last_run = f"{run.run_id[:8]} {run.status.value.lower()}"
        if state != "built":
            if run is not None and run.status == dg.DagsterRunStatus.FAILURE:
                st.why = f"last run failed: {_failure(instance, run)}"
            elif run is not None and not run.is_finished:
                st.why = f"a run is {run.status.value.lower()}"
            elif state == "partial":
                lacking = [k.to_user_string() for k in keys if month not in held[k]]
                st.why = f"not built: {', '.join(lacking[:4])}" + (
                    f" and {len(lacking) - 4} more" if len(lacking) > 4 else ""
                )
            elif st.delivered:
                st.why = "delivered, never run (is landing_sensor running? or `dtsen run`)"
            else:
                st.why = "nothing delivered for this month"
        if isinstance(areas, dict):
            for name, (m, s) in areas.items():
                if m == month:
                    label = "current" if name == "main" else "rebuilt (history)"
                    st.area = label if s == "built" else f"{label}: {s}"
        if not st.area and state == "built" and isinstance(areas, dict):
            st.area = "history"  # every built month is in the history marts; the areas hold two months
        st.issued = _issued(layout, month)
        out.append(st)
    return out


def render(statuses: list[MonthStatus], note: str = "") -> str:
    """A table for the console: months with anything to say (built, partial, delivered, run), then a summary."""
    shown = [s for s in statuses if s.state != "missing" or s.delivered or s.last_run]
    lines = [f"{'month':8} {'state':8} {'assets':>7}  {'marts':18} {'payment files':24} why / deliveries"]
    for s in shown:
        assets = f"{s.assets}/{s.of}"
        tail = s.why or ("delivered: " + ", ".join(s.delivered) if s.delivered else "no delivery of its own")
        lines.append(f"{s.month:8} {s.state:8} {assets:>7}  {s.area or '-':18} {s.issued or '-':24} {tail}")
    counts = {k: sum(s.state == k for s in statuses) for k in ("built", "partial", "missing")}
    quiet = len(statuses) - len(shown)
    lines.append(
        f"{len(statuses)} months: {counts['built']} built, {counts['partial']} partial, {counts['missing']} missing"
        + (f" ({quiet} of them with nothing delivered and no run, not listed)" if quiet else "")
    )
    if note:
        lines.append(note)
    return "\n".join(lines)


def status(layout: DataLayout, as_json: bool = False) -> str:
    from orchestration.definitions import defs
    from orchestration.lib.partitions import valid_months

    with dg.DagsterInstance.get() as instance:
        statuses = month_statuses(defs, instance, layout, valid_months())
    areas = _areas(layout)
    note = areas if isinstance(areas, str) else ""
    if as_json:
        return json.dumps([asdict(s) for s in statuses])
    return render(statuses, note)

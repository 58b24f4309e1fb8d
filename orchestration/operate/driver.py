"""Operate the code location the way `dagster dev` and its daemon do, from a script or a test.

`make run` (the demo), `dtsen run` and the tests that replay README use this, so that every run they make is a run
of the code location's job (listed under Jobs, on the job's Runs tab and in the Overview timeline), with the run
keys, ticks and cursors a sensor would have produced:

- the workspace is loaded from `workspace.yaml` exactly as `dagster dev` loads it (a code server process);
- `tick(sensor)` evaluates one sensor through the sensor daemon's own tick code path: the tick is stored, the
  cursor advances, run keys deduplicate, requested runs are submitted to the instance's run queue;
- `launch(job, month)` creates a run of the job for a partition, as the launchpad would;
- `reexecute_from_failure(run_id)` creates the re-execution of a failed run's failed and skipped steps, as the UI's
  "Re-execute from failure" does;
- `execute(run_id)` dequeues a queued run and executes it in this process (the daemon would launch a process per
  run; in-process saves the code location's start-up time per run and runs the same code).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.execution.api import execute_run
from dagster._core.remote_representation.external import RemoteSensor
from dagster._core.scheduler.instigation import InstigatorType
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
from dagster._core.storage.tags import PARTITION_NAME_TAG
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.sensor import (  # the sensor daemon's tick, as the daemon runs it
    _process_tick_generator,
    get_elapsed,
    is_under_min_interval,
)
from dagster._utils.hosted_user_process import recon_job_from_origin

REPO = Path(__file__).resolve().parents[2]
WORKSPACE_FILE = REPO / "workspace.yaml"
LOCATION = "dtsen"
MAX_WAIT_SECONDS = 2  # back to back: a sensor whose minimum interval is this short is waited for

log = logging.getLogger("dtsen.driver")


class CodeLocationError(RuntimeError):
    pass


class Driver(contextlib.AbstractContextManager):
    def __init__(self, instance: dg.DagsterInstance, workspace_file: str | Path = WORKSPACE_FILE):
        self.instance = instance
        self._ctx = WorkspaceProcessContext(
            instance, WorkspaceFileTarget(paths=[str(workspace_file)]), code_server_log_level="WARNING"
        )

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        return False

    # ---- the code location as the UI sees it
    def _request(self):
        return self._ctx.create_request_context()

    def code_location(self):
        entry = self._request().get_code_location_entries().get(LOCATION)
        if entry is None:
            raise CodeLocationError(f"workspace has no code location {LOCATION!r}")
        if entry.load_error or entry.code_location is None:
            msg = entry.load_error.to_string() if entry.load_error else "not loaded"
            raise CodeLocationError(f"code location {LOCATION!r} failed to load:\n{msg}")
        return entry.code_location

    def repository(self):
        repos = self.code_location().get_repositories()
        return next(iter(repos.values()))

    def sensor(self, name: str) -> RemoteSensor:
        return self.repository().get_sensor(name)

    # ---- sensors
    def _state(self, sensor: RemoteSensor):
        return self.instance.get_instigator_state(sensor.get_remote_origin_id(), sensor.selector_id)

    def is_running(self, name: str) -> bool:
        sensor = self.sensor(name)
        return sensor.get_current_instigator_state(self._state(sensor)).is_running

    def switch_on(self, name: str) -> None:
        """As an operator switching the sensor on in the UI (a sensor declared running in code is stored so)."""
        sensor = self.sensor(name)
        state = self.instance.start_sensor(sensor)
        if self._state(sensor) is None:  # declared running in code: the daemon stores it on its first tick
            self.instance.add_instigator_state(state)

    def switch_off(self, name: str) -> None:
        sensor = self.sensor(name)
        self.instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)

    def tick(self, name: str) -> list[str]:
        """One tick of a running sensor through the sensor daemon's code path; returns the ids of the runs it
        submitted (queued, not yet executed)."""
        sensor = self.sensor(name)
        if not self.is_running(name):
            raise RuntimeError(f"sensor {name} is stopped: switch it on first")
        if self._state(sensor) is None:
            self.switch_on(name)
        if is_under_min_interval(self._state(sensor), sensor):
            # the daemon would skip this tick; back to back (DTSEN_SENSOR_INTERVAL=0, a 1 s interval) waits it out
            wait = sensor.min_interval_seconds - (get_elapsed(self._state(sensor)) or 0)
            if sensor.min_interval_seconds > MAX_WAIT_SECONDS:
                raise RuntimeError(
                    f"sensor {name} ticked less than its minimum interval ({sensor.min_interval_seconds} "
                    f"s) ago; set DTSEN_SENSOR_INTERVAL=0 to tick it back to back"
                )
            time.sleep(max(wait, 0) + 0.05)
        before = self._latest_tick(sensor)
        errors = [
            e
            for e in _process_tick_generator(
                self._ctx,
                log,
                sensor,
                self._state(sensor),
                None,
                self.instance.get_tick_retention_settings(InstigatorType.SENSOR),
                None,
            )
            if e is not None
        ]
        if errors:
            raise RuntimeError(f"sensor {name} failed: {errors[0].to_string()}")
        tick = self._latest_tick(sensor)
        if tick is None or (before is not None and tick.tick_id == before.tick_id):
            raise RuntimeError(f"sensor {name} was not evaluated (the daemon's tick was skipped)")
        return list(tick.run_ids)

    def _latest_tick(self, sensor: RemoteSensor):
        ticks = self.instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id, limit=1)
        return ticks[0] if ticks else None

    # ---- runs
    def launch(
        self, job_name: str, partition: str, tags: dict[str, str] | None = None, run_config: dict | None = None
    ) -> str:
        """Create a run of the job for the partition, as the launchpad would (not executed yet)."""
        location = self.code_location()
        repo = self.repository()
        remote_job = repo.get_full_job(job_name)
        plan = location.get_execution_plan(
            remote_job, run_config or {}, step_keys_to_execute=None, known_state=None, instance=self.instance
        )
        run = self.instance.create_run(
            job_name=job_name,
            run_id=None,
            run_config=run_config or {},
            resolved_op_selection=None,
            step_keys_to_execute=None,
            status=DagsterRunStatus.NOT_STARTED,
            op_selection=None,
            root_run_id=None,
            parent_run_id=None,
            tags={**(remote_job.run_tags or {}), **(tags or {}), PARTITION_NAME_TAG: partition},
            job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=repo.asset_graph,
        )
        return run.run_id

    def reexecute_from_failure(self, run_id: str) -> str:
        """Create the UI's "Re-execute from failure" run of a failed run: only the steps that failed or did not run
        (not executed yet)."""
        from dagster._core.execution.plan.resume_retry import ReexecutionStrategy

        parent = self.instance.get_run_by_id(run_id)
        run = self.instance.create_reexecuted_run(
            request_context=self._request(),
            parent_run=parent,
            code_location=self.code_location(),
            remote_job=self.repository().get_full_job(parent.job_name),
            strategy=ReexecutionStrategy.FROM_FAILURE,
            use_parent_run_tags=True,
        )
        return run.run_id

    def queued(self) -> list[str]:
        runs = self.instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.QUEUED]))
        return [
            r.run_id for r in sorted(runs, key=lambda r: self.instance.get_run_record_by_id(r.run_id).create_timestamp)
        ]

    def execute(self, run_id: str, log_file: str | None = None, progress: TextIO | None = None) -> dg.DagsterRun:
        """Dequeue the run and execute it in this process; returns the finished run. Console output of the run
        (dbt's log, Dagster's console logger) goes to log_file when given; each step's start and end (elapsed
        time, counts) to `progress` when given."""
        from orchestration.operate.progress import RunProgress

        run = self.instance.get_run_by_id(run_id)
        if run.status == DagsterRunStatus.QUEUED:
            self.instance.report_dagster_event(
                DagsterEvent(event_type_value=DagsterEventType.RUN_STARTING.value, job_name=run.job_name), run_id=run_id
            )  # dequeued
            run = self.instance.get_run_by_id(run_id)
        watch = RunProgress(self.instance, run_id, progress) if progress is not None else contextlib.nullcontext()
        with watch, _redirected(log_file):
            execute_run(recon_job_from_origin(run.job_code_origin), run, self.instance)
        return self.instance.get_run_by_id(run_id)

    def execute_queued(self, log_file: str | None = None) -> list[dg.DagsterRun]:
        return [self.execute(r, log_file) for r in self.queued()]


@contextlib.contextmanager
def _redirected(log_file: str | None) -> Iterator[None]:
    if not log_file:
        yield
        return
    os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
    with open(log_file, "a") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        yield
    sys.stdout.flush()


def run_problems(instance: dg.DagsterInstance, run_id: str) -> tuple[list[str], list[str]]:
    """(errors of failed steps, failed checks) of a finished run, from the event log."""
    errors, failed = [], []
    for rec in instance.all_logs(run_id):
        ev = rec.dagster_event
        if ev is None:
            continue
        if ev.event_type_value == "STEP_FAILURE":
            data = ev.step_failure_data
            desc = data.user_failure_data.description if data.user_failure_data else None
            errors.append(desc or (data.error.message.strip() if data.error else ev.message or "step failed"))
        elif ev.event_type_value == "RUN_FAILURE" and not errors:
            errors.append(ev.message or "run failed")
        elif ev.event_type_value == "ASSET_CHECK_EVALUATION":
            ce = ev.event_specific_data
            if not ce.passed:
                failed.append(f"{'/'.join(ce.asset_key.path)}:{ce.check_name} ({ce.severity.value})")
    return errors, failed

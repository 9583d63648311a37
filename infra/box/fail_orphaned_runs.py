"""Mark runs lost with the previous GPU box as failed (ftm-recover-runs.service, single-box mode).

On the single box every run executes in a process of this machine, and this script runs at boot
before the Dagster daemon and webserver start. A run that the database still shows as starting,
started or canceling therefore has no process left anywhere: the box it ran on was reclaimed
(spot) or stopped before the run could record its end. Left alone, such a run would hold the
``gpu`` pool slot forever. Reporting it failed frees the slot (after
``run_monitoring.free_slots_after_run_end_seconds``) and lets the sensor or the retry job
resume the quarter. Queued runs are left alone: the daemon launches them as usual. It also stores
the ``gpu`` pool limit (``dagster instance concurrency set gpu 1``) before the daemon first runs.
"""

from __future__ import annotations

import sys

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

IN_FLIGHT_STATUSES = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
REASON = "The GPU box running this run was lost (spot interruption or stop) before the run finished."


def fail_orphaned_runs(instance: DagsterInstance, reason: str = REASON) -> list[str]:
    """Report every run still in flight as failed and return their run ids (oldest first)."""
    runs = instance.get_runs(filters=RunsFilter(statuses=IN_FLIGHT_STATUSES))
    failed = []
    for run in reversed(runs):
        instance.report_run_failed(run, message=reason)
        failed.append(run.run_id)
    return failed


def main() -> int:
    from ftm_assets.instance import ensure_gpu_pool

    with DagsterInstance.get() as instance:
        failed = fail_orphaned_runs(instance)
        if ensure_gpu_pool(instance):  # the pool default alone lets a first dequeue pass launch several
            print("ftm-recover-runs: set the gpu pool limit to 1")
    for run_id in failed:
        print(f"ftm-recover-runs: marked run {run_id} failed (lost with the previous box)")
    if not failed:
        print("ftm-recover-runs: no run was left in flight")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``gpu`` pool of the deployed ``dagster.yaml`` (limit 1, run granularity) on the embedded
Postgres: the queued-run coordinator's dequeue step launches one GPU run at a time, keeps the
second QUEUED while the first is in progress (a themes run, outside the pool, still starts) and
releases it once the first run ends, cancelled or failed.

It calls the coordinator daemon's dequeue decision directly (no daemon process, no run launch);
the whole loop with ``dagster dev`` was verified in dagster-findings §4 ("e2e_pool")."""

import shutil

import dagster as dg
import pytest
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from ftm_assets.definitions import RETRY_JOB, THEMES_JOB, defs
from ftm_assets.defs.partitions import quarter_to_key
from ftm_assets.instance import GPU_POOL, REPO_DAGSTER_YAML, dagster_pg_url, ensure_gpu_pool

QUARTER = "2024Q1"


@pytest.fixture
def deployed_instance(tmp_path, database_url, monkeypatch):
    """An instance from the repository's dagster.yaml, storage on a fresh embedded database."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_DAGSTER_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_pg_url(database_url))
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        yield instance
    finally:
        instance.dispose()


def _origin(job_name: str):
    """Where the run's job comes from, as the webserver records it for a queued run."""
    from dagster._core.remote_origin import (
        InProcessCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="ftm_assets.definitions", attribute="defs"), location_name="ftm_assets")
    return RemoteJobOrigin(repository_origin=RemoteRepositoryOrigin(code_location_origin=location,
                                                                    repository_name="__repository__"),
                           job_name=job_name)


def _queued_run(instance: dg.DagsterInstance, job_name: str, **kwargs) -> dg.DagsterRun:
    """A run as the UI or a sensor submits it to the QueuedRunCoordinator."""
    return instance.create_run_for_job(defs.resolve_job_def(job_name), status=dg.DagsterRunStatus.QUEUED,
                                       remote_job_origin=_origin(job_name), **kwargs)


def _queued_retry_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    return _queued_run(instance, RETRY_JOB,
                       run_config={"ops": {"retry_failed_firms_op": {"config": {"quarter": QUARTER}}}})


def _dequeued(instance: dg.DagsterInstance) -> list[str]:
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    return [r.run_id for r in daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)]


def test_gpu_pool_keeps_the_second_gpu_run_queued_until_the_first_ends(deployed_instance):
    instance = deployed_instance
    config = instance.get_concurrency_config()
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert config.pool_config.default_pool_limit == 1
    assert config.pool_config.pool_granularity.value == "run"
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
    assert ensure_gpu_pool(instance), "what prepare_instance does for ftm dev / ftm demo"

    first, second = _queued_retry_run(instance), _queued_retry_run(instance)
    assert first.run_op_concurrency.all_pools == {"gpu"}
    assert _dequeued(instance) == [first.run_id], "one GPU run per dequeue pass, the first one included"

    assert instance.get_run_by_id(second.run_id).status == dg.DagsterRunStatus.QUEUED
    instance.handle_run_event(first.run_id, dg.DagsterEvent(dg.DagsterEventType.RUN_START.value,
                                                            job_name=first.job_name))
    themes = _queued_run(instance, THEMES_JOB, tags={"dagster/partition": quarter_to_key(QUARTER)})
    assert _dequeued(instance) == [themes.run_id], "the second GPU run waits; a non-GPU run does not"

    instance.report_run_canceled(instance.get_run_by_id(first.run_id), message="cancelled by the test")
    assert instance.get_run_by_id(first.run_id).status == dg.DagsterRunStatus.CANCELED
    assert set(_dequeued(instance)) == {second.run_id, themes.run_id}, "the slot is free once the run ended"



def test_ensure_gpu_pool_keeps_a_limit_set_by_hand(deployed_instance):
    storage = deployed_instance.event_log_storage
    storage.set_concurrency_slots(GPU_POOL, 2)  # `dagster instance concurrency set gpu 2`
    assert not ensure_gpu_pool(deployed_instance)
    assert storage.get_concurrency_info(GPU_POOL).slot_count == 2

"""Discovery sensor and quarterly schedule on a real instance backed by the embedded Postgres."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from ftm_assets.definitions import FIRM_JOB, defs
from ftm_assets.defs.partitions import FIRM_DIM
from ftm_assets.defs.resources import TranscriptSourceResource, WarehouseResource
from ftm_assets.defs.sensors import quarter_of_run
from ftm_assets.sources.demo import generate_demo_corpus


def _write_two_quarters(folder):
    folder.mkdir()
    generate_demo_corpus(n_firms=5, quarter="2024Q1", seed=1).to_parquet(folder / "q1.parquet", index=False)
    q2 = generate_demo_corpus(n_firms=3, quarter="2024Q2", seed=2)
    q2.to_parquet(folder / "q2.parquet", index=False)
    return folder


def _tick(instance, folder, cursor=None):
    sensor = defs.resolve_sensor_def("transcript_discovery_sensor")
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor,
                                  resources={"transcripts": TranscriptSourceResource(uri=str(folder)),
                                             "warehouse": WarehouseResource()})
    return sensor.evaluate_tick(ctx)


def _launch(instance, request):
    """What the daemon does with a run request: a run of the firm job with its tags, in progress."""
    return create_run_for_test(instance, job_name=FIRM_JOB, tags=request.tags, status=dg.DagsterRunStatus.STARTED)


def test_sensor_registers_firms_and_requests_one_run_per_quarter(ftm_env, pg_instance, tmp_path):
    folder = _write_two_quarters(tmp_path / "calls")
    data = _tick(pg_instance, folder)
    assert len(data.run_requests) == 2  # one per quarter, never one per firm
    quarters = sorted(r.tags["ftm/quarter"] for r in data.run_requests)
    assert quarters == ["2024Q1", "2024Q2"]
    (added,) = data.dynamic_partitions_requests
    assert added.partitions_def_name == FIRM_DIM and len(added.partition_keys) == 8
    for req in data.run_requests:
        assert req.job_name == FIRM_JOB
        assert req.tags["dagster/asset_partition_range_start"].endswith(
            "2024-01-01" if req.tags["ftm/quarter"] == "2024Q1" else "2024-04-01")
    assert {r.tags["ftm/reason"] for r in data.run_requests} == {"5 new", "3 new"}

    # apply the registration and launch the runs as the daemon would, then tick again: both
    # quarters are still unstored, but their runs are in progress, so nothing is requested
    pg_instance.add_dynamic_partitions(FIRM_DIM, list(added.partition_keys))
    runs = {r.tags["ftm/quarter"]: _launch(pg_instance, r) for r in data.run_requests}
    again = _tick(pg_instance, folder, data.cursor)
    assert again.run_requests == []
    assert "2024Q2: 3 not yet stored -> run" in again.skip_message and "already queued" in again.skip_message

    # a late filer in Q2 once Q2's run has ended (Q1's is still in progress): Q2 only, with the new firm
    pg_instance.report_run_canceled(runs["2024Q2"])
    late = generate_demo_corpus(n_firms=1, quarter="2024Q2", seed=9)
    late["firm_id"] = "LATE"
    late.to_parquet(folder / "q2_late.parquet", index=False)
    third = _tick(pg_instance, folder, again.cursor)
    assert [r.tags["ftm/quarter"] for r in third.run_requests] == ["2024Q2"]
    assert third.run_requests[0].tags["ftm/reason"] == "1 new, 3 not yet stored"
    assert list(third.dynamic_partitions_requests[0].partition_keys) == ["LATE"]
    assert third.run_requests[0].tags["dagster/asset_partition_range_end"] == "LATE|2024-04-01"


def test_schedule_requests_one_run_for_the_newest_completed_quarter(pg_instance, tmp_path):
    folder = _write_two_quarters(tmp_path / "calls")
    schedule = defs.resolve_schedule_def("quarterly_firm_run")
    ctx = dg.build_schedule_context(
        instance=pg_instance,
        scheduled_execution_time=datetime(2024, 8, 15, 6, tzinfo=UTC),
        resources={"transcripts": TranscriptSourceResource(uri=str(folder))},
    )
    data = schedule.evaluate_tick(ctx)
    assert len(data.run_requests) == 1
    (req,) = data.run_requests
    assert req.tags["ftm/quarter"] == "2024Q2"
    assert len(pg_instance.get_dynamic_partitions(FIRM_DIM)) == 3


def test_schedule_skips_a_quarter_without_calls(pg_instance, tmp_path):
    folder = _write_two_quarters(tmp_path / "calls")
    ctx = dg.build_schedule_context(
        instance=pg_instance,
        scheduled_execution_time=datetime(2025, 2, 15, 6, tzinfo=UTC),
        resources={"transcripts": TranscriptSourceResource(uri=str(folder))},
    )
    data = defs.resolve_schedule_def("quarterly_firm_run").evaluate_tick(ctx)
    assert not data.run_requests and "2024Q4" in data.skip_message


def test_quarter_of_run_reads_tags_ranges_and_retry_config():
    run = dg.DagsterRun(job_name=FIRM_JOB, run_id="r1", tags={"dagster/asset_partition_range_start": "A|2024-04-01"})
    assert quarter_of_run(run) == "2024Q2"
    retry = dg.DagsterRun(job_name="retry_failed_firms", run_id="r2",
                          run_config={"ops": {"retry_failed_firms_op": {"config": {"quarter": "2023Q4"}}}})
    assert quarter_of_run(retry) == "2023Q4"
    assert quarter_of_run(dg.DagsterRun(job_name="x", run_id="r3")) is None


def test_definitions_expose_sensor_schedule_and_retry_job():
    assert defs.resolve_sensor_def("transcript_discovery_sensor")
    assert defs.resolve_sensor_def("themes_after_firm_run_failure")
    assert defs.resolve_schedule_def("quarterly_firm_run")
    assert defs.resolve_job_def("retry_failed_firms")

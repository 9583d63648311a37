"""The discovery sensor against stored quarters: real firm runs on the real model, the embedded
Postgres for the warehouse and for Dagster, ticks evaluated with ``build_sensor_context``.

A quarter gets a run when one of its calls is new, changed or not yet stored and no run of it is
queued or in progress; never otherwise (issue 13, point 2)."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from ftm_assets.definitions import FIRM_JOB, defs
from ftm_assets.defs.checks import TOPIC_QUALITY_KEY
from ftm_assets.defs.firm_assets import FirmRunConfig
from ftm_assets.defs.launch import run_quarter
from ftm_assets.defs.quarter_status import assess_quarter
from ftm_assets.defs.resources import EmbeddingModelResource, TranscriptSourceResource, WarehouseResource
from ftm_assets.sources.demo import generate_demo_corpus
from ftm_assets.sources.open import open_source
from ftm_assets.warehouse.firm_rows import input_fingerprint
from ftm_assets.warehouse.firm_status import FAILED, SUCCEEDED, StoredFirm

QUARTER = "2024Q1"


def _tick(instance, path, cursor=None):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor,
                                  resources={"transcripts": TranscriptSourceResource(uri=str(path)),
                                             "warehouse": WarehouseResource()})
    return defs.resolve_sensor_def("transcript_discovery_sensor").evaluate_tick(ctx)


def _in_progress(instance, request):
    return create_run_for_test(instance, job_name=FIRM_JOB, tags=request.tags, status=dg.DagsterRunStatus.STARTED)


@pytest.mark.slow
def test_sensor_runs_a_quarter_only_when_its_transcripts_changed_or_its_run_was_cancelled(
    ftm_env, pg_instance, tmp_path, encoder
):
    path = tmp_path / "calls.parquet"
    frame = generate_demo_corpus(n_firms=4, quarter=QUARTER, seed=3, sentences_per_firm=(100, 110))
    frame.to_parquet(path, index=False)
    # the fingerprint the sensor computes is the one the firm run stores
    assert EmbeddingModelResource().model_id == encoder.model_id

    report = run_quarter(transcripts=str(path), quarter=QUARTER, instance=pg_instance)  # as `ftm demo`
    assert report["failed_firms"] == [] and report["firms_stored"] == 4

    # first tick on a fully processed quarter: no run
    first = _tick(pg_instance, path)
    assert first.run_requests == []
    assert f"{QUARTER}: up to date (4 firms stored)" in first.skip_message
    # unchanged source: no run, without reading the calls
    assert _tick(pg_instance, path, first.cursor).run_requests == []

    # a corrected transcript (one sentence of one firm): ONE run for that quarter, saying why
    firm = sorted(frame["firm_id"].unique())[1]
    row = frame.index[frame["firm_id"] == firm][5]
    frame.loc[row, "text"] = frame.loc[row, "text"] + " Corrected by the transcript vendor."
    frame.to_parquet(path, index=False)
    changed = _tick(pg_instance, path, first.cursor)
    (request,) = changed.run_requests
    assert request.job_name == FIRM_JOB
    assert request.tags["ftm/quarter"] == QUARTER and request.tags["ftm/reason"] == "1 changed"

    # its run is in progress: no second run; then it is cancelled: the quarter gets a run again
    run = _in_progress(pg_instance, request)
    waiting = _tick(pg_instance, path, changed.cursor)
    assert waiting.run_requests == [] and f"run {run.run_id} already queued or in progress" in waiting.skip_message
    pg_instance.report_run_canceled(run)
    again = _tick(pg_instance, path, waiting.cursor)
    (retried,) = again.run_requests
    assert retried.tags["ftm/reason"] == "1 changed" and retried.run_key != request.run_key

    # the run completes the quarter: the next tick closes it and later ticks request nothing
    result = defs.resolve_job_def(FIRM_JOB).execute_in_process(
        instance=pg_instance, tags=retried.tags, raise_on_error=False,
        run_config={"resources": {"transcripts": {"config": {"uri": str(path)}}}})
    assert result.success
    # the three unchanged firms were skipped; their topic_quality check carries their earlier result
    history = pg_instance.event_log_storage.get_asset_check_execution_history(TOPIC_QUALITY_KEY, limit=20)
    latest = {}
    for record in history:  # newest first
        latest.setdefault(record.partition, record)
    assert len(latest) == 4 and all(r.run_id == result.run_id for r in latest.values())
    assert {r.status.value for r in latest.values()} <= {"SUCCEEDED", "FAILED"}
    reused = [r for r in latest.values()
              if r.event.dagster_event.event_specific_data.description.startswith("unchanged input")]
    assert len(reused) == 3
    done = _tick(pg_instance, path, again.cursor)
    assert done.run_requests == [] and f"{QUARTER}: up to date (4 firms stored)" in done.skip_message
    assert _tick(pg_instance, path, done.cursor).run_requests == []


def test_a_firm_that_failed_on_the_same_input_does_not_relaunch_its_quarter(tmp_path):
    path = tmp_path / "calls.parquet"
    generate_demo_corpus(n_firms=3, quarter=QUARTER, seed=4, sentences_per_firm=(100, 105)).to_parquet(path)
    calls = list(open_source(str(path)).iter_calls(QUARTER))
    a, b, c = (call.firm_id for call in calls)
    settings = repr(FirmRunConfig().topic_settings())
    fp = {call.firm_id: input_fingerprint(call, "m", settings) for call in calls}
    stored = {a: StoredFirm(SUCCEEDED, fp[a]), b: StoredFirm(FAILED, None), c: StoredFirm(SUCCEEDED, "old")}

    status = assess_quarter(QUARTER, calls, stored, new_firms=set(), model_id="m", settings_repr=settings,
                            attempted={b: fp[b][:16]})
    assert (status.up_to_date, status.failed, status.changed, status.pending) == (1, (b,), (c,), (c,))
    assert status.describe() == f"{QUARTER}: 1 changed; 1 failed on the same input (retry_failed_firms)"

    # b's input changed since its failed attempt: pending again
    status = assess_quarter(QUARTER, calls, stored, new_firms=set(), model_id="m", settings_repr=settings,
                            attempted={b: "0" * 16})
    assert status.failed_changed == (b,) and set(status.pending) == {b, c}
    # another model: every stored firm is changed
    status = assess_quarter(QUARTER, calls, stored, new_firms=set(), model_id="other", settings_repr=settings,
                            attempted={b: fp[b][:16]})
    assert set(status.changed) == {a, c}

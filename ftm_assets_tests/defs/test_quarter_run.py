"""The firm op, themes and the retry job on a real Dagster instance, the real model and the
embedded Postgres: one model load per run, per-firm failure isolation, retry, idempotency."""

from __future__ import annotations

import dagster as dg
import pytest

from ftm_assets.definitions import RETRY_JOB, defs
from ftm_assets.defs.launch import execute_firm_run, run_quarter
from ftm_assets.sources.open import open_source
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.quarter_rows import table_counts
from ftm_assets.warehouse.schema import migrate

from .helpers import count_model_loads, partition_status, write_corpus

QUARTER = "2024Q1"


def _fail_inserts_for(url: str, firm: str) -> None:
    """A real database fault: a trigger that rejects the firm's sentence rows mid-transaction
    (after its firm and topic rows were inserted)."""
    with connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION ftm_test_reject() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected fault for %', NEW.firm_id; END $$"
        )
        conn.execute(
            "CREATE TRIGGER ftm_test_reject BEFORE INSERT ON sentences FOR EACH ROW "
            f"WHEN (NEW.firm_id = '{firm}') EXECUTE FUNCTION ftm_test_reject()"
        )


def _drop_fault(url: str) -> None:
    with connect(url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER ftm_test_reject ON sentences")


@pytest.mark.slow
def test_quarter_run_isolates_a_failing_firm_and_retry_completes_it(ftm_env, tmp_path, monkeypatch):
    url = ftm_env["database_url"]
    corpus = write_corpus(tmp_path / "calls.parquet", n_firms=10)
    firms = sorted({f for f, _ in open_source(str(corpus)).list_calls()})
    assert len(firms) == 10
    bad = firms[3]
    migrate(url, 384)
    _fail_inserts_for(url, bad)
    loads = count_model_loads(monkeypatch)
    run_config = {"resources": {"transcripts": {"config": {"uri": str(corpus)}}}}

    with dg.instance_for_test() as instance:
        result = execute_firm_run(instance, QUARTER, firms, run_config=run_config)
        assert not result.success
        assert len(loads) == 1, "one model load for the whole quarter run"
        failure = next(e for e in result.all_events if e.is_step_failure)
        assert bad in failure.step_failure_data.user_failure_data.description
        assert "injected fault" in str(failure.step_failure_data.user_failure_data.metadata["failed_firms"].value)

        for asset in ("sentence_embeddings", "firm_topics", "topic_summaries"):
            materialized, failed = partition_status(instance, asset)
            assert failed == {bad}, asset
            assert materialized == set(firms) - {bad}, asset
        with connect(url) as conn:
            for table in ("firms", "sentences", "topics"):
                n = conn.execute(f"SELECT count(*) FROM {table} WHERE firm_id = %s", (bad,)).fetchone()[0]
                assert n == 0, f"partial rows of the failed firm in {table}"
            assert conn.execute("SELECT count(*) FROM firms").fetchone()[0] == 9
            assert conn.execute("SELECT status FROM firm_runs WHERE firm_id = %s", (bad,)).fetchone()[0] == "failed"
            before = table_counts(conn, QUARTER)

        # the retry job, with the config the Launchpad opens with (no quarter: every quarter that
        # needs it), recomputes exactly the failed firm, with one model load, and clears its status
        _drop_fault(url)
        retry_job = defs.resolve_job_def(RETRY_JOB)
        assert dg.validate_run_config(retry_job, {}) is not None  # no required entry
        retry = retry_job.execute_in_process(instance=instance, run_config=run_config)
        assert retry.success
        # and the themes sensor finds the quarter it worked on from its materializations
        sensor_ctx = dg.build_run_status_sensor_context(
            sensor_name="themes_after_firm_run_success", dagster_instance=instance,
            dagster_run=retry.dagster_run, dagster_event=retry.get_run_success_event())
        themes_requests = defs.resolve_sensor_def("themes_after_firm_run_success")(sensor_ctx)
        assert [r.tags["ftm/quarter"] for r in themes_requests] == [QUARTER]
        assert len(loads) == 2
        for asset in ("sentence_embeddings", "firm_topics", "topic_summaries"):
            materialized, failed = partition_status(instance, asset)
            assert failed == set() and materialized == set(firms), asset
        with connect(url) as conn:
            after = table_counts(conn, QUARTER)
            assert after["firms"] == 10
            assert after["sentences"] > before["sentences"]
            assert conn.execute("SELECT count(*) FROM firm_runs WHERE status = 'failed'").fetchone()[0] == 0
            retried = {r[0] for r in conn.execute("SELECT firm_id FROM firm_runs WHERE run_id = %s", (retry.run_id,))}
            assert retried == {bad}


@pytest.mark.slow
def test_demo_quarter_end_to_end_is_idempotent(ftm_env, tmp_path):
    corpus = write_corpus(tmp_path / "calls.parquet", n_firms=8, seed=3)
    with dg.instance_for_test() as instance:
        report = run_quarter(str(corpus), QUARTER, instance=instance)
        assert report["failed_firms"] == []
        assert report["firms"] == 8 and report["firms_stored"] == 8
        assert report["themes"] >= 2 and report["topics"] >= 8
        assert report["summary_sources"] == ["extractive"]  # no key in the test environment
        with connect(ftm_env["database_url"]) as conn:
            first = table_counts(conn)
            dims = conn.execute(
                "SELECT (SELECT min(vector_dims(embedding)) FROM sentences), (SELECT max(vector_dims(embedding))"
                " FROM topics), (SELECT min(vector_dims(embedding)) FROM themes)").fetchone()
            assert dims == (384, 384, 384)
            assert conn.execute("SELECT count(*) FROM sentences WHERE embedding IS NULL").fetchone()[0] == 0
        again = run_quarter(str(corpus), QUARTER, instance=instance)
        assert again["failed_firms"] == []
        with connect(ftm_env["database_url"]) as conn:
            assert table_counts(conn) == first


@pytest.mark.slow
def test_retry_reports_stored_firms_a_killed_run_never_reported(ftm_env, tmp_path):
    """A run killed between a firm's commit and its (batched) event write leaves rows Dagster does not
    know; retry_failed_firms reports them without recomputing."""
    corpus = write_corpus(tmp_path / "calls.parquet", n_firms=3, seed=5)
    run_config = {"resources": {"transcripts": {"config": {"uri": str(corpus)}}}}
    with dg.instance_for_test() as first:
        assert run_quarter(str(corpus), QUARTER, instance=first)["failed_firms"] == []
    with connect(ftm_env["database_url"]) as conn:
        before = conn.execute("SELECT firm_id, run_id, updated_at FROM firm_runs ORDER BY firm_id").fetchall()
    with dg.instance_for_test() as fresh:  # knows nothing of the first run
        retry = defs.resolve_job_def(RETRY_JOB).execute_in_process(
            instance=fresh,
            run_config={**run_config, "ops": {"retry_failed_firms_op": {"config": {"quarter": QUARTER}}}},
        )
        assert retry.success
        materialized, failed = partition_status(fresh, "topic_summaries")
        assert materialized == {f for f, *_ in before} and failed == set()
    with connect(ftm_env["database_url"]) as conn:
        after = conn.execute("SELECT firm_id, run_id, updated_at FROM firm_runs ORDER BY firm_id").fetchall()
    assert after == before, "stored firms were recomputed"

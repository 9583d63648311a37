"""The real firm op with batched reports (as ``ftm`` runs it) on the embedded Postgres: one firm
fails, every other firm is materialized with its own metadata, and the reports were written in
per-asset batches."""

import dagster as dg
import pytest

import ftm_assets.defs.firm_assets as firm_assets
from ftm_assets.defs.launch import execute_firm_run, firm_run_config
from ftm_assets.defs.partitions import call_key
from ftm_assets.sources.open import open_source
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.schema import migrate
from ftm_assets_tests.defs.helpers import partition_status, write_corpus

QUARTER = "2024Q1"


def _reject_sentences_of(url: str, firm: str) -> None:
    """A real database fault for one firm: its sentence rows are rejected mid-transaction."""
    with connect(url, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION ftm_ops_reject() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$ BEGIN RAISE EXCEPTION 'injected fault for %', NEW.firm_id; END $$")
        conn.execute("CREATE TRIGGER ftm_ops_reject BEFORE INSERT ON sentences FOR EACH ROW "
                     f"WHEN (NEW.firm_id = '{firm}') EXECUTE FUNCTION ftm_ops_reject()")


@pytest.mark.slow
def test_batched_firm_run_reports_each_firm_and_fails_only_the_bad_one(ftm_env, tmp_path, pg_instance, monkeypatch):
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    monkeypatch.setattr(firm_assets, "REPORT_MAX_SECONDS", 3600.0)  # one batch per asset for the quarter
    url = ftm_env["database_url"]
    corpus = write_corpus(tmp_path / "calls.parquet", n_firms=5, seed=5)
    firms = sorted({f for f, _ in open_source(str(corpus)).list_calls()})
    bad = firms[2]
    migrate(url, 384)
    _reject_sentences_of(url, bad)

    result = execute_firm_run(pg_instance, QUARTER, firms, run_config=firm_run_config(str(corpus)))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert bad in failure.step_failure_data.user_failure_data.description

    good = [f for f in firms if f != bad]
    for key in firm_assets.FIRM_ASSET_KEYS:
        materialized, failed = partition_status(pg_instance, key.to_user_string())
        assert failed == {bad} and materialized == set(good), key
    # each firm's own metadata, from its own event
    with connect(url) as conn:
        sentences = dict(conn.execute("SELECT firm_id, count(*) FROM sentences GROUP BY firm_id").fetchall())
    for firm in good:
        record = pg_instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=firm_assets.SENTENCE_EMBEDDINGS,
                                  asset_partitions=[str(call_key(firm, QUARTER))]), limit=1).records[0]
        assert record.asset_materialization.metadata["sentences"].value == sentences[firm]
    # batched: the events of one asset are stored together, asset after asset
    records = pg_instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    order = [r.event_log_entry.dagster_event.asset_key for r in records]
    assert order == [k for k in firm_assets.FIRM_ASSET_KEYS for _ in good]

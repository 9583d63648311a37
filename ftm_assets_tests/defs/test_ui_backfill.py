"""The README's "From the UI" path, without a browser: the webserver's GraphQL mutation for
Assets -> ``topic_summaries`` -> Materialize -> quarter column -> Launch backfill, then the
backfill daemon's iterations, on a real instance (embedded Postgres) with the real code location,
the real model and the warehouse. All three firm assets end materialized for every firm of the
quarter, in ONE run, and the UI's counts agree with the database (issue 13, point 1)."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.daemon import get_default_daemon_logger
from dagster_graphql.test.utils import execute_dagster_graphql

from ftm_assets.defs.asset_keys import FIRM_ASSET_KEYS
from ftm_assets.defs.checks import TOPIC_QUALITY_KEY
from ftm_assets.defs.launch import register_firms
from ftm_assets.defs.partitions import call_key
from ftm_assets.sources.open import open_source
from ftm_assets.warehouse.database import connect, ensure_database, sqlalchemy_url

from ..conftest import REPO
from .helpers import partition_status, write_corpus

QUARTER = "2024Q1"
# the UI asks this before materializing a selection, shows "One or more of the selected assets are
# part of a multi-asset that does not support subsetting ... will also yield new materializations
# for the following: ..." and, once confirmed, adds the keys to the selection
ADDITIONAL_REQUIRED_KEYS = """
query($keys: [AssetKeyInput!]!) { assetNodeAdditionalRequiredKeys(assetKeys: $keys) { path } }"""
LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""


@pytest.fixture
def launching_instance(pg_admin_url):
    """A Dagster instance on the embedded Postgres that launches each run at once and runs it
    synchronously in this process (the daemon's queue and launcher do the same, in a subprocess)."""
    name = f"dagster_{uuid.uuid4().hex[:10]}"
    ensure_database(pg_admin_url, name)
    url = sqlalchemy_url(pg_admin_url.replace("/postgres?", f"/{name}?"))
    overrides = {"storage": {"postgres": {"postgres_url": url}},
                 "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
                 "run_launcher": {"module": "dagster._core.launcher.sync_in_memory_run_launcher",
                                  "class": "SyncInMemoryRunLauncher"}}
    with dg.instance_for_test(overrides=overrides) as instance:
        yield instance


@pytest.mark.slow
def test_ui_backfill_of_topic_summaries_materializes_all_three_assets(
    ftm_env, launching_instance, tmp_path, monkeypatch
):
    instance = launching_instance
    corpus = write_corpus(tmp_path / "calls.parquet", n_firms=4)
    monkeypatch.setenv("FTM_TRANSCRIPTS_URI", str(corpus))
    firms = sorted({f for f, _ in open_source(str(corpus)).list_calls()})
    register_firms(instance, firms + ["NOCALL"])  # a registered firm without a call this quarter
    column = [str(call_key(f, QUARTER)) for f in instance.get_dynamic_partitions("firm")]

    target = ModuleTarget(module_name="ftm_assets.definitions", attribute="defs",
                          working_directory=str(REPO), location_name="ftm")
    with create_test_daemon_workspace_context(target, instance) as workspace:
        (entry,) = workspace.create_request_context().get_code_location_entries().values()
        assert entry.load_error is None, entry.load_error.to_string()
        # the user selects topic_summaries only; the UI adds the op's other two assets
        selected = [{"path": ["topic_summaries"]}]
        required = execute_dagster_graphql(workspace.create_request_context(), ADDITIONAL_REQUIRED_KEYS,
                                           {"keys": selected}).data["assetNodeAdditionalRequiredKeys"]
        assert sorted(k["path"][0] for k in required) == ["firm_topics", "sentence_embeddings"]
        # launching the partial selection as such is refused by Dagster, never half-planned
        partial = execute_dagster_graphql(workspace.create_request_context(), LAUNCH_BACKFILL, {"params": {
            "assetSelection": selected, "partitionNames": column}}).data["launchPartitionBackfill"]
        assert "non-subsettable multi-asset" in partial["message"]
        result = execute_dagster_graphql(workspace.create_request_context(), LAUNCH_BACKFILL, {"params": {
            "assetSelection": selected + required, "partitionNames": column}})
        launched = result.data["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]
        logger = get_default_daemon_logger("BackfillDaemon")
        for _ in range(4):
            list(execute_backfill_iteration(workspace, logger))
            if instance.get_backfill(backfill_id).status != BulkActionStatus.REQUESTED:
                break

    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert len(runs) == 1, "one run for the quarter"
    (run,) = runs
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.asset_selection == set(FIRM_ASSET_KEYS), "the selection was expanded to the three assets"
    with connect(ftm_env["database_url"]) as conn:
        stored = {r[0] for r in conn.execute("SELECT firm_id FROM firms WHERE quarter = %s", (QUARTER,))}
    assert stored == set(firms)
    for key in FIRM_ASSET_KEYS:
        materialized, failed = partition_status(instance, key.to_user_string())
        assert failed == set()
        assert materialized == set(firms) | {"NOCALL"}, key  # NOCALL: has_call false
        with_call = {
            e.asset_materialization.partition.split("|")[0]
            for e in instance.fetch_materializations(key, limit=100).records
            if e.asset_materialization.metadata["has_call"].value
        }
        assert with_call == stored, "UI (materialized with a call) vs database"
    # the per-firm topic-quality check ran inside the op: every firm of the column evaluated
    history = instance.event_log_storage.get_asset_check_execution_history(TOPIC_QUALITY_KEY, limit=50)
    statuses = {r.partition: r.status.value for r in history}
    assert set(statuses) == set(column) and "PLANNED" not in statuses.values()

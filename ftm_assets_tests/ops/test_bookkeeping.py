"""Batched per-firm reports (``FirmReports``) on a real Dagster instance on the embedded Postgres:
the UI status stays per firm (materialized / failed), each firm keeps its own metadata, and the
writes really are batched; plus the bookkeeping benchmark's command line."""

import json

import dagster as dg

from ftm_assets.bench.bookkeeping import (
    bench_definitions,
    bench_firm_ids,
    main,
    run_quarter_bookkeeping,
)
from ftm_assets.defs.asset_keys import FIRM_ASSET_KEYS, FIRM_TOPICS
from ftm_assets.defs.firm_assets import FirmReports
from ftm_assets.defs.launch import execute_firm_run
from ftm_assets.defs.partitions import call_key
from ftm_assets_tests.defs.helpers import partition_status

QUARTER = "2024Q1"


def _latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, firm: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[str(call_key(firm, QUARTER))]), limit=1
    ).records
    assert records, f"{key.to_user_string()}: no materialization for {firm}"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def test_batched_reports_keep_per_firm_status_and_metadata(pg_instance, monkeypatch):
    firms = bench_firm_ids(30)
    bad = firms[13]
    cost, result = run_quarter_bookkeeping(pg_instance, firms, batch_size=1000, quarter=QUARTER, fail_firms=[bad])

    assert not result.success
    assert cost.report_writes == len(FIRM_ASSET_KEYS), "one batched write per asset for 29 firms"
    assert cost.materialization_events == 29 * len(FIRM_ASSET_KEYS)
    for key in FIRM_ASSET_KEYS:
        materialized, failed = partition_status(pg_instance, key.to_user_string())
        assert failed == {bad}, key
        assert materialized == set(firms) - {bad}, key
        stored = pg_instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=100).records
        assert sorted(r.asset_materialization.partition for r in stored) == sorted(
            str(call_key(f, QUARTER)) for f in firms if f != bad)
        # the asset's "latest materialization" row follows the batch's last event
        latest = pg_instance.get_latest_materialization_event(key)
        assert latest.asset_materialization.partition == str(call_key(firms[-1], QUARTER))

    meta = _latest_metadata(pg_instance, FIRM_TOPICS, firms[0])
    assert meta["has_call"] is True and meta["topics"] == 9 and meta["topic_outcome"] == "clustered"


def test_unbatched_and_batched_runs_give_the_same_ui_status(pg_instance):
    firms = bench_firm_ids(12)
    first, _ = run_quarter_bookkeeping(pg_instance, firms[:6], batch_size=None, quarter=QUARTER)
    second, _ = run_quarter_bookkeeping(pg_instance, firms, batch_size=1000, quarter=QUARTER,
                                        fail_firms=[firms[7]])
    assert first.report_writes == 6 * len(FIRM_ASSET_KEYS), "unbatched: one write per firm and asset"
    assert second.report_writes == len(FIRM_ASSET_KEYS)
    for key in FIRM_ASSET_KEYS:
        materialized, failed = partition_status(pg_instance, key.to_user_string())
        assert failed == {firms[7]}
        assert materialized == set(firms) - {firms[7]}


def _reporting_job(n_firms: int, max_firms: int, max_seconds: float, clock, writes: list[int]) -> dg.JobDefinition:
    from ftm_assets.defs.firm_assets import firm_pipeline

    @dg.multi_asset(name="reporting_op", specs=list(firm_pipeline.specs), can_subset=False,
                    backfill_policy=dg.BackfillPolicy.single_run())
    def reporting_op(context: dg.AssetExecutionContext):
        reports = FirmReports(context, list(FIRM_ASSET_KEYS), batched=True, max_firms=max_firms,
                              max_seconds=max_seconds, clock=clock)
        for pk in context.partition_keys:
            yield from reports.add(str(pk), {k: {"has_call": True} for k in FIRM_ASSET_KEYS})
        yield from reports.flush()
        writes.append(reports.writes)

    job = dg.define_asset_job("reporting_job", selection=dg.AssetSelection.assets(*FIRM_ASSET_KEYS))
    return dg.Definitions(assets=[reporting_op], jobs=[job]).resolve_job_def("reporting_job")


def test_reports_are_written_every_max_firms_or_max_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    firms = bench_firm_ids(10)
    ticks = iter(range(0, 10_000, 10))  # every clock reading is 10 s after the previous one
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        by_count: list[int] = []
        result = execute_firm_run(instance, QUARTER, firms, job=_reporting_job(10, 4, 3600.0, lambda: 0.0, by_count))
        assert result.success
        assert by_count == [3 * len(FIRM_ASSET_KEYS)], "batches of 4, 4 and 2 firms"
        assert len(result.get_asset_materialization_events()) == 10 * len(FIRM_ASSET_KEYS)

        by_time: list[int] = []
        result = execute_firm_run(instance, QUARTER, firms,
                                  job=_reporting_job(10, 100, 5.0, lambda: next(ticks), by_time))
        assert result.success
        assert by_time == [10 * len(FIRM_ASSET_KEYS)], "slow firms are written one by one"
        for key in FIRM_ASSET_KEYS:
            materialized, failed = partition_status(instance, key.to_user_string())
            assert materialized == set(firms) and not failed


def test_unbatched_reports_are_plain_materializations_yielded_at_once():
    reports = FirmReports(None, list(FIRM_ASSET_KEYS), batched=False)  # context is only used by batches
    events = list(reports.add("F1|2024-01-01", {k: {"has_call": False} for k in FIRM_ASSET_KEYS}))
    assert [e.asset_key for e in events] == list(FIRM_ASSET_KEYS)
    assert all(isinstance(e, dg.AssetMaterialization) and e.partition == "F1|2024-01-01" for e in events)
    assert all(e.metadata["has_call"].value is False for e in events)
    assert list(reports.flush()) == [] and reports.writes == len(FIRM_ASSET_KEYS)


def test_bench_command_reports_both_modes_in_one_run(pg_admin_url, capsys):
    assert main(["--firms", "4", "--modes", "unbatched,batched", "--database-url", pg_admin_url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["firms"] == 4 and set(report["runs"]) == {"unbatched", "batched"}
    unbatched, batched = report["runs"]["unbatched"], report["runs"]["batched"]
    assert unbatched["report_writes"] == 12 and batched["report_writes"] == 3
    for run in (unbatched, batched):
        assert run["succeeded"] and run["planned_events"] == 12 and run["materialization_events"] == 12
        assert run["ms_per_materialization"] > 0 and run["total_s"] > 0
        assert all(s == {"materialized": 4, "failed": 0} for s in run["ui_status"].values())
    assert report["ratios"]["batched_vs_unbatched"]["total"] > 0


def test_bench_definitions_mirror_the_firm_op():
    from ftm_assets.definitions import FIRM_JOB, defs

    bench = bench_definitions({}).resolve_job_def("bookkeeping_bench_job")
    product = defs.resolve_job_def(FIRM_JOB)
    bench_assets = bench.asset_layer.asset_graph.assets_defs[0]
    product_assets = next(a for a in product.asset_layer.asset_graph.assets_defs if a.node_def.name == "firm_pipeline")
    assert bench_assets.keys == product_assets.keys
    assert bench_assets.backfill_policy == product_assets.backfill_policy
    assert bench_assets.partitions_def == product_assets.partitions_def
    assert bench_assets.can_subset == product_assets.can_subset
    assert bench_assets.op.pool == product_assets.op.pool == "gpu"

"""The per-firm topic-quality check: evaluations logged by a ranged op land per partition."""

import dagster as dg

from ftm_assets.defs.checks import TOPIC_QUALITY_CHECK, firm_quality_evaluations, topic_quality_check
from ftm_assets.defs.firm_assets import FIRM_TOPICS
from ftm_assets.defs.partitions import FIRM_DIM, call_key, call_partitions, quarter_range_tags
from ftm_assets.defs.resources import WarehouseResource

GOOD = {
    "n_topics": 6,
    "coherence": 0.21,
    "diversity": 0.93,
    "outlier_share": 0.12,
    "boilerplate_share": 0.0,
    "topic_outcome": "ok",
}
NOISY = {**GOOD, "outlier_share": 0.71, "diversity": 0.31}
STATS = {"AAA": {"quality": GOOD}, "BBB": {"quality": NOISY}, "CCC": {}}  # CCC: skipped, no quality


@dg.multi_asset(
    specs=[dg.AssetSpec(FIRM_TOPICS, partitions_def=call_partitions, skippable=True)],
    can_subset=True,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def ranged_firm_topics(context: dg.AssetExecutionContext):
    for pk in context.partition_keys:
        firm = pk.split("|")[0]
        yield dg.AssetMaterialization(FIRM_TOPICS, partition=pk)
        for evaluation in firm_quality_evaluations(STATS[firm], pk):
            context.log_event(evaluation)


def test_check_targets_the_firm_topics_asset():
    from ftm_assets.defs import checks

    assert checks.FIRM_TOPICS == FIRM_TOPICS


def test_evaluations_from_stats():
    assert firm_quality_evaluations({}, "AAA|2024-01-01") == []
    [good] = firm_quality_evaluations({"quality": GOOD}, "AAA|2024-01-01")
    assert good.passed and good.partition == "AAA|2024-01-01" and good.check_name == TOPIC_QUALITY_CHECK
    [bad] = firm_quality_evaluations({"quality": NOISY}, "BBB|2024-01-01")
    assert not bad.passed and bad.severity == dg.AssetCheckSeverity.WARN
    assert "outlier_share 0.710" in bad.description and "diversity 0.310" in bad.description
    [empty] = firm_quality_evaluations(
        {"quality": {"n_topics": 0, "topic_outcome": "too_few_sentences"}}, "C|2024-01-01"
    )
    assert not empty.passed and "too_few_sentences" in empty.description


def test_ranged_run_records_one_check_result_per_firm_partition():
    """The check is part of the run (as when a job selects firm_topics with its checks): its own
    step is skipped (the op yields events only, dagster-findings §2.2), and the evaluations the op
    logs settle the planned check rows, one per firm partition."""
    warehouse = WarehouseResource(database_url="postgresql://unused/none")
    defs = dg.Definitions(
        assets=[ranged_firm_topics], asset_checks=[topic_quality_check], resources={"warehouse": warehouse}
    )
    assert dg.AssetCheckKey(FIRM_TOPICS, TOPIC_QUALITY_CHECK) in defs.resolve_asset_graph().asset_check_keys
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(FIRM_DIM, ["AAA", "BBB", "CCC"])
        result = dg.materialize(
            [ranged_firm_topics, topic_quality_check],
            instance=instance,
            tags=quarter_range_tags("2024Q1", ["AAA", "BBB", "CCC"]),
            resources={"warehouse": warehouse},
        )
        assert result.success
        history = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(FIRM_TOPICS, TOPIC_QUALITY_CHECK), limit=10
        )
        by_partition = {r.partition: r.status.value for r in history}
    # CCC was skipped by the stage (no quality in its stats): its check stays planned, not failed
    assert by_partition == {
        str(call_key("AAA", "2024Q1")): "SUCCEEDED",
        str(call_key("BBB", "2024Q1")): "FAILED",
        str(call_key("CCC", "2024Q1")): "PLANNED",
    }

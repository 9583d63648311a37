"""The per-firm topic-quality check: evaluations logged by a ranged op land per partition."""

import dagster as dg

from ftm_assets.defs.asset_keys import FIRM_TOPICS
from ftm_assets.defs.checks import (
    TOPIC_QUALITY_CHECK,
    TOPIC_QUALITY_KEY,
    TOPIC_QUALITY_SPEC,
    firm_quality_evaluations,
    no_call_evaluation,
)
from ftm_assets.defs.partitions import FIRM_DIM, call_key, call_partitions, quarter_range_tags
from ftm_assets.stages.firm_stats import FirmStats

GOOD = {
    "n_topics": 6,
    "coherence": 0.21,
    "diversity": 0.93,
    "outlier_share": 0.12,
    "boilerplate_share": 0.0,
    "topic_outcome": "ok",
}
NOISY = {**GOOD, "outlier_share": 0.71, "diversity": 0.31}
STATS = {"AAA": FirmStats(quality=GOOD), "BBB": FirmStats(quality=NOISY), "CCC": FirmStats()}  # CCC: skipped


def _ranged_firm_topics(failing: str | None = None):
    """A twin of the firm op's check wiring: the product's check spec in the op's own check_specs,
    per-firm evaluations logged by the op, the check output settled at the end; ``failing`` is a
    firm whose work fails (no report, no evaluation), and the op then raises like the firm op."""

    @dg.multi_asset(
        name="ranged_firm_topics",
        specs=[dg.AssetSpec(FIRM_TOPICS, partitions_def=call_partitions, skippable=True)],
        check_specs=[TOPIC_QUALITY_SPEC],
        can_subset=False,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def ranged_firm_topics(context: dg.AssetExecutionContext):
        for pk in context.partition_keys:
            firm = pk.split("|")[0]
            if firm == failing:
                continue
            yield dg.AssetMaterialization(FIRM_TOPICS, partition=pk)
            for evaluation in firm_quality_evaluations(STATS[firm].quality, pk) or [no_call_evaluation(pk)]:
                context.log_event(evaluation)
        yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(TOPIC_QUALITY_KEY))
        if failing:
            raise dg.Failure(f"firm {failing} failed")

    return ranged_firm_topics


def _check_status(instance) -> dict[str, str]:
    history = instance.event_log_storage.get_asset_check_execution_history(TOPIC_QUALITY_KEY, limit=50)
    latest: dict[str, str] = {}
    for record in history:  # newest first
        latest.setdefault(record.partition, record.status.value)
    return latest


def test_check_targets_the_firm_topics_asset():
    from ftm_assets.defs import checks

    assert checks.FIRM_TOPICS == FIRM_TOPICS


def test_evaluations_from_stats():
    assert firm_quality_evaluations(FirmStats().quality, "AAA|2024-01-01") == []
    [good] = firm_quality_evaluations(GOOD, "AAA|2024-01-01")
    assert good.passed and good.partition == "AAA|2024-01-01" and good.check_name == TOPIC_QUALITY_CHECK
    [bad] = firm_quality_evaluations(NOISY, "BBB|2024-01-01")
    assert not bad.passed and bad.severity == dg.AssetCheckSeverity.WARN
    assert "outlier_share 0.710" in bad.description and "diversity 0.310" in bad.description
    [empty] = firm_quality_evaluations(
        {"n_topics": 0, "topic_outcome": "too_few_sentences"}, "C|2024-01-01"
    )
    assert not empty.passed and "too_few_sentences" in empty.description


def test_ranged_run_records_one_check_result_per_firm_partition_and_never_fails_wholesale():
    """The check is part of the firm op: no step of its own to be skipped, and each planned firm
    partition is settled by the op's evaluation; when one firm fails, only that firm's check is
    left unevaluated (shown "execution failed"), the others keep their own pass or fail."""
    keys = {f: str(call_key(f, "2024Q1")) for f in ("AAA", "BBB", "CCC")}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(FIRM_DIM, list(keys))
        tags = quarter_range_tags("2024Q1", list(keys))
        result = dg.materialize([_ranged_firm_topics()], instance=instance, tags=tags)
        assert result.success
        assert not [e for e in result.all_events if e.event_type_value == "STEP_SKIPPED"]
        # every firm evaluated, each with its own result (CCC: no call, nothing to check)
        assert _check_status(instance) == {keys["AAA"]: "SUCCEEDED", keys["BBB"]: "FAILED",
                                           keys["CCC"]: "SUCCEEDED"}

        failed = dg.materialize([_ranged_firm_topics(failing="AAA")], instance=instance, tags=tags,
                                raise_on_error=False)
        assert not failed.success
        status = _check_status(instance)
        assert None not in status, "no evaluation without a partition"
        assert status == {keys["AAA"]: "PLANNED", keys["BBB"]: "FAILED", keys["CCC"]: "SUCCEEDED"}

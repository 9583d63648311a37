"""``retry_failed_firms``: recompute exactly the failed or missing firms in ONE run.

With no config it looks at every quarter of the transcript source (ended quarters only); the
optional ``quarter`` narrows it to one, so the job opens in the Launchpad without an error.

The UI's "backfill failed" and "re-execute from failure" also work, but they make one run per
contiguous block of failed firms, each loading the model again (docs/design.md §3). This job
reads each quarter's expected firms from the transcript source, subtracts the firms whose latest
attempt succeeded (table ``firm_runs``), recomputes the rest with the model loaded once, and logs
per-partition materializations for the firm assets, which clears their failed status in the UI.
Firms stored in the warehouse but never reported to Dagster (a run killed between a commit and
its batched event write) are reported without being recomputed.
"""


import dagster as dg

from ftm_assets.defs.asset_keys import FIRM_ASSET_KEYS
from ftm_assets.defs.firm_assets import FirmRunConfig, run_firm_partitions
from ftm_assets.defs.partitions import (
    FIRM_DIM,
    call_key,
    key_to_quarter,
    quarter_partitions,
    require_partition_quarter,
)
from ftm_assets.defs.resources import (
    EmbeddingModelResource,
    LlmResource,
    TranscriptSourceResource,
    WarehouseResource,
)
from ftm_assets.sources.schema import validate_firm_id
from ftm_assets.warehouse.firm_rows import failed_or_missing_firms

RETRY_JOB = "retry_failed_firms"


class RetryConfig(FirmRunConfig):
    # e.g. "2024Q1"; empty: every quarter of the transcript source with failed or unstored firms
    quarter: str | None = None


def quarters_to_retry(calls: list[tuple[str, str]], quarter: str | None) -> dict[str, list[str]]:
    """``{quarter: firms with a call}`` to look at: ``quarter`` alone (it must have calls), or every
    quarter of the source that exists as a partition (ended, from ``FTM_FIRST_QUARTER`` on)."""
    by_quarter: dict[str, set[str]] = {}
    for firm, q in calls:
        if not validate_firm_id(firm):
            by_quarter.setdefault(q, set()).add(firm)
    if quarter:
        try:
            require_partition_quarter(quarter)
        except ValueError as exc:
            raise dg.Failure(description=str(exc)) from exc
        if quarter not in by_quarter:
            raise dg.Failure(description=f"quarter {quarter}: no calls in the transcript source "
                                         f"(quarters present: {', '.join(sorted(by_quarter)) or 'none'})")
        return {quarter: sorted(by_quarter[quarter])}
    valid = {key_to_quarter(k) for k in quarter_partitions.get_partition_keys()}
    return {q: sorted(firms) for q, firms in sorted(by_quarter.items()) if q in valid}


@dg.op(pool="gpu", tags={"ftm/kind": "retry"})
def retry_failed_firms_op(
    context: dg.OpExecutionContext,
    config: RetryConfig,
    embedding_model: EmbeddingModelResource,
    warehouse: WarehouseResource,
    llm: LlmResource,
    transcripts: TranscriptSourceResource,
) -> None:
    expected = quarters_to_retry(transcripts.source().list_calls(), config.quarter)
    encoder = embedding_model.encoder
    warehouse.ensure_schema(encoder.dim, encoder.model_id)
    todo: dict[str, list[str]] = {}
    with warehouse.connect() as conn:
        for quarter, firms in expected.items():
            todo[quarter] = failed_or_missing_firms(conn, quarter, firms)
    for quarter, firms in expected.items():
        context.log.info(f"quarter {quarter}: {len(firms)} firms expected, {len(todo[quarter])} to (re)compute")
        report_stored_but_unreported(context, quarter, [f for f in firms if f not in set(todo[quarter])])
    todo = {q: firms for q, firms in todo.items() if firms}
    if not todo:
        context.log.info("no failed or unstored firm in " + (config.quarter or "any quarter of the source"))
        return
    known = set(context.instance.get_dynamic_partitions(FIRM_DIM))
    unknown = sorted({f for firms in todo.values() for f in firms} - known)
    if unknown:
        context.instance.add_dynamic_partitions(FIRM_DIM, unknown)
    events = run_firm_partitions(context, todo, list(FIRM_ASSET_KEYS), config,
                                 embedding_model, warehouse, llm, transcripts)
    for event in events:
        context.log_event(event)


def report_stored_but_unreported(context: dg.OpExecutionContext, quarter: str, stored: list[str]) -> None:
    """Firms committed in the warehouse whose materialization never reached Dagster (the run was
    killed between the commit and the event write): report them without recomputing."""
    missing: set[str] = set()
    for key in FIRM_ASSET_KEYS:
        done = context.instance.get_materialized_partitions(key)
        missing |= {f for f in stored if str(call_key(f, quarter)) not in done}
    known = set(context.instance.get_dynamic_partitions(FIRM_DIM))
    unknown = sorted(f for f in missing if f not in known)
    if unknown:
        context.instance.add_dynamic_partitions(FIRM_DIM, unknown)
    for firm in sorted(missing):
        for key in FIRM_ASSET_KEYS:
            context.log_event(dg.AssetMaterialization(
                key, partition=str(call_key(firm, quarter)),
                metadata={"quarter": quarter, "has_call": True,
                          "status": "stored earlier, reported by retry_failed_firms"}))
    if missing:
        context.log.info(f"quarter {quarter}: reported {len(missing)} stored firm(s) Dagster had not recorded")


@dg.job(name=RETRY_JOB, tags={"ftm/kind": "retry"},
        description="Recompute the failed or unstored firms of every quarter in one run "
        "(optional config `quarter` narrows it to one quarter).")
def retry_failed_firms() -> None:
    retry_failed_firms_op()

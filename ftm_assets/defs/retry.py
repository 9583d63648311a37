"""``retry_failed_firms``: recompute exactly the failed or missing firms of a quarter in ONE run.

The UI's "backfill failed" and "re-execute from failure" also work, but they make one run per
contiguous block of failed firms, each loading the model again (findings §2.3, §2.5). This job
reads the quarter's expected firms from the transcript source, subtracts the firms whose latest
attempt succeeded (table ``firm_runs``), recomputes the rest with the model loaded once, and logs
per-partition materializations for the firm assets, which clears their failed status in the UI.
Firms stored in the warehouse but never reported to Dagster (a run killed between a commit and
its batched event write) are reported without being recomputed.
"""


import dagster as dg

from ftm_assets.defs.firm_assets import FIRM_ASSET_KEYS, FirmRunConfig, run_firm_partitions
from ftm_assets.defs.partitions import FIRM_DIM, call_key
from ftm_assets.defs.resources import (
    EmbeddingModelResource,
    LlmResource,
    TranscriptSourceResource,
    WarehouseResource,
)
from ftm_assets.modeling.types import parse_quarter
from ftm_assets.sources.schema import validate_firm_id
from ftm_assets.warehouse.firm_rows import failed_or_missing_firms

RETRY_JOB = "retry_failed_firms"


class RetryConfig(FirmRunConfig):
    quarter: str  # e.g. 2024Q1


@dg.op(pool="gpu", tags={"ftm/kind": "retry"})
def retry_failed_firms_op(
    context: dg.OpExecutionContext,
    config: RetryConfig,
    embedding_model: EmbeddingModelResource,
    warehouse: WarehouseResource,
    llm: LlmResource,
    transcripts: TranscriptSourceResource,
) -> None:
    parse_quarter(config.quarter)
    expected = sorted({f for f, q in transcripts.source().list_calls()
                       if q == config.quarter and not validate_firm_id(f)})
    encoder = embedding_model.encoder
    warehouse.ensure_schema(encoder.dim, encoder.model_id)
    with warehouse.connect() as conn:
        todo = failed_or_missing_firms(conn, config.quarter, expected)
    context.log.info(f"quarter {config.quarter}: {len(expected)} firms expected, {len(todo)} to (re)compute")
    report_stored_but_unreported(context, config.quarter, [f for f in expected if f not in set(todo)])
    if not todo:
        return
    known = set(context.instance.get_dynamic_partitions(FIRM_DIM))
    unknown = [f for f in todo if f not in known]
    if unknown:
        context.instance.add_dynamic_partitions(FIRM_DIM, unknown)
    events = run_firm_partitions(context, {config.quarter: todo}, list(FIRM_ASSET_KEYS), config,
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
                metadata={"has_call": True, "status": "stored earlier, reported by retry_failed_firms"}))
    if missing:
        context.log.info(f"quarter {quarter}: reported {len(missing)} stored firm(s) Dagster had not recorded")


@dg.job(name=RETRY_JOB, tags={"ftm/kind": "retry"},
        description="Recompute the failed or missing firms of one quarter in one run (config: quarter).")
def retry_failed_firms() -> None:
    retry_failed_firms_op()

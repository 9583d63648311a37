"""The quarter-level ``exposure_panel`` asset: firm x theme and firm x topic exposures.

It follows ``themes`` (a plain dependency: it reads the stored sentences, topics and themes of the
quarter, not a value handed over by an IO manager) and runs in the same job, so the themes sensors
and ``ftm demo`` rebuild the panel whenever a quarter's themes are rebuilt. The work is
``warehouse.exposure.replace_quarter_exposures``: one transaction per quarter, idempotent.
"""

import dagster as dg

from ftm_assets.defs.asset_keys import THEMES
from ftm_assets.defs.partitions import key_to_quarter, quarter_partitions
from ftm_assets.defs.resources import WarehouseResource
from ftm_assets.warehouse.exposure import DEFAULT_EVIDENCE, replace_quarter_exposures


class ExposureConfig(dg.Config):
    evidence_sentences: int = DEFAULT_EVIDENCE  # sentence ids kept per firm x theme / firm x topic row


@dg.asset(
    partitions_def=quarter_partitions,
    deps=[THEMES],
    group_name="quarter",
    kinds={"postgres"},
    description="Firm x theme and firm x topic exposures of a quarter (tables `firm_theme_exposures`, "
    "`firm_topic_exposures`; views `theme_exposure_panel`, `topic_exposure_panel`): the share of each "
    "firm's substantive sentences in each theme's topics, topic counts and evidence sentence ids.",
)
def exposure_panel(context: dg.AssetExecutionContext, config: ExposureConfig,
                   warehouse: WarehouseResource) -> dg.MaterializeResult:
    quarter = key_to_quarter(context.partition_key)
    with warehouse.connect() as conn:
        summary = replace_quarter_exposures(conn, quarter, evidence=config.evidence_sentences)
    if summary.max_firm_total > 1 + 1e-9:  # guarded by construction; a failure here is a bug
        raise dg.Failure(f"quarter {quarter}: a firm's theme exposures sum to {summary.max_firm_total:.4f} > 1")
    context.log.info(f"quarter {quarter}: {summary.theme_rows} firm x theme rows, {summary.topic_rows} "
                     f"firm x topic rows, {summary.firms} firms, {summary.themes} themes")
    return dg.MaterializeResult(metadata=summary.metadata())

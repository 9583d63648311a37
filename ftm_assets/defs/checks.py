"""Quality in the UI: the per-firm topic-quality asset check and the quarter plots' metadata.

**Per-firm check** (dagster-findings §2.2). ``AssetCheckResult`` has no partition, and a check in
the firm op's own ``check_specs`` would be a required output of every firm. So the check is a
separate partitioned ``@asset_check`` on ``firm_topics``, and the firm op logs one
``AssetCheckEvaluation(..., partition=...)`` per firm it computed, built by
:func:`firm_quality_evaluations` from the firm's stats (``stats["quality"]``, a
``FirmQuality.as_dict()``). The check never fails a run: a firm outside the thresholds
(``QualityThresholds``) gets a failed evaluation with severity WARN and the reasons.

Run on its own from the UI (one partition), the check recomputes the metrics from the firm's
stored rows.

**Quarter plots.** :func:`quarter_plot_metadata` renders the three plots of
:mod:`ftm_assets.quality.plots` for the themes asset: each as a Markdown image (shown on the
asset's page) and as a PNG under ``$FTM_HOME/plots/<quarter>/`` (path metadata).
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg

from ftm_assets.defs.partitions import call_partitions, split_call_key
from ftm_assets.defs.resources import WarehouseResource
from ftm_assets.modeling.types import Theme, TopicRef
from ftm_assets.quality.metrics import QualityThresholds
from ftm_assets.quality.plots import plot_data_from_themes, render_quarter_plots

#: The ``firm_topics`` asset (``firm_assets.FIRM_TOPICS``; not imported from there because the firm
#: op imports this module to log the check's evaluations).
FIRM_TOPICS = dg.AssetKey("firm_topics")
TOPIC_QUALITY_CHECK = "topic_quality"
_METRICS = ("n_topics", "coherence", "diversity", "outlier_share", "boilerplate_share")


def quality_evaluation(
    quality: Mapping, partition: str, thresholds: QualityThresholds | None = None
) -> dg.AssetCheckEvaluation:
    """The check's evaluation of one firm partition from its ``FirmQuality.as_dict()``
    (``thresholds`` default: ``QualityThresholds()``)."""
    reasons = (thresholds or QualityThresholds()).failures(quality)
    metadata: dict = {name: quality[name] for name in _METRICS if quality.get(name) is not None}
    metadata["topic_outcome"] = str(quality.get("topic_outcome", ""))
    return dg.AssetCheckEvaluation(
        asset_key=FIRM_TOPICS,
        check_name=TOPIC_QUALITY_CHECK,
        passed=not reasons,
        partition=partition,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(reasons) if reasons else "within thresholds",
        metadata=metadata,
        blocking=False,
    )


def firm_quality_evaluations(
    stats: Mapping, partition: str, thresholds: QualityThresholds | None = None
) -> list[dg.AssetCheckEvaluation]:
    """Evaluations to log for a firm outcome's ``stats``: one when the stage computed the firm's
    quality (``stats["quality"]``), none otherwise (a skipped firm keeps its earlier evaluation)."""
    quality = stats.get("quality")
    return [] if quality is None else [quality_evaluation(quality, partition, thresholds)]


@dg.asset_check(
    asset=FIRM_TOPICS,
    name=TOPIC_QUALITY_CHECK,
    partitions_def=call_partitions,
    blocking=False,
    description="Topic quality of the firm's call: NPMI coherence, diversity, outlier share and boilerplate "
    "share against QualityThresholds (docs/quality.md). Logged per firm by the firm run; "
    "run alone, it recomputes from the stored rows.",
)
def topic_quality_check(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    from ftm_assets.quality.stored import stored_firm_quality

    partition = context.partition_key
    firm_id, quarter = split_call_key(partition)
    with warehouse.connect() as conn:
        quality = stored_firm_quality(conn, firm_id, quarter)
    if quality is None:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"firm {firm_id} quarter {quarter}: no stored rows",
        )
    evaluation = quality_evaluation(quality.as_dict(), partition)
    return dg.AssetCheckResult(
        passed=evaluation.passed,
        severity=evaluation.severity,
        description=evaluation.description,
        metadata=dict(evaluation.metadata),
    )


def quarter_plot_metadata(
    quarter: str, topics: Sequence[TopicRef], themes: Sequence[Theme], plots_dir: Path | None
) -> dict[str, dg.MetadataValue]:
    """Metadata entries for the themes asset: ``plot_<name>`` (Markdown image) for each plot, and
    ``plot_<name>_path`` when ``plots_dir`` is given (the PNG is written to ``plots_dir/<quarter>/``)."""
    entries: dict[str, dg.MetadataValue] = {}
    folder = Path(plots_dir) / quarter if plots_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    for plot in render_quarter_plots(plot_data_from_themes(quarter, topics, themes)):
        entries[f"plot_{plot.name}"] = dg.MetadataValue.md(plot.markdown())
        if folder is not None:
            path = folder / f"{plot.name}.png"
            path.write_bytes(plot.png)
            entries[f"plot_{plot.name}_path"] = dg.MetadataValue.path(str(path))
    return entries

"""Quality in the UI: the per-firm topic-quality asset check and the quarter plots' metadata.

**Per-firm check** (docs/design.md §3, issue 13). ``AssetCheckResult`` has no partition, so the
firm op logs one ``AssetCheckEvaluation(..., partition=...)`` per firm it reports. The check is
declared in the firm op's own ``check_specs`` (:data:`TOPIC_QUALITY_SPEC`, partitioned like the
firm assets), not as a separate ``@asset_check``: a separate check is a step of its own in every
UI materialization and backfill, which Dagster skips (the op yields events, no outputs) and, when
any firm of the run fails, marks "execution failed" as a whole. In the op, the check's planned
partitions are settled by the op's evaluations one firm at a time:

* a computed firm gets its evaluation from its stats (:func:`firm_quality_evaluations`);
* a skipped firm (unchanged input) gets its latest evaluation again (:func:`previous_evaluation`),
  or one computed from its stored rows when the instance has none;
* a firm without a call in the quarter gets a passed evaluation saying so;
* only a firm that failed has no evaluation, so only its check shows "execution failed".

The check never fails a run: a firm outside the thresholds (``QualityThresholds``) gets a failed
evaluation with severity WARN and the reasons. To evaluate a firm again, re-materialize it.

**Quarter plots.** :func:`quarter_plot_metadata` renders the three plots of
:mod:`ftm_assets.quality.plots` for the themes asset: each as a Markdown image (shown on the
asset's page) and as a PNG under ``$FTM_HOME/plots/<quarter>/`` (path metadata).
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg

from ftm_assets.defs.asset_keys import FIRM_TOPICS, TOPIC_QUALITY_CHECK
from ftm_assets.defs.dagster_internals import latest_check_evaluation
from ftm_assets.defs.partitions import call_partitions, split_call_key
from ftm_assets.modeling.types import Theme, TopicRef
from ftm_assets.quality.metrics import QualityThresholds
from ftm_assets.quality.plots import plot_data_from_themes, render_quarter_plots

_METRICS = ("n_topics", "coherence", "diversity", "outlier_share", "boilerplate_share")


def quality_evaluation(
    quality: Mapping, partition: str, thresholds: QualityThresholds | None = None
) -> dg.AssetCheckEvaluation:
    """The check's evaluation of one firm partition from its ``FirmQuality.as_dict()``
    (``thresholds`` default: ``QualityThresholds()``)."""
    reasons = (thresholds or QualityThresholds()).failures(quality)
    metadata: dict = {name: quality[name] for name in _METRICS if quality.get(name) is not None}
    metadata["topic_outcome"] = str(quality.get("topic_outcome", ""))
    metadata["quarter"] = split_call_key(partition)[1]
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
    quality: Mapping | None, partition: str, thresholds: QualityThresholds | None = None
) -> list[dg.AssetCheckEvaluation]:
    """Evaluations to log for a firm outcome's ``FirmStats.quality``: one when the stage computed
    the firm's quality, none when it is None (a skipped firm keeps its earlier evaluation)."""
    return [] if quality is None else [quality_evaluation(quality, partition, thresholds)]


TOPIC_QUALITY_SPEC = dg.AssetCheckSpec(
    TOPIC_QUALITY_CHECK,
    asset=FIRM_TOPICS,
    partitions_def=call_partitions,
    blocking=False,
    description="Topic quality of the firm's call: NPMI coherence, diversity, outlier share and boilerplate "
    "share against QualityThresholds (docs/quality.md). Evaluated per firm by the firm run.",
)
TOPIC_QUALITY_KEY = TOPIC_QUALITY_SPEC.key


def no_call_evaluation(partition: str) -> dg.AssetCheckEvaluation:
    """A firm of the run's range without a call this quarter: nothing to check."""
    firm_id, quarter = split_call_key(partition)
    return dg.AssetCheckEvaluation(asset_key=FIRM_TOPICS, check_name=TOPIC_QUALITY_CHECK, passed=True,
                                   partition=partition, severity=dg.AssetCheckSeverity.WARN, blocking=False,
                                   description=f"firm {firm_id} has no call in {quarter}: nothing to check",
                                   metadata={"quarter": quarter, "has_call": False})


def previous_evaluation(instance: dg.DagsterInstance, partition: str) -> dg.AssetCheckEvaluation | None:
    """The firm's latest evaluation in ``instance``, to log again for a firm the run skipped."""
    latest = latest_check_evaluation(instance, TOPIC_QUALITY_KEY, partition)
    if latest is None:
        return None
    run_id, previous = latest
    return dg.AssetCheckEvaluation(
        asset_key=FIRM_TOPICS, check_name=TOPIC_QUALITY_CHECK, passed=previous.passed, partition=partition,
        severity=previous.severity, blocking=False, metadata=dict(previous.metadata),
        description=f"unchanged input, as evaluated in run {run_id[:8]}: {previous.description}")


def stored_evaluation(conn, partition: str) -> dg.AssetCheckEvaluation | None:
    """The firm's evaluation computed from its stored rows (None when nothing is stored)."""
    from ftm_assets.quality.stored import stored_firm_quality

    firm_id, quarter = split_call_key(partition)
    quality = stored_firm_quality(conn, firm_id, quarter)
    return None if quality is None else quality_evaluation(quality.as_dict(), partition)


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

"""The three firm-level assets in ONE op (docs/design.md §2, §3).

``sentence_embeddings``, ``firm_topics`` and ``topic_summaries`` are partitioned by quarter x firm
and computed by a single multi-asset with a single-run backfill policy: a whole quarter is one run
with one model load. The op is not subsettable: selecting any of the three materializes and
reports all three, so the UI never shows one stage materialized and another missing. The op
loops over the run's firms through :class:`FirmStage`; each firm is committed in its own
transaction and reported with per-partition ``AssetMaterialization`` events
(not an IO-managed ``Output``, which would mark every firm of the range materialized). Firms that
fail are collected and the op raises ``dg.Failure`` at the end naming them, so in the UI exactly
those firm partitions show as failed and "backfill failed" re-targets only them.

A firm in the run's range that has no call in that quarter (ranges follow firm insertion order)
is reported as a no-op materialization with ``has_call: false``: "missing" in the UI then means
"not processed yet" and "failed" means a real failure. Every reported firm also gets its own
``topic_quality`` check evaluation (the check is in the op's ``check_specs``, see
:mod:`ftm_assets.defs.checks`).

Bookkeeping: each per-partition event is one or two Postgres transactions (15-30 ms here).
With ``DAGSTER_EVENT_BATCH_SIZE`` set (``ftm`` sets it, see :mod:`ftm_assets.instance`),
:class:`FirmReports` writes the reports of consecutive firms per asset in one batched insert, at
most ``REPORT_MAX_FIRMS`` firms at a time and about every ``REPORT_MAX_SECONDS``
(docs/operations.md, "Bookkeeping cost").
"""


import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence

import dagster as dg

from ftm_assets.config import dagster_event_batch_size, firms_per_run
from ftm_assets.defs.asset_keys import FIRM_ASSET_KEYS, FIRM_TOPICS, SENTENCE_EMBEDDINGS, TOPIC_SUMMARIES
from ftm_assets.defs.checks import (
    TOPIC_QUALITY_KEY,
    TOPIC_QUALITY_SPEC,
    firm_quality_evaluations,
    no_call_evaluation,
    previous_evaluation,
    stored_evaluation,
)
from ftm_assets.defs.dagster_internals import (
    EVENT_BATCHING,
    ExecutionInterrupted,
    batched_materialization,
    new_event_batch_id,
)
from ftm_assets.defs.partitions import call_key, call_partitions, split_call_key
from ftm_assets.defs.resources import (
    EmbeddingModelResource,
    LlmResource,
    TranscriptSourceResource,
    WarehouseResource,
)
from ftm_assets.modeling.settings import FirmTopicSettings
from ftm_assets.stages.firm_stats import FAILED, SKIPPED, FirmMetadata, common_metadata, no_call_metadata
from ftm_assets.stages.firms import FirmOutcome, FirmStage, FirmStageSettings, StopRequested
from ftm_assets.stages.topic_workers import resolve_workers
from ftm_assets.warehouse.quarters import build_quarter_indexes

GROUP = "firms"


class FirmRunConfig(dg.Config):
    """Per-run settings of the firm stage (defaults are the documented evidence-based choices)."""

    recompute: bool = False  # recompute firms whose stored rows are already current
    max_pending_firms: int = 16  # firms allowed to wait for LLM summaries
    min_sentences: int = 30
    min_cluster_size: int = 10
    cluster_backend: str = "hdbscan"
    outlier_policy: str = "reduce"
    outlier_threshold: float = 0.3
    # keywords (docs/quality.md, "Keywords that carry meaning")
    ngram_max: int = FirmTopicSettings.ngram_max
    earnings_stop_words: bool = FirmTopicSettings.earnings_stop_words
    reduce_frequent_words: bool = FirmTopicSettings.reduce_frequent_words
    bm25_weighting: bool = FirmTopicSettings.bm25_weighting
    drop_participant_names: bool = FirmTopicSettings.drop_participant_names
    # topic worker processes: -1 = FTM_FIRM_WORKERS, else all cores but one; 0 = in the run's process
    workers: int = -1

    def topic_settings(self) -> FirmTopicSettings:
        """The topic settings (part of each firm's input fingerprint)."""
        return FirmTopicSettings(
            min_sentences=self.min_sentences,
            min_cluster_size=self.min_cluster_size,
            cluster_backend=self.cluster_backend,
            outlier_policy=self.outlier_policy,
            outlier_threshold=self.outlier_threshold,
            ngram_max=self.ngram_max,
            earnings_stop_words=self.earnings_stop_words,
            reduce_frequent_words=self.reduce_frequent_words,
            bm25_weighting=self.bm25_weighting,
            drop_participant_names=self.drop_participant_names,
        )

    def stage_settings(self) -> FirmStageSettings:
        return FirmStageSettings(
            topics=self.topic_settings(),
            max_pending_firms=self.max_pending_firms,
            recompute=self.recompute,
            workers=resolve_workers(self.workers),
        )


def firm_metadata(outcome: FirmOutcome, key: dg.AssetKey, encoder_id: str, dim: int) -> dict:
    """The materialization metadata of ``key`` for a computed or skipped firm (names: ``FirmMetadata``)."""
    stats, timings = outcome.stats, outcome.timings
    common = common_metadata(outcome.quarter, outcome.status)
    if key == SENTENCE_EMBEDDINGS:
        return {**common, **stats.embedding_metadata(timings, encoder_id, dim)}
    if key == FIRM_TOPICS:
        return {**common, **stats.topic_metadata(timings)}
    return {**common, **stats.summary_metadata(timings)}


#: Largest number of firms whose reports are written in one batch per asset.
REPORT_MAX_FIRMS = 100
#: The first firm committed this long (or longer) after the previous write is written at once with
#: the pending ones, so firms slower than this are written one by one, as unbatched; a pending
#: firm waits at most this long plus the next firm's duration.
REPORT_MAX_SECONDS = 5.0


def event_batching_enabled() -> bool:
    """True when Dagster buffers events that carry batch metadata (``DAGSTER_EVENT_BATCH_SIZE`` > 0)
    and writes them in one insert; the instance reads the same variable when each event is logged."""
    return dagster_event_batch_size() > 0


class FirmReports:
    """The per-firm ``AssetMaterialization`` events of a firm run, as firms are committed.

    Unbatched, :meth:`add` yields a firm's events at once (one event-log write each). Batched, the
    reports wait until ``max_firms`` firms are pending or a firm is added ``max_seconds`` or more
    after the previous write (defaults: ``REPORT_MAX_FIRMS``, ``REPORT_MAX_SECONDS``), then each
    asset's reports are logged as ONE Dagster event batch (one multi-row insert and one index update).
    Each event still names its own partition and metadata, so the UI shows per-firm status and
    metadata exactly as unbatched. Call :meth:`flush` before the op ends or raises, or the pending
    firms are not reported. ``writes`` counts the event-log writes made (a batch counts once).
    """

    def __init__(
        self,
        context: dg.OpExecutionContext,
        keys: Sequence[dg.AssetKey],
        *,
        batched: bool,
        max_firms: int | None = None,
        max_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._context = context
        self._keys = list(keys)
        self._batched = batched and EVENT_BATCHING
        self._max_firms = max(1, REPORT_MAX_FIRMS if max_firms is None else max_firms)
        self._max_seconds = REPORT_MAX_SECONDS if max_seconds is None else max_seconds
        self._clock = clock
        self._pending: list[tuple[str, Mapping[dg.AssetKey, Mapping]]] = []
        self._last_write = clock()
        self.writes = 0

    @property
    def batched(self) -> bool:
        return self._batched

    def add(self, partition: str, metadata: Mapping[dg.AssetKey, Mapping]) -> Iterator[object]:
        """Report ``partition`` (a ``firm|quarter-key`` string) as materialized for every key, with
        ``metadata[key]``; yields the events to pass on to Dagster (now or at a later flush)."""
        if not self.batched:
            for key in self._keys:
                self.writes += 1
                yield dg.AssetMaterialization(key, partition=partition, metadata=dict(metadata[key]))
            return
        self._pending.append((partition, metadata))
        if len(self._pending) >= self._max_firms or self._clock() - self._last_write >= self._max_seconds:
            yield from self.flush()

    def flush(self) -> Iterator[object]:
        """Log the pending reports, one Dagster event batch per asset."""
        pending, self._pending = self._pending, []
        self._last_write = self._clock()
        if not pending:
            return
        last = len(pending) - 1
        for key in self._keys:
            batch_id = new_event_batch_id()
            for i, (partition, metadata) in enumerate(pending):
                mat = dg.AssetMaterialization(key, partition=partition, metadata=dict(metadata[key]))
                # Creating the event logs it; Dagster writes the buffer when the batch's end arrives.
                yield batched_materialization(self._context, mat, batch_id, i == last)
            self.writes += 1


def firm_backfill_policy() -> dg.BackfillPolicy:
    """One run per quarter (single run) by default; ``FTM_FIRMS_PER_RUN=N`` (read when the code
    location loads) splits backfills into runs of N firms, for several GPU workers on ECS
    (infra/README.md, "Outgrowing one box")."""
    n = firms_per_run()
    return dg.BackfillPolicy.single_run() if n <= 0 else dg.BackfillPolicy.multi_run(max_partitions_per_run=n)


class _StopFlag:
    """Set by SIGTERM: the stage finishes or rolls back the current firm, then stops."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous = None

    def __enter__(self) -> "_StopFlag":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, lambda *_: self.event.set())
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(SENTENCE_EMBEDDINGS, partitions_def=call_partitions, skippable=True, group_name=GROUP,
                     kinds={"pytorch", "postgres"},
                     description="Sentences of a firm's call with their embeddings (table `sentences`)."),
        dg.AssetSpec(FIRM_TOPICS, partitions_def=call_partitions, skippable=True, deps=[SENTENCE_EMBEDDINGS],
                     group_name=GROUP, kinds={"bertopic", "postgres"},
                     description="BERTopic topics of a firm's call (table `topics`, `sentences.topic_id`)."),
        dg.AssetSpec(TOPIC_SUMMARIES, partitions_def=call_partitions, skippable=True, deps=[FIRM_TOPICS],
                     group_name=GROUP, kinds={"openai", "pgvector"},
                     description="LLM (or extractive) summary of each firm topic, embedded (table `topics`)."),
    ],
    check_specs=[TOPIC_QUALITY_SPEC],  # evaluated per firm by the op (checks.py)
    backfill_policy=firm_backfill_policy(),
    # not subsettable: whatever the user selects among the three (UI, backfill, re-execution),
    # Dagster plans and the op reports all three together (issue 13; the UI asks to confirm the
    # expanded selection, the backfill daemon expands it to the op's full execution set)
    can_subset=False,
    pool="gpu",
)
def firm_pipeline(
    context: dg.AssetExecutionContext,
    config: FirmRunConfig,
    embedding_model: EmbeddingModelResource,
    warehouse: WarehouseResource,
    llm: LlmResource,
    transcripts: TranscriptSourceResource,
) -> Iterator[dg.AssetMaterialization]:
    by_quarter: dict[str, list[str]] = defaultdict(list)
    for pk in context.partition_keys:
        firm, quarter = split_call_key(pk)
        by_quarter[quarter].append(firm)
    selected = [k for k in FIRM_ASSET_KEYS if k in context.selected_asset_keys]
    yield from run_firm_partitions(context, by_quarter, selected, config, embedding_model, warehouse, llm,
                                   transcripts, batch_reports=event_batching_enabled())
    if TOPIC_QUALITY_KEY in context.selected_asset_check_keys:
        # the check's per-firm evaluations are logged above; this settles its (required) output
        yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(TOPIC_QUALITY_KEY))


def _check_evaluations(
    context: dg.OpExecutionContext, warehouse: WarehouseResource, outcome: FirmOutcome
) -> list[dg.AssetCheckEvaluation]:
    """The topic-quality evaluation of a reported firm: from its stats when computed; for a skipped
    firm its latest evaluation again, else one from its stored rows (checks.py)."""
    partition = str(call_key(outcome.firm_id, outcome.quarter))
    evaluations = firm_quality_evaluations(outcome.stats.quality, partition)
    if evaluations or outcome.status != SKIPPED:
        return evaluations
    previous = previous_evaluation(context.instance, partition)
    if previous is None:
        with warehouse.connect() as conn:
            previous = stored_evaluation(conn, partition)
    return [] if previous is None else [previous]


def run_firm_partitions(
    context: dg.OpExecutionContext,
    by_quarter: dict[str, list[str]],
    selected: list[dg.AssetKey],
    config: FirmRunConfig,
    embedding_model: EmbeddingModelResource,
    warehouse: WarehouseResource,
    llm: LlmResource,
    transcripts: TranscriptSourceResource,
    *,
    batch_reports: bool = False,
) -> Iterator[object]:
    """Compute the given firms of each quarter; report one materialization per firm and selected asset
    after each firm commits; raise ``dg.Failure`` at the end naming the failed firms. Shared by the
    ``firm_pipeline`` op and the ``retry_failed_firms`` job.

    Without ``batch_reports`` it yields ``dg.AssetMaterialization`` objects (for ``context.log_event``
    or to yield from an op); with it, the already-logged ``DagsterEvent`` objects of
    :class:`FirmReports` batches, which only an op may yield."""
    encoder = embedding_model.encoder
    warehouse.ensure_schema(encoder.dim, encoder.model_id)
    source = transcripts.source()
    present = set(source.list_calls())
    settings = config.stage_settings()
    failed: dict[str, str] = {}
    n_firms = sum(len(v) for v in by_quarter.values())

    stage = FirmStage(encoder, llm.summarizer, warehouse.url(), settings, run_id=context.run_id)
    context.log.info(f"{n_firms} firms; topic modelling in {settings.workers} worker process(es)"
                     if settings.workers else f"{n_firms} firms; topic modelling in the run's process")
    reports = FirmReports(context, selected, batched=batch_reports)
    no_call = {quarter: {key: no_call_metadata(quarter) for key in selected} for quarter in by_quarter}
    check_events: list[dg.AssetCheckEvaluation] = []
    try:
        with _StopFlag() as stop:
            stage.should_stop = stop.event.is_set
            for quarter, firms in sorted(by_quarter.items()):
                with_call = [f for f in firms if (f, quarter) in present]
                for firm in firms:
                    if (firm, quarter) not in present:
                        yield from reports.add(str(call_key(firm, quarter)), no_call[quarter])
                        if FIRM_TOPICS in selected:
                            check_events.append(no_call_evaluation(str(call_key(firm, quarter))))
                context.log.info(f"quarter {quarter}: {len(with_call)} firms with a call, "
                                 f"{len(firms) - len(with_call)} without")
                for outcome in stage.run(source.iter_calls(quarter, with_call)):
                    if outcome.status == FAILED:
                        failed[str(call_key(outcome.firm_id, outcome.quarter))] = outcome.error or "failed"
                        context.log.error(outcome.error)
                        continue
                    yield from reports.add(
                        str(call_key(outcome.firm_id, outcome.quarter)),
                        {key: firm_metadata(outcome, key, encoder.model_id, encoder.dim) for key in selected},
                    )
                    if FIRM_TOPICS in selected:
                        check_events.extend(_check_evaluations(context, warehouse, outcome))
        yield from reports.flush()
        # quality checks are logged once every firm's materialization has been written
        for event in check_events:
            context.log_event(event)
    except StopRequested as exc:
        yield from reports.flush()  # committed firms stay materialized
        raise dg.Failure(description=f"run stopped by SIGTERM: {exc}; committed firms stay materialized, "
                                     f"re-run the quarter or `retry_failed_firms` to finish it") from exc
    except (Exception, KeyboardInterrupt, ExecutionInterrupted):
        # firms committed before the error (or Dagster's SIGTERM/SIGINT interrupt, a BaseException)
        # are reported before it propagates
        yield from reports.flush()
        raise
    finally:
        stage.close()
        # each quarter's partitions get their HNSW index once loaded (kept on later re-runs;
        # other quarters' indexes are never touched)
        built = []
        with warehouse.connect() as conn:
            for quarter in sorted(by_quarter):
                built += build_quarter_indexes(conn, quarter, warehouse.hnsw)
        if built:
            context.log.info(f"built HNSW indexes: {', '.join(built)}")

    if failed:
        names = ", ".join(sorted(failed))
        raise dg.Failure(
            description=f"{len(failed)} firm partition(s) failed: {names}",
            metadata={FirmMetadata.FAILED_FIRMS: dg.MetadataValue.json(failed)},
        )

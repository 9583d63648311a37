"""The firm stage, framework-agnostic: calls -> embeddings -> topics -> summaries -> rows.

:class:`FirmStage` streams a quarter's calls and yields one :class:`FirmOutcome` per firm, in the
order firms complete. Work is arranged so that nothing waits needlessly:

* each firm's sentences are embedded in large batches (``batch_size``, 256 by default, sorted by
  length), never mixed with another firm's: a firm's vectors then do not depend on which other
  firms share the run, so a resumed run reproduces a clean run's rows exactly (mixing firms in a
  batch changes results in the 7th decimal, enough to move UMAP);
* each firm's LLM calls are submitted and run in the summarizer's event loop while the next firms
  are clustered (at most ``max_pending_firms`` firms wait for their summaries);
* each firm is written in its own transaction as soon as its summaries are back.

A firm that fails (bad input, clustering error, database error) yields a failed outcome naming the
firm, quarter and reason; the others go on. A firm whose stored rows were computed from the same
input, model and settings is skipped (a resumed or repeated run recomputes nothing) unless
``recompute`` is set. Dagster code only decides which firms run and reports the outcomes.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
import psycopg

from ftm_assets.llm.prompts import TopicPromptInput
from ftm_assets.modeling.embedding import SentenceEncoder
from ftm_assets.modeling.firm_topics import build_firm_topics
from ftm_assets.modeling.settings import FirmTopicSettings
from ftm_assets.modeling.types import FirmCall, FirmTopics, TopicSummary
from ftm_assets.quality.metrics import firm_quality
from ftm_assets.sources.schema import FirmInputError
from ftm_assets.warehouse.database import open_connection
from ftm_assets.warehouse.firm_rows import (
    FirmResult,
    input_fingerprint,
    mark_firm,
    replace_firm,
    stored_fingerprint,
)

log = logging.getLogger(__name__)

SUCCEEDED, SKIPPED, FAILED = "succeeded", "skipped", "failed"


@dataclass(frozen=True)
class FirmStageSettings:
    topics: FirmTopicSettings = field(default_factory=FirmTopicSettings)
    max_pending_firms: int = 16
    recompute: bool = False


@dataclass
class FirmOutcome:
    firm_id: str
    quarter: str
    status: str
    error: str | None = None
    stats: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != FAILED


@dataclass
class _Pending:
    call: FirmCall
    embeddings: np.ndarray
    topics: FirmTopics
    fingerprint: str
    summaries: Future
    timings: dict[str, float]
    submitted_at: float


class StopRequested(Exception):
    """Raised between firms when the run was asked to stop (SIGTERM)."""


class FirmStage:
    def __init__(
        self,
        encoder: SentenceEncoder,
        summarizer,
        database_url: str,
        settings: FirmStageSettings = FirmStageSettings(),
        *,
        run_id: str | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ):
        self.encoder = encoder
        self.summarizer = summarizer
        self.database_url = database_url
        self.settings = settings
        self.run_id = run_id
        self.should_stop = should_stop
        self._conn: psycopg.Connection | None = None
        self._settings_repr = repr(settings.topics)

    # -- database connection, re-opened after a dropped connection ---------------------------
    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = open_connection(self.database_url, autocommit=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- the stage -------------------------------------------------------------------------
    def run(self, calls: Iterable[FirmCall | FirmInputError]) -> Iterator[FirmOutcome]:
        pending: deque[_Pending] = deque()
        try:
            for item in calls:
                if isinstance(item, FirmInputError):
                    yield self._fail(item.firm_id, item.quarter, item.message())
                    continue
                skipped = self._skip_if_current(item)
                if skipped is not None:
                    yield skipped
                    continue
                self._check_stop()
                t0 = time.perf_counter()
                emb = self.encoder.encode(item.texts)
                started = self._start_firm(item, emb, time.perf_counter() - t0)
                if isinstance(started, FirmOutcome):
                    yield started
                else:
                    pending.append(started)
                yield from self._drain(pending, wait=len(pending) > self.settings.max_pending_firms)
            while pending:
                self._check_stop()
                yield from self._drain(pending, wait=True)
        finally:
            for p in pending:
                p.summaries.cancel()

    def _check_stop(self) -> None:
        if self.should_stop():
            raise StopRequested("stop requested: the current firm was rolled back or finished")

    def _skip_if_current(self, call: FirmCall) -> FirmOutcome | None:
        if self.settings.recompute:
            return None
        fp = input_fingerprint(call, self.encoder.model_id, self._settings_repr)
        try:
            stored = stored_fingerprint(self._db(), call.firm_id, call.quarter)
        except psycopg.Error:
            return None
        if stored != fp:
            return None
        row = self._db().execute(
            "SELECT n_sentences, n_topics, outlier_share, topic_outcome, summary_source, prompt_tokens,"
            " completion_tokens, llm_calls FROM firms WHERE firm_id = %s AND quarter = %s",
            (call.firm_id, call.quarter),
        ).fetchone()
        keys = ("sentences", "topics", "outlier_share", "topic_outcome", "summary_source", "prompt_tokens",
                "completion_tokens", "llm_calls")
        return FirmOutcome(call.firm_id, call.quarter, SKIPPED, stats=dict(zip(keys, row, strict=True)))

    def _start_firm(self, call: FirmCall, emb: np.ndarray, embed_s: float) -> _Pending | FirmOutcome:
        timings = {"embed": embed_s}
        try:
            t0 = time.perf_counter()
            topics = build_firm_topics(call, emb, self.settings.topics)
            timings["topics"] = time.perf_counter() - t0
            prompts = [
                TopicPromptInput(
                    local_topic_id=t.local_topic_id,
                    keywords=list(t.keywords),
                    sentences=[call.sentences[p].text for p in t.representative_positions],
                )
                for t in topics.topics
            ]
            future = self.summarizer.submit_firm(call.firm_id, call.quarter, prompts)
        except Exception as exc:  # one firm's failure must not stop the others
            log.exception("firm %s quarter %s failed in topic modelling", call.firm_id, call.quarter)
            return self._fail(call.firm_id, call.quarter, f"topic modelling failed: {type(exc).__name__}: {exc}")
        fp = input_fingerprint(call, self.encoder.model_id, self._settings_repr)
        return _Pending(call, emb, topics, fp, future, timings, time.perf_counter())

    def _drain(self, pending: deque[_Pending], *, wait: bool) -> Iterator[FirmOutcome]:
        """Finish firms whose summaries are back, oldest first; with ``wait``, at least one."""
        while pending and (pending[0].summaries.done() or wait):
            p = pending.popleft()
            wait = False
            yield self._finish(p)

    def _finish(self, p: _Pending) -> FirmOutcome:
        call = p.call
        try:
            t0 = time.perf_counter()
            summaries: list[TopicSummary] = p.summaries.result()
            p.timings["llm_wait"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            summary_emb = self.encoder.encode([s.summary for s in summaries])
            p.timings["summary_embed"] = time.perf_counter() - t0
            result = FirmResult(call, p.embeddings, p.topics, summaries, summary_emb, p.fingerprint)
            t0 = time.perf_counter()
            counts = replace_firm(self._db(), result, self.run_id)
            p.timings["db_write"] = time.perf_counter() - t0
        except Exception as exc:
            log.exception("firm %s quarter %s failed while storing", call.firm_id, call.quarter)
            return self._fail(call.firm_id, call.quarter, f"{type(exc).__name__}: {exc}", p.timings)
        usage = result.usage
        return FirmOutcome(
            call.firm_id,
            call.quarter,
            SUCCEEDED,
            stats={
                "sentences": counts["sentences"],
                "topics": counts["topics"],
                "outlier_share": round(p.topics.outlier_share, 4),
                "topic_outcome": p.topics.outcome,
                "topic_detail": p.topics.detail,
                "summary_source": result.summary_source,
                "fallback_reasons": sorted({s.fallback_reason for s in summaries if s.fallback_reason}),
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "llm_calls": usage.calls,
                "quality": firm_quality(call, p.topics).as_dict(),
            },
            timings=p.timings,
        )

    def _fail(self, firm_id: str, quarter: str, reason: str, timings: dict | None = None) -> FirmOutcome:
        message = f"firm {firm_id} quarter {quarter}: {reason}"
        try:
            mark_firm(self._db(), firm_id, quarter, FAILED, message[:2000], self.run_id)
        except psycopg.Error:
            log.warning("could not record failure of firm %s quarter %s", firm_id, quarter)
        return FirmOutcome(firm_id, quarter, FAILED, error=message, timings=timings or {})

"""The firm stage, framework-agnostic: calls -> embeddings -> topics -> summaries -> rows.

:class:`FirmStage` streams a quarter's calls and yields one :class:`FirmOutcome` per firm. Four
kinds of work overlap, each on what it needs:

* **embedding** runs in a background thread (the GPU, or the CPU's tokenizer and matmuls), at most
  ``embed_ahead`` firms ahead of the rest. Each firm's sentences are embedded in their own batches
  (``batch_size``, sorted by length), never mixed with another firm's: a firm's vectors then do not
  depend on which other firms share the run, so a resumed run reproduces a clean run's rows exactly
  (mixing firms in a batch changes results in the 7th decimal, enough to move UMAP);
* **topic modelling** runs in ``workers`` long-lived worker processes
  (:mod:`ftm_assets.stages.topic_workers`; 0: in this thread), one firm per worker;
* **LLM calls** of a firm are submitted as soon as its topics are back and run in the summarizer's
  event loop;
* **writes**: each firm is written in its own transaction once its summaries are back, in the
  order the firms were read (so stored rows, surrogate ids included, are the same whatever the
  worker count).

At most ``max_pending_firms + 2 * workers`` firms are in flight after embedding, so memory does not
grow with the quarter. A firm that fails (bad input, clustering error, a worker process that died,
database error) yields a failed outcome naming the firm, quarter and reason; the others go on. A
firm whose stored rows were computed from the same input, model and settings is skipped (a resumed
or repeated run recomputes nothing) unless ``recompute`` is set. Dagster code only decides which
firms run and reports the outcomes.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import psycopg

from ftm_assets.llm.prompts import TopicPromptInput
from ftm_assets.modeling.embedding import SentenceEncoder
from ftm_assets.modeling.settings import FirmTopicSettings
from ftm_assets.modeling.types import FirmCall, FirmTopics, TopicSummary
from ftm_assets.quality.metrics import firm_quality
from ftm_assets.sources.schema import FirmInputError
from ftm_assets.stages.firm_stats import FAILED, SKIPPED, SUCCEEDED, FirmStats, FirmTimings
from ftm_assets.stages.topic_workers import InlineTopicRunner, TopicWorkerPool, make_topic_runner
from ftm_assets.warehouse.database import open_connection
from ftm_assets.warehouse.firm_rows import (
    FirmResult,
    input_fingerprint,
    mark_firm,
    replace_firm,
    stored_fingerprint,
)

log = logging.getLogger(__name__)

__all__ = ["FAILED", "SKIPPED", "SUCCEEDED", "FirmOutcome", "FirmStage", "FirmStageSettings", "StopRequested"]
#: Seconds the main loop waits for one piece of work before it looks at the others again.
_POLL_S = 0.05


@dataclass(frozen=True)
class FirmStageSettings:
    topics: FirmTopicSettings = field(default_factory=FirmTopicSettings)
    max_pending_firms: int = 16
    recompute: bool = False
    workers: int = 0  # topic worker processes; 0: topic modelling in the stage's own thread
    embed_ahead: int = 4  # firms embedded ahead of topic modelling (besides the in-flight window)

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.max_pending_firms < 1 or self.embed_ahead < 1:
            raise ValueError("max_pending_firms and embed_ahead must be >= 1")

    @property
    def in_flight_limit(self) -> int:
        return self.max_pending_firms + 2 * self.workers


@dataclass
class FirmOutcome:
    firm_id: str
    quarter: str
    status: str
    error: str | None = None
    stats: FirmStats = field(default_factory=FirmStats)
    timings: FirmTimings = field(default_factory=FirmTimings)

    @property
    def ok(self) -> bool:
        return self.status != FAILED


@dataclass
class _Embedded:
    call: FirmCall
    embeddings: np.ndarray
    fingerprint: str
    embed_s: float


@dataclass
class _Pending:
    call: FirmCall
    embeddings: np.ndarray
    fingerprint: str
    timings: dict[str, float]
    topics_future: concurrent.futures.Future
    topics: FirmTopics | None = None
    summaries: concurrent.futures.Future | None = None
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.error is not None or (self.summaries is not None and self.summaries.done())


class StopRequested(Exception):
    """Raised between firms when the run was asked to stop (SIGTERM)."""


class _End:
    """Marks the end of the embedded stream (or carries the reader's exception)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


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
        self._encode_lock = threading.Lock()  # one tokenizer: the embedding thread and summaries share it
        self._runner: InlineTopicRunner | TopicWorkerPool | None = None

    # -- database connection, re-opened after a dropped connection ---------------------------
    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = open_connection(self.database_url, autocommit=True)
        return self._conn

    def topic_runner(self) -> InlineTopicRunner | TopicWorkerPool:
        """The topic workers, started on first use and kept for the stage's life (all quarters)."""
        if self._runner is None:
            self._runner = make_topic_runner(self.settings.workers, self.settings.topics)
        return self._runner

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._encode_lock:
            return self.encoder.encode(texts)

    # -- the stage -------------------------------------------------------------------------
    def run(self, calls: Iterable[FirmCall | FirmInputError]) -> Iterator[FirmOutcome]:
        runner = self.topic_runner()
        embedded: queue.Queue = queue.Queue(maxsize=self.settings.embed_ahead)
        stop_reader = threading.Event()
        reader = threading.Thread(target=self._read_and_embed, args=(calls, embedded, stop_reader),
                                  name="ftm-embed", daemon=True)
        reader.start()
        pending: deque[_Pending] = deque()
        try:
            reading = True
            while reading or pending:
                self._check_stop()
                item = None
                if reading and len(pending) < self.settings.in_flight_limit:
                    try:
                        item = embedded.get(timeout=_POLL_S)
                    except queue.Empty:
                        item = None
                if isinstance(item, _End):
                    reading = False
                    if item.error is not None:
                        raise item.error
                elif isinstance(item, FirmOutcome):
                    yield item
                elif isinstance(item, _Embedded):
                    pending.append(self._submit_topics(runner, item))
                must_wait = bool(pending) and (not reading or len(pending) >= self.settings.in_flight_limit)
                yield from self._advance(pending, wait=must_wait)
        finally:
            stop_reader.set()
            for p in pending:
                p.topics_future.cancel()
                if p.summaries is not None:
                    p.summaries.cancel()
            reader.join(timeout=30)

    def _read_and_embed(self, calls: Iterable, out: queue.Queue, stop: threading.Event) -> None:
        """The embedding thread: read calls, skip current firms, embed the rest, in order."""
        conn: psycopg.Connection | None = None

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=_POLL_S)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            for item in calls:
                if stop.is_set():
                    return
                if isinstance(item, FirmInputError):
                    put(self._fail(item.firm_id, item.quarter, item.message()))
                    continue
                fp = input_fingerprint(item, self.encoder.model_id, self._settings_repr)
                if not self.settings.recompute:
                    if conn is None or conn.closed or conn.broken:
                        conn = open_connection(self.database_url, autocommit=True)
                    skipped = _skip_if_current(conn, item, fp)
                    if skipped is not None:
                        put(skipped)
                        continue
                t0 = time.perf_counter()
                emb = self._encode(item.texts)
                if not put(_Embedded(item, emb, fp, time.perf_counter() - t0)):
                    return
            put(_End())
        except BaseException as exc:  # reading or embedding failed: the main loop re-raises it
            put(_End(exc))
        finally:
            if conn is not None:
                conn.close()

    def _check_stop(self) -> None:
        if self.should_stop():
            raise StopRequested("stop requested: the current firm was rolled back or finished")

    def _submit_topics(self, runner, item: _Embedded) -> _Pending:
        return _Pending(item.call, item.embeddings, item.fingerprint, {"embed": item.embed_s},
                        runner.submit(item.call, item.embeddings, self.settings.topics))

    def _start_summaries(self, p: _Pending) -> None:
        """Topics are back: record them (or the failure) and submit the firm's LLM work."""
        call = p.call
        try:
            p.topics, p.timings["topics"] = p.topics_future.result()
            prompts = [
                TopicPromptInput(
                    local_topic_id=t.local_topic_id,
                    keywords=list(t.keywords),
                    sentences=[call.sentences[i].text for i in t.representative_positions],
                )
                for t in p.topics.topics
            ]
            p.summaries = self.summarizer.submit_firm(call.firm_id, call.quarter, prompts)
        except Exception as exc:  # one firm's failure must not stop the others
            log.warning("firm %s quarter %s failed in topic modelling: %s", call.firm_id, call.quarter, exc)
            p.error = f"topic modelling failed: {type(exc).__name__}: {exc}"

    def _advance(self, pending: deque[_Pending], *, wait: bool) -> Iterator[FirmOutcome]:
        """Submit the LLM work of firms whose topics are back, then finish the firms at the head
        whose summaries are back, in reading order; with ``wait``, block until at least one is."""
        while True:
            for p in pending:
                if p.summaries is None and p.error is None and p.topics_future.done():
                    self._start_summaries(p)
            finished = False
            while pending and pending[0].ready:
                yield self._finish(pending.popleft())
                finished = True
            if finished or not wait or not pending:
                return
            self._check_stop()
            waiting = [p.topics_future for p in pending if p.summaries is None and p.error is None]
            if pending[0].summaries is not None:
                waiting.append(pending[0].summaries)
            concurrent.futures.wait(waiting, timeout=1.0, return_when=concurrent.futures.FIRST_COMPLETED)

    def _finish(self, p: _Pending) -> FirmOutcome:
        call = p.call
        if p.error is not None:
            return self._fail(call.firm_id, call.quarter, p.error, p.timings)
        try:
            t0 = time.perf_counter()
            summaries: list[TopicSummary] = p.summaries.result()
            p.timings["llm_wait"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            summary_emb = self._encode([s.summary for s in summaries])
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
            stats=FirmStats(
                sentences=counts["sentences"],
                topics=counts["topics"],
                outlier_share=round(p.topics.outlier_share, 4),
                topic_outcome=p.topics.outcome,
                topic_detail=p.topics.detail,
                summary_source=result.summary_source,
                fallback_reasons=tuple(sorted({s.fallback_reason for s in summaries if s.fallback_reason})),
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                llm_calls=usage.calls,
                quality=firm_quality(call, p.topics).as_dict(),
            ),
            timings=FirmTimings.from_mapping(p.timings),
        )

    def _fail(self, firm_id: str, quarter: str, reason: str, timings: dict | None = None) -> FirmOutcome:
        """A failed outcome, recorded in ``firm_runs`` (from whichever thread, on its own connection)."""
        message = f"firm {firm_id} quarter {quarter}: {reason}"
        try:
            with open_connection(self.database_url, autocommit=True) as conn:
                mark_firm(conn, firm_id, quarter, FAILED, message[:2000], self.run_id)
        except psycopg.Error:
            log.warning("could not record failure of firm %s quarter %s", firm_id, quarter)
        return FirmOutcome(firm_id, quarter, FAILED, error=message, timings=FirmTimings.from_mapping(timings or {}))


_SKIP_COLUMNS = ("sentences", "topics", "outlier_share", "topic_outcome", "summary_source", "prompt_tokens",
                 "completion_tokens", "llm_calls")


def _skip_if_current(conn: psycopg.Connection, call: FirmCall, fingerprint: str) -> FirmOutcome | None:
    """A skipped outcome if the stored rows of ``call`` were computed from ``fingerprint``."""
    try:
        if stored_fingerprint(conn, call.firm_id, call.quarter) != fingerprint:
            return None
        row = conn.execute(
            "SELECT n_sentences, n_topics, outlier_share, topic_outcome, summary_source, prompt_tokens,"
            " completion_tokens, llm_calls FROM firms WHERE firm_id = %s AND quarter = %s",
            (call.firm_id, call.quarter),
        ).fetchone()
    except psycopg.Error:
        return None
    if row is None:
        return None
    stored = {k: v for k, v in zip(_SKIP_COLUMNS, row, strict=True) if v is not None}
    return FirmOutcome(call.firm_id, call.quarter, SKIPPED, stats=FirmStats(**stored))

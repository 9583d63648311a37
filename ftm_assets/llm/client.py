"""Topic summaries and theme names from an OpenAI-compatible endpoint, with retries and an extractive fallback.

``TopicSummarizer`` owns one background thread running one asyncio event loop; the
``openai.AsyncOpenAI`` client (its own retries off) and the ``AdaptiveLimiter`` that caps
concurrent requests (AIMD on 429s, ``ftm_assets.llm.limiter``) live in that loop. Callers on
other threads hand work over with ``submit_firm`` (returns a ``concurrent.futures.Future`` at
once) or the blocking ``summarize_firm``/``name_themes``.

Every call is retried with jittered exponential backoff on 408/409/429/5xx, timeouts, dropped
connections and rejected content (empty or garbage), at most ``max_retries`` times; other errors
are not retried. When a call fails for good the text is extractive and ``fallback_reason`` says
why. In ``per_firm`` mode a firm's topics go out in one JSON request; a topic whose entry is
unusable (or all of them, when the answer is not well-formed JSON, which is not retried) gets
an ordinary per-topic call. Nothing here logs the API key, request headers or server error bodies.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import openai

from ftm_assets.llm.batch import batches, entry_reason, parse_firm_answer, split_usage
from ftm_assets.llm.extractive import extractive_theme_text, extractive_topic_summary
from ftm_assets.llm.limiter import CLEAN, OTHER, RATE_LIMITED, AdaptiveLimiter, AimdPolicy
from ftm_assets.llm.prompts import (
    ThemePromptInput,
    TopicPromptInput,
    firm_messages,
    theme_messages,
    topic_messages,
)
from ftm_assets.llm.settings import LlmSettings
from ftm_assets.llm.text import (
    EMPTY_CONTENT,
    GARBAGE_CONTENT,
    cut_at_sentence_boundary,
    drop_unfinished_sentence,
    parse_theme_answer,
    rejection_reason,
)
from ftm_assets.modeling.types import TokenUsage, TopicSummary

T = TypeVar("T")

NO_API_KEY = "no_api_key"
SOURCE_LLM = "llm"
SOURCE_EXTRACTIVE = "extractive"
#: HTTP statuses worth retrying besides 5xx (same set as the openai SDK's own retry rule).
RETRYABLE_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True)
class ThemeText:
    """Name and description of one theme. ``source`` is ``"llm"`` or ``"extractive"``."""

    name: str
    description: str
    source: str
    fallback_reason: str | None
    usage: TokenUsage


@dataclass(frozen=True)
class LlmCallStats:
    """Counts over a run: HTTP requests sent, retries among them, texts that fell back to
    extractive, answers that were HTTP 429, per-firm requests sent (first attempts) and topics
    of per-firm requests that needed their own per-topic call."""

    requests: int = 0
    retries: int = 0
    fallbacks: int = 0
    rate_limited: int = 0
    batch_calls: int = 0
    batch_topic_fallbacks: int = 0

    def __add__(self, other: LlmCallStats) -> LlmCallStats:
        return LlmCallStats(
            self.requests + other.requests,
            self.retries + other.retries,
            self.fallbacks + other.fallbacks,
            self.rate_limited + other.rate_limited,
            self.batch_calls + other.batch_calls,
            self.batch_topic_fallbacks + other.batch_topic_fallbacks,
        )


@dataclass(frozen=True)
class _CallResult:
    """Outcome of one logical call (all its attempts): the accepted value or the failure reason."""

    value: Any
    failure: str | None
    usage: TokenUsage


@dataclass(frozen=True)
class _ErrorVerdict:
    retryable: bool
    label: str
    retry_after_s: float | None = None


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds a server asked us to wait: ``retry-after-ms``, else ``retry-after`` as seconds or an
    HTTP date. ``None`` when absent or unreadable; never negative."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(
    retry_index: int, settings: LlmSettings, rng: random.Random, retry_after_s: float | None = None
) -> float:
    """Seconds to wait before retry ``retry_index`` (0 for the first retry).

    Exponential ``backoff_base_s * 2**retry_index`` capped at ``backoff_max_s``, with equal jitter
    (a uniform draw between half and all of it). A server's ``Retry-After`` raises the wait to at
    least that many seconds, but never above ``backoff_max_s``.
    """
    ceiling = min(settings.backoff_max_s, settings.backoff_base_s * 2 ** min(retry_index, 32))
    delay = ceiling * (0.5 + 0.5 * rng.random())
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return min(delay, settings.backoff_max_s)


def classify_error(exc: openai.OpenAIError) -> _ErrorVerdict:
    """Whether an SDK error is worth retrying, and a label for it that carries no server text."""
    label = type(exc).__name__
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status in RETRYABLE_STATUSES or status >= 500
        retry_after = retry_after_seconds(exc.response.headers) if retryable else None
        return _ErrorVerdict(retryable, label if retryable else f"{label} (HTTP {status})", retry_after)
    if isinstance(exc, openai.APIConnectionError | openai.APIResponseValidationError):
        return _ErrorVerdict(True, label)
    return _ErrorVerdict(False, label)


def _completion_parts(completion: Any) -> tuple[str | None, str | None, TokenUsage | None]:
    """``(content, finish_reason, usage)`` of a chat completion, tolerating missing fields."""
    raw_usage = getattr(completion, "usage", None)
    usage = None
    if raw_usage is not None:
        usage = TokenUsage(
            prompt_tokens=int(getattr(raw_usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(raw_usage, "completion_tokens", 0) or 0),
            calls=1,
        )
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list) or not choices:
        return None, None, usage
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    finish_reason = getattr(choices[0], "finish_reason", None)
    return (content if isinstance(content, str) else None), finish_reason, usage


def accept_summary(
    content: str | None, finish_reason: str | None, max_chars: int
) -> tuple[str | None, str | None]:
    """``(summary, None)`` for usable content, else ``(None, reason)``.

    An answer cut by the token limit loses its unfinished last sentence; any answer is cut at a
    sentence boundary to ``max_chars``.
    """
    reason = rejection_reason(content)
    if reason is not None or content is None:
        return None, reason or EMPTY_CONTENT
    if finish_reason == "length":
        content = drop_unfinished_sentence(content)
    return cut_at_sentence_boundary(content, max_chars), None


def accept_theme(
    content: str | None, finish_reason: str | None, max_chars: int
) -> tuple[tuple[str, str] | None, str | None]:
    """``((name, description), None)`` for a usable ``Name:``/``Description:`` answer, else ``(None, reason)``."""
    reason = rejection_reason(content)
    if reason is not None or content is None:
        return None, reason or EMPTY_CONTENT
    parsed = parse_theme_answer(content, max_chars)
    if parsed is None:
        return None, GARBAGE_CONTENT
    name, description = parsed
    if finish_reason == "length":
        description = drop_unfinished_sentence(description)
    return (name, description), None


class TopicSummarizer:
    """Writes topic summaries and theme texts for one run (one per Dagster run).

    Online (an API key is set) it owns ONE background thread running ONE asyncio event loop; the
    ``AsyncOpenAI`` client (``max_retries=0``, ``timeout=settings.timeout_s``) and the
    ``AdaptiveLimiter`` (at most ``settings.max_concurrency`` requests in flight, fewer after
    429s while ``settings.adaptive_concurrency``) are created inside that loop. Offline it
    starts no thread and makes no HTTP request: every text is extractive with reason
    ``"no_api_key"``.

    Use it as a context manager, or call ``start()`` and ``close()``. ``close()`` waits for work
    in flight (leaving a ``with`` block on an exception cancels it instead), closes the client
    and stops the loop. Done-callbacks of returned futures run on the loop thread.
    """

    def __init__(self, settings: LlmSettings, logger: logging.Logger | None = None) -> None:
        self._settings = settings
        self._log = logger or logging.getLogger(__name__)
        self._state_lock = threading.Lock()
        self._started = False
        self._closed = False
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: openai.AsyncOpenAI | None = None
        self._limiter: AdaptiveLimiter | None = None
        self._rng = random.Random()  # backoff jitter; used on the loop thread only
        self._counts_lock = threading.Lock()
        self._usage = TokenUsage()
        self._stats = LlmCallStats()

    def __repr__(self) -> str:
        return (
            f"TopicSummarizer(model={self._settings.model!r}, base_url={self._settings.base_url!r}, "
            f"offline={self.offline})"
        )

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def offline(self) -> bool:
        """True when no API key is configured."""
        return self._settings.offline

    @property
    def settings(self) -> LlmSettings:
        return self._settings

    def start(self) -> TopicSummarizer:
        """Start the event-loop thread and create the client inside it (nothing to start offline)."""
        with self._state_lock:
            if self._closed:
                raise RuntimeError("TopicSummarizer is closed; create a new one per run")
            if self._started:
                return self
            self._started = True
            if self.offline:
                self._log.info(
                    "No LLM API key configured: topic summaries and theme names will be extractive"
                )
                return self
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=self._run_loop, args=(loop,), name="ftm-llm-loop", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(self._open_client(), loop).result()
        except BaseException:
            with self._state_lock:
                self._closed = True
            self._stop_loop()
            raise
        return self

    def close(self, cancel_pending: bool = False) -> None:
        """Wait for (or with ``cancel_pending`` cancel) submitted work, close the client, stop the loop.

        Idempotent. Must not be called from a done-callback (those run on the loop thread).
        """
        if self._thread is not None and threading.current_thread() is self._thread:
            raise RuntimeError("TopicSummarizer.close() called from its own event-loop thread")
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._pending)
            loop = self._loop
        if loop is None:
            return
        if cancel_pending:
            for future in pending:
                future.cancel()
        concurrent.futures.wait(pending)
        try:
            asyncio.run_coroutine_threadsafe(self._close_client(), loop).result()
        finally:
            self._stop_loop()

    def __enter__(self) -> TopicSummarizer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self.close(cancel_pending=exc_type is not None)

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join()

    async def _open_client(self) -> None:
        self._client = openai.AsyncOpenAI(
            api_key=self._settings.api_key,
            base_url=self._settings.base_url,
            timeout=self._settings.timeout_s,
            max_retries=0,
        )
        settings = self._settings
        self._limiter = AdaptiveLimiter(
            AimdPolicy(
                settings.initial_concurrency,
                settings.max_concurrency,
                max_pause_s=settings.backoff_max_s,
                adaptive=settings.adaptive_concurrency,
            )
        )

    async def _close_client(self) -> None:
        # Let cancelled calls unwind (their connections close) before the client goes away.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await asyncio.gather(*others, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _schedule(self, coro_factory: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        with self._state_lock:
            if self._closed:
                raise RuntimeError("TopicSummarizer is closed; create a new one per run")
            if not self._started or self._loop is None:
                raise RuntimeError(
                    "TopicSummarizer is not started; use `with TopicSummarizer(...)` or start()"
                )
            future = asyncio.run_coroutine_threadsafe(coro_factory(), self._loop)
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._state_lock:
            self._pending.discard(future)

    def _require_started(self) -> None:
        with self._state_lock:
            if self._closed:
                raise RuntimeError("TopicSummarizer is closed; create a new one per run")
            if not self._started:
                raise RuntimeError(
                    "TopicSummarizer is not started; use `with TopicSummarizer(...)` or start()"
                )

    # -- accounting ------------------------------------------------------------------------
    @property
    def usage(self) -> TokenUsage:
        """Tokens and calls (HTTP calls that returned usage) over the run so far."""
        with self._counts_lock:
            return self._usage

    @property
    def call_stats(self) -> LlmCallStats:
        """HTTP requests sent, retries among them, extractive fallbacks, 429s and per-firm
        counts, over the run so far."""
        with self._counts_lock:
            return self._stats

    @property
    def concurrency_limit(self) -> int | None:
        """Requests allowed in flight right now (``None`` offline or before ``start()``)."""
        limiter = self._limiter
        return None if limiter is None else limiter.limit

    def _count(self, *, usage: TokenUsage | None = None, **counts: int) -> None:
        with self._counts_lock:
            self._stats = self._stats + LlmCallStats(**counts)
            if usage is not None:
                self._usage = self._usage + usage

    # -- public work -----------------------------------------------------------------------
    def submit_firm(
        self, firm_id: str, quarter: str, topics: Sequence[TopicPromptInput]
    ) -> concurrent.futures.Future[list[TopicSummary]]:
        """Start summarising one firm's topics and return at once; the result keeps the topics' order."""
        topics = tuple(topics)
        if self.offline:
            self._require_started()
            done: concurrent.futures.Future[list[TopicSummary]] = concurrent.futures.Future()
            done.set_result([self._extractive_summary(t, NO_API_KEY, TokenUsage()) for t in topics])
            self._count(fallbacks=len(topics))
            return done
        return self._schedule(lambda: self._summarize_firm(firm_id, quarter, topics))

    def summarize_firm(
        self, firm_id: str, quarter: str, topics: Sequence[TopicPromptInput]
    ) -> list[TopicSummary]:
        """Blocking ``submit_firm(...).result()``."""
        return self.submit_firm(firm_id, quarter, topics).result()

    def name_themes(self, quarter: str, themes: Sequence[ThemePromptInput]) -> list[ThemeText]:
        """Name and describe the quarter's themes (concurrently inside); the result keeps their order."""
        themes = tuple(themes)
        if self.offline:
            self._require_started()
            self._count(fallbacks=len(themes))
            return [self._extractive_theme(t, NO_API_KEY, TokenUsage()) for t in themes]
        return self._schedule(lambda: self._name_themes(quarter, themes)).result()

    # -- inside the loop -------------------------------------------------------------------
    async def _summarize_firm(
        self, firm_id: str, quarter: str, topics: tuple[TopicPromptInput, ...]
    ) -> list[TopicSummary]:
        ids = [t.local_topic_id for t in topics]
        if self._settings.mode != "per_firm" or len(topics) < 2 or len(set(ids)) != len(ids):
            # One topic needs no batch; duplicate ids could not be told apart in a JSON answer.
            return list(await asyncio.gather(*(self._summarize_topic(firm_id, quarter, t) for t in topics)))
        ordered = sorted(topics, key=lambda t: t.local_topic_id)
        chunks = batches(ordered, self._settings.batch_max_topics)
        done: dict[int, TopicSummary] = {}
        for part in await asyncio.gather(*(self._summarize_batch(firm_id, quarter, c) for c in chunks)):
            done.update(part)
        return [done[topic_id] for topic_id in ids]

    async def _summarize_batch(
        self, firm_id: str, quarter: str, topics: list[TopicPromptInput]
    ) -> dict[int, TopicSummary]:
        """Several topics (ascending ids) in one JSON request; per-topic calls for the entries
        that cannot be used. The batch's usage is split over the topics (``split_usage``)."""
        what = (
            f"firm {firm_id} quarter {quarter} topics {topics[0].local_topic_id}-{topics[-1].local_topic_id}"
        )
        self._count(batch_calls=1)
        result = await self._call(
            firm_messages(firm_id, quarter, topics, self._settings),
            parse_firm_answer,
            what,
            batch_size=len(topics),
        )
        entries = result.value if result.failure is None else {}
        done: dict[int, TopicSummary] = {}
        redo: list[tuple[TopicPromptInput, TokenUsage, str]] = []
        for topic, share in zip(topics, split_usage(result.usage, len(topics)), strict=True):
            reason = result.failure or entry_reason(entries, topic.local_topic_id)
            summary = None
            if reason is None:
                summary, reason = accept_summary(
                    entries[topic.local_topic_id], "stop", self._settings.max_summary_chars
                )
            if summary is not None:
                done[topic.local_topic_id] = TopicSummary(
                    topic.local_topic_id, summary, SOURCE_LLM, None, share
                )
            else:
                redo.append((topic, share, reason or "batch_entry_rejected"))
        if redo:
            self._count(batch_topic_fallbacks=len(redo))
            self._log.info(
                "LLM answer for %s: %d of %d topics need their own request (%s)",
                what,
                len(redo),
                len(topics),
                ", ".join(sorted({reason for _, _, reason in redo})),
            )
            again = await asyncio.gather(*(self._summarize_topic(firm_id, quarter, t) for t, _, _ in redo))
            for (_, share, _), summary in zip(redo, again, strict=True):
                done[summary.local_topic_id] = TopicSummary(
                    summary.local_topic_id,
                    summary.summary,
                    summary.source,
                    summary.fallback_reason,
                    share + summary.usage,
                )
        return done

    async def _summarize_topic(self, firm_id: str, quarter: str, topic: TopicPromptInput) -> TopicSummary:
        result = await self._call(
            topic_messages(firm_id, quarter, topic, self._settings),
            accept_summary,
            f"firm {firm_id} quarter {quarter} topic {topic.local_topic_id}",
        )
        if result.failure is None:
            return TopicSummary(topic.local_topic_id, result.value, SOURCE_LLM, None, result.usage)
        return self._extractive_summary(topic, result.failure, result.usage)

    async def _name_themes(self, quarter: str, themes: tuple[ThemePromptInput, ...]) -> list[ThemeText]:
        return list(await asyncio.gather(*(self._name_theme(quarter, i, t) for i, t in enumerate(themes))))

    async def _name_theme(self, quarter: str, position: int, theme: ThemePromptInput) -> ThemeText:
        result = await self._call(
            theme_messages(quarter, theme, self._settings),
            accept_theme,
            f"quarter {quarter} theme #{position}",
        )
        if result.failure is None:
            name, description = result.value
            return ThemeText(name, description, SOURCE_LLM, None, result.usage)
        return self._extractive_theme(theme, result.failure, result.usage)

    def _extractive_summary(self, topic: TopicPromptInput, reason: str, usage: TokenUsage) -> TopicSummary:
        text = extractive_topic_summary(topic, self._settings.max_summary_chars)
        return TopicSummary(topic.local_topic_id, text, SOURCE_EXTRACTIVE, reason, usage)

    def _extractive_theme(self, theme: ThemePromptInput, reason: str, usage: TokenUsage) -> ThemeText:
        name, description = extractive_theme_text(theme, self._settings.max_summary_chars)
        return ThemeText(name, description, SOURCE_EXTRACTIVE, reason, usage)

    def _request_kwargs(self, messages: list[dict[str, str]], batch_size: int = 0) -> dict[str, Any]:
        """Request parameters; a per-firm request (``batch_size`` topics) gets ``max_tokens`` per
        topic plus room for the JSON, and ``response_format`` ``json_object`` if so configured."""
        settings = self._settings
        kwargs: dict[str, Any] = {
            "model": settings.model,
            "messages": messages,
            "max_tokens": settings.max_tokens * batch_size + 64 if batch_size else settings.max_tokens,
            "temperature": settings.temperature,
        }
        if batch_size and settings.json_response_format:
            kwargs["response_format"] = {"type": "json_object"}
        if settings.reasoning_effort is not None:
            kwargs["reasoning_effort"] = settings.reasoning_effort
        return kwargs

    async def _call(
        self,
        messages: list[dict[str, str]],
        accept: Callable[[str | None, str | None, int], tuple[Any, str | None]],
        what: str,
        batch_size: int = 0,
    ) -> _CallResult:
        """One logical call: up to ``1 + max_retries`` HTTP requests until ``accept`` takes the content.

        Never raises for an LLM failure; the result then carries the fallback reason. A per-firm
        call (``batch_size`` > 0) does not retry rejected content and counts no fallback: its
        caller falls back per topic.
        """
        assert self._client is not None and self._limiter is not None
        settings = self._settings
        usage = TokenUsage()
        attempts = settings.max_retries + 1
        failure = "llm_failed"  # the reason given if this attempt turns out to be the last
        problem = ""  # what went wrong on this attempt, for the log
        for attempt in range(attempts):
            retry_after_s: float | None = None
            try:
                ticket = await self._limiter.acquire()
                outcome = OTHER
                try:
                    self._count(requests=1, retries=1 if attempt else 0)
                    completion = await self._client.chat.completions.create(
                        **self._request_kwargs(messages, batch_size)
                    )
                    outcome = CLEAN
                except openai.APIStatusError as exc:
                    if exc.status_code == 429:
                        outcome = RATE_LIMITED
                        self._count(rate_limited=1)
                        retry_after_s = retry_after_seconds(exc.response.headers)
                    raise
                finally:
                    self._limiter.release(ticket, outcome, retry_after_s)
            except openai.OpenAIError as exc:
                verdict = classify_error(exc)
                if not verdict.retryable:
                    return self._give_up(what, f"llm_error: {verdict.label}", usage, batch_size)
                problem = verdict.label
                failure = f"llm_failed_after_retries: {verdict.label}"
                retry_after_s = verdict.retry_after_s
            except Exception as exc:  # noqa: BLE001 - an unexpected SDK failure must not end the run
                self._log.error(
                    "LLM call for %s raised an unexpected %s; using extractive text", what, type(exc).__name__
                )
                return self._give_up(what, f"llm_error: {type(exc).__name__}", usage, batch_size)
            else:
                content, finish_reason, call_usage = _completion_parts(completion)
                if call_usage is not None:
                    usage = usage + call_usage
                    self._count(usage=call_usage)
                value, reason = accept(content, finish_reason, settings.max_summary_chars)
                if reason is None:
                    return _CallResult(value, None, usage)
                if batch_size:
                    return self._give_up(what, reason, usage, batch_size)
                problem = failure = reason
            if attempt + 1 < attempts:
                delay = backoff_delay(attempt, settings, self._rng, retry_after_s)
                self._log.debug(
                    "LLM call for %s failed (%s) on attempt %d of %d; retrying in %.2f s",
                    what,
                    problem,
                    attempt + 1,
                    attempts,
                    delay,
                )
                await asyncio.sleep(delay)
        return self._give_up(what, failure, usage, batch_size)

    def _give_up(self, what: str, reason: str, usage: TokenUsage, batch_size: int = 0) -> _CallResult:
        if batch_size:
            self._log.warning(
                "LLM call for %s gave no usable JSON (%s); one request per topic instead", what, reason
            )
        else:
            self._count(fallbacks=1)
            self._log.warning("LLM call for %s gave no usable text (%s); using extractive text", what, reason)
        return _CallResult(None, reason, usage)

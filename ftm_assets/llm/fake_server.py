"""A local OpenAI-compatible chat-completions server with injectable faults, for tests and benchmarks.

``FakeOpenAIServer`` answers ``POST /v1/chat/completions`` on 127.0.0.1 with a deterministic
summary built from the prompt's ``Keywords:`` line (for a per-firm prompt, whose topics stand
under ``--- Topic <id> ---`` headers, a JSON object ``{"topics": [{"id", "summary"}]}`` with the
same summary per topic), and ``usage`` counted in words.

An emulated provider rate limit answers HTTP 429 at once, before any fault, with ``Retry-After``
(whole seconds) and ``retry-after-ms``: beyond ``rate_limit_rpm`` requests per minute (a token
bucket holding ``rate_limit_burst`` requests, refilled at ``rpm / 60`` per second; the wait is
the time to the next token) and beyond ``max_concurrent`` requests in flight (the wait is
``rate_limit_retry_after_s``). Rate-limited requests are recorded but never count as in flight.

Faults come first from ``script`` (consumed in order), then at ``fault_rate`` from a seeded RNG:

- ``"429"``: rate limited, with ``Retry-After: 0`` or ``1``;  ``"500"``: server error;
- ``"timeout"``: no answer until ``timeout_sleep_s`` passes (or the client hangs up), then the
  connection is closed; choose ``timeout_sleep_s`` above the client's timeout;
- ``"drop"``: the connection is closed without a response;
- ``"empty"``: content ``""``;  ``"garbage"``: control characters and symbols;
- ``"overlong"``: several thousand characters of prose;
- ``"401"`` (script only): authentication error;
- ``"bad_json"``, ``"partial_json"`` (per-firm prompts only: from ``script``, or at
  ``batch_fault_rate`` among per-firm requests that drew no other fault): JSON cut in half, or
  valid JSON with the last topic's entry missing and the first one's summary empty. On a
  per-topic prompt they answer like ``"ok"``.

Each answer waits ``latency_s`` plus ``latency_per_word_s`` per word of its content (so a
per-firm answer, several summaries long, takes longer than a per-topic one) plus a seeded
uniform draw from ``[0, latency_jitter_s)`` (so concurrent clients do not stay in lockstep).

It records every request (body and headers), the most requests in flight at once, and a count
per outcome (``"rate_limited_rpm"``, ``"rate_limited_concurrency"`` for the emulated limit). Run
it alone with ``python -m ftm_assets.llm.fake_server --port 8089 --latency 0.05 --fault-rate 0.3
--rpm 600 --max-concurrent 32``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import re
import select
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ALL_FAULTS: tuple[str, ...] = ("429", "500", "timeout", "drop", "empty", "garbage", "overlong")
SCRIPT_ONLY_FAULTS: tuple[str, ...] = ("401",)
#: Faults of per-firm (JSON) answers.
BATCH_FAULTS: tuple[str, ...] = ("bad_json", "partial_json")
#: Outcomes whose response carries a ``usage`` block.
OUTCOMES_WITH_USAGE: tuple[str, ...] = ("ok", "empty", "garbage", "overlong", *BATCH_FAULTS)
#: Outcomes of the emulated provider rate limit (HTTP 429).
RATE_LIMIT_OUTCOMES: tuple[str, ...] = ("rate_limited_rpm", "rate_limited_concurrency")

CHAT_PATH = "/v1/chat/completions"
_POLL_S = 0.02
#: Longest a request waits while the server is paused (keeps every loop bounded).
MAX_PAUSE_S = 60.0
#: Idle keep-alive connections are closed after this many seconds.
IDLE_CONNECTION_S = 30.0
_GARBAGE_ALPHABET = "\x00\x01\x02\x1b#@!$%^&*~|<>{}[]=+\\/?;:"
_KEYWORDS_LINE = re.compile(r"^Keywords:\s*(.*)$", re.MULTILINE)
_TOPIC_HEADER = re.compile(r"^--- Topic (-?\d+) ---$", re.MULTILINE)


def _word_count(text: str) -> int:
    return len(text.split())


def _message_text(body: dict[str, Any], role: str) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    return "\n".join(
        str(m.get("content", "")) for m in messages if isinstance(m, dict) and m.get("role") == role
    )


def _keywords_in(text: str) -> list[str]:
    match = _KEYWORDS_LINE.search(text)
    if not match or match.group(1).strip() in ("", "(none)"):
        return []
    return [k.strip() for k in match.group(1).split(",") if k.strip()]


def _prompt_keywords(body: dict[str, Any]) -> list[str]:
    return _keywords_in(_message_text(body, "user"))


def firm_prompt_topics(body: dict[str, Any]) -> list[tuple[int, list[str]]] | None:
    """``[(topic id, keywords)]`` of a per-firm prompt (topics under ``--- Topic <id> ---``
    headers, an answer asked for as JSON ``"topics"``), or ``None`` for any other prompt."""
    user = _message_text(body, "user")
    headers = list(_TOPIC_HEADER.finditer(user))
    if not headers or '"topics"' not in _message_text(body, "system") + user:
        return None
    topics = []
    for i, header in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(user)
        topics.append((int(header.group(1)), _keywords_in(user[header.end() : end])))
    return topics


def _phrase(words: Sequence[str]) -> str:
    if not words:
        return "the topic"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


def _summary_of(keywords: Sequence[str]) -> str:
    lead = _phrase(keywords[:3])
    return f"The discussion centred on {lead}. Management linked {lead} to the quarter's results and outlook."


def _firm_answer(topics: list[tuple[int, list[str]]], fault: str | None = None) -> str:
    entries = [{"id": topic_id, "summary": _summary_of(keywords)} for topic_id, keywords in topics]
    if fault == "partial_json":
        entries = entries[:-1]
        if entries:
            entries[0]["summary"] = ""
    text = json.dumps({"topics": entries})
    return text[: len(text) // 2] if fault == "bad_json" else text


def fake_answer(body: dict[str, Any]) -> str:
    """The deterministic answer to a chat request: for a per-firm prompt a JSON object with one
    summary per topic, for a theme prompt a ``Name:``/``Description:`` pair, else a two-sentence
    summary naming the prompt's first keywords."""
    topics = firm_prompt_topics(body)
    if topics is not None:
        return _firm_answer(topics)
    keywords = _prompt_keywords(body)
    lead = _phrase(keywords[:3])
    asks_for_name = "Description:" in _message_text(body, "system") + _message_text(body, "user")
    if asks_for_name:
        name = " ".join(k.capitalize() for k in keywords[:3]) or "General Business Update"
        return (
            f"Name: {name}\n"
            f"Description: Several firms discussed {lead} during the quarter. "
            f"Management teams linked {lead} to their results and outlook."
        )
    return _summary_of(keywords)


def _overlong_answer(body: dict[str, Any], n_sentences: int = 60) -> str:
    lead = _phrase(_prompt_keywords(body)[:3])
    return " ".join(
        f"Point {i} of the discussion returned to {lead} and its effect on the quarter's results."
        for i in range(1, n_sentences + 1)
    )


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default backlog of 5 drops connections when many clients connect at once.
    request_queue_size = 256
    fake: FakeOpenAIServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_S
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Silent: the default writes every request line to stderr."""

    def do_POST(self) -> None:
        self.server.fake._handle(self)

    def do_GET(self) -> None:
        self.server.fake._handle(self)


class FakeOpenAIServer:
    """OpenAI-compatible fake on ``127.0.0.1`` (see the module docstring). Use as a context manager
    or call ``start()``/``close()``; ``base_url`` is ``http://127.0.0.1:PORT/v1``."""

    def __init__(
        self,
        latency_s: float = 0.0,
        fault_rate: float = 0.0,
        faults: Sequence[str] = ALL_FAULTS,
        seed: int = 0,
        timeout_sleep_s: float = 2.0,
        script: Sequence[str | None] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency_per_word_s: float = 0.0,
        latency_jitter_s: float = 0.0,
        rate_limit_rpm: float | None = None,
        rate_limit_burst: int | None = None,
        max_concurrent: int | None = None,
        rate_limit_retry_after_s: float = 1.0,
        batch_fault_rate: float = 0.0,
        batch_faults: Sequence[str] = BATCH_FAULTS,
    ) -> None:
        known = set(ALL_FAULTS) | set(SCRIPT_ONLY_FAULTS) | set(BATCH_FAULTS)
        unknown = [f for f in [*faults, *script] if f is not None and f not in known]
        unknown += [f for f in batch_faults if f not in BATCH_FAULTS]
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; known: {sorted(known)}")
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be in [0, 1], got {fault_rate}")
        if fault_rate > 0 and not faults:
            raise ValueError("fault_rate > 0 needs at least one fault")
        if not 0.0 <= batch_fault_rate <= 1.0:
            raise ValueError(f"batch_fault_rate must be in [0, 1], got {batch_fault_rate}")
        if batch_fault_rate > 0 and not batch_faults:
            raise ValueError("batch_fault_rate > 0 needs at least one batch fault")
        if rate_limit_rpm is not None and rate_limit_rpm <= 0:
            raise ValueError(f"rate_limit_rpm must be > 0, got {rate_limit_rpm}")
        if rate_limit_burst is not None and rate_limit_burst < 1:
            raise ValueError(f"rate_limit_burst must be >= 1, got {rate_limit_burst}")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
        if min(latency_per_word_s, latency_jitter_s, rate_limit_retry_after_s) < 0:
            raise ValueError("latency_per_word_s, latency_jitter_s and rate_limit_retry_after_s must be >= 0")
        self.latency_s = latency_s
        self.latency_per_word_s = latency_per_word_s
        self.latency_jitter_s = latency_jitter_s
        self.rate_limit_rpm = rate_limit_rpm
        self.rate_limit_burst = (
            rate_limit_burst if rate_limit_burst is not None else max(1, int(rate_limit_rpm or 0) // 60)
        )
        self.max_concurrent = max_concurrent
        self.rate_limit_retry_after_s = rate_limit_retry_after_s
        self.batch_fault_rate = batch_fault_rate
        self.batch_faults = tuple(batch_faults)
        self._tokens = float(self.rate_limit_burst)
        self._tokens_at = time.monotonic()
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.timeout_sleep_s = timeout_sleep_s
        self._host = host
        self._port = port
        self._rng = random.Random(seed)
        self._jitter_rng = random.Random(seed + 1)  # its own stream: jitter leaves the faults' sequence alone
        self._script = list(script)
        self._lock = threading.Lock()
        self._in_flight_changed = threading.Condition(self._lock)
        self._requests: list[dict[str, Any]] = []
        self._outcomes: Counter[str] = Counter()
        self._in_flight = 0
        self._max_in_flight = 0
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._resumed = threading.Event()
        self._resumed.set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            raise RuntimeError("FakeOpenAIServer already started")
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai-server", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, wake sleeping handlers and close open connections."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._resumed.set()
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}/v1"

    # -- observations ----------------------------------------------------------------------
    @property
    def requests(self) -> list[dict[str, Any]]:
        """Recorded requests, in arrival order: ``path``, ``headers`` (lower-case names),
        ``body`` (parsed JSON or ``None``), ``raw_body`` (text) and ``outcome``."""
        with self._lock:
            return [dict(r) for r in self._requests]

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def count_by_outcome(self) -> dict[str, int]:
        with self._lock:
            return dict(self._outcomes)

    @property
    def rate_limited_count(self) -> int:
        """Requests answered 429 by the emulated rate limit (not counting scripted ``"429"`` faults)."""
        with self._lock:
            return sum(self._outcomes[o] for o in RATE_LIMIT_OUTCOMES)

    def pause(self) -> None:
        """Hold every request (after it is recorded) until ``resume()`` (at most ``MAX_PAUSE_S``)."""
        self._resumed.clear()

    def resume(self) -> None:
        self._resumed.set()

    def wait_for_in_flight(self, n: int, timeout_s: float = 10.0) -> bool:
        """Block until at least ``n`` requests are in flight; False if that did not happen in time."""
        deadline = time.monotonic() + timeout_s
        with self._in_flight_changed:
            while self._in_flight < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._in_flight_changed.wait(remaining)
            return True

    def wait_for_requests(self, n: int, timeout_s: float = 10.0) -> bool:
        """Block until at least ``n`` requests were recorded; False if that did not happen in time."""
        deadline = time.monotonic() + timeout_s
        with self._in_flight_changed:
            while len(self._requests) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._in_flight_changed.wait(remaining)
            return True

    # -- request handling ------------------------------------------------------------------
    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _next_fault(self, batch: bool) -> str | None:
        """Called with the lock held."""
        if self._script:
            fault = self._script.pop(0)
            return fault if batch or fault not in BATCH_FAULTS else None
        if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
            return self._rng.choice(self.faults)
        if batch and self.batch_fault_rate > 0 and self._rng.random() < self.batch_fault_rate:
            return self._rng.choice(self.batch_faults)
        return None

    def _rate_limit(self, now: float) -> tuple[str, float] | None:
        """``(outcome, retry-after seconds)`` when the emulated limit refuses a request that
        arrives now, else ``None`` (and the request takes a token). Called with the lock held."""
        if self.max_concurrent is not None and self._in_flight >= self.max_concurrent:
            return "rate_limited_concurrency", self.rate_limit_retry_after_s
        if self.rate_limit_rpm is not None:
            per_s = self.rate_limit_rpm / 60.0
            self._tokens = min(float(self.rate_limit_burst), self._tokens + (now - self._tokens_at) * per_s)
            self._tokens_at = now
            if self._tokens < 1.0:
                return "rate_limited_rpm", (1.0 - self._tokens) / per_s
            self._tokens -= 1.0
        return None

    def _handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        raw_text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(raw_text) if raw_text else None
        except json.JSONDecodeError:
            body = None
        path = handler.path.split("?", 1)[0]
        limited: tuple[str, float] | None = None
        with self._lock:
            if handler.command != "POST" or path != CHAT_PATH:
                outcome = "not_found"
            elif not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                outcome = "bad_request"
            else:
                limited = self._rate_limit(time.monotonic())
                outcome = (
                    limited[0] if limited else self._next_fault(firm_prompt_topics(body) is not None) or "ok"
                )
            retry_after: float | None = None
            if outcome == "429":
                retry_after = self._rng.choice((0, 1))
            elif limited is not None:
                retry_after = limited[1]
            garbage = "".join(self._rng.choice(_GARBAGE_ALPHABET) for _ in range(48))
            jitter = self._jitter_rng.random() * self.latency_jitter_s if self.latency_jitter_s else 0.0
            self._requests.append(
                {
                    "path": path,
                    "headers": {k.lower(): v for k, v in handler.headers.items()},
                    "body": body,
                    "raw_body": raw_text,
                    "outcome": outcome,
                }
            )
            self._outcomes[outcome] += 1
            if limited is None:
                self._in_flight += 1
                self._max_in_flight = max(self._max_in_flight, self._in_flight)
            self._in_flight_changed.notify_all()
        if limited is not None:
            status, payload, headers = self._response(outcome, body, retry_after, garbage)
            self._send_json(handler, status, payload, headers)
            return
        released = False

        def release() -> None:
            # Leave the in-flight count before the client can see an answer, so a client that
            # sends its next request on receipt is never counted twice.
            nonlocal released
            if not released:
                released = True
                with self._lock:
                    self._in_flight -= 1
                    self._in_flight_changed.notify_all()

        try:
            self._wait_while_paused()
            status, payload, headers = 0, {}, {}
            if outcome not in ("drop", "timeout"):
                status, payload, headers = self._response(outcome, body, retry_after, garbage)
            latency = self.latency_s + jitter + self.latency_per_word_s * _word_count(_content_of(payload))
            if latency > 0:
                self._stopping.wait(latency)
            if outcome == "drop":
                release()
                self._hang_up(handler)
            elif outcome == "timeout":
                self._wait_for_hang_up(handler.connection, self.timeout_sleep_s)
                release()
                self._hang_up(handler)
            else:
                release()
                self._send_json(handler, status, payload, headers)
        finally:
            release()

    def _wait_while_paused(self) -> None:
        deadline = time.monotonic() + MAX_PAUSE_S
        while not self._resumed.wait(_POLL_S) and time.monotonic() < deadline:
            pass

    def _wait_for_hang_up(self, conn: socket.socket, max_wait_s: float) -> None:
        """Sleep up to ``max_wait_s``, returning early when the client closes the connection or the server stops."""
        deadline = time.monotonic() + max_wait_s
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                readable, _, _ = select.select([conn], [], [], min(_POLL_S, remaining))
                if readable and conn.recv(1, socket.MSG_PEEK) == b"":
                    return
            except (OSError, ValueError):
                return

    @staticmethod
    def _hang_up(handler: _Handler) -> None:
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _send_json(handler: _Handler, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            handler.close_connection = True

    def _response(
        self, outcome: str, body: Any, retry_after: float | None, garbage: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if outcome == "not_found":
            return 404, _error("not found", "invalid_request_error", "not_found"), {}
        if outcome == "bad_request":
            return 400, _error("request body must be JSON with messages", "invalid_request_error", None), {}
        if outcome == "429":
            return (
                429,
                _error("rate limit exceeded (fake)", "rate_limit_error", "rate_limit_exceeded"),
                {"Retry-After": str(retry_after)},
            )
        if outcome in RATE_LIMIT_OUTCOMES:
            wait = retry_after or 0.0
            return (
                429,
                _error(f"rate limit exceeded (fake, {outcome})", "rate_limit_error", "rate_limit_exceeded"),
                {"Retry-After": str(math.ceil(wait)), "retry-after-ms": str(math.ceil(wait * 1000))},
            )
        if outcome == "500":
            return 500, _error("internal server error (fake)", "server_error", None), {}
        if outcome == "401":
            return 401, _error("invalid API key (fake)", "invalid_request_error", "invalid_api_key"), {}
        if outcome in BATCH_FAULTS:
            topics = firm_prompt_topics(body)
            content = fake_answer(body) if topics is None else _firm_answer(topics, outcome)
        else:
            content = {
                "ok": fake_answer,
                "empty": lambda _b: "",
                "garbage": lambda _b: garbage,
                "overlong": _overlong_answer,
            }[outcome](body)
        prompt_tokens = sum(
            _word_count(str(m.get("content", ""))) for m in body["messages"] if isinstance(m, dict)
        )
        completion_tokens = _word_count(content)
        n = self.request_count
        return (
            200,
            {
                "id": f"chatcmpl-fake-{n}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": str(body.get("model", "fake-model")),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
            {},
        )


def _content_of(payload: dict[str, Any]) -> str:
    choices = payload.get("choices")
    if not choices:
        return ""
    return str(choices[0].get("message", {}).get("content", ""))


def _error(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fake OpenAI-compatible chat-completions server with faults."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--faults", default=",".join(ALL_FAULTS), help="comma-separated fault kinds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--timeout-sleep", type=float, default=2.0, help="seconds a 'timeout' fault holds a request"
    )
    parser.add_argument("--latency-per-word", type=float, default=0.0, help="extra seconds per answer word")
    parser.add_argument("--latency-jitter", type=float, default=0.0, help="extra seconds, uniform in [0, x)")
    parser.add_argument(
        "--rpm", type=float, default=None, help="emulated requests-per-minute limit (429 beyond)"
    )
    parser.add_argument(
        "--rpm-burst", type=int, default=None, help="token-bucket size of --rpm (default rpm/60)"
    )
    parser.add_argument(
        "--max-concurrent", type=int, default=None, help="emulated in-flight limit (429 beyond)"
    )
    parser.add_argument(
        "--rate-limit-retry-after", type=float, default=1.0, help="Retry-After of --max-concurrent 429s"
    )
    parser.add_argument(
        "--batch-fault-rate", type=float, default=0.0, help="share of per-firm answers with broken JSON"
    )
    args = parser.parse_args(argv)
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = FakeOpenAIServer(
        latency_s=args.latency,
        fault_rate=args.fault_rate,
        faults=faults,
        seed=args.seed,
        timeout_sleep_s=args.timeout_sleep,
        host=args.host,
        port=args.port,
        latency_per_word_s=args.latency_per_word,
        latency_jitter_s=args.latency_jitter,
        rate_limit_rpm=args.rpm,
        rate_limit_burst=args.rpm_burst,
        max_concurrent=args.max_concurrent,
        rate_limit_retry_after_s=args.rate_limit_retry_after,
        batch_fault_rate=args.batch_fault_rate,
    )
    with server:
        print(f"fake OpenAI server listening on {server.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
        print(
            f"requests by outcome: {server.count_by_outcome}; max in flight: {server.max_in_flight}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Firm topic modelling off the main process: a pool of long-lived worker processes.

The firm stage's CPU wall is BERTopic (UMAP is single-threaded when seeded), so a 16-core box
runs one firm per core: the main process embeds (GPU or CPU), hands each firm's call and vectors
to :class:`TopicWorkerPool`, and goes on with the LLM calls and database writes of earlier firms.

Choices, and why:

* **Long-lived ``spawn`` processes, not a ``ProcessPoolExecutor``.** Each worker imports
  BERTopic/UMAP/HDBSCAN once and warms numba once (a small fit at start), and never loads the
  embedding model. ``spawn`` because the main process holds CUDA and threads (``fork`` is unsafe
  there). A killed worker breaks a ``ProcessPoolExecutor`` for every firm in flight; here the
  dispatcher knows which firm each worker holds, fails only that firm (:class:`WorkerDied`) and
  starts a replacement.
* **One thread per worker.** BLAS/OpenMP/numba are limited to one thread in each worker, so N
  workers use N cores and the result of a firm does not depend on how many workers run.
  ``build_firm_topics`` is deterministic, so a firm gives identical topics in any worker and
  with any worker count (tested).
* **Futures.** :meth:`TopicWorkerPool.submit` returns a ``concurrent.futures.Future`` at once;
  a dispatcher thread sends tasks to idle workers and resolves futures as results arrive. The
  caller bounds how many firms it submits (the firm stage keeps a bounded window), so memory
  does not grow with the quarter.
* ``workers=0`` (:class:`InlineTopicRunner`) runs the same function in the calling thread.

Nothing here knows Dagster.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for_ready
from typing import Any

__all__ = [
    "WORKERS_ENV",
    "InlineTopicRunner",
    "TopicWorkerPool",
    "WorkerDied",
    "default_workers",
    "make_topic_runner",
    "resolve_workers",
]

log = logging.getLogger(__name__)

#: Environment variable with the number of topic worker processes (0: in the calling process).
WORKERS_ENV = "FTM_FIRM_WORKERS"
#: Thread pools limited to one thread inside each worker.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)
#: A worker that dies this many times in a row before it is ready makes the pool give up.
MAX_START_FAILURES = 3


class WorkerDied(RuntimeError):
    """The worker process modelling a firm exited (killed, out of memory, crashed)."""


class TopicWorkersUnavailable(RuntimeError):
    """Worker processes cannot be started (each died before it was ready)."""


def default_workers(cpu_count: int | None = None) -> int:
    """All cores but one: the main process embeds, writes firms and reports them to Dagster."""
    cpus = cpu_count if cpu_count is not None else (len(os.sched_getaffinity(0))
                                                    if hasattr(os, "sched_getaffinity") else os.cpu_count())
    return max(1, (cpus or 1) - 1)


def resolve_workers(configured: int | None) -> int:
    """The worker count of a run: ``configured`` if >= 0, else ``FTM_FIRM_WORKERS``, else
    :func:`default_workers`. Raises ``ValueError`` for a bad environment value."""
    if configured is not None and configured >= 0:
        return configured
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if not raw:
        return default_workers()
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{WORKERS_ENV} must be an integer >= 0 (0: no worker processes), got {raw!r}") from exc
    if value < 0:
        raise ValueError(f"{WORKERS_ENV} must be >= 0 (0: no worker processes), got {value}")
    return value


def _model_firm(call, embeddings, settings) -> tuple[Any, float]:
    from ftm_assets.modeling.firm_topics import build_firm_topics

    t0 = time.perf_counter()
    topics = build_firm_topics(call, embeddings, settings)
    return topics, time.perf_counter() - t0


class InlineTopicRunner:
    """``workers=0``: topic modelling in the calling thread, behind the pool's interface."""

    workers = 0

    def submit(self, call, embeddings, settings) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(_model_firm(call, embeddings, settings))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def close(self) -> None:
        pass


# -- the worker process ---------------------------------------------------------------------------

def _warm_up(settings) -> None:
    """One small fit, so numba compiles UMAP/HDBSCAN before the first real firm."""
    import numpy as np

    from ftm_assets.modeling.types import CallSentence, FirmCall

    words = ("revenue", "margin", "pricing", "demand", "capital", "supply", "growth", "costs")
    n = max(60, settings.min_sentences + 10)
    sentences = tuple(
        CallSentence(i, f"Our {words[i % 8]} outlook for segment {words[(i // 8) % 8]} changed in region {i}.")
        for i in range(n)
    )
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    vectors = centres[np.arange(n) % 4] + 0.05 * rng.normal(size=(n, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    _model_firm(FirmCall("warm-up", "2000Q1", sentences), vectors.astype(np.float32), settings)


def _worker_main(conn: Connection, warm_settings) -> None:
    """Entry point of a worker process: warm up, say ready, then model firms until told to stop."""
    for name in THREAD_ENV_VARS:
        os.environ[name] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:  # numba absent or its threading layer already fixed: UMAP is seeded (1 thread)
        pass
    if warm_settings is not None:
        try:
            _warm_up(warm_settings)
        except Exception:  # the first real firm then pays the compilation
            log.warning("topic worker warm-up failed", exc_info=True)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        task_id, call, embeddings, settings = task
        try:
            topics, seconds = _model_firm(call, embeddings, settings)
            reply = (task_id, "ok", topics, seconds)
        except Exception as exc:
            reply = (task_id, "error", _portable(exc), traceback.format_exc(limit=8))
        conn.send(reply)


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling, else a RuntimeError with the same text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


# -- the pool -------------------------------------------------------------------------------------

@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    started_at: float
    ready: bool = False
    task: tuple[int, concurrent.futures.Future, str] | None = None  # (task id, future, firm label)


class TopicWorkerPool:
    """``workers`` long-lived processes running ``build_firm_topics``; see the module docstring.

    ``warm_settings``: ``FirmTopicSettings`` for each worker's warm-up fit (None: no warm-up).
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, workers: int, warm_settings=None, *, start_method: str = "spawn") -> None:
        if workers < 1:
            raise ValueError(f"a worker pool needs at least 1 worker, got {workers}")
        self.workers = workers
        self._ctx = multiprocessing.get_context(start_method)
        self._warm_settings = warm_settings
        self._lock = threading.Lock()
        self._queue: deque[tuple[int, concurrent.futures.Future, tuple]] = deque()
        self._pool: list[_Worker] = []
        self._next_id = 0
        self._closing = False
        self._broken: str | None = None
        self._start_failures = 0
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self.deaths = 0
        for _ in range(workers):
            self._pool.append(self._spawn())
        self._thread = threading.Thread(target=self._dispatch, name="topic-workers", daemon=True)
        self._thread.start()

    def __enter__(self) -> TopicWorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_worker_main, args=(child, self._warm_settings),
                                    name="ftm-topic-worker", daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent, time.perf_counter())

    def pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._pool if w.process.pid is not None]

    def busy(self) -> dict[int, str]:
        """``{pid: "firm F quarter Q"}`` of the workers holding a firm now."""
        with self._lock:
            return {w.process.pid: w.task[2] for w in self._pool if w.task is not None and w.process.pid}

    def submit(self, call, embeddings, settings) -> concurrent.futures.Future:
        """Queue one firm; the future gives ``(FirmTopics, seconds)`` or raises what the worker
        raised (:class:`WorkerDied` if its process exited while modelling this firm)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("topic worker pool is closed")
            if self._broken:
                future.set_exception(TopicWorkersUnavailable(self._broken))
                return future
            self._next_id += 1
            self._queue.append((self._next_id, future, (call, embeddings, settings)))
        self._wake()
        return future

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send_bytes(b"x")

    # -- dispatcher thread ------------------------------------------------------------------------
    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if self._closing:
                    return
                self._send_queued()
                waitables: list[Any] = [self._wake_r]
                for w in self._pool:
                    waitables.extend((w.conn, w.process.sentinel))
            try:
                ready = wait_for_ready(waitables, timeout=1.0)
            except OSError:
                ready = []
            with self._lock:
                if self._closing:
                    return
                if self._wake_r in ready:
                    while self._wake_r.poll():
                        self._wake_r.recv_bytes()
                for w in list(self._pool):
                    if w.conn in ready or w.conn.poll():
                        self._receive(w)
                    if not w.process.is_alive():
                        self._pool.remove(w)
                        self._retire(w)
                        if not self._broken:
                            self._pool.append(self._spawn())

    def _send_queued(self) -> None:
        for w in self._pool:
            if not self._queue:
                return
            if w.ready and w.task is None:
                task_id, future, payload = self._queue.popleft()
                if not future.set_running_or_notify_cancel():
                    continue
                call = payload[0]
                try:
                    w.conn.send((task_id, *payload))
                except (OSError, EOFError):  # the worker died just now: put the firm back
                    self._queue.appendleft((task_id, future, payload))
                    continue
                w.task = (task_id, future, f"firm {call.firm_id} quarter {call.quarter}")

    def _receive(self, w: _Worker) -> None:
        try:
            message = w.conn.recv()
        except (EOFError, OSError):
            return  # the process is gone; _replace handles its firm
        if message[0] == "ready":
            w.ready = True
            self._start_failures = 0
            return
        task_id, status, value, extra = message
        if w.task is None or w.task[0] != task_id:
            return
        future = w.task[1]
        w.task = None
        if status == "ok":
            future.set_result((value, float(extra)))
        else:
            log.debug("topic worker error:\n%s", extra)
            future.set_exception(value)

    def _retire(self, w: _Worker) -> None:
        """A worker exited: fail its firm; after ``MAX_START_FAILURES`` deaths before ready, give up."""
        code = w.process.exitcode
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        w.conn.close()
        if w.task is not None:
            self.deaths += 1
            _, future, label = w.task
            future.set_exception(WorkerDied(
                f"topic worker process {w.process.pid} died ({how}) while modelling {label}"))
        if not w.ready:
            self._start_failures += 1
            if self._start_failures >= MAX_START_FAILURES:
                self._broken = f"topic worker processes die before they are ready ({how}, {self._start_failures} times)"
                while self._queue:
                    _, future, _payload = self._queue.popleft()
                    future.set_exception(TopicWorkersUnavailable(self._broken))
        log.warning("topic worker %s exited (%s)%s", w.process.pid, how,
                    "" if self._broken else "; starting a replacement")

    def close(self) -> None:
        """Stop the workers (a firm in progress is abandoned) and fail what is still queued."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            queued = list(self._queue)
            self._queue.clear()
            workers = list(self._pool)
        self._wake()
        self._thread.join(timeout=5)
        for _, future, _payload in queued:
            future.cancel()
        for w in workers:
            if w.task is not None and not w.task[1].done():
                w.task[1].set_exception(RuntimeError("topic worker pool closed"))
            with contextlib.suppress(OSError, EOFError):
                w.conn.send(None)
        deadline = time.monotonic() + 5
        for w in workers:
            w.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=5)
            w.conn.close()
        self._wake_r.close()
        self._wake_w.close()


def make_topic_runner(workers: int, warm_settings=None) -> InlineTopicRunner | TopicWorkerPool:
    """``InlineTopicRunner`` for 0 workers, else a started :class:`TopicWorkerPool`."""
    return InlineTopicRunner() if workers == 0 else TopicWorkerPool(workers, warm_settings)

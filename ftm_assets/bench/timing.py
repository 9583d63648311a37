"""Bench instrumentation: stage timers around library calls, memory and machine facts.

:class:`StageTimer` wraps, for the duration of a ``with`` block, the methods where the firm
stage spends its time, and adds up wall time per stage across every call in the process:

* ``umap``: ``BERTopic._reduce_dimensionality`` (UMAP fit + transform, whatever the backend);
* ``hdbscan``: ``BERTopic._cluster_embeddings`` (HDBSCAN / fast_hdbscan / cuML fit);
* ``encode``: ``SentenceEncoder.encode`` (sentences and summaries alike; ``encode_texts`` counts
  the texts);
* ``model_load``: ``SentenceEncoder.load``.

The wrapped methods are private BERTopic internals (bertopic 0.17); if one is missing the
stage reads ``None`` rather than a wrong number. Nothing in the pipeline depends on this: it is
measurement only, restored on exit.
"""

from __future__ import annotations

import functools
import os
import platform
import resource
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

__all__ = ["StageTimer", "current_rss_mb", "machine_facts", "peak_rss_mb"]


class StageTimer:
    """Adds up seconds per stage while active (see module docstring). Thread-safe."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.encode_texts = 0
        self.missing: list[str] = []
        self._lock = threading.Lock()
        self._restore: list[tuple[Any, str, Any]] = []

    def _add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] += seconds
            self.calls[stage] += 1

    def _timed(self, stage: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._add(stage, time.perf_counter() - t0)

        return wrapper

    def _patch(self, owner: Any, name: str, stage: str) -> None:
        raw = owner.__dict__.get(name)
        if raw is None:
            self.missing.append(f"{owner.__name__}.{name}")
            return
        if isinstance(raw, classmethod):
            replacement: Any = classmethod(self._timed(stage, raw.__func__))
        else:
            replacement = self._timed(stage, raw)
        self._restore.append((owner, name, raw))
        setattr(owner, name, replacement)

    def __enter__(self) -> StageTimer:
        from bertopic import BERTopic

        from ftm_assets.modeling.embedding import SentenceEncoder

        self._patch(BERTopic, "_reduce_dimensionality", "umap")
        self._patch(BERTopic, "_cluster_embeddings", "hdbscan")
        self._patch(SentenceEncoder, "load", "model_load")
        raw_encode = SentenceEncoder.__dict__["encode"]
        timer = self

        @functools.wraps(raw_encode)
        def encode(encoder, texts):
            t0 = time.perf_counter()
            try:
                return raw_encode(encoder, texts)
            finally:
                timer._add("encode", time.perf_counter() - t0)
                with timer._lock:
                    timer.encode_texts += len(texts)

        self._restore.append((SentenceEncoder, "encode", raw_encode))
        SentenceEncoder.encode = encode
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, raw in reversed(self._restore):
            setattr(owner, name, raw)
        self._restore.clear()

    def get(self, stage: str) -> float | None:
        """Seconds of ``stage``; ``None`` when its method could not be wrapped."""
        names = {"umap": "_reduce_dimensionality", "hdbscan": "_cluster_embeddings"}
        if stage in names and any(m.endswith(names[stage]) for m in self.missing):
            return None
        return self.seconds.get(stage, 0.0)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB.

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this program's memory since
    it started (``getrusage``'s ``ru_maxrss`` would also count the parent's peak before the
    ``fork``, which Linux carries over ``exec``). Elsewhere ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def machine_facts() -> dict:
    """CPU, memory, torch threads, load average: what a reader needs to compare two runs."""
    import psutil
    import torch

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None

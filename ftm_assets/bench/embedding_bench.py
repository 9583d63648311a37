"""Embedding throughput: the pipeline's batching vs a naive per-firm ``model.encode``.

Both encode the same calls firm by firm with the same loaded model. The pipeline path is
:class:`~ftm_assets.modeling.embedding.SentenceEncoder` (``batch_size`` 256, normalised
float32); the naive path is ``model.encode(sentences)`` with sentence-transformers' default
batch size (32). The order alternates per firm (pipeline first on even firms, naive first on odd
ones) so that a change in machine load hits both alike; a short warm-up runs before timing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ftm_assets.modeling.embedding import SentenceEncoder
from ftm_assets.modeling.types import FirmCall

__all__ = ["run_embedding_bench"]


def run_embedding_bench(model, calls: Sequence[FirmCall], batch_size: int = 256) -> dict:
    """Sentences per second of both paths over ``calls`` and their ratio (pipeline / naive)."""
    if not calls:
        raise ValueError("embedding bench needs at least one call")
    encoder = SentenceEncoder(model, "bench", batch_size)
    warmup = calls[0].texts[:32]
    encoder.encode(warmup)
    model.encode(warmup, show_progress_bar=False)
    seconds = {"pipeline": 0.0, "naive": 0.0}
    n = 0
    for i, call in enumerate(calls):
        texts = call.texts
        runs = (("pipeline", encoder.encode), ("naive", lambda t: model.encode(t, show_progress_bar=False)))
        for name, encode in runs if i % 2 == 0 else runs[::-1]:
            t0 = time.perf_counter()
            encode(texts)
            seconds[name] += time.perf_counter() - t0
        n += len(texts)
    pipeline, naive = n / seconds["pipeline"], n / seconds["naive"]
    return {
        "firms": len(calls),
        "sentences": n,
        "device": encoder.device,
        "pipeline": {
            "batch_size": batch_size,
            "seconds": round(seconds["pipeline"], 2),
            "sentences_per_s": round(pipeline, 1),
        },
        "naive": {
            "batch_size": 32,
            "seconds": round(seconds["naive"], 2),
            "sentences_per_s": round(naive, 1),
        },
        "ratio_pipeline_to_naive_throughput": round(pipeline / naive, 3),
    }

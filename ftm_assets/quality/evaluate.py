"""``ftm eval``: topic quality of a transcript file without a database.

Each call is embedded (``SentenceEncoder``, the pipeline's batching) and topic-modelled with
``build_firm_topics``, exactly as the firm stage does, then scored with
:mod:`ftm_assets.quality.metrics`. No summaries, no themes, no database.

When the file has a ``planted_topic`` column (the demo calls of ``sources/demo.py``), each firm
also gets the adjusted Rand index of its topic assignments against the planted topics, over all
sentences (boilerplate is its own planted class, outliers their own predicted class) and over
the planted-theme sentences only.

Embeddings can be cached on disk (``cache_dir``; one ``.npy`` per call, keyed by the model and
the call's texts), so comparing configurations embeds the corpus once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ftm_assets.modeling.embedding import SentenceEncoder
from ftm_assets.modeling.firm_topics import build_firm_topics
from ftm_assets.modeling.settings import FirmTopicSettings
from ftm_assets.modeling.types import FirmCall, FirmTopics
from ftm_assets.quality.metrics import FirmQuality, adjusted_rand, firm_quality, quarter_quality
from ftm_assets.sources.demo import BOILERPLATE, OTHER
from ftm_assets.sources.schema import FirmInputError

__all__ = [
    "PLANTED_COLUMN",
    "embed_cached",
    "evaluate_calls",
    "evaluate_transcripts",
    "load_calls",
    "planted_labels",
]

PLANTED_COLUMN = "planted_topic"
#: Keywords per topic kept in the per-firm rows (and scored by ``generic_keyword_share``).
GENERIC_TOP_N = 5


def load_calls(
    path: str, quarter: str | None = None, max_firms: int | None = None
) -> tuple[list[FirmCall], list[str]]:
    """The calls of ``path`` (all quarters, or ``quarter``), firms sorted, at most ``max_firms``
    per quarter; returns the calls and the messages of firms that could not be read."""
    from ftm_assets.sources.open import open_source

    source = open_source(path)
    listed = source.list_calls()
    quarters = sorted({q for _, q in listed})
    if quarter is not None:
        if quarter not in quarters:
            raise ValueError(
                f"quarter {quarter} has no calls in {path} (quarters present: {', '.join(quarters)})"
            )
        quarters = [quarter]
    calls, errors = [], []
    for q in quarters:
        firms = sorted({f for f, qq in listed if qq == q})[:max_firms]
        for item in source.iter_calls(q, firms):
            if isinstance(item, FirmInputError):
                errors.append(item.message())
            else:
                calls.append(item)
    return calls, errors


def planted_labels(path: str) -> dict[tuple[str, str], dict[int, str]] | None:
    """``{(firm_id, quarter): {sentence_index: planted_topic}}`` when ``path`` is one Parquet/CSV
    file with a ``planted_topic`` column, else ``None``."""
    file = Path(path)
    if not file.is_file():
        return None
    import pandas as pd

    if file.suffix == ".parquet":
        import pyarrow.parquet as pq

        if PLANTED_COLUMN not in pq.read_schema(file).names:
            return None
        frame = pd.read_parquet(file, columns=["firm_id", "quarter", "sentence_index", PLANTED_COLUMN])
    elif file.suffix == ".csv":
        if PLANTED_COLUMN not in pd.read_csv(file, nrows=0).columns:
            return None
        frame = pd.read_csv(file, usecols=["firm_id", "quarter", "sentence_index", PLANTED_COLUMN])
    else:
        return None
    labels: dict[tuple[str, str], dict[int, str]] = {}
    for (firm, quarter), group in frame.groupby(["firm_id", "quarter"], sort=False):
        labels[(str(firm).strip(), str(quarter).strip())] = dict(
            zip(group["sentence_index"].astype(int), group[PLANTED_COLUMN].astype(str), strict=True)
        )
    return labels


def embed_cached(encoder: SentenceEncoder, texts: Sequence[str], cache_dir: Path | None) -> np.ndarray:
    """``encoder.encode(texts)``, read from / written to ``cache_dir`` when given."""
    if cache_dir is None:
        return encoder.encode(texts)
    digest = hashlib.sha256(encoder.model_id.encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\x1f")
    file = Path(cache_dir) / f"{digest.hexdigest()[:32]}.npy"
    if file.exists():
        return np.load(file)
    emb = encoder.encode(texts)
    file.parent.mkdir(parents=True, exist_ok=True)
    np.save(file, emb)
    return emb


def _planted_scores(call: FirmCall, topics: FirmTopics, planted: dict[int, str]) -> dict:
    truth = [planted.get(s.sentence_index, OTHER) for s in call.sentences]
    predicted = [int(a) for a in topics.assignments]
    themed = [i for i, label in enumerate(truth) if label not in (BOILERPLATE, OTHER)]
    return {
        "ari": round(adjusted_rand(truth, predicted), 4),
        "ari_planted_sentences": (
            round(adjusted_rand([truth[i] for i in themed], [predicted[i] for i in themed]), 4)
            if themed
            else None
        ),
        "planted_topics": len({truth[i] for i in themed}),
    }


def evaluate_calls(
    calls: Sequence[FirmCall],
    encoder: SentenceEncoder,
    settings: FirmTopicSettings | None = None,
    *,
    planted: dict[tuple[str, str], dict[int, str]] | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    sub_models: Mapping[str, Any] | None = None,
) -> dict:
    """Embed, topic-model and score ``calls`` (``settings`` default: ``FirmTopicSettings()``);
    returns per-quarter aggregates and per-firm rows (with each topic's label).
    ``sub_models`` are keyword arguments of ``build_firm_topics`` (``vectorizer_model``,
    ``ctfidf_model``, ``representation_model``, ``embedding_model``)."""
    settings = settings or FirmTopicSettings()
    firms: list[FirmQuality] = []
    rows: list[dict] = []
    seconds = {"embed": 0.0, "topics": 0.0, "metrics": 0.0}
    for n, call in enumerate(calls, 1):
        t0 = time.perf_counter()
        emb = embed_cached(encoder, call.texts, cache_dir)
        t1 = time.perf_counter()
        topics = build_firm_topics(call, emb, settings, **(sub_models or {}))
        t2 = time.perf_counter()
        quality = firm_quality(call, topics, settings.top_n_words)
        seconds["embed"] += t1 - t0
        seconds["topics"] += t2 - t1
        seconds["metrics"] += time.perf_counter() - t2
        row = quality.as_dict()
        row["labels"] = [t.label for t in topics.topics]
        row["keywords"] = [list(t.keywords[:GENERIC_TOP_N]) for t in topics.topics]
        if planted is not None and (call.firm_id, call.quarter) in planted:
            row.update(_planted_scores(call, topics, planted[(call.firm_id, call.quarter)]))
        firms.append(quality)
        rows.append(row)
        if progress is not None:
            progress(
                f"[{n}/{len(calls)}] {call.firm_id} {call.quarter}: {quality.n_topics} topics, "
                f"coherence {quality.coherence}, outliers {quality.outlier_share:.2f}"
            )
    quarters = {}
    for q in sorted({f.quarter for f in firms}):
        in_q = [i for i, f in enumerate(firms) if f.quarter == q]
        summary = quarter_quality([firms[i] for i in in_q])
        aris = [rows[i]["ari"] for i in in_q if "ari" in rows[i]]
        if aris:
            summary["ari_mean"] = round(float(np.mean(aris)), 4)
            planted_only = [
                rows[i]["ari_planted_sentences"]
                for i in in_q
                if rows[i].get("ari_planted_sentences") is not None
            ]
            summary["ari_planted_sentences_mean"] = (
                round(float(np.mean(planted_only)), 4) if planted_only else None
            )
        quarters[q] = summary
    overall = quarter_quality(firms)
    all_aris = [r["ari"] for r in rows if "ari" in r]
    if all_aris:
        overall["ari_mean"] = round(float(np.mean(all_aris)), 4)
    return {
        "settings": asdict(settings),
        "embedding_model": encoder.model_id,
        "overall": overall,
        "quarters": quarters,
        "firms": rows,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }


def evaluate_transcripts(
    path: str,
    encoder: SentenceEncoder,
    settings: FirmTopicSettings | None = None,
    *,
    quarter: str | None = None,
    max_firms: int | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """``evaluate_calls`` over the calls of a transcript file or folder (see ``load_calls``)."""
    calls, errors = load_calls(path, quarter, max_firms)
    if not calls:
        raise ValueError(f"no readable calls in {path}" + (f" for quarter {quarter}" if quarter else ""))
    planted = planted_labels(path)
    result = evaluate_calls(calls, encoder, settings, planted=planted, cache_dir=cache_dir, progress=progress)
    return {"transcripts": str(path), "unreadable_firms": errors, **result}

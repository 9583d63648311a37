"""Compare firm-topic configurations on the same calls: the evidence behind the defaults.

Each configuration runs ``build_firm_topics`` over every call of the real corpus (and of the demo
calls, for the adjusted Rand index against the planted topics) with embeddings computed once
and cached, then reports the quarter-level metrics of :mod:`ftm_assets.quality.metrics`.

A configuration is ``FirmTopicSettings`` overrides plus, optionally, sub-models passed to
``build_firm_topics`` as BERTopic takes them (nothing is patched):

* ``vectorizer``: ``english_only`` passes a CountVectorizer with English stop words only (the
  courtesy/operator and earnings-call words kept);
* ``representation``: ``mmr`` (``MaximalMarginalRelevance(diversity=0.3)``), ``keybert``
  (``KeyBERTInspired()``) or ``keybert+mmr`` (both, in that order) re-rank the c-TF-IDF
  keywords with the already-loaded embedding model, passed as ``embedding_model`` (nothing is
  downloaded).

Two suites: ``representation`` (issue 12: keyword weighting, stop words, n-grams, re-ranking;
baseline = the defaults before it) and ``clustering`` (the earlier UMAP/HDBSCAN comparison).

Run: ``ftm eval ../shared/data/earnings21/corpus.parquet --compare representation --cache-dir
/tmp/ftm_eval_cache`` or ``python -m ftm_assets.quality.compare --suite representation
--cache-dir /tmp/ftm_eval_cache --markdown`` (the real corpus next to the repository and a
12-firm demo corpus written on the fly).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftm_assets.modeling.settings import FirmTopicSettings

__all__ = [
    "CLUSTERING_CONFIGURATIONS",
    "CONFIGURATIONS",
    "REPRESENTATION_CONFIGURATIONS",
    "SUITES",
    "Configuration",
    "compare_configurations",
    "markdown_table",
    "sub_models",
]

VECTORIZER_VARIANTS = ("english_only",)
REPRESENTATION_VARIANTS = ("mmr", "keybert", "keybert+mmr")


@dataclass(frozen=True)
class Configuration:
    name: str
    overrides: dict = field(default_factory=dict)
    vectorizer: str | None = None
    representation: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.vectorizer is not None and self.vectorizer not in VECTORIZER_VARIANTS:
            raise ValueError(f"{self.name}: vectorizer must be one of {VECTORIZER_VARIANTS}, got {self.vectorizer!r}")
        if self.representation is not None and self.representation not in REPRESENTATION_VARIANTS:
            raise ValueError(
                f"{self.name}: representation must be one of {REPRESENTATION_VARIANTS}, "
                f"got {self.representation!r}"
            )

    def settings(self) -> FirmTopicSettings:
        return FirmTopicSettings(**self.overrides)


class CachedUmap:
    """A UMAP whose ``fit_transform`` is memoised on the input rows and the UMAP settings, passed
    to ``build_firm_topics`` as ``umap_model``: configurations that differ only in their keywords
    then share one (seeded, hence identical) UMAP fit per call instead of repeating it."""

    def __init__(self, settings: FirmTopicSettings, store: dict) -> None:
        self._settings = settings
        self._store = store

    def fit_transform(self, X, y=None):
        import hashlib

        import numpy as np

        from ftm_assets.modeling.firm_topics import clamped_umap

        s = self._settings
        params = (s.umap_n_neighbors, s.umap_n_components, s.umap_min_dist, s.umap_metric, s.random_state)
        rows = np.ascontiguousarray(X)
        key = (hashlib.sha256(rows.tobytes()).hexdigest(), rows.shape, params, s.cluster_backend)
        if key not in self._store:
            reducer = clamped_umap(
                len(rows),
                n_neighbors=s.umap_n_neighbors,
                n_components=s.umap_n_components,
                min_dist=s.umap_min_dist,
                metric=s.umap_metric,
                random_state=s.random_state,
                backend=s.cluster_backend,
            )
            self._store[key] = reducer.fit_transform(rows)
        return self._store[key]


def sub_models(config: Configuration, sentence_model: Any) -> dict[str, Any]:
    """The keyword sub-models ``config`` passes to ``build_firm_topics`` (keyword arguments);
    ``{}`` when it uses the ones its settings describe. ``sentence_model`` is the loaded
    SentenceTransformer the re-ranking representations embed words with."""
    models: dict[str, Any] = {}
    if config.vectorizer == "english_only":
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

        from ftm_assets.modeling.firm_topics import TOKEN_PATTERN

        models["vectorizer_model"] = CountVectorizer(
            stop_words=sorted(ENGLISH_STOP_WORDS),
            ngram_range=(1, config.settings().ngram_max),
            min_df=1,
            token_pattern=TOKEN_PATTERN,
        )
    if config.representation is not None:
        from bertopic.representation import KeyBERTInspired, MaximalMarginalRelevance

        chain = {
            "mmr": [MaximalMarginalRelevance(diversity=0.3)],
            "keybert": [KeyBERTInspired()],
            "keybert+mmr": [KeyBERTInspired(), MaximalMarginalRelevance(diversity=0.3)],
        }[config.representation]
        models["representation_model"] = chain[0] if len(chain) == 1 else chain
        models["embedding_model"] = sentence_model
    return models


#: The defaults before the clustering comparison (BERTopic's 15 UMAP neighbours,
#: min_cluster_size 8); each single-change row of that suite changes one thing from them.
PREVIOUS_DEFAULTS = {"umap_n_neighbors": 15, "min_cluster_size": 8}

#: The keyword defaults before the representation comparison (issue 12): plain c-TF-IDF over
#: uni- and bigrams, English + courtesy/operator stop words, participant names kept.
PREVIOUS_KEYWORDS = {
    "ngram_max": 2,
    "earnings_stop_words": False,
    "reduce_frequent_words": False,
    "bm25_weighting": False,
    "drop_participant_names": False,
}


def _previous(
    name: str,
    description: str = "",
    vectorizer: str | None = None,
    representation: str | None = None,
    **changes,
) -> Configuration:
    return Configuration(
        name, {**PREVIOUS_KEYWORDS, **PREVIOUS_DEFAULTS, **changes}, vectorizer, representation, description
    )


CLUSTERING_CONFIGURATIONS: tuple[Configuration, ...] = (
    _previous("previous defaults (nn=15, mcs=8)", "UMAP 15 neighbours, min_cluster_size 8"),
    _previous("mcs=5", min_cluster_size=5),
    _previous("mcs=10", min_cluster_size=10),
    _previous("mcs=12", min_cluster_size=12),
    _previous("mcs=16", min_cluster_size=16),
    _previous("nn=8", umap_n_neighbors=8),
    _previous("nn=30", umap_n_neighbors=30),
    _previous("nn=50", umap_n_neighbors=50),
    _previous("umap_n_components=10", umap_n_components=10),
    _previous("outlier_policy=keep", outlier_policy="keep"),
    _previous("outlier_threshold=0.5", outlier_threshold=0.5),
    _previous("cluster_backend=fast_hdbscan", cluster_backend="fast_hdbscan"),
    _previous("vectorizer=unigrams", ngram_max=1),
    _previous(
        "vectorizer=english_only",
        "English stop words only, courtesy/operator words kept",
        vectorizer="english_only",
    ),
    _previous("representation=mmr", representation="mmr"),
    Configuration("nn=30, mcs=10", dict(PREVIOUS_KEYWORDS), description="clustering defaults"),
    Configuration("nn=30, mcs=12", {**PREVIOUS_KEYWORDS, "min_cluster_size": 12}),
)


def _keywords(name: str, description: str = "", representation: str | None = None, **changes) -> Configuration:
    return Configuration(name, {**PREVIOUS_KEYWORDS, **changes}, None, representation, description)


REPRESENTATION_CONFIGURATIONS: tuple[Configuration, ...] = (
    _keywords("previous keywords (baseline)", "c-TF-IDF, uni+bigrams, English + courtesy stop words"),
    _keywords("reduce_frequent_words", reduce_frequent_words=True),
    _keywords("bm25_weighting", bm25_weighting=True),
    _keywords("reduce_frequent + bm25", reduce_frequent_words=True, bm25_weighting=True),
    _keywords("earnings stop words", earnings_stop_words=True),
    _keywords("earnings stop + reduce_frequent", earnings_stop_words=True, reduce_frequent_words=True),
    _keywords(
        "earnings stop + reduce_frequent + trigrams",
        earnings_stop_words=True,
        reduce_frequent_words=True,
        ngram_max=3,
    ),
    _keywords("participant names dropped", drop_participant_names=True),
    Configuration("FirmTopicSettings() now", {}, description="the defaults of this branch"),
    _keywords("representation=keybert", representation="keybert"),
    _keywords(
        "earnings stop + reduce_frequent + keybert+mmr",
        earnings_stop_words=True,
        reduce_frequent_words=True,
        representation="keybert+mmr",
    ),
)

SUITES: dict[str, tuple[Configuration, ...]] = {
    "representation": REPRESENTATION_CONFIGURATIONS,
    "clustering": CLUSTERING_CONFIGURATIONS,
}
#: The default suite.
CONFIGURATIONS = REPRESENTATION_CONFIGURATIONS


def compare_configurations(
    real_calls: Sequence,
    demo_calls: Sequence,
    demo_planted: dict,
    encoder,
    configurations: Sequence[Configuration] = CONFIGURATIONS,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """One row per configuration: real-corpus metrics, demo ARI, seconds of topic modelling.

    UMAP fits are shared between configurations with the same UMAP settings (``CachedUmap``),
    so "topic s" of a later row excludes them: compare it within keyword-only rows.
    """
    from ftm_assets.quality.evaluate import evaluate_calls

    rows = []
    reductions: dict = {}
    call_share = word_call_share(real_calls)
    for config in configurations:
        t0 = time.perf_counter()
        models = {
            **sub_models(config, encoder.sentence_model),
            "umap_model": CachedUmap(config.settings(), reductions),
        }
        real = evaluate_calls(real_calls, encoder, config.settings(), cache_dir=cache_dir, sub_models=models)
        demo = evaluate_calls(
            demo_calls,
            encoder,
            config.settings(),
            planted=demo_planted,
            cache_dir=cache_dir,
            sub_models=models,
        )
        row = {
            "configuration": config.name,
            "description": config.description,
            **real["overall"],
            "demo_ari": demo["overall"].get("ari_mean"),
            "demo_ari_planted_sentences": _mean([f.get("ari_planted_sentences") for f in demo["firms"]]),
            "demo_topics_per_firm": demo["overall"]["topics_per_firm"],
            "demo_coherence": demo["overall"]["coherence"],
            "generic_keywords": generic_keyword_share(real["firms"], call_share),
            "topic_seconds": round(real["seconds"]["topics"] + demo["seconds"]["topics"], 1),
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "example_labels": {f["firm_id"]: f["labels"][:4] for f in real["firms"][:4]},
        }
        rows.append(row)
        if progress is not None:
            progress(json.dumps(row))
    return rows


#: A word used in at least this share of the corpus's calls is "generic": every call says it.
GENERIC_CALL_SHARE = 0.5


def word_call_share(calls: Sequence) -> dict[str, float]:
    """Share of ``calls`` in which each lower-cased word occurs."""
    from ftm_assets.modeling.phrases import words_of

    seen: dict[str, int] = {}
    for call in calls:
        for word in {w.lower() for text in call.texts for w in words_of(text)}:
            seen[word] = seen.get(word, 0) + 1
    return {word: n / len(calls) for word, n in seen.items()} if calls else {}


def generic_keyword_share(firm_rows: Sequence[dict], call_share: dict[str, float]) -> float | None:
    """Share of the top keywords (``evaluate.GENERIC_TOP_N`` per topic) all of whose words occur
    in at least ``GENERIC_CALL_SHARE`` of the calls ("quarter", "business", "year"): keywords
    that say nothing about what this topic, rather than any call, is about."""
    keywords = [k for row in firm_rows for topic in row.get("keywords", []) for k in topic]
    if not keywords:
        return None
    generic = sum(all(call_share.get(w, 0.0) >= GENERIC_CALL_SHARE for w in k.split()) for k in keywords)
    return round(generic / len(keywords), 4)


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(sum(kept) / len(kept), 4) if kept else None


def markdown_table(rows: Sequence[dict]) -> str:
    columns = (
        ("configuration", "configuration"),
        ("topics_per_firm", "topics/firm"),
        ("coherence", "NPMI"),
        ("coherence_p10", "NPMI p10"),
        ("diversity", "diversity"),
        ("generic_keywords", "generic keywords"),
        ("outlier_share", "outliers"),
        ("boilerplate_share", "boilerplate"),
        ("demo_ari", "demo ARI"),
        ("demo_ari_planted_sentences", "demo ARI (planted only)"),
        ("demo_coherence", "demo NPMI"),
        ("topic_seconds", "topic s"),
    )
    lines = [
        "| " + " | ".join(label for _, label in columns) + " |",
        "|" + "|".join("---" if key == "configuration" else "---:" for key, _ in columns) + "|",
    ]
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            cells.append("-" if value is None else _cell(key, value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(key: str, value) -> str:
    if key == "topic_seconds" or not isinstance(value, float):
        return str(value)
    return f"{value:.2f}" if key == "topics_per_firm" else f"{value:.3f}"


def run_comparison(
    real_path: Path,
    configurations: Sequence[Configuration],
    encoder,
    *,
    demo_firms: int = 12,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """``compare_configurations`` over the calls of ``real_path`` and a demo corpus of
    ``demo_firms`` firms written to a temporary folder."""
    from ftm_assets.quality.evaluate import load_calls, planted_labels
    from ftm_assets.sources.demo import write_demo_corpus

    with tempfile.TemporaryDirectory(prefix="ftm_compare_") as tmp:
        demo_path = write_demo_corpus(Path(tmp) / "demo.parquet", n_firms=demo_firms)
        demo_calls, _ = load_calls(str(demo_path))
        real_calls, _ = load_calls(str(real_path))
        return compare_configurations(
            real_calls, demo_calls, planted_labels(str(demo_path)), encoder, configurations, cache_dir, progress
        )


def select(suite: str, only: str | None = None) -> list[Configuration]:
    """The configurations of ``suite``, or those of its names listed in ``only`` (``;``-separated)."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}: expected one of {', '.join(SUITES)}")
    configs = list(SUITES[suite])
    if only:
        names = only.split(";")
        unknown = [n for n in names if n not in {c.name for c in configs}]
        if unknown:
            raise ValueError(f"unknown configuration(s) {unknown} in suite {suite!r}")
        configs = [c for c in configs if c.name in names]
    return configs


def main(argv: Sequence[str] | None = None) -> int:
    from ftm_assets.modeling.embedding import SentenceEncoder
    from ftm_assets.quality.corpus import default_corpus_path, require_corpus

    parser = argparse.ArgumentParser(
        prog="python -m ftm_assets.quality.compare", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--real", type=Path, default=None, help="real calls (default: the Earnings-21 corpus)"
    )
    parser.add_argument("--suite", default="representation", choices=sorted(SUITES))
    parser.add_argument("--demo-firms", type=int, default=12)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--only", default=None, help="semicolon-separated configuration names")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table instead of JSON")
    args = parser.parse_args(argv)
    real_path = require_corpus(args.real or default_corpus_path())
    encoder = SentenceEncoder.load(device="auto")
    rows = run_comparison(
        real_path,
        select(args.suite, args.only),
        encoder,
        demo_firms=args.demo_firms,
        cache_dir=args.cache_dir,
        progress=lambda line: print(line, file=sys.stderr),
    )
    print(markdown_table(rows) if args.markdown else json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

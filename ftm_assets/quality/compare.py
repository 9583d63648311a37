"""Compare firm-topic configurations on the same calls: the evidence behind the defaults.

Each configuration runs ``build_firm_topics`` over every call of the real corpus (and of the demo
calls, for the adjusted Rand index against the planted topics) with embeddings computed once
and cached, then reports the quarter-level metrics of :mod:`ftm_assets.quality.metrics`.

Most configurations are ``FirmTopicSettings`` overrides. Two kinds are not settings of the
pipeline, so the comparison swaps them in for its own run only (restored afterwards):

* ``vectorizer``: ``unigrams`` (no bigrams) or ``english_only`` (English stop words without the
  courtesy/operator words) replace ``firm_topics.make_vectorizer``;
* ``representation``: ``mmr`` gives BERTopic a ``MaximalMarginalRelevance(diversity=0.3)``
  representation model (keywords re-ranked with the embedding model).

Run: ``python -m ftm_assets.quality.compare --cache-dir /tmp/ftm_eval_cache --markdown`` (the
real corpus next to the repository and a 12-firm demo corpus written on the fly).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ftm_assets.modeling.settings import FirmTopicSettings

__all__ = ["CONFIGURATIONS", "Configuration", "compare_configurations", "markdown_table"]


@dataclass(frozen=True)
class Configuration:
    name: str
    overrides: dict = field(default_factory=dict)
    vectorizer: str | None = None
    representation: str | None = None
    description: str = ""

    def settings(self) -> FirmTopicSettings:
        return FirmTopicSettings(**self.overrides)


#: The defaults before this comparison (BERTopic's 15 UMAP neighbours, min_cluster_size 8); each
#: single-change row below changes one thing from them.
PREVIOUS_DEFAULTS = {"umap_n_neighbors": 15, "min_cluster_size": 8}


def _previous(
    name: str,
    description: str = "",
    vectorizer: str | None = None,
    representation: str | None = None,
    **changes,
) -> Configuration:
    return Configuration(name, {**PREVIOUS_DEFAULTS, **changes}, vectorizer, representation, description)


CONFIGURATIONS: tuple[Configuration, ...] = (
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
    _previous("vectorizer=unigrams", vectorizer="unigrams"),
    _previous(
        "vectorizer=english_only",
        "English stop words only, courtesy/operator words kept",
        vectorizer="english_only",
    ),
    _previous("representation=mmr", representation="mmr"),
    Configuration("nn=30, mcs=10 (new defaults)", {}, description="FirmTopicSettings() now"),
    Configuration("nn=30, mcs=12", {"min_cluster_size": 12}),
)


@contextlib.contextmanager
def _vectorizer_variant(name: str | None) -> Iterator[None]:
    if name is None:
        yield
        return
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    from ftm_assets.modeling import firm_topics

    original = firm_topics.make_vectorizer
    if name == "unigrams":

        def variant() -> CountVectorizer:
            return CountVectorizer(
                stop_words=firm_topics.topic_stop_words(),
                ngram_range=(1, 1),
                min_df=1,
                token_pattern=firm_topics.TOKEN_PATTERN,
            )
    elif name == "english_only":

        def variant() -> CountVectorizer:
            return CountVectorizer(
                stop_words=sorted(ENGLISH_STOP_WORDS),
                ngram_range=(1, 2),
                min_df=1,
                token_pattern=firm_topics.TOKEN_PATTERN,
            )
    else:
        raise ValueError(f"unknown vectorizer variant {name!r}")
    firm_topics.make_vectorizer = variant
    try:
        yield
    finally:
        firm_topics.make_vectorizer = original


@contextlib.contextmanager
def _representation_variant(name: str | None, sentence_model) -> Iterator[None]:
    if name is None:
        yield
        return
    if name != "mmr":
        raise ValueError(f"unknown representation variant {name!r}")
    from bertopic import BERTopic
    from bertopic.representation import MaximalMarginalRelevance

    original = BERTopic.__init__

    def init(self, *args, **kwargs):
        kwargs.setdefault("representation_model", MaximalMarginalRelevance(diversity=0.3))
        kwargs.setdefault("embedding_model", sentence_model)
        original(self, *args, **kwargs)

    BERTopic.__init__ = init
    try:
        yield
    finally:
        BERTopic.__init__ = original


def compare_configurations(
    real_calls: Sequence,
    demo_calls: Sequence,
    demo_planted: dict,
    encoder,
    configurations: Sequence[Configuration] = CONFIGURATIONS,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """One row per configuration: real-corpus metrics, demo ARI, seconds of topic modelling."""
    from ftm_assets.quality.evaluate import evaluate_calls

    rows = []
    for config in configurations:
        t0 = time.perf_counter()
        with (
            _vectorizer_variant(config.vectorizer),
            _representation_variant(config.representation, encoder._model),
        ):
            real = evaluate_calls(real_calls, encoder, config.settings(), cache_dir=cache_dir)
            demo = evaluate_calls(
                demo_calls, encoder, config.settings(), planted=demo_planted, cache_dir=cache_dir
            )
        row = {
            "configuration": config.name,
            "description": config.description,
            **real["overall"],
            "demo_ari": demo["overall"].get("ari_mean"),
            "demo_ari_planted_sentences": _mean([f.get("ari_planted_sentences") for f in demo["firms"]]),
            "demo_topics_per_firm": demo["overall"]["topics_per_firm"],
            "topic_seconds": round(real["seconds"]["topics"] + demo["seconds"]["topics"], 1),
            "wall_seconds": round(time.perf_counter() - t0, 1),
        }
        rows.append(row)
        if progress is not None:
            progress(json.dumps(row))
    return rows


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
        ("outlier_share", "outliers"),
        ("boilerplate_share", "boilerplate"),
        ("demo_ari", "demo ARI"),
        ("demo_ari_planted_sentences", "demo ARI (planted only)"),
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


def main(argv: Sequence[str] | None = None) -> int:
    from ftm_assets.bench.firm_bench import default_corpus_path, require_corpus
    from ftm_assets.modeling.embedding import SentenceEncoder
    from ftm_assets.quality.evaluate import load_calls, planted_labels
    from ftm_assets.sources.demo import write_demo_corpus

    parser = argparse.ArgumentParser(
        prog="python -m ftm_assets.quality.compare", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--real", type=Path, default=None, help="real calls (default: the Earnings-21 corpus)"
    )
    parser.add_argument("--demo-firms", type=int, default=12)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--only", default=None, help="semicolon-separated configuration names")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table instead of JSON")
    args = parser.parse_args(argv)
    real_path = require_corpus(args.real or default_corpus_path())
    configs = (
        CONFIGURATIONS if not args.only else [c for c in CONFIGURATIONS if c.name in args.only.split(";")]
    )
    encoder = SentenceEncoder.load(device="auto")
    with tempfile.TemporaryDirectory(prefix="ftm_compare_") as tmp:
        demo_path = write_demo_corpus(Path(tmp) / "demo.parquet", n_firms=args.demo_firms)
        demo_calls, _ = load_calls(str(demo_path))
        real_calls, _ = load_calls(str(real_path))
        rows = compare_configurations(
            real_calls,
            demo_calls,
            planted_labels(str(demo_path)),
            encoder,
            configs,
            args.cache_dir,
            progress=lambda line: print(line, file=sys.stderr),
        )
    print(markdown_table(rows) if args.markdown else json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

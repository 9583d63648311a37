"""Settings of the two clustering stages, one frozen object per stage.

As BERTopic takes its sub-models from the caller, ``build_firm_topics`` and ``cluster_themes``
take everything tunable from one of these objects, so a run is described by its settings
(Dagster config builds them; tests build them directly). Values are checked on construction,
so a typo in a backend or policy name fails before any model is fitted.

Firm-topic defaults were chosen by the configuration comparison in docs/quality.md (real calls
and planted-topic demo calls): UMAP 30 neighbours / 5 components / min_dist 0 / cosine and HDBSCAN
``min_cluster_size`` 10, a little coarser than BERTopic's 15 neighbours, which split one call's
themes into more, less coherent topics. Keyword defaults (earnings-call stop words, frequent
words damped, participant names dropped) were chosen by the representation comparison there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CLUSTER_BACKENDS = ("hdbscan", "fast_hdbscan", "cuml")
OUTLIER_POLICIES = ("keep", "reduce")
THEME_METHODS = ("umap_hdbscan", "pca_hdbscan")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_backend(name: str) -> None:
    _require(name in CLUSTER_BACKENDS, f"cluster_backend must be one of {CLUSTER_BACKENDS}, got {name!r}")


@dataclass(frozen=True)
class FirmTopicSettings:
    """How one firm's call is turned into topics (see ``firm_topics.build_firm_topics``).

    ``min_sentences`` counts the sentences left after boilerplate is removed; below it the
    call gets outcome ``"too_few_sentences"``. UMAP and HDBSCAN sizes are upper bounds: they
    are clamped to what a small call can support.

    Keywords (docs/quality.md, "Keywords that carry meaning"): uni- to ``ngram_max``-grams;
    ``earnings_stop_words`` adds ``boilerplate.EARNINGS_CALL_STOP_WORDS`` ("quarter", "million",
    ...) to the English and courtesy stop words; ``reduce_frequent_words`` and
    ``bm25_weighting`` are BERTopic's ``ClassTfidfTransformer`` options;
    ``drop_participant_names`` makes the names of the call's participants and host firm stop
    words of that call (``phrases.participant_names``).
    """

    min_sentences: int = 30
    umap_n_neighbors: int = 30
    umap_n_components: int = 5
    umap_min_dist: float = 0.0
    umap_metric: str = "cosine"
    min_cluster_size: int = 10
    min_samples: int | None = None
    cluster_backend: str = "hdbscan"
    outlier_policy: str = "reduce"
    outlier_threshold: float = 0.3
    top_n_words: int = 10
    representative_sentences: int = 5
    random_state: int = 42
    ngram_max: int = 2
    earnings_stop_words: bool = True
    reduce_frequent_words: bool = True
    bm25_weighting: bool = False
    drop_participant_names: bool = True

    def __post_init__(self) -> None:
        _check_backend(self.cluster_backend)
        _require(1 <= self.ngram_max <= 4, f"ngram_max must be in 1..4, got {self.ngram_max}")
        _require(
            self.outlier_policy in OUTLIER_POLICIES,
            f"outlier_policy must be one of {OUTLIER_POLICIES}, got {self.outlier_policy!r}",
        )
        _require(self.min_sentences >= 0, f"min_sentences must be >= 0, got {self.min_sentences}")
        _require(self.umap_n_neighbors >= 2, f"umap_n_neighbors must be >= 2, got {self.umap_n_neighbors}")
        _require(self.umap_n_components >= 1, f"umap_n_components must be >= 1, got {self.umap_n_components}")
        _require(self.min_cluster_size >= 2, f"min_cluster_size must be >= 2, got {self.min_cluster_size}")
        _require(
            self.min_samples is None or self.min_samples >= 1,
            f"min_samples must be None or >= 1, got {self.min_samples}",
        )
        _require(
            -1.0 <= self.outlier_threshold <= 1.0,
            f"outlier_threshold is a cosine similarity in [-1, 1], got {self.outlier_threshold}",
        )
        _require(self.top_n_words >= 1, f"top_n_words must be >= 1, got {self.top_n_words}")
        _require(
            self.representative_sentences >= 1,
            f"representative_sentences must be >= 1, got {self.representative_sentences}",
        )


@dataclass(frozen=True)
class ThemeSettings:
    """How one quarter's topic summaries are grouped into cross-firm themes
    (see ``themes.cluster_themes``).

    ``method="umap_hdbscan"`` reduces with UMAP (best separation, slow beyond ~20k rows on two
    cores) and clusters with ``cluster_backend``; ``"pca_hdbscan"`` reduces with PCA to
    ``pca_components`` dimensions and clusters a k-nearest-neighbour graph with fast_hdbscan
    (seconds at 100k+ rows; ``cluster_backend`` is not used).

    HDBSCAN's ``min_cluster_size`` follows the quarter's size: for ``n`` topics it is
    ``max(min_cluster_size, round(min_cluster_size_at_10k_topics * sqrt(n / 10_000)))``
    (``themes.theme_min_cluster_size``). With the defaults that is 3 up to about 500 topics
    (the demo), 15 at 10,000 and 53 at 125,000. ``min_cluster_size`` is the floor, and the
    exact size used when ``min_cluster_size_at_10k_topics`` is 0. ``min_cohesion_ratio``: a cluster whose
    cohesion (mean cosine of its members to their centroid) is below this fraction of the
    median cluster's is a catch-all of unrelated topics and is dropped; 0 keeps every cluster.
    ``max_theme_share``: a cluster holding more than this share of the quarter's topics is
    clustered again on its own (``themes._split_oversized``); 1 turns that off.
    ``exclude_chatter``: Q&A chatter topics (``chatter.is_chatter``: content-free utterances,
    keywords that are names or interjections) are taken out of the clusters (they stay topics,
    in no theme).
    """

    method: str = "umap_hdbscan"
    min_cluster_size: int = 3
    min_cluster_size_at_10k_topics: float = 15.0
    min_samples: int | None = None
    min_firms: int = 2
    max_firm_share: float = 0.4
    min_cohesion_ratio: float = 0.8
    max_theme_share: float = 0.4
    exclude_chatter: bool = True
    umap_n_neighbors: int = 15
    umap_n_components: int = 5
    pca_components: int = 32
    cluster_backend: str = "hdbscan"
    central_summaries: int = 5
    top_n_words: int = 8
    random_state: int = 42

    def __post_init__(self) -> None:
        _check_backend(self.cluster_backend)
        _require(self.method in THEME_METHODS, f"method must be one of {THEME_METHODS}, got {self.method!r}")
        _require(self.min_cluster_size >= 2, f"min_cluster_size must be >= 2, got {self.min_cluster_size}")
        _require(
            self.min_samples is None or self.min_samples >= 1,
            f"min_samples must be None or >= 1, got {self.min_samples}",
        )
        _require(
            self.min_cluster_size_at_10k_topics >= 0,
            f"min_cluster_size_at_10k_topics must be >= 0, got {self.min_cluster_size_at_10k_topics}",
        )
        _require(self.min_firms >= 1, f"min_firms must be >= 1, got {self.min_firms}")
        _require(
            0.0 < self.max_firm_share <= 1.0, f"max_firm_share must be in (0, 1], got {self.max_firm_share}"
        )
        _require(
            0.0 <= self.min_cohesion_ratio <= 1.0,
            f"min_cohesion_ratio must be in [0, 1], got {self.min_cohesion_ratio}",
        )
        _require(
            0.0 < self.max_theme_share <= 1.0, f"max_theme_share must be in (0, 1], got {self.max_theme_share}"
        )
        _require(self.umap_n_neighbors >= 2, f"umap_n_neighbors must be >= 2, got {self.umap_n_neighbors}")
        _require(self.umap_n_components >= 1, f"umap_n_components must be >= 1, got {self.umap_n_components}")
        _require(self.pca_components >= 1, f"pca_components must be >= 1, got {self.pca_components}")
        _require(self.central_summaries >= 1, f"central_summaries must be >= 1, got {self.central_summaries}")
        _require(self.top_n_words >= 1, f"top_n_words must be >= 1, got {self.top_n_words}")

    def scaled_min_cluster_size(self, n_topics: int) -> int:
        """The scale rule alone: ``min_cluster_size_at_10k_topics`` x sqrt(n_topics / 10,000),
        rounded (with 15: 2 at 100 topics, 7 at 2,000, 15 at 10,000, 34 at 50,000, 53 at 125,000)."""
        return round(self.min_cluster_size_at_10k_topics * math.sqrt(max(n_topics, 0) / 10_000))

"""Cross-firm themes: cluster one quarter's topic-summary embeddings.

Choices, and why:

* **Two methods.** ``"umap_hdbscan"`` mirrors the firm stage (UMAP to a few dimensions, then
  HDBSCAN / fast_hdbscan / cuML per ``cluster_backend``); it separates themes best but UMAP
  is slow past ~20k rows on two cores. ``"pca_hdbscan"`` is the fast path for a full quarter
  (~125k topics): PCA to ``pca_components`` dimensions, a k-nearest-neighbour graph (exact
  up to ``EXACT_KNN_LIMIT`` rows, seeded pynndescent above), then fast_hdbscan on
  that sparse graph. Tree-based HDBSCAN in 20-50 dimensions degrades to quadratic time, and
  fast_hdbscan's own high-dimensional path is unseeded; the explicit graph is quick and
  deterministic. ``cluster_backend`` does not apply to this method.
* **Cosine geometry.** Rows are L2-normalised first, so Euclidean distances (PCA, HDBSCAN)
  order pairs as cosine similarity does.
* **Cluster size follows the quarter.** A fixed ``min_cluster_size`` of 3 suits the demo's
  few dozen topics but over-splits a quarter: 3,095 themes for 875 planted at 125,000 planted
  summaries. HDBSCAN's ``min_cluster_size`` for ``n`` topics is therefore
  ``max(min_cluster_size, round(min_cluster_size_at_10k_topics * sqrt(n / 10_000)))``
  (:func:`theme_min_cluster_size`; defaults 3 and 15: 3 up to about 500 topics, 7 at 2,000,
  15 at 10,000, 34 at 50,000, 53 at 125,000). Chosen on ``bench.theme_bench``'s planted
  summaries (100 topics per theme, 30 % one-offs): at 10,000 topics sizes 15-60 give 68-77
  themes for 70, 3 gives 241 and 8 gives 89; at 50,000 and 125,000 sizes 15-60 stay within
  6 % of the planted count. A square root grows slowly enough that themes of a fixed size (as
  planted) survive up to 125,000 topics (size 100 and above collapses them), while a linear
  rule that reaches 15 at 10,000 would exceed 100 there. An explicit ``min_cluster_size`` is a
  floor; ``min_cluster_size_at_10k_topics=0`` uses it as is.
* **No catch-all theme.** HDBSCAN can select one big cluster from the mass of one-off topics
  (8,000-21,000 of 125,000 planted topics, most of them one-offs). A cluster whose cohesion
  (mean cosine of members to their centroid) is below ``min_cohesion_ratio`` (0.8) of the
  median cluster's is dropped, its topics unassigned. On the planted data at 125,000 topics
  themes score 0.62-0.75 (median ~0.67, so the floor is ~0.54) and the big catch-alls
  0.32-0.50; the demo quarter's themes (real embeddings) score 0.71-0.98 against a floor of
  0.66, and keep all 8 themes. 0.85 would also drop a ~290-topic catch-all at 10,000 planted
  topics, but leaves the demo's loosest theme only 0.01 above the floor.
* **No theme swallows the quarter.** HDBSCAN's excess-of-mass selection can keep one cluster
  holding most of a small quarter's topics (2020Q2 of the real calls: 92 of 105 topics in one
  "theme" before this rule). A cluster above ``max_theme_share`` (0.4) of the quarter's topics
  is clustered again on its own rows, once, and its sub-clusters replace it when there are
  two or more. The demo quarter's largest theme holds 16 % of its topics, the planted tests'
  largest 33 %, so neither is touched.
* **No theme of Q&A chatter.** Topics of content-free Q&A turns ("Todd. Todd.", "I got two
  questions.") whose keywords are names and interjections embed alike across firms and used
  to form themes such as "Awesome and comment". With ``exclude_chatter`` (default) such topics
  (``chatter.is_chatter`` on the summary and keywords) are taken out of every cluster before
  the firm, size and cohesion rules: they stay topics of their firm, in no theme. They are
  still clustered with the rest: leaving them out of UMAP's input reshaped the rest of a small
  quarter (the Earnings-21 2020Q2 lost its 13-topic "Clinical and dental" theme, topics in a
  theme 0.615 -> 0.459), while taking them out afterwards kept it (0.569).
* **Cross-firm by construction.** A cluster is a theme only if it spans ``min_firms`` firms
  and no firm holds more than ``max_firm_share`` of its topics. A firm over the share keeps
  only its most central topics up to the cap (the others become unassigned), repeated until
  every firm fits, since trimming shrinks the cluster and hence the cap; clusters that then
  fail ``min_firms`` or the quarter's ``min_cluster_size`` are dropped.
* **Keywords** are c-TF-IDF (BERTopic's formula: term frequency per cluster times
  ``log(1 + mean words per cluster / term frequency over all clusters)``) over each cluster's
  summaries and topic keywords, with the firm stage's vectorizer and stop words, restricted to
  terms whose words are keywords of some topic of the quarter (so a name quoted in a summary,
  "Thanks, Steve", never becomes a theme keyword: the firm stage drops participant names).
* **Deterministic order**: largest theme first, ties by the smallest member index; members
  and central summaries most central (closest to the centroid) first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from ftm_assets.modeling.chatter import is_chatter
from ftm_assets.modeling.firm_topics import (
    clamped_clusterer,
    clamped_min_cluster_size,
    clamped_umap,
    make_vectorizer,
    most_central,
)
from ftm_assets.modeling.settings import ThemeSettings
from ftm_assets.modeling.types import TopicRef

__all__ = [
    "EXACT_KNN_LIMIT",
    "MIN_THEME_INPUT",
    "ThemeCluster",
    "cap_firm_share",
    "cluster_themes",
    "theme_min_cluster_size",
]

#: Fewer topics than this are never clustered (nothing cross-firm can come of them).
MIN_THEME_INPUT = 3
#: Up to this many rows the pca_hdbscan kNN graph is exact (brute force); above, pynndescent.
EXACT_KNN_LIMIT = 4096
_MIN_KNN = 15


@dataclass(frozen=True)
class ThemeCluster:
    """One cross-firm theme. Indices point into the ``topics`` passed to ``cluster_themes``."""

    member_indices: tuple[int, ...]  # most central first
    central_indices: tuple[int, ...]  # up to ``central_summaries`` most central members
    keywords: tuple[str, ...]  # c-TF-IDF top words over member summaries and keywords
    firm_ids: tuple[str, ...]  # distinct firms of the members, sorted


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def _validated(topics: Sequence[TopicRef], embeddings: np.ndarray) -> np.ndarray:
    array = np.asarray(embeddings)
    if array.ndim != 2 or array.shape[0] != len(topics):
        raise ValueError(
            f"theme clustering: embeddings have shape {array.shape}, expected ({len(topics)}, dim) "
            "with one row per topic summary"
        )
    if array.size:
        bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
        if len(bad):
            ids = [topics[i].topic_id for i in bad[:5]]
            raise ValueError(f"theme clustering: embeddings of topic ids {ids} hold NaN or inf")
    return _unit_rows(array.astype(np.float32))


def _knn_graph(points: np.ndarray, k: int, random_state: int) -> sp.csr_matrix:
    """Sparse matrix of Euclidean distances from each row to its ``k`` nearest neighbours."""
    n = len(points)
    if n <= EXACT_KNN_LIMIT:
        from sklearn.neighbors import NearestNeighbors

        distances, indices = (
            NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(points).kneighbors(points)
        )
    else:
        from pynndescent import NNDescent

        index = NNDescent(points, n_neighbors=k + 1, metric="euclidean", random_state=random_state)
        indices, distances = index.neighbor_graph
    # Column 0 is the point itself (or an exact duplicate); a self-loop left in is ignored.
    indices, distances = indices[:, 1:], np.maximum(distances[:, 1:], 0.0)
    indptr = np.arange(0, n * k + 1, k)
    return sp.csr_matrix((distances.ravel().astype(np.float64), indices.ravel(), indptr), shape=(n, n))


def theme_min_cluster_size(n_topics: int, settings: ThemeSettings) -> int:
    """The HDBSCAN ``min_cluster_size`` used for a quarter of ``n_topics`` topics (see the
    module docstring): ``settings.min_cluster_size`` as a floor, raised by the scale rule."""
    return max(settings.min_cluster_size, settings.scaled_min_cluster_size(n_topics))


def _umap_reduced(unit: np.ndarray, settings: ThemeSettings) -> np.ndarray:
    reducer = clamped_umap(
        len(unit),
        n_neighbors=settings.umap_n_neighbors,
        n_components=settings.umap_n_components,
        min_dist=0.0,
        metric="cosine",
        random_state=settings.random_state,
        backend=settings.cluster_backend,
    )
    return np.ascontiguousarray(reducer.fit_transform(unit), dtype=np.float32)


def _hdbscan_labels(reduced: np.ndarray, settings: ThemeSettings, min_cluster_size: int) -> np.ndarray:
    """HDBSCAN (``cluster_backend``) labels of the UMAP-reduced rows."""
    clusterer = clamped_clusterer(
        len(reduced),
        backend=settings.cluster_backend,
        min_cluster_size=min_cluster_size,
        min_samples=settings.min_samples,
    )
    return np.asarray(clusterer.fit(reduced).labels_)


def _cluster_labels(unit: np.ndarray, settings: ThemeSettings, min_cluster_size: int) -> np.ndarray:
    n = len(unit)
    if settings.method == "umap_hdbscan":
        return _hdbscan_labels(_umap_reduced(unit, settings), settings, min_cluster_size)

    import fast_hdbscan
    from sklearn.decomposition import PCA

    components = max(1, min(settings.pca_components, n - 1, unit.shape[1]))
    reduced = PCA(n_components=components, random_state=settings.random_state).fit_transform(unit)
    size = clamped_min_cluster_size(n, min_cluster_size)
    samples = size if settings.min_samples is None else max(1, min(settings.min_samples, n - 1))
    graph = _knn_graph(
        np.ascontiguousarray(reduced, dtype=np.float32),
        k=min(n - 1, max(_MIN_KNN, 2 * samples)),
        random_state=settings.random_state,
    )
    clusterer = fast_hdbscan.HDBSCAN(min_cluster_size=size, min_samples=samples, metric="precomputed")
    return np.asarray(clusterer.fit(graph).labels_)


def _split_oversized(labels: np.ndarray, unit: np.ndarray, firm_ids: Sequence[str], settings: ThemeSettings,
                     size: int) -> np.ndarray:
    """``labels`` with each cluster of more than ``max_theme_share`` of the rows (and at least
    twice ``size``) clustered again on its own rows, once; its sub-clusters replace it when
    there are at least two that pass the firm rules on their own (else it stays: one big theme
    with no inner structure, rather than parts that would all be dropped)."""
    n = len(labels)
    if settings.max_theme_share >= 1.0:
        return labels
    labels = labels.copy()
    next_label = int(labels.max()) + 1 if n else 0
    for label in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == label)
        if len(members) <= settings.max_theme_share * n or len(members) < 2 * size:
            continue
        sub = _cluster_labels(unit[members], settings, size)
        found = np.unique(sub[sub >= 0])
        parts = _cross_firm_clusters(sub, unit[members], [firm_ids[i] for i in members],
                                     replace(settings, min_cohesion_ratio=0.0), size)
        if len(found) < 2 or len(parts) < 2:
            continue
        labels[members] = -1
        for sub_label in found:
            labels[members[sub == sub_label]] = next_label
            next_label += 1
    return labels


def cap_firm_share(ordered_members: Sequence[int], firm_ids: Sequence[str], max_share: float) -> list[int]:
    """Trim ``ordered_members`` (most central first) until no firm holds more than
    ``max_share`` of them; each firm over the cap keeps its most central members.

    Trimming shrinks the cluster and so the cap, hence the loop; it stops at the largest
    member set that satisfies the share (possibly empty).
    """
    kept = list(ordered_members)
    while True:
        cap = int(max_share * len(kept) + 1e-9)
        if all(count <= cap for count in Counter(firm_ids[i] for i in kept).values()):
            return kept
        taken: Counter[str] = Counter()
        trimmed = []
        for index in kept:
            firm = firm_ids[index]
            if taken[firm] < cap:
                trimmed.append(index)
                taken[firm] += 1
        kept = trimmed


def _ctfidf_keywords(
    documents: list[str], top_n: int, allowed_words: frozenset[str] | None = None
) -> list[tuple[str, ...]]:
    """Top ``top_n`` c-TF-IDF words of each document (one document per cluster); with
    ``allowed_words``, only terms made of those words."""
    vectorizer = make_vectorizer()
    analyzer = vectorizer.build_analyzer()
    if not any(analyzer(doc) for doc in documents):
        return [() for _ in documents]
    counts = vectorizer.fit_transform(documents).astype(np.float64)
    vocabulary = vectorizer.get_feature_names_out()
    words_per_cluster = np.asarray(counts.sum(axis=1)).ravel()
    word_totals = np.asarray(counts.sum(axis=0)).ravel()
    idf = np.log(1.0 + words_per_cluster.mean() / word_totals)
    tf = sp.diags(1.0 / np.where(words_per_cluster > 0, words_per_cluster, 1.0)) @ counts
    scores = (tf @ sp.diags(idf)).toarray()
    if allowed_words is not None:
        usable = np.array([set(term.split()) <= allowed_words for term in vocabulary], dtype=bool)
        scores[:, ~usable] = 0.0
    keywords = []
    for row in scores:
        present = np.flatnonzero(row > 0)
        # Highest score first, ties alphabetical: stable across runs.
        order = sorted(present, key=lambda j: (-row[j], vocabulary[j]))[:top_n]
        keywords.append(tuple(str(vocabulary[j]) for j in order))
    return keywords


def _cohesion(unit: np.ndarray, members: Sequence[int] | np.ndarray) -> float:
    """Mean cosine of ``members`` to their (normalised) centroid."""
    rows = unit[np.asarray(members)]
    centroid = rows.mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    return float(np.mean(rows @ (centroid / norm))) if norm > 0 else 0.0


def _cross_firm_clusters(
    labels: np.ndarray, unit: np.ndarray, firm_ids: Sequence[str], settings: ThemeSettings, min_size: int
) -> list[list[int]]:
    """Clusters of ``labels`` that pass the firm rules and the cohesion rule (members most
    central first), largest first, ties by the smallest member index."""
    candidates: list[list[int]] = []
    for label in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == label)
        ordered = most_central(unit, members, len(members))
        kept = cap_firm_share([int(i) for i in ordered], firm_ids, settings.max_firm_share)
        if len(kept) < min_size or len({firm_ids[i] for i in kept}) < settings.min_firms:
            continue
        if len(kept) < len(ordered):
            # Centrality relative to the trimmed cluster's own centroid.
            kept = [int(i) for i in most_central(unit, np.asarray(kept), len(kept))]
        candidates.append(kept)
    if candidates and settings.min_cohesion_ratio > 0:
        cohesion = np.array([_cohesion(unit, members) for members in candidates])
        floor = settings.min_cohesion_ratio * float(np.median(cohesion))
        # Far looser than the quarter's typical theme: a catch-all of unrelated topics.
        candidates = [members for members, c in zip(candidates, cohesion, strict=True) if c >= floor]
    candidates.sort(key=lambda members: (-len(members), min(members)))
    return candidates


def cluster_themes(
    topics: Sequence[TopicRef], embeddings: np.ndarray, settings: ThemeSettings
) -> list[ThemeCluster]:
    """Group one quarter's topics into cross-firm themes, largest first.

    ``embeddings[i]`` is the embedding of ``topics[i].summary``. Topics in no returned theme
    are unassigned, and so are chatter topics (``exclude_chatter``). Fewer than
    ``MIN_THEME_INPUT`` topics (or fewer firms than ``min_firms``) give ``[]``.
    """
    unit = _validated(topics, embeddings)
    n = len(topics)
    firm_ids = [topic.firm_id for topic in topics]
    if n < max(MIN_THEME_INPUT, settings.min_cluster_size) or len(set(firm_ids)) < settings.min_firms:
        return []

    size = theme_min_cluster_size(n, settings)
    labels = _split_oversized(_cluster_labels(unit, settings, size), unit, firm_ids, settings, size)
    if settings.exclude_chatter:
        labels = np.where([is_chatter(t.summary, t.keywords) for t in topics], -1, labels)
    kept_clusters = _cross_firm_clusters(labels, unit, firm_ids, settings, size)

    documents = [
        " ".join(f"{topics[i].summary} {' '.join(topics[i].keywords)}" for i in members)
        for members in kept_clusters
    ]
    # Only words some member topic has as a keyword: the firm stage already removed stop words
    # and the call's participant names from those, which a quoted sentence may still hold.
    allowed = frozenset(w for topic in topics for keyword in topic.keywords for w in keyword.lower().split())
    keywords = _ctfidf_keywords(documents, settings.top_n_words, allowed) if documents else []
    return [
        ThemeCluster(
            member_indices=tuple(members),
            central_indices=tuple(members[: settings.central_summaries]),
            keywords=words,
            firm_ids=tuple(sorted({firm_ids[i] for i in members})),
        )
        for members, words in zip(kept_clusters, keywords, strict=True)
    ]

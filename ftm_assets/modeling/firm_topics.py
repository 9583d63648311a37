"""Firm topics: BERTopic on the sentences of one firm's call.

Choices, and why:

* **Sub-models passed in, embeddings precomputed.** BERTopic gets a UMAP, an HDBSCAN (or
  fast_hdbscan / cuML) built here from ``FirmTopicSettings``, and the sentence embeddings
  computed upstream; it never loads an embedding model itself. The sub-models it may be given are
  parameters of ``build_firm_topics``, as they are of BERTopic: ``umap_model``, ``vectorizer_model``,
  ``ctfidf_model`` and ``representation_model`` (one model or a list), each built from the
  settings when not given (``make_vectorizer``, ``make_ctfidf_model``,
  ``make_representation_model``). A representation that embeds words (``KeyBERTInspired``,
  ``MaximalMarginalRelevance``) also needs ``embedding_model``; the pipeline's default
  representation embeds nothing, so topic workers never hold the embedding model.
* **Keywords that carry meaning.** c-TF-IDF with ``reduce_frequent_words`` (a word used by
  every topic of the call gets a dampened weight) over uni- to ``ngram_max``-grams, with
  English, courtesy/operator and (``earnings_stop_words``) earnings-call framing words
  ("quarter", "million", "year", "continue") removed; chosen by measurement
  (docs/quality.md).
* **Labels are phrases, people are not keywords.** A topic's label is the short noun phrase
  its own sentences use for its keywords (``phrases.phrase_name``: "crude oil prices", not
  "prices / crude / oil"); the names of the call's participants and host firm, read from its
  boilerplate sentences (``phrases.participant_names``), are stop words of that call
  (``drop_participant_names``), so "juan / steve / dan" never becomes a topic.
* **Boilerplate never forms a topic.** Sentences that ``is_boilerplate`` flags ("Thank you,
  Mike.", operator lines, safe harbor) are left out of the fit and get ``OUTLIER_TOPIC``; the
  vectorizer's stop words include ``BOILERPLATE_STOP_WORDS``.
* **Safe for small calls.** ``min_sentences`` counts the substantive sentences; fewer gives
  outcome ``"too_few_sentences"`` (never a bogus topic). Above it, UMAP's neighbours and
  components and HDBSCAN's sizes are clamped to what the call can support (see
  ``clamped_umap`` / ``clamped_clusterer``), so a lowered ``min_sentences`` still works.
  ``min_df`` is 1: BERTopic fits the vectorizer on one document *per topic*, so any higher
  value would drop words that only one topic uses, and with two or three topics most words.
  Tokens must hold a letter, so bare numbers ("2020", "000") never become keywords.
* **Outliers.** ``outlier_policy="reduce"`` moves each outlier sentence to the topic whose
  embedding (mean of its sentences' embeddings) is most cosine-similar to it, if that
  similarity is at least ``outlier_threshold`` (``reduce_outliers(strategy="embeddings")``),
  then refreshes keywords with ``update_topics`` (BERTopic's warning about custom assignments
  is expected there and silenced). ``"keep"`` leaves HDBSCAN's outliers as they are. If HDBSCAN finds no
  cluster at all the outcome stays ``"ok"`` with no topics and ``detail`` says so.
* **Deterministic.** UMAP gets ``random_state`` (which makes it single-threaded), HDBSCAN is
  deterministic, fast_hdbscan runs with ``reproducible=True``; topic ids are renumbered by
  size (largest first, ties by BERTopic's order), so the same input gives the same result.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from ftm_assets.modeling.boilerplate import BOILERPLATE_STOP_WORDS, EARNINGS_CALL_STOP_WORDS, is_boilerplate
from ftm_assets.modeling.chatter import (
    CHATTER_LABEL,
    CHATTER_WORDS,
    INTERJECTIONS,
    capitalised_only,
    is_chatter_sentences,
)
from ftm_assets.modeling.phrases import participant_names, phrase_name
from ftm_assets.modeling.settings import FirmTopicSettings
from ftm_assets.modeling.types import OUTLIER_TOPIC, FirmCall, FirmTopics, TopicRecord

__all__ = [
    "MIN_FIT_SENTENCES",
    "TOKEN_PATTERN",
    "build_firm_topics",
    "clamped_clusterer",
    "clamped_min_cluster_size",
    "clamped_umap",
    "make_ctfidf_model",
    "make_representation_model",
    "make_vectorizer",
    "most_central",
    "topic_label",
    "topic_stop_words",
]

#: Below this many substantive sentences no clustering is attempted, whatever the settings
#: say: UMAP needs at least two neighbours per point and HDBSCAN two points per cluster.
MIN_FIT_SENTENCES = 3

#: Tokens of two or more word characters that contain at least one letter.
TOKEN_PATTERN = r"(?u)\b(?=\w*[^\W\d_])\w\w+\b"


@contextlib.contextmanager
def _quiet_bertopic():
    logger = logging.getLogger("BERTopic")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def topic_stop_words(earnings: bool = True) -> list[str]:
    """English stop words plus courtesy/operator words and, with ``earnings``, the earnings-call
    framing words (``EARNINGS_CALL_STOP_WORDS``); sorted (a stable vectorizer config)."""
    words = ENGLISH_STOP_WORDS | BOILERPLATE_STOP_WORDS
    return sorted(words | EARNINGS_CALL_STOP_WORDS if earnings else words)


def make_vectorizer(settings: FirmTopicSettings | None = None) -> CountVectorizer:
    """The CountVectorizer of topic keywords (``settings`` default: ``FirmTopicSettings()``):
    uni- to ``ngram_max``-grams, ``min_df=1``, stop words per ``earnings_stop_words``."""
    settings = settings or FirmTopicSettings()
    return CountVectorizer(
        stop_words=topic_stop_words(settings.earnings_stop_words),
        ngram_range=(1, settings.ngram_max),
        min_df=1,
        token_pattern=TOKEN_PATTERN,
    )


def make_ctfidf_model(settings: FirmTopicSettings | None = None) -> Any:
    """BERTopic's ``ClassTfidfTransformer`` with the settings' ``reduce_frequent_words`` and
    ``bm25_weighting``."""
    from bertopic.vectorizers import ClassTfidfTransformer

    settings = settings or FirmTopicSettings()
    return ClassTfidfTransformer(
        reduce_frequent_words=settings.reduce_frequent_words, bm25_weighting=settings.bm25_weighting
    )


def make_representation_model(settings: FirmTopicSettings | None = None) -> Any:
    """The default representation model: ``None``, i.e. the c-TF-IDF keywords as they are.

    Re-ranking models that embed candidate words (``KeyBERTInspired``, ``MaximalMarginalRelevance``)
    were measured (docs/quality.md) and can be passed to ``build_firm_topics``; they are not the
    default because they need the embedding model in every topic worker.
    """
    return None


def _import_cuml() -> Any:
    try:
        import cuml  # optional GPU dependency, imported only when asked for
    except ImportError as exc:
        raise RuntimeError(
            "cluster_backend='cuml' needs RAPIDS cuML and a CUDA GPU, but `import cuml` failed "
            f"({exc}); install cuML (e.g. pip install cuml-cu12) or use 'hdbscan' / 'fast_hdbscan'"
        ) from exc
    return cuml


def clamped_umap(
    n_points: int,
    *,
    n_neighbors: int,
    n_components: int,
    min_dist: float,
    metric: str,
    random_state: int,
    backend: str = "hdbscan",
) -> Any:
    """A UMAP whose ``n_neighbors`` (<= n-1) and ``n_components`` (<= n-2) fit ``n_points``.

    With ``backend="cuml"`` it is cuML's GPU UMAP; otherwise umap-learn's, seeded (and
    therefore single-threaded) for reproducible results.
    """
    if n_points < MIN_FIT_SENTENCES:
        raise ValueError(f"UMAP needs at least {MIN_FIT_SENTENCES} points, got {n_points}")
    neighbors = max(2, min(n_neighbors, n_points - 1))
    components = max(1, min(n_components, n_points - 2))
    if backend == "cuml":
        cuml = _import_cuml()
        return cuml.manifold.UMAP(
            n_neighbors=neighbors,
            n_components=components,
            min_dist=min_dist,
            metric=metric,
            random_state=random_state,
        )
    from umap import UMAP  # numba compilation on import; keep it off module import

    return UMAP(
        n_neighbors=neighbors,
        n_components=components,
        min_dist=min_dist,
        metric=metric,
        random_state=random_state,
        n_jobs=1,
        low_memory=False,
    )


def clamped_min_cluster_size(n_points: int, min_cluster_size: int) -> int:
    """``min_cluster_size`` capped at a third of the points (so a small input can still hold
    a few clusters), and never below HDBSCAN's minimum of 2."""
    return max(2, min(min_cluster_size, n_points // 3))


def clamped_clusterer(
    n_points: int,
    *,
    backend: str,
    min_cluster_size: int,
    min_samples: int | None,
    metric: str = "euclidean",
) -> Any:
    """An HDBSCAN-like clusterer (``fit`` then ``labels_``) sized for ``n_points``.

    ``backend``: ``"hdbscan"`` (the reference implementation), ``"fast_hdbscan"`` (numba,
    run with ``reproducible=True``) or ``"cuml"`` (GPU; ``RuntimeError`` if not importable).
    """
    size = clamped_min_cluster_size(n_points, min_cluster_size)
    samples = None if min_samples is None else max(1, min(min_samples, n_points - 1))
    if backend == "hdbscan":
        import hdbscan

        return hdbscan.HDBSCAN(
            min_cluster_size=size,
            min_samples=samples,
            metric=metric,
            cluster_selection_method="eom",
            core_dist_n_jobs=1,
        )
    if backend == "fast_hdbscan":
        import fast_hdbscan

        return fast_hdbscan.HDBSCAN(
            min_cluster_size=size, min_samples=samples, metric=metric, reproducible=True
        )
    if backend == "cuml":
        cuml = _import_cuml()
        return cuml.cluster.HDBSCAN(min_cluster_size=size, min_samples=samples, metric=metric)
    raise ValueError(f"unknown cluster backend {backend!r}")


def _validated_embeddings(call: FirmCall, embeddings: np.ndarray) -> np.ndarray:
    where = f"firm {call.firm_id!r} quarter {call.quarter}"
    array = np.asarray(embeddings)
    if array.ndim != 2 or array.shape[0] != len(call):
        raise ValueError(
            f"{where}: embeddings have shape {array.shape}, expected ({len(call)}, dim) "
            "with one row per sentence of the call"
        )
    if array.size and not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{where}: embeddings must be numeric, got dtype {array.dtype}")
    bad_rows = np.flatnonzero(~np.isfinite(array).all(axis=1)) if array.size else np.array([], int)
    if len(bad_rows):
        raise ValueError(
            f"{where}: embedding rows {bad_rows[:5].tolist()} (sentence positions) hold NaN or inf"
        )
    return array.astype(np.float32, copy=False)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def most_central(embeddings: np.ndarray, members: np.ndarray, limit: int) -> np.ndarray:
    """``members`` (row indices into ``embeddings``) ordered by cosine similarity to their
    centroid, most central first (ties by index), cut to ``limit``."""
    unit = _unit_rows(embeddings[members].astype(np.float64))
    similarity = unit @ _unit_rows(unit.mean(axis=0, keepdims=True))[0]
    order = np.lexsort((members, -similarity))
    return members[order][:limit]


def _keywords(model: Any, topic: int, top_n: int) -> tuple[str, ...]:
    words = model.get_topic(topic) or []
    return tuple(word for word, _score in words if word)[:top_n]


def _vectorizer_stop_words(vectorizer: CountVectorizer) -> frozenset[str]:
    words = vectorizer.get_stop_words()
    return frozenset(words) if words else frozenset()


def _without_names(vectorizer: CountVectorizer, names: frozenset[str]) -> CountVectorizer:
    """``vectorizer`` with ``names`` added to its stop words (a no-op without names)."""
    if names:
        vectorizer.set_params(stop_words=sorted(_vectorizer_stop_words(vectorizer) | names))
    return vectorizer


def topic_label(keywords: tuple[str, ...], member_texts: list[str], excluded: frozenset[str]) -> str | None:
    """A short noun phrase from the topic's own sentences ("crude oil prices"), else the first
    three keywords joined with " / "; ``None`` without keywords.

    A Q&A chatter topic (``chatter.is_chatter_sentences`` of its sentences) is named without
    the words its sentences write only capitalised (people's names) and without Q&A words; with
    no keyword left it is ``"Q&A exchange"``. Interjections (``chatter.INTERJECTIONS``: "ah",
    "awesome", "nice") never enter a label."""
    if not keywords:
        return None
    excluded = excluded | INTERJECTIONS
    keywords = tuple(k for k in keywords if not set(k.lower().split()) & INTERJECTIONS) or keywords
    if is_chatter_sentences(member_texts, keywords):
        names = capitalised_only(member_texts) | CHATTER_WORDS
        keywords = tuple(k for k in keywords if not set(k.lower().split()) & names)
        if not keywords:
            return CHATTER_LABEL
        excluded = excluded | names
    return phrase_name(keywords, member_texts, excluded) or " / ".join(keywords[:3])


def build_firm_topics(
    call: FirmCall,
    embeddings: np.ndarray,
    settings: FirmTopicSettings,
    *,
    vectorizer_model: CountVectorizer | None = None,
    ctfidf_model: Any = None,
    representation_model: Any = None,
    embedding_model: Any = None,
    umap_model: Any = None,
) -> FirmTopics:
    """Topic-model one call. ``embeddings[i]`` is the embedding of ``call.sentences[i]``.

    The keyword sub-models default to those the settings describe (``make_vectorizer``,
    ``make_ctfidf_model``, ``make_representation_model``); passed-in vectorizer and c-TF-IDF
    models are cloned, so one instance can serve many calls. ``embedding_model`` (a
    SentenceTransformer) is only needed by a representation model that embeds words.
    ``umap_model`` (anything with ``fit_transform``) replaces the settings' clamped UMAP; the
    caller then sizes it for the call.

    Returns ``FirmTopics`` whose ``assignments[i]`` is the topic of sentence position ``i``
    (``OUTLIER_TOPIC`` for boilerplate and outliers) and whose topics are numbered 0..k-1 by
    size, largest first. Raises ``ValueError`` naming the firm and quarter if the embeddings
    do not match the call.
    """
    vectors = _validated_embeddings(call, embeddings)
    n_sentences = len(call)
    assignments = np.full(n_sentences, OUTLIER_TOPIC, dtype=np.int64)
    texts = call.texts
    substantive = np.array([not is_boilerplate(text) for text in texts], dtype=bool)
    fit_positions = np.flatnonzero(substantive)
    n_fit = len(fit_positions)
    counts = f"{n_sentences} sentences, {n_sentences - n_fit} boilerplate, {n_fit} substantive"

    required = max(settings.min_sentences, MIN_FIT_SENTENCES)
    if n_fit < required:
        return FirmTopics(
            (), assignments, outcome="too_few_sentences", detail=f"{counts}; need at least {required}"
        )

    docs = [texts[i] for i in fit_positions]
    fit_vectors = vectors[fit_positions]
    from sklearn.base import clone

    vectorizer = make_vectorizer(settings) if vectorizer_model is None else clone(vectorizer_model)
    names = (
        participant_names(texts, ~substantive, call.firm_name or "")
        if settings.drop_participant_names
        else frozenset()
    )
    vectorizer = _without_names(vectorizer, names)
    analyzer = vectorizer.build_analyzer()
    if not any(analyzer(doc) for doc in docs):
        return FirmTopics((), assignments, detail=f"{counts}; no content words left after stop words")

    from bertopic import BERTopic  # heavy import; only when modelling

    ctfidf = make_ctfidf_model(settings) if ctfidf_model is None else clone(ctfidf_model)
    representation = make_representation_model(settings) if representation_model is None else representation_model
    model = BERTopic(
        umap_model=umap_model
        if umap_model is not None
        else clamped_umap(
            n_fit,
            n_neighbors=settings.umap_n_neighbors,
            n_components=settings.umap_n_components,
            min_dist=settings.umap_min_dist,
            metric=settings.umap_metric,
            random_state=settings.random_state,
            backend=settings.cluster_backend,
        ),
        hdbscan_model=clamped_clusterer(
            n_fit,
            backend=settings.cluster_backend,
            min_cluster_size=settings.min_cluster_size,
            min_samples=settings.min_samples,
        ),
        vectorizer_model=vectorizer,
        ctfidf_model=ctfidf,
        representation_model=representation,
        embedding_model=embedding_model,
        top_n_words=settings.top_n_words,
        calculate_probabilities=False,
        verbose=False,
    )
    topics = np.asarray(model.fit_transform(docs, embeddings=fit_vectors)[0], dtype=np.int64)
    outliers_after_fit = int(np.sum(topics == OUTLIER_TOPIC))
    if outliers_after_fit == n_fit:
        return FirmTopics((), assignments, detail=f"{counts}; HDBSCAN found no cluster, all outliers")

    if settings.outlier_policy == "reduce" and outliers_after_fit:
        reduced = np.asarray(
            model.reduce_outliers(
                docs,
                topics.tolist(),
                strategy="embeddings",
                embeddings=fit_vectors,
                threshold=settings.outlier_threshold,
            ),
            dtype=np.int64,
        )
        if not np.array_equal(reduced, topics):
            with _quiet_bertopic():  # its "custom list of topic assignments" warning is expected here
                model.update_topics(
                    docs,
                    topics=reduced.tolist(),
                    vectorizer_model=vectorizer,
                    ctfidf_model=ctfidf,
                    representation_model=representation,
                    top_n_words=settings.top_n_words,
                )
            topics = reduced

    assignments[fit_positions] = topics
    topic_ids, sizes = np.unique(topics[topics != OUTLIER_TOPIC], return_counts=True)
    # Largest first; ties keep BERTopic's (frequency-sorted) order.
    ordered = [int(t) for t in topic_ids[np.lexsort((topic_ids, -sizes))]]
    excluded = _vectorizer_stop_words(vectorizer)
    records = []
    final = np.full(n_sentences, OUTLIER_TOPIC, dtype=np.int64)
    for local_id, bertopic_id in enumerate(ordered):
        members = np.flatnonzero(assignments == bertopic_id)
        final[members] = local_id
        keywords = _keywords(model, bertopic_id, settings.top_n_words)
        records.append(
            TopicRecord(
                local_topic_id=local_id,
                keywords=keywords,
                label=topic_label(keywords, [texts[i] for i in members], excluded) or f"topic {local_id}",
                size=len(members),
                representative_positions=tuple(
                    int(p) for p in most_central(vectors, members, settings.representative_sentences)
                ),
            )
        )
    outliers_final = int(np.sum(final[fit_positions] == OUTLIER_TOPIC))
    detail = (
        f"{counts}; {len(records)} topics; outliers among substantive sentences: "
        f"{outliers_after_fit} after clustering, {outliers_final} after policy {settings.outlier_policy!r}"
    )
    return FirmTopics(tuple(records), final, detail=detail)

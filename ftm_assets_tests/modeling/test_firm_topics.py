"""build_firm_topics on real Earnings-21 calls embedded with the real sentence model."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest

from ftm_assets.modeling.boilerplate import BOILERPLATE_STOP_WORDS, is_boilerplate
from ftm_assets.modeling.firm_topics import build_firm_topics
from ftm_assets.modeling.phrases import INNER_WORDS
from ftm_assets.modeling.settings import FirmTopicSettings
from ftm_assets.modeling.types import OUTLIER_TOPIC, CallSentence, FirmCall, FirmTopics
from ftm_assets_tests.modeling.helpers import REAL_FIRMS
from ftm_assets_tests.modeling.test_boilerplate import REAL_BOILERPLATE

SETTINGS = FirmTopicSettings()


def _cosine_to_centroid(embeddings: np.ndarray, members: np.ndarray) -> np.ndarray:
    rows = embeddings[members].astype(np.float64)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    centroid = unit.mean(axis=0)
    return unit @ (centroid / np.linalg.norm(centroid))


def assert_consistent(
    result: FirmTopics, call: FirmCall, embeddings: np.ndarray, settings: FirmTopicSettings
):
    """Invariants every result must hold, whatever the input size."""
    assert result.assignments.shape == (len(call),)
    assert np.issubdtype(result.assignments.dtype, np.integer)
    assert [t.local_topic_id for t in result.topics] == list(range(len(result.topics)))
    assert set(np.unique(result.assignments)) <= {OUTLIER_TOPIC, *range(len(result.topics))}
    sizes = [t.size for t in result.topics]
    assert sizes == sorted(sizes, reverse=True)
    for position, text in enumerate(call.texts):
        if is_boilerplate(text):
            assert result.assignments[position] == OUTLIER_TOPIC, text
    for topic in result.topics:
        members = np.flatnonzero(result.assignments == topic.local_topic_id)
        assert topic.size == len(members) > 0
        reps = np.asarray(topic.representative_positions)
        assert 1 <= len(reps) <= settings.representative_sentences
        assert set(reps) <= set(members)
        # Most central first, and no other member closer to the centroid than the last one.
        similarity = dict(zip(members, _cosine_to_centroid(embeddings, members), strict=True))
        rep_similarity = [similarity[p] for p in reps]
        assert all(a >= b - 1e-6 for a, b in pairwise(rep_similarity))
        others = [similarity[p] for p in members if p not in set(reps)]
        assert all(s <= rep_similarity[-1] + 1e-6 for s in others)
        assert 0 < len(topic.keywords) <= settings.top_n_words
        assert_label_is_a_phrase_of_the_topic(topic, [call.texts[i] for i in members])
    if result.outcome == "too_few_sentences":
        assert result.topics == ()
        assert result.outlier_share == (1.0 if len(call) else 0.0)


def assert_label_is_a_phrase_of_the_topic(topic, member_texts: list[str]) -> None:
    """The label is a phrase the members say whose words all come from the keywords (a single
    word gets a second phrase: "pricing and demand"), or the keyword fallback."""
    if topic.label == " / ".join(topic.keywords[:3]):
        return
    keyword_words = {w for k in topic.keywords for w in k.lower().split()} | INNER_WORDS
    joined = " ".join(member_texts).lower()
    parts = [topic.label] if topic.label.lower() in joined else topic.label.split(" and ")
    for part in parts:
        assert set(part.lower().split()) <= keyword_words, (topic.label, topic.keywords)
        assert part.lower() in joined, (topic.label, member_texts[:3])


@pytest.mark.parametrize("firm_id", REAL_FIRMS)
def test_real_call_gets_several_topics_without_boilerplate_ones(real_calls, firm_id: str) -> None:
    call, embeddings = real_calls[firm_id]
    result = build_firm_topics(call, embeddings, SETTINGS)

    assert result.outcome == "ok"
    assert len(result.topics) >= 2
    assert_consistent(result, call, embeddings, SETTINGS)
    assert 0.0 < result.outlier_share < 0.5  # boilerplate alone is ~10% of a call
    assert "outliers" in result.detail and "boilerplate" in result.detail
    for topic in result.topics:
        tokens = [token for keyword in topic.keywords for token in keyword.split()]
        share = sum(token in BOILERPLATE_STOP_WORDS for token in tokens) / len(tokens)
        assert share < 0.5, topic.keywords
        assert not {"thank", "thanks", "operator", "question"} & set(tokens), topic.keywords


def test_same_input_gives_same_result(real_calls) -> None:
    call, embeddings = real_calls["ALDX"]
    first = build_firm_topics(call, embeddings, SETTINGS)
    second = build_firm_topics(call, embeddings.copy(), SETTINGS)
    assert first.topics == second.topics
    np.testing.assert_array_equal(first.assignments, second.assignments)


def test_fast_hdbscan_backend_on_a_real_call(real_calls) -> None:
    call, embeddings = real_calls["OGS"]
    settings = replace(SETTINGS, cluster_backend="fast_hdbscan")
    first = build_firm_topics(call, embeddings, settings)
    assert first.outcome == "ok" and len(first.topics) >= 2
    assert_consistent(first, call, embeddings, settings)
    again = build_firm_topics(call, embeddings, settings)
    np.testing.assert_array_equal(first.assignments, again.assignments)


def test_outlier_policy_keep_versus_reduce(real_calls) -> None:
    call, embeddings = real_calls["CLPR"]
    kept = build_firm_topics(call, embeddings, replace(SETTINGS, outlier_policy="keep"))
    reduced = build_firm_topics(call, embeddings, SETTINGS)
    everything = build_firm_topics(call, embeddings, replace(SETTINGS, outlier_threshold=-1.0))
    substantive = np.array([not is_boilerplate(text) for text in call.texts])

    assert kept.outlier_share > reduced.outlier_share >= everything.outlier_share
    # Threshold -1 accepts every similarity: no substantive sentence stays an outlier.
    assert not np.any(everything.assignments[substantive] == OUTLIER_TOPIC)
    assert np.all(everything.assignments[~substantive] == OUTLIER_TOPIC)
    for result in (kept, reduced, everything):
        assert_consistent(result, call, embeddings, SETTINGS)


def _first_substantive(real_calls, n: int) -> tuple[FirmCall, np.ndarray]:
    call, embeddings = real_calls["OGS"]
    positions = [i for i, text in enumerate(call.texts) if not is_boilerplate(text)][:n]
    assert len(positions) == n
    small = replace(call, sentences=tuple(call.sentences[i] for i in positions))
    return small, embeddings[positions]


@pytest.mark.parametrize("n", [0, 1, 5, 29])
def test_too_few_sentences(real_calls, n: int) -> None:
    call, embeddings = _first_substantive(real_calls, n)
    result = build_firm_topics(call, embeddings, SETTINGS)
    assert result.outcome == "too_few_sentences"
    assert f"{n} substantive" in result.detail
    assert_consistent(result, call, embeddings, SETTINGS)


@pytest.mark.parametrize("n", [30, 31, 60])
def test_enough_sentences_are_modelled(real_calls, n: int) -> None:
    call, embeddings = _first_substantive(real_calls, n)
    result = build_firm_topics(call, embeddings, SETTINGS)
    assert result.outcome == "ok"
    assert_consistent(result, call, embeddings, SETTINGS)
    if not result.topics:
        assert "no cluster" in result.detail


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 12])
def test_lowered_min_sentences_is_safe_for_tiny_calls(real_calls, n: int) -> None:
    settings = replace(SETTINGS, min_sentences=0)
    call, embeddings = _first_substantive(real_calls, n)
    result = build_firm_topics(call, embeddings, settings)
    assert result.outcome == ("too_few_sentences" if n < 3 else "ok")
    assert_consistent(result, call, embeddings, settings)


def test_all_boilerplate_call_gets_no_topic(sentence_transformer) -> None:
    lines = REAL_BOILERPLATE[:40]
    call = FirmCall("BOIL", "2020Q3", tuple(CallSentence(i, text) for i, text in enumerate(lines)))
    embeddings = sentence_transformer.encode(list(lines), convert_to_numpy=True)
    for settings in (SETTINGS, replace(SETTINGS, min_sentences=0)):
        result = build_firm_topics(call, embeddings, settings)
        assert result.outcome == "too_few_sentences"
        assert result.topics == ()
        assert "40 boilerplate, 0 substantive" in result.detail
        assert np.all(result.assignments == OUTLIER_TOPIC)


def test_embeddings_that_do_not_match_the_call_are_rejected(real_calls) -> None:
    call, embeddings = real_calls["ALDX"]
    with pytest.raises(ValueError, match=r"firm 'ALDX' quarter 2020Q2.*shape \(181, 384\)"):
        build_firm_topics(call, embeddings[:-1], SETTINGS)
    with pytest.raises(ValueError, match=r"firm 'ALDX' quarter 2020Q2"):
        build_firm_topics(call, embeddings[:, 0], SETTINGS)
    broken = embeddings.copy()
    broken[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"firm 'ALDX' quarter 2020Q2: embedding rows \[7\]"):
        build_firm_topics(call, broken, SETTINGS)


def test_cuml_backend_is_used_or_refused_clearly(real_calls) -> None:
    call, embeddings = real_calls["ALDX"]
    settings = replace(SETTINGS, cluster_backend="cuml")
    if importlib.util.find_spec("cuml") is None:
        with pytest.raises(RuntimeError, match="cluster_backend='cuml' needs RAPIDS cuML"):
            build_firm_topics(call, embeddings, settings)
    else:
        assert_consistent(build_firm_topics(call, embeddings, settings), call, embeddings, settings)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cluster_backend", "sklearn"),
        ("outlier_policy", "drop"),
        ("min_cluster_size", 1),
        ("umap_n_neighbors", 1),
        ("outlier_threshold", 1.5),
    ],
)
def test_settings_reject_bad_values(field: str, value) -> None:
    with pytest.raises(ValueError, match=field):
        FirmTopicSettings(**{field: value})


def test_sub_models_are_injected_not_patched(real_calls, sentence_transformer) -> None:
    """Sub-models passed in are used (and cloned, not mutated); the defaults equal the models the
    settings describe; a re-ranking representation uses the given embedding model."""
    from bertopic.representation import KeyBERTInspired
    from sklearn.feature_extraction.text import CountVectorizer

    from ftm_assets.modeling.firm_topics import TOKEN_PATTERN, make_ctfidf_model, make_vectorizer

    call, embeddings = real_calls["OGS"]
    default = build_firm_topics(call, embeddings, SETTINGS)
    explicit = build_firm_topics(
        call,
        embeddings,
        SETTINGS,
        vectorizer_model=make_vectorizer(SETTINGS),
        ctfidf_model=make_ctfidf_model(SETTINGS),
    )
    assert explicit.topics == default.topics

    unigrams = CountVectorizer(stop_words="english", ngram_range=(1, 1), token_pattern=TOKEN_PATTERN)
    plain = build_firm_topics(call, embeddings, SETTINGS, vectorizer_model=unigrams)
    assert not hasattr(unigrams, "vocabulary_")  # cloned, the caller's instance is untouched
    assert all(" " not in k for t in plain.topics for k in t.keywords)
    np.testing.assert_array_equal(plain.assignments, default.assignments)  # keywords only

    reranked = build_firm_topics(
        call, embeddings, SETTINGS, representation_model=KeyBERTInspired(), embedding_model=sentence_transformer
    )
    np.testing.assert_array_equal(reranked.assignments, default.assignments)
    assert [t.keywords for t in reranked.topics] != [t.keywords for t in default.topics]


@pytest.mark.parametrize("firm_id", REAL_FIRMS)
def test_keywords_hold_no_framing_words_or_participant_names(real_calls, firm_id: str) -> None:
    from ftm_assets.modeling.phrases import participant_names

    call, embeddings = real_calls[firm_id]
    result = build_firm_topics(call, embeddings, SETTINGS)
    names = participant_names(call.texts, [is_boilerplate(t) for t in call.texts])
    assert names, "a real call names its participants in its boilerplate"
    for topic in result.topics:
        tokens = {w for k in topic.keywords for w in k.split()}
        assert not tokens & {"quarter", "million", "year", "continue", "mentioned"}, topic.keywords
        assert not tokens & names, (topic.keywords, names)

"""cluster_themes on synthetic topic-summary embeddings with planted cross-firm blobs."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from ftm_assets.modeling.settings import ThemeSettings
from ftm_assets.modeling.themes import (
    ThemeCluster,
    _cross_firm_clusters,
    _unit_rows,
    cap_firm_share,
    cluster_themes,
    theme_min_cluster_size,
)
from ftm_assets.modeling.types import TopicRef

DIM = 384
METHODS = ("umap_hdbscan", "pca_hdbscan")
#: Planted themes: (keyword, number of topics); each spread over six firms.
BLOBS = (("steel", 15), ("vaccine", 12), ("solar", 10), ("freight", 8))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _blob(rng: np.random.Generator, center: np.ndarray, n: int, spread: float = 0.25) -> np.ndarray:
    return _unit(center + spread * _unit(rng.normal(size=(n, DIM))))


def planted_quarter(seed: int = 0) -> tuple[list[TopicRef], np.ndarray, list[str]]:
    """Topics of four cross-firm blobs (firms F0..F5 in turn), shuffled; returns the blob
    keyword of each topic too."""
    rng = np.random.default_rng(seed)
    topics, vectors, truth = [], [], []
    for keyword, size in BLOBS:
        center = _unit(rng.normal(size=DIM))
        for j, vector in enumerate(_blob(rng, center, size)):
            firm = f"F{j % 6}"
            summary = f"Management discussed {keyword} demand and {keyword} costs this quarter."
            topics.append(TopicRef(len(topics), firm, j, summary, (keyword, "demand")))
            vectors.append(vector)
            truth.append(keyword)
    order = rng.permutation(len(topics))
    return [topics[i] for i in order], np.array(vectors)[order], [truth[i] for i in order]


def assert_theme_rules(themes: list[ThemeCluster], topics: list[TopicRef], settings: ThemeSettings) -> None:
    seen: set[int] = set()
    sizes = [len(t.member_indices) for t in themes]
    assert sizes == sorted(sizes, reverse=True)
    for theme in themes:
        members = theme.member_indices
        assert not seen & set(members), "a topic is in two themes"
        seen |= set(members)
        assert len(members) >= theme_min_cluster_size(len(topics), settings)
        firms = Counter(topics[i].firm_id for i in members)
        assert theme.firm_ids == tuple(sorted(firms))
        assert len(firms) >= settings.min_firms
        assert max(firms.values()) <= settings.max_firm_share * len(members) + 1e-9
        assert theme.central_indices == members[: settings.central_summaries]


@pytest.mark.parametrize("method", METHODS)
def test_planted_blobs_are_recovered(method: str) -> None:
    topics, vectors, truth = planted_quarter()
    settings = ThemeSettings(method=method)
    themes = cluster_themes(topics, vectors, settings)

    assert_theme_rules(themes, topics, settings)
    assert len(themes) == len(BLOBS)
    for theme, (keyword, size) in zip(themes, BLOBS, strict=True):  # BLOBS is largest first
        assert {truth[i] for i in theme.member_indices} == {keyword}
        assert len(theme.member_indices) == size
        assert theme.keywords[0] == keyword
        assert len(theme.keywords) <= settings.top_n_words
        assert "demand" not in theme.keywords[:3]  # shared by every theme: low c-TF-IDF
        # Members are ordered most central first.
        unit = _unit(vectors[list(theme.member_indices)].astype(np.float64))
        similarity = unit @ _unit(unit.mean(axis=0))
        assert np.all(np.diff(similarity) <= 1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_same_input_gives_same_themes(method: str) -> None:
    topics, vectors, _ = planted_quarter(seed=3)
    settings = ThemeSettings(method=method)
    assert cluster_themes(topics, vectors, settings) == cluster_themes(topics, vectors.copy(), settings)


def test_firm_dominated_blobs_are_trimmed_or_dropped() -> None:
    rng = np.random.default_rng(7)
    topics, vectors = [], []

    def add(firm: str, vector: np.ndarray, word: str) -> int:
        topics.append(TopicRef(len(topics), firm, len(topics), f"{word} update", (word,)))
        vectors.append(vector)
        return len(topics) - 1

    # Balanced blob: stays whole.
    balanced_center = _unit(rng.normal(size=DIM))
    for j, v in enumerate(_blob(rng, balanced_center, 10)):
        add(f"B{j % 5}", v, "tariffs")
    # 8 of 10 from DOM: trimmed to DOM's single most central topic plus A and B.
    trimmed_center = _unit(rng.normal(size=DIM))
    dom_central = add("DOM", trimmed_center, "hydrogen")  # exactly at the centre
    for v in _blob(rng, trimmed_center, 7):
        add("DOM", v, "hydrogen")
    a, b = (add(firm, v, "hydrogen") for firm, v in zip("AB", _blob(rng, trimmed_center, 2), strict=True))
    # 9 of 10 from ONE: no share-respecting subset of size >= 3 exists, so the blob is dropped.
    for j, v in enumerate(_blob(rng, _unit(rng.normal(size=DIM)), 10)):
        add("ONE" if j < 9 else "C", v, "lithium")

    settings = ThemeSettings()
    themes = cluster_themes(topics, np.array(vectors), settings)
    assert_theme_rules(themes, topics, settings)
    by_keyword = {theme.keywords[0]: theme for theme in themes}
    assert set(by_keyword) == {"tariffs", "hydrogen"}
    assert len(by_keyword["tariffs"].member_indices) == 10
    hydrogen = by_keyword["hydrogen"]
    assert set(hydrogen.member_indices) == {dom_central, a, b}
    assert hydrogen.firm_ids == ("A", "B", "DOM")


@pytest.mark.parametrize(
    ("firms", "share", "expected"),
    [
        (["X", "X", "Y", "Z", "X", "Y"], 1.0, [0, 1, 2, 3, 4, 5]),
        (["X", "X", "Y", "Z", "X", "Y"], 0.5, [0, 1, 2, 3, 4, 5]),  # X holds exactly 3/6
        (["X", "X", "Y", "Z", "X", "Y"], 0.4, [0, 1, 2, 3, 5]),  # cap 2: X keeps 0, 1
        (["X", "X", "Y", "Z", "X", "Y"], 0.34, [0, 2, 3]),  # cap 2, then 1 as the cluster shrinks
        (["X"] * 8 + ["A", "B"], 0.4, [0, 8, 9]),
        (["X"] * 9 + ["C"], 0.4, []),
        ([], 0.4, []),
    ],
)
def test_cap_firm_share(firms: list[str], share: float, expected: list[int]) -> None:
    kept = cap_firm_share(list(range(len(firms))), firms, share)
    counts = Counter(firms[i] for i in kept)
    assert all(c <= share * len(kept) + 1e-9 for c in counts.values())
    assert kept == expected


@pytest.mark.parametrize("n", [0, 1, 2])
@pytest.mark.parametrize("method", METHODS)
def test_tiny_inputs_give_no_theme(n: int, method: str) -> None:
    topics, vectors, _ = planted_quarter()
    assert cluster_themes(topics[:n], vectors[:n], ThemeSettings(method=method)) == []


def test_single_firm_gives_no_theme() -> None:
    topics, vectors, _ = planted_quarter()
    one_firm = [replace(t, firm_id="SOLO") for t in topics]
    assert cluster_themes(one_firm, vectors, ThemeSettings()) == []


def test_embeddings_that_do_not_match_are_rejected() -> None:
    topics, vectors, _ = planted_quarter()
    with pytest.raises(ValueError, match=r"shape \(44, 384\), expected \(45, dim\)"):
        cluster_themes(topics, vectors[:-1], ThemeSettings())
    broken = vectors.copy()
    broken[4, 0] = np.inf
    with pytest.raises(ValueError, match=rf"topic ids \[{topics[4].topic_id}\]"):
        cluster_themes(topics, broken, ThemeSettings())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "kmeans"),
        ("max_firm_share", 0.0),
        ("min_firms", 0),
        ("cluster_backend", "x"),
        ("min_cluster_size_at_10k_topics", -1.0),
        ("min_cohesion_ratio", 1.5),
    ],
)
def test_settings_reject_bad_values(field: str, value) -> None:
    with pytest.raises(ValueError, match=field):
        ThemeSettings(**{field: value})


def test_min_cluster_size_follows_the_quarter_size() -> None:
    default = ThemeSettings()
    sizes = {n: theme_min_cluster_size(n, default) for n in (45, 100, 500, 2000, 10_000, 50_000, 125_000)}
    # 3 for the demo's and the tests' few dozen topics, tens at quarter scale, sqrt growth.
    assert sizes == {45: 3, 100: 3, 500: 3, 2000: 7, 10_000: 15, 50_000: 34, 125_000: 53}
    grid = [theme_min_cluster_size(n, default) for n in range(0, 300_000, 997)]
    assert grid == sorted(grid)
    # An explicit size is the floor; with the scale rule off it is used as is.
    assert theme_min_cluster_size(100, ThemeSettings(min_cluster_size=10)) == 10
    assert theme_min_cluster_size(125_000, ThemeSettings(min_cluster_size=60)) == 60
    fixed = ThemeSettings(min_cluster_size=10, min_cluster_size_at_10k_topics=0)
    assert theme_min_cluster_size(125_000, fixed) == 10
    assert theme_min_cluster_size(10_000, ThemeSettings(min_cluster_size_at_10k_topics=30)) == 30


def _planted(n: int) -> tuple[list[TopicRef], np.ndarray, np.ndarray]:
    from ftm_assets.bench.theme_bench import planted_summaries

    vectors, labels, firm_ids, summaries = planted_summaries(n)
    return [TopicRef(i, firm_ids[i], 0, summaries[i], ()) for i in range(n)], vectors, labels


def test_cluster_size_rule_stops_over_splitting_planted_themes() -> None:
    """1,000 planted summaries (7 themes of ~100 topics, 30 % one-offs): a fixed size 3
    splits the themes; a size grown by the rule recovers their number."""
    topics, vectors, labels = _planted(1000)
    planted = int(labels.max()) + 1
    fixed = ThemeSettings(min_cluster_size_at_10k_topics=0)
    scaled = ThemeSettings(min_cluster_size_at_10k_topics=45)  # 14 at 1,000 topics
    split = cluster_themes(topics, vectors, fixed)
    themes = cluster_themes(topics, vectors, scaled)
    assert len(split) > 2 * planted
    assert abs(len(themes) - planted) <= 0.25 * planted
    assert_theme_rules(themes, topics, scaled)
    # Each planted theme is recovered: one found theme holds at least 80 % of its topics.
    holders = []
    for k in range(planted):
        share = [np.isin(np.flatnonzero(labels == k), theme.member_indices).mean() for theme in themes]
        assert max(share) >= 0.8
        holders.append(int(np.argmax(share)))
    assert len(set(holders)) == planted


def test_catch_all_cluster_is_dropped() -> None:
    """A cluster of unrelated topics (no tighter than the quarter) next to four tight themes
    is not a theme unless ``min_cohesion_ratio`` is 0."""
    topics, vectors, truth = planted_quarter()
    rng = np.random.default_rng(5)
    loose = _unit(rng.normal(size=(30, DIM)))
    n = len(topics)
    topics = topics + [TopicRef(n + j, f"F{j % 6}", 100 + j, f"misc {j}", ()) for j in range(30)]
    unit = _unit_rows(np.vstack([vectors, loose]).astype(np.float32))
    blob_label = {keyword: k for k, (keyword, _) in enumerate(BLOBS)}
    labels = np.array([blob_label[t] for t in truth] + [len(BLOBS)] * 30)
    firm_ids = [t.firm_id for t in topics]

    kept = _cross_firm_clusters(labels, unit, firm_ids, ThemeSettings(), 3)
    assert sorted(len(m) for m in kept) == sorted(size for _, size in BLOBS)
    assert all(max(m) < n for m in kept)
    everything = _cross_firm_clusters(labels, unit, firm_ids, ThemeSettings(min_cohesion_ratio=0), 3)
    assert [len(m) for m in everything] == [30] + [size for _, size in BLOBS]


@pytest.mark.slow
def test_fast_method_handles_twenty_thousand_topics() -> None:
    """Run-time sanity check (no time assertion): 20k x 384 blob vectors, pca_hdbscan."""
    rng = np.random.default_rng(11)
    n_blobs, n = 400, 20_000
    centers = _unit(rng.normal(size=(n_blobs, DIM)))
    blob_of = rng.integers(0, n_blobs, size=n)
    vectors = _unit(centers[blob_of] + 0.25 * _unit(rng.normal(size=(n, DIM))))
    topics = [TopicRef(i, f"F{i % 500}", i, f"topic {blob_of[i]}", ()) for i in range(n)]
    settings = ThemeSettings(method="pca_hdbscan")
    themes = cluster_themes(topics, vectors.astype(np.float32), settings)
    assert len(themes) > 10
    assert_theme_rules(themes, topics, settings)


def test_theme_keywords_are_words_of_the_topic_keywords() -> None:
    """A name that summaries quote ("Thanks, Steve") but no topic has as a keyword (the firm stage
    drops participant names) never becomes a theme keyword."""
    topics, vectors, _ = planted_quarter()
    # (Mostly content-free sentences would make the topic chatter, kept out of themes.)
    quoted = [
        replace(t, summary=f"Thanks, Steve. Steve asked about {t.keywords[0]} pricing. {t.summary}")
        for t in topics
    ]
    themes = cluster_themes(quoted, vectors, ThemeSettings())
    assert themes
    allowed = {w for t in quoted for k in t.keywords for w in k.split()}
    for theme in themes:
        assert "steve" not in theme.keywords
        assert all(set(k.split()) <= allowed for k in theme.keywords), theme.keywords

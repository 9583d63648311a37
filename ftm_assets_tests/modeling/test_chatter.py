"""Q&A chatter topics: recognised from their sentences and keywords, kept out of themes."""

from __future__ import annotations

import numpy as np

from ftm_assets.modeling.chatter import (
    CHATTER_LABEL,
    capitalised_only,
    chatter_score,
    content_words,
    is_chatter,
    summary_sentences,
)
from ftm_assets.modeling.firm_topics import topic_label, topic_stop_words
from ftm_assets.modeling.settings import ThemeSettings
from ftm_assets.modeling.themes import cluster_themes
from ftm_assets.modeling.types import TopicRef
from ftm_assets_tests.modeling.test_themes import DIM, _blob, _unit, planted_quarter

# Topics of the Earnings-21 calls that formed the themes "Baka and answering" and
# "Awesome and comment" (extractive summaries: key terms, then representative sentences).
CHATTER = [
    ("Key terms: baka, answering, nice. Todd. Todd.", ("baka", "answering", "nice")),
    (
        "Key terms: questions, jeanmarc, hear. I got two questions. I have three questions.",
        ("jeanmarc", "hear", "ching"),
    ),
    ("Key terms: awesome, comment. Oh, you're back. Micheal your on.", ("awesome", "comment", "alans")),
    ("Key terms: ah, nice. That's, that's it for me. Awesome.", ("ah", "nice", "comment")),
]
SUBSTANTIVE = [
    (
        "Key terms: free cash flow, debt. Free cash flow was $120 million, and we repaid the term loan. "
        "Our free cash flow conversion improved on lower working capital.",
        ("free cash flow", "debt", "working capital"),
    ),
    (
        "Key terms: OXXO, stores. Traffic in OXXO stores recovered in June. Nordex turbines shipped to Spain.",
        ("oxxo", "stores", "traffic", "turbines"),
    ),
    ("Key terms: hydrogen. We are building a green hydrogen plant in Texas.", ("hydrogen", "plant")),
]


def test_summary_sentences_drop_the_key_terms_line() -> None:
    assert summary_sentences("Key terms: a, b. Todd. Todd.") == ["Todd.", "Todd."]
    assert summary_sentences("Prices rose. Demand fell.") == ["Prices rose.", "Demand fell."]


def test_content_words_skip_stop_words_interjections_and_short_words() -> None:
    assert content_words("Oh, awesome, thanks for the color on the quarter.") == []
    assert content_words("Crude oil prices fell in April.") == ["crude", "oil", "prices", "fell", "april"]


def test_qa_utterances_are_chatter_and_business_topics_are_not() -> None:
    for summary, keywords in CHATTER:
        assert is_chatter(summary, keywords), (summary, chatter_score(summary, keywords))
    for summary, keywords in SUBSTANTIVE:
        assert not is_chatter(summary, keywords), (summary, chatter_score(summary, keywords))


def test_keywords_that_are_names_or_interjections_make_chatter() -> None:
    """Substantive-looking sentences, but the keywords are the names the texts write capitalised."""
    summary = (
        "Key terms: baka. Baka Ching asked about the new plant capacity. Jeanmarc Alans followed on margins."
    )
    assert chatter_score(summary, ("baka", "ching", "jeanmarc", "margins"))[1] == 0.75
    assert is_chatter(summary, ("baka", "ching", "jeanmarc", "margins"))
    assert not is_chatter(summary, ("plant", "capacity", "margins", "baka"))


def test_chatter_topics_join_no_theme_but_would_form_one_without_the_rule() -> None:
    """Six firms' chatter topics embed alike (a tight blob): clustered, they form a theme; with
    ``exclude_chatter`` none of them is in a theme and the planted themes stay."""
    topics, vectors, truth = planted_quarter()
    rng = np.random.default_rng(7)
    chatter_vectors = _blob(rng, _unit(rng.normal(size=DIM)), 12, spread=0.15)
    for j in range(len(chatter_vectors)):
        summary, keywords = CHATTER[j % len(CHATTER)]
        topics.append(TopicRef(len(topics), f"F{j % 6}", 100 + j, summary, keywords))
    vectors = np.vstack([vectors, chatter_vectors])
    chatter_ids = set(range(len(truth), len(topics)))

    with_rule = cluster_themes(topics, vectors, ThemeSettings())
    without = cluster_themes(topics, vectors, ThemeSettings(exclude_chatter=False))
    assert any(set(t.member_indices) & chatter_ids for t in without)
    assert with_rule
    assert not any(set(t.member_indices) & chatter_ids for t in with_rule)
    for theme in with_rule:
        assert len({truth[i] for i in theme.member_indices}) == 1


def test_chatter_topic_labels_are_not_names() -> None:
    stop = frozenset(topic_stop_words())
    texts = ["Todd. Todd.", "Baka, you're on.", "Oh, Baka, nice.", "Nice. Baka here.", "Todd, go ahead."]
    assert topic_label(("baka", "todd", "nice"), texts, stop) == CHATTER_LABEL
    texts = [
        "Sorry, Baka, the line.",
        "Baka, the line dropped.",
        "Line issue.",
        "Baka, the line again.",
        "Hm.",
    ]
    assert topic_label(("baka", "issue"), texts, stop) == "issue"
    # A business topic keeps the proper nouns it is about.
    texts = ["Nordex turbines shipped to Spain.", "Nordex turbines ran well.", "We build Nordex turbines."]
    assert topic_label(("nordex", "turbines"), texts, stop) == "nordex turbines"


def test_months_are_not_names() -> None:
    texts = ["Sales in July were better than June.", "In July, Baka called."]
    assert capitalised_only(texts) == {"sales", "baka"}


def test_interjections_never_enter_a_label() -> None:
    stop = frozenset(topic_stop_words())
    texts = ["Ah, the summer season.", "Ah, a nice summer.", "Summer season demand grew.", "Summer season."]
    assert topic_label(("ah", "summer", "season"), texts, stop) == "summer season"

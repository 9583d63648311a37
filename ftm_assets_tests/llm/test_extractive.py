"""Extractive fallback texts: deterministic, bounded, built from the topic's own material."""

from __future__ import annotations

from ftm_assets.llm.extractive import extractive_theme_text, extractive_topic_summary, summary_key_terms
from ftm_assets.llm.prompts import ThemePromptInput, TopicPromptInput
from ftm_assets.llm.text import rejection_reason


def test_topic_summary_names_keywords_and_quotes_the_most_representative_sentences(firm_topics) -> None:
    _, _, topics = firm_topics[0]
    topic = topics[2]
    summary = extractive_topic_summary(topic)
    assert summary.startswith("Key terms: " + ", ".join(topic.keywords[:5]) + ".")
    assert " ".join(topic.sentences[0].split())[:40] in summary
    assert " ".join(topic.sentences[2].split())[:40] not in summary
    assert summary == extractive_topic_summary(topic)


def test_topic_summaries_of_real_calls_are_bounded_plausible_prose(firm_topics) -> None:
    for _, _, topics in firm_topics:
        for topic in topics:
            summary = extractive_topic_summary(topic, max_chars=300)
            assert 0 < len(summary) <= 300
            assert rejection_reason(summary) is None


def test_topic_summary_is_cut_at_a_sentence_boundary() -> None:
    topic = TopicPromptInput(
        local_topic_id=1,
        keywords=["tires"],
        sentences=["Tire units grew in the quarter. " * 20, "Second sentence."],
    )
    summary = extractive_topic_summary(topic, max_chars=120)
    assert len(summary) <= 120
    assert summary.endswith("quarter.")


def test_topic_without_material_gets_a_placeholder() -> None:
    assert extractive_topic_summary(TopicPromptInput(7, [], [" "])) == "Topic 7: no representative text."
    assert extractive_topic_summary(TopicPromptInput(7, ["tires"], [])) == "Key terms: tires."


def test_theme_text_from_keywords_and_central_summary() -> None:
    theme = ThemePromptInput(
        keywords=["supply chain", "pricing", "demand", "freight"],
        summaries=["Firms raised prices to offset freight costs. Demand held up.", "Another summary."],
    )
    name, description = extractive_theme_text(theme)
    # "supply chain" and "pricing" are not in the summaries; "demand" is, then "freight".
    assert name == "Demand and freight"
    assert description.startswith("Firms discussed supply chain, pricing, demand and freight.")
    assert "Firms raised prices to offset freight costs." in description
    assert "Another summary" not in description
    assert (name, description) == extractive_theme_text(theme)


def test_theme_name_is_the_phrase_the_summaries_use() -> None:
    theme = ThemePromptInput(
        keywords=["prices", "crude", "oil", "price", "juan"],
        summaries=[
            "Key terms: prices, crude, oil. Crude oil prices fell in April, Juan said.",
            "Lower crude oil prices cut upstream revenue.",
            "The company expects crude oil prices to recover.",
        ],
    )
    assert extractive_theme_text(theme)[0] == "Crude oil prices"


def test_theme_name_may_use_the_member_topics_key_terms() -> None:
    """"Cash and free" was the name of an Earnings-21 theme whose members said "free cash flow":
    "flow" is a member topic's key term, not a theme keyword."""
    theme = ThemePromptInput(
        keywords=["cash", "free", "debt"],
        summaries=[
            "Key terms: free cash flow, liquidity. Free cash flow was $120 million in the quarter.",
            "Key terms: cash, debt. We generated free cash flow and repaid debt.",
            "Key terms: cash flow. Operating cash flow rose.",
        ],
    )
    assert extractive_theme_text(theme)[0] == "Free cash flow"
    assert summary_key_terms(theme.summaries) == {"free", "cash", "flow", "liquidity", "debt"}


def test_theme_name_falls_back_to_keywords_absent_from_the_summaries() -> None:
    theme = ThemePromptInput(keywords=["supply chain", "pricing", "demand"], summaries=["Nothing related."])
    assert extractive_theme_text(theme)[0] == "Supply chain, Pricing and Demand"


def test_theme_text_without_material() -> None:
    assert extractive_theme_text(ThemePromptInput([], [])) == ("Unnamed theme", "No description available.")
    name, description = extractive_theme_text(ThemePromptInput(["liquidity"], []))
    assert name == "Liquidity"
    assert description == "Firms discussed liquidity."


def test_theme_description_is_bounded() -> None:
    theme = ThemePromptInput(["costs"], ["Costs rose sharply again. " * 100])
    _, description = extractive_theme_text(theme, max_description_chars=150)
    assert len(description) <= 150
    assert description.endswith(".")


def test_extractive_theme_name_does_not_repeat_keyword_words():
    from ftm_assets.llm.extractive import distinct_keywords, extractive_theme_text
    from ftm_assets.llm.prompts import ThemePromptInput

    assert distinct_keywords(["quarter", "second", "second quarter", "cash"]) == ["quarter", "second", "cash"]
    name, _ = extractive_theme_text(ThemePromptInput(["quarter", "second", "second quarter", "cash"], ["x."]))
    assert name.lower().count("second") == 1

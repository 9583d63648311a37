"""Settings and prompts: what a request carries, and what it never carries."""

from __future__ import annotations

import dataclasses

import pytest

from ftm_assets.llm.prompts import (
    ThemePromptInput,
    TopicPromptInput,
    theme_messages,
    topic_messages,
)
from ftm_assets.llm.settings import LlmSettings

SENTINEL_KEY = "sk-PROMPT-SENTINEL-0000"


def test_settings_repr_hides_the_key() -> None:
    settings = LlmSettings(api_key=SENTINEL_KEY)
    assert SENTINEL_KEY not in repr(settings)
    assert SENTINEL_KEY not in str(settings)
    assert "api_key" not in repr(settings)


def test_settings_defaults_and_offline() -> None:
    settings = LlmSettings()
    assert settings.base_url == "https://api.x.ai/v1"
    assert settings.model == "grok-3-mini"
    assert settings.offline
    assert LlmSettings(api_key="").offline
    assert not LlmSettings(api_key=SENTINEL_KEY).offline


@pytest.mark.parametrize(
    ("field", "value"),
    [("privacy", "everything"), ("max_concurrency", 0), ("max_retries", -1), ("timeout_s", 0.0)],
)
def test_settings_reject_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        LlmSettings(**{field: value})  # type: ignore[arg-type]


def test_topic_prompt_holds_firm_quarter_keywords_and_capped_sentences(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    topic = topics[0]
    settings = LlmSettings(max_prompt_sentences=5, max_sentence_chars=60)
    messages = topic_messages(firm_id, quarter, topic, settings)
    assert [m["role"] for m in messages] == ["system", "user"]
    system, user = messages[0]["content"], messages[1]["content"]
    assert "2-3 sentences" in system and "neutral" in system and "analyst" in system
    assert f"Firm: {firm_id}" in user and f"Quarter: {quarter}" in user
    assert "Keywords: " + ", ".join(topic.keywords) in user
    numbered = [line for line in user.splitlines() if line[:1].isdigit() and ". " in line]
    assert len(numbered) == 5  # the topic has 12 sentences; the cap is 5
    for line, sentence in zip(numbered, topic.sentences, strict=False):
        shown = line.split(". ", 1)[1]
        assert len(shown) <= 60
        assert shown.rstrip("…")[:20] == " ".join(sentence.split())[:20]  # most representative first
    assert " ".join(topic.sentences[6].split())[:40] not in user


def test_keywords_privacy_sends_no_sentence(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[1]
    settings = LlmSettings(privacy="keywords")
    for topic in topics:
        text = "\n".join(m["content"] for m in topic_messages(firm_id, quarter, topic, settings))
        assert topic.keywords[0] in text
        for sentence in topic.sentences:
            assert " ".join(sentence.split())[:40] not in text


def test_topic_without_sentences_or_keywords_still_gets_a_prompt() -> None:
    topic = TopicPromptInput(local_topic_id=3, keywords=[], sentences=["", "  "])
    user = topic_messages("MNRO", "2020Q2", topic, LlmSettings())[1]["content"]
    assert "Keywords: (none)" in user
    assert "Only the topic's keywords are given" in user


def test_prompt_keywords_are_deduplicated_and_capped() -> None:
    keywords = ["Margin", "margin", " ", "tires"] + [f"kw{i}" for i in range(30)]
    user = topic_messages("MNRO", "2020Q2", TopicPromptInput(0, keywords, []), LlmSettings())[1]["content"]
    line = next(line for line in user.splitlines() if line.startswith("Keywords: "))
    listed = line.removeprefix("Keywords: ").split(", ")
    assert listed[:3] == ["Margin", "tires", "kw0"]
    assert len(listed) == 15


def test_theme_prompt_asks_for_name_and_description() -> None:
    theme = ThemePromptInput(
        keywords=["covid", "liquidity"],
        summaries=[f"Summary {i} says the firm drew its revolver." for i in range(12)],
    )
    messages = theme_messages("2020Q2", theme, LlmSettings(max_prompt_sentences=4))
    assert [m["role"] for m in messages] == ["system", "user"]
    text = "\n".join(m["content"] for m in messages)
    assert "Name: <name>\nDescription: <description>" in messages[1]["content"]
    assert "2-3 sentences" in text
    assert "Quarter: 2020Q2" in text and "Keywords: covid, liquidity" in text
    assert "Summary 3 says" in text and "Summary 4 says" not in text


def test_theme_prompt_in_keywords_mode_has_no_summaries() -> None:
    theme = ThemePromptInput(keywords=["covid"], summaries=["Key terms: covid. We drew down the revolver."])
    text = "\n".join(m["content"] for m in theme_messages("2020Q2", theme, LlmSettings(privacy="keywords")))
    assert "revolver" not in text
    assert "covid" in text


def test_prompt_inputs_are_frozen() -> None:
    topic = TopicPromptInput(0, ("a",), ("b",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        topic.local_topic_id = 1  # type: ignore[misc]

"""Offline texts built from the topic's own material: used without an API key or when the LLM fails.

Pure and deterministic: the same input always gives the same text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ftm_assets.llm.prompts import ThemePromptInput, TopicPromptInput, prompt_keywords
from ftm_assets.llm.text import clip_text, cut_at_sentence_boundary, normalize_whitespace
from ftm_assets.modeling.firm_topics import topic_stop_words
from ftm_assets.modeling.phrases import phrase_name

#: Representative sentences quoted in an extractive topic summary, and keywords named in it.
EXTRACTIVE_TOPIC_SENTENCES = 2
EXTRACTIVE_KEYWORDS = 5
THEME_NAME_KEYWORDS = 3
THEME_SUMMARY_CHARS = 400
_KEY_TERMS = re.compile(r"\s*Key terms: ([^.]*)\.")


def _as_sentence(text: str) -> str:
    text = normalize_whitespace(text)
    if text and text[-1] not in ".!?\"'”’)]…":
        text += "."
    return text


def _join_phrase(words: Sequence[str]) -> str:
    """``["a"]`` -> ``"a"``, ``["a", "b"]`` -> ``"a and b"``, ``["a", "b", "c"]`` -> ``"a, b and c"``."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def extractive_topic_summary(topic: TopicPromptInput, max_chars: int = 1200) -> str:
    """A summary quoting the topic's material: its first keywords, then its most representative
    sentences (at most ``EXTRACTIVE_TOPIC_SENTENCES``), cut at a sentence boundary to ``max_chars``.

    Never empty: a topic without keywords or sentences gets ``"Topic N: no representative text."``.
    """
    keywords = prompt_keywords(topic.keywords)[:EXTRACTIVE_KEYWORDS]
    sentences = [_as_sentence(s) for s in topic.sentences if normalize_whitespace(str(s))]
    parts = []
    if keywords:
        parts.append(f"Key terms: {', '.join(keywords)}.")
    parts.extend(sentences[:EXTRACTIVE_TOPIC_SENTENCES])
    if not parts:
        return f"Topic {topic.local_topic_id}: no representative text."
    return cut_at_sentence_boundary(" ".join(parts), max_chars)


def distinct_keywords(keywords: list[str]) -> list[str]:
    """Keywords in order, without one whose words all appeared in earlier ones ("second quarter"
    after "quarter" and "second"), so extractive names do not repeat themselves."""
    seen: set[str] = set()
    out = []
    for kw in keywords:
        words = set(kw.lower().split())
        if words and words <= seen:
            continue
        seen |= words
        out.append(kw)
    return out


def summary_key_terms(summaries: Sequence[str]) -> frozenset[str]:
    """Lower-cased words of the "Key terms: ..." lines of extractive topic summaries (the member
    topics' own keywords); empty for LLM summaries."""
    words: set[str] = set()
    for summary in summaries:
        match = _KEY_TERMS.match(str(summary))
        if match:
            words.update(match.group(1).lower().replace(",", " ").split())
    return frozenset(words)


def extractive_theme_name(keywords: Sequence[str], summaries: Sequence[str]) -> str:
    """A short noun phrase naming a theme, taken from its member summaries: the phrase in which
    the summaries use the theme's best keywords ("Crude oil prices", "Foreign exchange
    headwinds"; see ``modeling.phrases.phrase_name``), which may also use the member topics'
    keywords quoted in the summaries ("Free cash flow" from the theme keywords "cash" and
    "free" and a member's "cash flow"). Without such a phrase, the first
    ``THEME_NAME_KEYWORDS`` keywords joined ("Pricing, Demand and Supply Chain"); without
    keywords, "Unnamed theme"."""
    kept = distinct_keywords(prompt_keywords(keywords))
    texts = [normalize_whitespace(str(s)) for s in summaries]
    extra = summary_key_terms(texts)
    phrase = phrase_name(kept, texts, frozenset(topic_stop_words()), extra_words=extra) if kept else None
    if phrase:
        return clip_text(phrase[:1].upper() + phrase[1:], 80)
    name_words = [k[:1].upper() + k[1:] for k in kept[:THEME_NAME_KEYWORDS]]
    return clip_text(_join_phrase(name_words), 80) if name_words else "Unnamed theme"


def extractive_theme_text(theme: ThemePromptInput, max_description_chars: int = 1200) -> tuple[str, str]:
    """``(name, description)`` of a theme from its keywords and most central summaries.

    The name is ``extractive_theme_name``; the description names up to ``EXTRACTIVE_KEYWORDS``
    keywords and quotes the start of the most central summary.
    """
    keywords = distinct_keywords(prompt_keywords(theme.keywords))
    name = extractive_theme_name(theme.keywords, theme.summaries)
    parts = []
    if keywords:
        parts.append(f"Firms discussed {_join_phrase(keywords[:EXTRACTIVE_KEYWORDS])}.")
    central = next((s for s in theme.summaries if normalize_whitespace(str(s))), None)
    if central is not None:
        parts.append(_as_sentence(cut_at_sentence_boundary(central, THEME_SUMMARY_CHARS)))
    description = " ".join(parts) if parts else "No description available."
    return name, cut_at_sentence_boundary(description, max_description_chars)

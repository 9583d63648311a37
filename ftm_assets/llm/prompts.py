"""Chat messages for topic summaries (one topic, or all topics of a firm as JSON) and theme names.

Each prompt is a system message (the analyst role and the rules of the answer) and a user
message (the material). What transcript text enters the user message is decided here and only
here, by ``LlmSettings.privacy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ftm_assets.llm.settings import LlmSettings
from ftm_assets.llm.text import clip_text, normalize_whitespace

#: Keywords put in a prompt (cap), and the length each is clipped to.
MAX_PROMPT_KEYWORDS = 15
MAX_KEYWORD_CHARS = 60

TOPIC_SYSTEM_PROMPT = (
    "You are an equity research analyst. You summarise one topic discussed on a company's earnings "
    "call for an internal research database. Write 2-3 sentences of neutral, factual analyst prose in "
    "English. Use only the material given; do not speculate, give investment advice or invent figures. "
    "Answer with the summary only: no title, list, markdown or preamble."
)

#: The JSON shape a per-firm answer must have (named in the prompts; the fake server keys on it).
FIRM_JSON_SHAPE = '{"topics": [{"id": <topic number>, "summary": "<2-3 sentences>"}]}'

FIRM_SYSTEM_PROMPT = (
    "You are an equity research analyst. You summarise each topic discussed on a company's earnings "
    "call for an internal research database. For every topic write 2-3 sentences of neutral, factual "
    "analyst prose in English. Use only the material given for that topic; do not speculate, give "
    "investment advice or invent figures. Answer with one JSON object and nothing else, exactly of "
    f"the form {FIRM_JSON_SHAPE}, with one entry per topic given, using the topic numbers given."
)

THEME_SYSTEM_PROMPT = (
    "You are an equity research analyst. You name and describe one theme that several companies "
    "discussed on their earnings calls in the same quarter, for an internal research database. Use "
    "neutral, factual analyst prose in English and only the material given; do not speculate or give "
    "investment advice. Answer in exactly two lines:\n"
    "Name: <a short name of at most 6 words>\n"
    "Description: <2-3 sentences describing the theme across firms>"
)


@dataclass(frozen=True)
class TopicPromptInput:
    """One firm topic to summarise. ``sentences`` are the most representative first."""

    local_topic_id: int
    keywords: Sequence[str]
    sentences: Sequence[str]


@dataclass(frozen=True)
class ThemePromptInput:
    """One cross-firm theme to name. ``summaries`` are the most central member summaries first."""

    keywords: Sequence[str]
    summaries: Sequence[str]


def prompt_keywords(keywords: Sequence[str]) -> list[str]:
    """Keywords as they enter a prompt: whitespace-normalised, non-empty, de-duplicated
    (case-insensitively, first kept), at most ``MAX_PROMPT_KEYWORDS``, each clipped."""
    seen: set[str] = set()
    kept: list[str] = []
    for raw in keywords:
        keyword = clip_text(str(raw), MAX_KEYWORD_CHARS)
        if keyword and keyword.lower() not in seen:
            seen.add(keyword.lower())
            kept.append(keyword)
        if len(kept) == MAX_PROMPT_KEYWORDS:
            break
    return kept


def prompt_passages(passages: Sequence[str], settings: LlmSettings) -> list[str]:
    """Non-empty passages in the given order, at most ``settings.max_prompt_sentences``,
    each clipped to ``settings.max_sentence_chars``."""
    kept: list[str] = []
    for raw in passages:
        if len(kept) == settings.max_prompt_sentences:
            break
        if normalize_whitespace(str(raw)):
            kept.append(clip_text(str(raw), settings.max_sentence_chars))
    return kept


def _numbered(lines: Sequence[str]) -> str:
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, start=1))


def _keyword_line(keywords: Sequence[str]) -> str:
    kept = prompt_keywords(keywords)
    return "Keywords: " + (", ".join(kept) if kept else "(none)")


def topic_messages(
    firm_id: str, quarter: str, topic: TopicPromptInput, settings: LlmSettings
) -> list[dict[str, str]]:
    """System and user message asking for a 2-3 sentence summary of one firm topic.

    With ``settings.privacy == "keywords"`` the user message holds no transcript sentence.
    """
    parts = [
        f"Firm: {firm_id}",
        f"Quarter: {quarter}",
        f"Topic: {topic.local_topic_id}",
        _keyword_line(topic.keywords),
    ]
    sentences = prompt_passages(topic.sentences, settings) if settings.privacy == "sentences" else []
    if sentences:
        parts.append("Representative sentences from the call (most representative first):")
        parts.append(_numbered(sentences))
        parts.append(
            f"Write 2-3 sentences of neutral analyst prose summarising what {firm_id} said about this "
            f"topic on its {quarter} earnings call."
        )
    else:
        parts.append(
            f"Only the topic's keywords are given. Write 2-3 sentences of neutral analyst prose describing "
            f"what this topic of {firm_id}'s {quarter} earnings call is about; do not invent specifics."
        )
    return [
        {"role": "system", "content": TOPIC_SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(parts)},
    ]


def _topic_material(topic: TopicPromptInput, settings: LlmSettings) -> list[str]:
    """Keyword line and, with ``privacy == "sentences"``, the numbered representative sentences."""
    parts = [_keyword_line(topic.keywords)]
    sentences = prompt_passages(topic.sentences, settings) if settings.privacy == "sentences" else []
    if sentences:
        parts.append("Representative sentences from the call (most representative first):")
        parts.append(_numbered(sentences))
    return parts


def firm_messages(
    firm_id: str, quarter: str, topics: Sequence[TopicPromptInput], settings: LlmSettings
) -> list[dict[str, str]]:
    """System and user message asking for 2-3 sentence summaries of several topics of one firm,
    answered as one JSON object (``FIRM_JSON_SHAPE``).

    Topics appear in ascending ``local_topic_id`` order, each under a ``--- Topic <id> ---``
    header; with ``settings.privacy == "keywords"`` the user message holds no transcript sentence.
    """
    ordered = sorted(topics, key=lambda t: t.local_topic_id)
    parts = [f"Firm: {firm_id}", f"Quarter: {quarter}", f"Topics: {len(ordered)}"]
    for topic in ordered:
        parts.append(f"--- Topic {topic.local_topic_id} ---")
        parts.extend(_topic_material(topic, settings))
    parts.append("--- End of topics ---")
    detail = "from the material given for it" + (
        "" if settings.privacy == "sentences" else ", its keywords only; do not invent specifics"
    )
    parts.append(
        f"For each topic above write 2-3 sentences of neutral analyst prose summarising what {firm_id} "
        f"said about it on its {quarter} earnings call ({detail}). Answer with JSON only: {FIRM_JSON_SHAPE}"
    )
    return [
        {"role": "system", "content": FIRM_SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(parts)},
    ]


def theme_messages(quarter: str, theme: ThemePromptInput, settings: LlmSettings) -> list[dict[str, str]]:
    """System and user message asking for ``Name: ...`` / ``Description: ...`` (2-3 sentences) of one theme.

    Member summaries (at most ``max_prompt_sentences``, each clipped to ``max_sentence_chars``)
    are included only with ``settings.privacy == "sentences"``: an extractive summary quotes the
    transcript, so in ``"keywords"`` mode the theme prompt holds keywords only.
    """
    parts = [f"Quarter: {quarter}", _keyword_line(theme.keywords)]
    summaries = prompt_passages(theme.summaries, settings) if settings.privacy == "sentences" else []
    if summaries:
        parts.append("Summaries of the theme's topics at different firms (most central first):")
        parts.append(_numbered(summaries))
    else:
        parts.append("Only the theme's keywords are given; do not invent specifics.")
    parts.append(
        f"Name this cross-firm theme of {quarter} and describe it in 2-3 sentences. Answer exactly as:\n"
        "Name: <name>\nDescription: <description>"
    )
    return [
        {"role": "system", "content": THEME_SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(parts)},
    ]

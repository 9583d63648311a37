"""Answer a question from search hits: one LLM chat completion citing sentence ids, or offline extractively.

With an API key (``LlmSettings.api_key``) and ``privacy="sentences"``, the hierarchical context
(:func:`ftm_assets.search.context.format_context`) and the question go to the configured
OpenAI-compatible endpoint in ONE chat completion (the SDK retries twice); the answer must cite the
sentences it uses as ``[S123]``. Citations of ids that were not in the context are reported in
``unknown_citations``. Offline (no key), with ``privacy="keywords"`` (no transcript text may leave
the machine), or when the call fails, the answer is extractive: the most similar sentences of the
context, each cited; ``fallback_reason`` says why. Nothing here logs the key or server error bodies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import openai

from ftm_assets.llm.settings import LlmSettings
from ftm_assets.llm.text import clip_text, normalize_whitespace, rejection_reason
from ftm_assets.modeling.types import TokenUsage
from ftm_assets.search.context import citable_sentences, format_context, sentence_ref
from ftm_assets.search.retrieval import SearchHit

ANSWER_SYSTEM_PROMPT = (
    "You are an equity research analyst answering a question from earnings-call material retrieved "
    "from a research database. Use only the context given. Cite every sentence you rely on by its id "
    "in square brackets exactly as written in the context, e.g. [S123]. If the context does not answer "
    "the question, say so. Answer in at most one short paragraph of neutral prose."
)
#: Sentences quoted by the extractive answer, and tokens allowed for an LLM answer.
EXTRACTIVE_SENTENCES = 5
DEFAULT_ANSWER_MAX_TOKENS = 600
_BRACKETS = re.compile(r"\[([^\[\]]{1,200})\]")
_SENTENCE_ID = re.compile(r"\bS(\d+)\b")


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    source: str  # "llm" or "extractive"
    cited_sentence_ids: tuple[int, ...]
    context: str
    model: str | None = None
    fallback_reason: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    unknown_citations: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question, "answer": self.text, "source": self.source,
            "cited_sentence_ids": list(self.cited_sentence_ids), "unknown_citations": list(self.unknown_citations),
            "model": self.model, "fallback_reason": self.fallback_reason,
            "usage": {"prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens},
            "context": self.context,
        }


def cited_ids(text: str) -> list[int]:
    """Sentence ids cited as ``[S123]`` or ``[S1, S2]``, in order of first citation."""
    seen: dict[int, None] = {}
    for group in _BRACKETS.findall(text):
        for number in _SENTENCE_ID.findall(group):
            seen.setdefault(int(number), None)
    return list(seen)


def extractive_answer(question: str, hits: Sequence[SearchHit], n: int = EXTRACTIVE_SENTENCES) -> tuple[str, list[int]]:
    """The ``n`` context sentences most similar to the question, each cited; ``(text, cited ids)``."""
    chosen = citable_sentences(hits)[:n]
    if not chosen:
        return "No stored theme, topic or sentence matches the question.", []
    lines = [f"Most relevant passages for: {normalize_whitespace(question)}"]
    for sentence_id, _score, text, firm_id, quarter in chosen:
        where = ", ".join(p for p in (firm_id, quarter) if p)
        lines.append(f'- "{clip_text(text, 300)}" {sentence_ref(sentence_id)} ({where})')
    return "\n".join(lines), [c[0] for c in chosen]


def answer_messages(question: str, context: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": ANSWER_SYSTEM_PROMPT},
        {"role": "user", "content": f"Question: {normalize_whitespace(question)}\n\nContext:\n{context}"},
    ]


def _offline(question: str, hits: Sequence[SearchHit], context: str, reason: str,
             model: str | None = None, usage: TokenUsage | None = None) -> Answer:
    text, ids = extractive_answer(question, hits)
    return Answer(question, text, "extractive", tuple(ids), context, model, reason, usage or TokenUsage())


def answer(question: str, hits: Sequence[SearchHit], llm_settings: LlmSettings, *,
           max_tokens: int = DEFAULT_ANSWER_MAX_TOKENS) -> Answer:
    """Answer ``question`` from ``hits`` (see the module docstring for when the LLM is asked)."""
    if not question.strip():
        raise ValueError("the question is empty")
    context = format_context(hits, question)
    if not hits:
        return _offline(question, hits, context, "no_hits")
    if llm_settings.offline:
        return _offline(question, hits, context, "no_api_key")
    if llm_settings.privacy != "sentences":
        return _offline(question, hits, context, f"privacy_{llm_settings.privacy}")
    extra = {"reasoning_effort": llm_settings.reasoning_effort} if llm_settings.reasoning_effort else {}
    try:
        with openai.OpenAI(base_url=llm_settings.base_url, api_key=llm_settings.api_key, max_retries=2,
                           timeout=llm_settings.timeout_s) as client:
            completion = client.chat.completions.create(
                model=llm_settings.model, messages=answer_messages(question, context), max_tokens=max_tokens,
                temperature=llm_settings.temperature, **extra,
            )
    except openai.OpenAIError as exc:
        return _offline(question, hits, context, f"llm_error: {type(exc).__name__}", llm_settings.model)
    usage = TokenUsage(getattr(completion.usage, "prompt_tokens", 0) or 0,
                       getattr(completion.usage, "completion_tokens", 0) or 0, 1)
    content = completion.choices[0].message.content if completion.choices else None
    reason = rejection_reason(content)
    if reason is not None or content is None:
        return _offline(question, hits, context, f"llm_error: {reason}", llm_settings.model, usage)
    known = {c[0] for c in citable_sentences(hits)}
    ids = cited_ids(content)
    return Answer(question, content.strip(), "llm", tuple(i for i in ids if i in known), context,
                  llm_settings.model, None, usage, tuple(i for i in ids if i not in known))

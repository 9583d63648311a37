"""Search hits as a hierarchical context block for an LLM prompt (and for people).

Each hit becomes a numbered block: its level and id, score, firm and quarter, the theme and topic
it belongs to, and its text (a sentence's excerpt, a topic's summary, a theme's description) with
the best evidence sentences. Sentence ids are written ``[S123]``, the form an answer cites.
"""

from __future__ import annotations

from collections.abc import Sequence

from ftm_assets.llm.text import clip_text, normalize_whitespace
from ftm_assets.search.retrieval import SearchHit

DEFAULT_EXCERPT_CHARS = 400


def sentence_ref(sentence_id: int) -> str:
    """The citation form of a sentence id: ``[S123]``."""
    return f"[S{sentence_id}]"


def _quote(text: str, max_chars: int) -> str:
    return '"' + clip_text(normalize_whitespace(text), max_chars) + '"'


def _firm(firm_id: str | None, firm_name: str | None) -> str:
    if not firm_id:
        return "-"
    return f"{firm_id} ({firm_name})" if firm_name else firm_id


def format_hit(position: int, hit: SearchHit, max_excerpt_chars: int = DEFAULT_EXCERPT_CHARS) -> str:
    """One hit as an indented block headed ``[position] LEVEL id``."""
    if hit.level == "sentence":
        head = f"[{position}] SENTENCE {sentence_ref(hit.id)}"
    elif hit.level == "topic":
        head = f"[{position}] TOPIC {hit.id}"
    else:
        head = f"[{position}] THEME {hit.id}" + (f": {hit.theme.name}" if hit.theme is not None else "")
    lines = [f"{head} | score {hit.score:.3f}"]
    if hit.level == "theme":
        lines.append(f"    quarter: {hit.quarter} | firms: {', '.join(hit.firm_ids) or '-'}")
    else:
        lines.append(f"    firm: {_firm(hit.firm_id, hit.firm_name)} | quarter: {hit.quarter}")
        lines.append(f"    theme {hit.theme.id}: {hit.theme.name}" if hit.theme is not None else "    theme: none")
        if hit.topic is not None:
            lines.append(f"    topic {hit.topic.id}: {hit.topic.label}")
        elif hit.level == "sentence":
            lines.append("    topic: none (outlier)")
    if hit.level == "sentence":
        index = f" (sentence {hit.sentence_index} of the call)" if hit.sentence_index is not None else ""
        lines.append(f"    excerpt{index}: {_quote(hit.text, max_excerpt_chars)}")
    elif hit.level == "topic":
        lines.append(f"    summary: {_quote(hit.text, max_excerpt_chars)}")
    else:
        lines.append(f"    description: {_quote(hit.text, max_excerpt_chars)}")
    for e in hit.evidence:
        firm = f" {e.firm_id}" if hit.level == "theme" else ""
        lines.append(f"    evidence {sentence_ref(e.sentence_id)}{firm}: {_quote(e.text, max_excerpt_chars)}")
    return "\n".join(lines)


def format_context(hits: Sequence[SearchHit], query: str | None = None,
                   max_excerpt_chars: int = DEFAULT_EXCERPT_CHARS) -> str:
    """All hits, best first, as one text block (``query`` adds a header line)."""
    blocks = [f"Search results for: {normalize_whitespace(query)}"] if query else []
    if not hits:
        blocks.append("(no matching themes, topics or sentences)")
    blocks.extend(format_hit(i, hit, max_excerpt_chars) for i, hit in enumerate(hits, start=1))
    return "\n\n".join(blocks)


def citable_sentences(hits: Sequence[SearchHit]) -> list[tuple[int, float, str, str | None, str]]:
    """Every sentence the context shows, ``(sentence_id, score, text, firm_id, quarter)``, best
    score first, each once: sentence hits and the evidence of topic and theme hits."""
    best: dict[int, tuple[int, float, str, str | None, str]] = {}
    for hit in hits:
        found = [(hit.id, hit.score, hit.text, hit.firm_id, hit.quarter)] if hit.level == "sentence" else []
        found += [(e.sentence_id, e.score, e.text, e.firm_id, e.quarter) for e in hit.evidence]
        for item in found:
            if item[0] not in best or item[1] > best[item[0]][1]:
                best[item[0]] = item
    return sorted(best.values(), key=lambda item: (-item[1], item[0]))

"""Pure helpers of the per-firm mode: strict parsing of a JSON answer and splitting its token usage.

A per-firm answer must be one JSON object ``{"topics": [{"id": <int>, "summary": <str>}, ...]}``
(one surrounding Markdown code fence is tolerated, nothing else). ``parse_firm_answer`` gives the
entries by id; ``entry_summary`` applies the usual acceptance rules (``accept_summary``) to one
entry. Nothing here does I/O; every function is deterministic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ftm_assets.llm.text import EMPTY_CONTENT
from ftm_assets.modeling.types import TokenUsage

#: Why a whole per-firm answer was unusable (every topic then gets its own request).
MALFORMED_JSON = "batch_malformed_json"
#: Why one topic's entry was unusable (that topic then gets its own request).
ENTRY_MISSING = "batch_entry_missing"
ENTRY_DUPLICATE = "batch_entry_duplicate"
ENTRY_MALFORMED = "batch_entry_malformed"

_FENCE = re.compile(r"^```(?:json)?\s*\n(?P<body>.*)\n\s*```$", re.DOTALL | re.IGNORECASE)


class _Duplicate:
    """Marks an id that appeared more than once (its entries are ambiguous)."""


DUPLICATE = _Duplicate()


def parse_firm_answer(
    content: str | None, finish_reason: str | None = None, max_chars: int = 0
) -> tuple[dict[int, Any] | None, str | None]:
    """``({id: raw summary value}, None)`` for a well-formed answer, else ``(None, reason)``.

    The signature matches the client's ``accept`` callbacks (``finish_reason`` and ``max_chars``
    are not needed here: a JSON answer cut by the token limit does not parse). Entries that are
    not objects or whose ``id`` is not an integer are ignored; an id given twice maps to
    ``DUPLICATE``. The values are not checked here: see ``entry_summary``.
    """
    if content is None or not content.strip():
        return None, EMPTY_CONTENT
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group("body").strip()
    try:
        answer = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None, MALFORMED_JSON
    if not isinstance(answer, dict) or not isinstance(answer.get("topics"), list):
        return None, MALFORMED_JSON
    entries: dict[int, Any] = {}
    for entry in answer["topics"]:
        if not isinstance(entry, dict):
            continue
        topic_id = entry.get("id")
        if not isinstance(topic_id, int) or isinstance(topic_id, bool):
            continue
        entries[topic_id] = DUPLICATE if topic_id in entries else entry.get("summary")
    return entries, None


def entry_reason(entries: Mapping[int, Any], topic_id: int) -> str | None:
    """Why the entry of ``topic_id`` cannot be used as it is, or ``None`` (a string to check further)."""
    if topic_id not in entries:
        return ENTRY_MISSING
    value = entries[topic_id]
    if value is DUPLICATE:
        return ENTRY_DUPLICATE
    if not isinstance(value, str):
        return ENTRY_MALFORMED
    return None


def split_usage(usage: TokenUsage, n: int) -> list[TokenUsage]:
    """``usage`` split over ``n`` parts that add up to it exactly: each count divided evenly, the
    remainder going one by one to the first parts (so a single call counts for the first part)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")

    def shares(total: int) -> list[int]:
        base, extra = divmod(total, n)
        return [base + (1 if i < extra else 0) for i in range(n)]

    prompt, completion, calls = (
        shares(usage.prompt_tokens),
        shares(usage.completion_tokens),
        shares(usage.calls),
    )
    return [TokenUsage(prompt[i], completion[i], calls[i]) for i in range(n)]


def batches(items: Sequence[Any], size: int) -> list[list[Any]]:
    """``items`` in as few consecutive chunks of at most ``size`` as possible, of near-equal
    lengths (the longer ones first): 25 items of size 20 give 13 + 12, not 20 + 5."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    n_chunks = -(-len(items) // size)
    if n_chunks == 0:
        return []
    base, extra = divmod(len(items), n_chunks)
    chunks, start = [], 0
    for i in range(n_chunks):
        end = start + base + (1 if i < extra else 0)
        chunks.append(list(items[start:end]))
        start = end
    return chunks

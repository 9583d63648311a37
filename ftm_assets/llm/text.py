"""Pure text helpers of the LLM layer: clipping, sentence-boundary cuts, and checks on model answers.

Nothing here does I/O; every function is deterministic.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"

_WHITESPACE = re.compile(r"\s+")
# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket) before whitespace.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]?(?=\s)")
_REFUSAL = re.compile(
    r"^(i'?m sorry|i am sorry|sorry,|i can(no|')t|i am unable|i'?m unable|as an ai\b|i apologi[sz]e)",
    re.IGNORECASE,
)
_PLACEHOLDERS = frozenset({"none", "null", "n/a", "na", "nan", "undefined", "...", "…", "-", "tbd", "empty"})
_THEME_NAME = re.compile(r"^[ \t]*name[ \t]*:[ \t]*(?P<name>[^\n]*?)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_THEME_DESCRIPTION = re.compile(
    r"^\s*description\s*:\s*(?P<description>.+?)(?=^\s*name\s*:|\Z)", re.IGNORECASE | re.MULTILINE | re.DOTALL
)

#: Reasons a model answer is rejected (and the call retried).
EMPTY_CONTENT = "empty_content"
GARBAGE_CONTENT = "garbage_content"

MAX_THEME_NAME_CHARS = 80


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace (newlines included) to one space and strip the ends."""
    return _WHITESPACE.sub(" ", text).strip()


def clip_text(text: str, max_chars: int) -> str:
    """Whitespace-normalised ``text`` of at most ``max_chars`` characters.

    Longer text is cut at the last word boundary that fits and ends with an ellipsis.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    text = normalize_whitespace(text)
    if len(text) <= max_chars:
        return text
    head = text[: max_chars - len(ELLIPSIS)]
    space = head.rfind(" ")
    if space >= max_chars // 2:
        head = head[:space]
    return head.rstrip(" ,;:-") + ELLIPSIS


def cut_at_sentence_boundary(text: str, max_chars: int) -> str:
    """Whitespace-normalised ``text`` of at most ``max_chars`` characters, cut after a whole sentence.

    If no sentence ends in the first ``max_chars`` characters (or the last one ends before
    a third of them), falls back to :func:`clip_text` (word boundary plus ellipsis).
    """
    text = normalize_whitespace(text)
    if len(text) <= max_chars:
        return text
    # Look one character past the limit so a sentence ending exactly at the limit still counts.
    window = text[: max_chars + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() <= max_chars]
    if ends and ends[-1] >= max_chars // 3:
        return text[: ends[-1]]
    return clip_text(text, max_chars)


def drop_unfinished_sentence(text: str) -> str:
    """``text`` without a trailing sentence fragment (used when an answer was cut by the token limit).

    Returns ``text`` unchanged when it holds no complete sentence at all.
    """
    text = normalize_whitespace(text)
    if not text or text[-1] in ".!?\"'”’)]":
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text + " ")]
    return text[: ends[-1]] if ends else text


def rejection_reason(content: str | None) -> str | None:
    """Why a model answer is unusable as prose, or ``None`` if it is plausible prose.

    ``"empty_content"``: nothing, only whitespace, or a placeholder such as ``"null"``/``"N/A"``.
    ``"garbage_content"``: control characters or the Unicode replacement character, fewer than
    half letters among the non-space characters, fewer than three words of letters, or a
    refusal ("I'm sorry, I can't ...").
    """
    if content is None:
        return EMPTY_CONTENT
    stripped = content.strip()
    if not stripped or stripped.strip("\"'`*_ ").lower() in _PLACEHOLDERS:
        return EMPTY_CONTENT
    if "\ufffd" in stripped or any(ord(c) < 32 and c not in "\n\r\t" for c in stripped):
        return GARBAGE_CONTENT
    visible = [c for c in stripped if not c.isspace()]
    letters = sum(c.isalpha() for c in visible)
    if letters / len(visible) < 0.5:
        return GARBAGE_CONTENT
    words = re.findall(r"[^\W\d_]{2,}", stripped)
    if len(words) < 3:
        return GARBAGE_CONTENT
    if _REFUSAL.match(stripped.lstrip("\"'`*_ ")):
        return GARBAGE_CONTENT
    return None


def parse_theme_answer(content: str, max_description_chars: int) -> tuple[str, str] | None:
    """``(name, description)`` from an answer of the form ``Name: ...`` / ``Description: ...``.

    Markdown emphasis and heading marks are ignored; the name is unquoted and clipped to
    ``MAX_THEME_NAME_CHARS``, the description cut at a sentence boundary. Returns ``None`` when
    either part is missing or the description is not plausible prose.
    """
    plain = re.sub(r"[*#`]+", "", content)
    name_match = _THEME_NAME.search(plain)
    description_match = _THEME_DESCRIPTION.search(plain)
    if not name_match or not description_match:
        return None
    name = normalize_whitespace(name_match.group("name")).strip("\"'“”‘’ .")
    description = description_match.group("description")
    if not name or rejection_reason(description) is not None:
        return None
    if sum(c.isalpha() for c in name) < 2:
        return None
    return clip_text(name, MAX_THEME_NAME_CHARS), cut_at_sentence_boundary(description, max_description_chars)

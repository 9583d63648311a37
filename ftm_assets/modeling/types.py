"""Plain data records passed between the stages. No Dagster, no database.

The hierarchy is: ``FirmCall`` (one firm's call in one quarter, its sentences)
-> ``FirmTopics`` (BERTopic result for that call: one ``TopicRecord`` per topic and a
topic id per sentence) -> ``TopicSummary`` (LLM or extractive text per topic)
-> ``Theme`` (a cluster of topic summaries across firms of one quarter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import numpy as np

QUARTER_RE = re.compile(r"^(\d{4})Q([1-4])$")
#: Characters Dagster cannot carry inside a multi-partition key (findings §1.1).
FORBIDDEN_FIRM_ID_CHARS = "|,[]"

OUTLIER_TOPIC = -1


class InputDataError(ValueError):
    """Bad transcript input. The message names the source, firm, quarter and row where known."""


@dataclass(frozen=True)
class CallSentence:
    sentence_index: int
    text: str
    section: str | None = None
    speaker: str | None = None


@dataclass(frozen=True)
class FirmCall:
    """One firm's earnings call in one quarter (``quarter`` as ``YYYYQn``)."""

    firm_id: str
    quarter: str
    sentences: tuple[CallSentence, ...]
    firm_name: str | None = None
    call_date: date | None = None

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.sentences]

    def __len__(self) -> int:
        return len(self.sentences)


@dataclass(frozen=True)
class TopicRecord:
    """One firm topic. ``representative_positions`` index into the call's sentence list
    (positions, not ``sentence_index`` values), most representative first."""

    local_topic_id: int
    keywords: tuple[str, ...]
    label: str
    size: int
    representative_positions: tuple[int, ...]


@dataclass(frozen=True)
class FirmTopics:
    """Result of topic modelling one call.

    ``assignments[i]`` is the topic of sentence position ``i`` (``OUTLIER_TOPIC`` for
    outliers). ``outcome`` is ``"ok"`` or ``"too_few_sentences"`` (then ``topics`` is empty
    and every assignment is an outlier).
    """

    topics: tuple[TopicRecord, ...]
    assignments: np.ndarray
    outcome: str = "ok"
    detail: str = ""

    @property
    def outlier_share(self) -> float:
        n = len(self.assignments)
        return float(np.mean(self.assignments == OUTLIER_TOPIC)) if n else 0.0


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.calls + other.calls,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class TopicSummary:
    """Summary of one topic. ``source`` is ``"llm"`` or ``"extractive"``; when extractive,
    ``fallback_reason`` says why (``"no_api_key"``, ``"llm_error: RateLimitError"``...)."""

    local_topic_id: int
    summary: str
    source: str
    fallback_reason: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)


@dataclass(frozen=True)
class TopicRef:
    """A topic of the quarter as seen by the themes stage."""

    topic_id: int  # database id of the topic row
    firm_id: str
    local_topic_id: int
    summary: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class Theme:
    """A cross-firm theme of one quarter. ``member_topic_ids`` are database topic ids."""

    theme_local_id: int
    name: str
    description: str
    keywords: tuple[str, ...]
    member_topic_ids: tuple[int, ...]
    n_firms: int
    source: str  # "llm" or "extractive"
    embedding: np.ndarray | None = None
    fallback_reason: str | None = None

    @property
    def n_topics(self) -> int:
        return len(self.member_topic_ids)


def parse_quarter(value: str) -> tuple[int, int]:
    """``"2020Q2"`` -> ``(2020, 2)``; raises ``InputDataError`` otherwise."""
    m = QUARTER_RE.match(str(value).strip())
    if not m:
        raise InputDataError(f"malformed quarter {value!r}: expected YYYYQn, e.g. 2020Q2")
    return int(m.group(1)), int(m.group(2))

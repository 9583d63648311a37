"""What the firm stage knows about one firm it computed or skipped, and the names it is reported by.

:class:`FirmStats` travels from :mod:`ftm_assets.stages.firms` to the Dagster layer (per-firm
materialization metadata, the topic-quality check) and to the launchers that read the metadata
back (``ftm demo``'s timings, the progress line, the benches). It owns the metadata names: every
reader uses the constants of :class:`FirmMetadata` instead of repeating the strings, so renaming a
field is one edit. No Dagster here: the metadata are plain dicts the Dagster layer wraps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: ``FirmOutcome.status`` values.
SUCCEEDED, SKIPPED, FAILED = "succeeded", "skipped", "failed"


class FirmMetadata:
    """Names of the per-firm materialization metadata of the three firm assets."""

    # every firm asset
    QUARTER = "quarter"
    HAS_CALL = "has_call"  # False: a firm of the run's range with no call in the quarter
    STATUS = "status"  # COMPUTED or SKIPPED_STATUS
    # sentence_embeddings
    SENTENCES = "sentences"
    EMBEDDING_MODEL = "embedding_model"
    EMBEDDING_DIM = "embedding_dim"
    EMBED_SECONDS = "embed_seconds"
    # firm_topics
    TOPICS = "topics"
    OUTLIER_SHARE = "outlier_share"
    TOPIC_OUTCOME = "topic_outcome"
    TOPIC_SECONDS = "topic_seconds"
    # topic_summaries
    TOPICS_SUMMARIZED = "topics_summarized"
    SUMMARY_SOURCE = "summary_source"
    FALLBACK_REASONS = "fallback_reasons"
    PROMPT_TOKENS = "prompt_tokens"
    COMPLETION_TOKENS = "completion_tokens"
    LLM_CALLS = "llm_calls"
    LLM_WAIT_SECONDS = "llm_wait_seconds"
    DB_WRITE_SECONDS = "db_write_seconds"
    # the firm run's failure (``dg.Failure`` metadata): partition -> reason
    FAILED_FIRMS = "failed_firms"

    COMPUTED = "computed"
    SKIPPED_STATUS = "unchanged (skipped)"


@dataclass(frozen=True)
class FirmTimings:
    """Seconds one firm spent in each part of the stage (0 where it did not get there)."""

    embed: float = 0.0
    topics: float = 0.0
    llm_wait: float = 0.0
    summary_embed: float = 0.0
    db_write: float = 0.0

    @classmethod
    def from_mapping(cls, seconds: Mapping[str, float]) -> FirmTimings:
        return cls(**{k: float(v) for k, v in seconds.items() if k in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class FirmStats:
    """Counts and outcomes of one firm's stored rows (a skipped firm: as stored earlier).

    ``quality`` is ``FirmQuality.as_dict()`` when the stage computed the firm, None when it was
    skipped (its topic-quality evaluation is then the earlier one)."""

    sentences: int = 0
    topics: int = 0
    outlier_share: float = 0.0
    topic_outcome: str = ""
    topic_detail: str = ""
    summary_source: str = ""
    fallback_reasons: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_calls: int = 0
    quality: Mapping | None = field(default=None, compare=False)

    def embedding_metadata(self, timings: FirmTimings, model_id: str, dim: int) -> dict:
        m = FirmMetadata
        return {m.SENTENCES: self.sentences, m.EMBEDDING_MODEL: model_id, m.EMBEDDING_DIM: dim,
                m.EMBED_SECONDS: round(timings.embed, 3)}

    def topic_metadata(self, timings: FirmTimings) -> dict:
        m = FirmMetadata
        return {m.TOPICS: self.topics, m.OUTLIER_SHARE: float(self.outlier_share or 0.0),
                m.TOPIC_OUTCOME: self.topic_outcome or "", m.TOPIC_SECONDS: round(timings.topics, 3)}

    def summary_metadata(self, timings: FirmTimings) -> dict:
        m = FirmMetadata
        return {m.TOPICS_SUMMARIZED: self.topics, m.SUMMARY_SOURCE: self.summary_source or "",
                m.FALLBACK_REASONS: ", ".join(self.fallback_reasons) or "none",
                m.PROMPT_TOKENS: self.prompt_tokens, m.COMPLETION_TOKENS: self.completion_tokens,
                m.LLM_CALLS: self.llm_calls, m.LLM_WAIT_SECONDS: round(timings.llm_wait, 3),
                m.DB_WRITE_SECONDS: round(timings.db_write, 3)}


def common_metadata(quarter: str, status: str) -> dict:
    """The fields every firm asset reports for a firm with a call."""
    m = FirmMetadata
    return {m.QUARTER: quarter, m.HAS_CALL: True,
            m.STATUS: m.SKIPPED_STATUS if status == SKIPPED else m.COMPUTED}


def no_call_metadata(quarter: str) -> dict:
    """What a firm of the run's range without a call in ``quarter`` reports."""
    return {FirmMetadata.QUARTER: quarter, FirmMetadata.HAS_CALL: False}


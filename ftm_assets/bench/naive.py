"""The naive baseline of the firm stage: the same work done the obvious way.

For each firm, strictly one after another:

1. ``model.encode(sentences)`` on the raw SentenceTransformer with its default batch size (32),
   then L2-normalised (so the topics match the pipeline's);
2. ``build_firm_topics`` (the same BERTopic code and settings as the pipeline);
3. the LLM summaries, one request at a time, awaited before the firm goes on
   (``TopicSummarizer`` with ``max_concurrency=1``: the same prompts and client);
4. the summaries embedded the same naive way;
5. the rows written with the SQLAlchemy ORM, row by row (``session.add`` + ``flush`` per row, as
   code that needs each new topic's id does), one transaction per firm.

The rows land in the same schema as the pipeline's (a database of their own), so both runs do
the same work and the difference is the engineering: batching, overlap and ``COPY``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Date,
    Float,
    ForeignKeyConstraint,
    Identity,
    Integer,
    Text,
    create_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ftm_assets.llm.client import TopicSummarizer
from ftm_assets.llm.prompts import TopicPromptInput
from ftm_assets.modeling.firm_topics import build_firm_topics
from ftm_assets.modeling.settings import FirmTopicSettings
from ftm_assets.modeling.types import OUTLIER_TOPIC, FirmCall

__all__ = ["naive_orm_models", "run_naive_firms", "sqlalchemy_psycopg_url"]


def sqlalchemy_psycopg_url(url: str) -> str:
    """A libpq URL as SQLAlchemy wants it for psycopg 3."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)


def naive_orm_models(dim: int) -> dict[str, type]:
    """Declarative ORM classes over the pipeline's ``firms``, ``topics``, ``sentences`` and
    ``firm_runs`` tables (only the columns written; server defaults fill the rest)."""

    class Base(DeclarativeBase):
        pass

    class Firm(Base):
        __tablename__ = "firms"
        firm_id: Mapped[str] = mapped_column(Text, primary_key=True)
        quarter: Mapped[str] = mapped_column(Text, primary_key=True)
        firm_name = mapped_column(Text)
        call_date = mapped_column(Date)
        n_sentences = mapped_column(Integer)
        n_topics = mapped_column(Integer)
        outlier_share = mapped_column(Float)
        topic_outcome = mapped_column(Text)
        summary_source = mapped_column(Text)
        prompt_tokens = mapped_column(Integer)
        completion_tokens = mapped_column(Integer)
        llm_calls = mapped_column(Integer)
        input_fingerprint = mapped_column(Text)

    class Topic(Base):
        __tablename__ = "topics"
        __table_args__ = (ForeignKeyConstraint(["firm_id", "quarter"], ["firms.firm_id", "firms.quarter"]),)
        topic_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
        firm_id = mapped_column(Text)
        quarter = mapped_column(Text)
        local_topic_id = mapped_column(Integer)
        label = mapped_column(Text)
        keywords = mapped_column(ARRAY(Text))
        size = mapped_column(Integer)
        representative_sentence_indexes = mapped_column(ARRAY(Integer))
        summary = mapped_column(Text)
        summary_source = mapped_column(Text)
        fallback_reason = mapped_column(Text)
        prompt_tokens = mapped_column(Integer)
        completion_tokens = mapped_column(Integer)
        embedding = mapped_column(Vector(dim))

    class Sentence(Base):
        __tablename__ = "sentences"
        sentence_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
        firm_id = mapped_column(Text)
        quarter = mapped_column(Text)
        sentence_index = mapped_column(Integer)
        text = mapped_column(Text)
        section = mapped_column(Text)
        speaker = mapped_column(Text)
        topic_id = mapped_column(BigInteger)
        embedding = mapped_column(Vector(dim))

    class FirmRun(Base):
        __tablename__ = "firm_runs"
        firm_id: Mapped[str] = mapped_column(Text, primary_key=True)
        quarter: Mapped[str] = mapped_column(Text, primary_key=True)
        status = mapped_column(Text)
        error = mapped_column(Text)
        run_id = mapped_column(Text)

    return {"Firm": Firm, "Topic": Topic, "Sentence": Sentence, "FirmRun": FirmRun}


def _dim(model) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


def _naive_encode(model, texts: Sequence[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, _dim(model)), dtype=np.float32)
    emb = np.asarray(model.encode(list(texts), show_progress_bar=False), dtype=np.float32)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def _summary_source(summaries) -> str:
    sources = {s.source for s in summaries}
    return "none" if not sources else sources.pop() if len(sources) == 1 else "mixed"


def _write_orm(
    session: Session, models: dict[str, type], call: FirmCall, topics, summaries, sentence_emb, summary_emb
) -> None:
    Firm, Topic, Sentence, FirmRun = (models[k] for k in ("Firm", "Topic", "Sentence", "FirmRun"))
    session.query(Firm).filter_by(firm_id=call.firm_id, quarter=call.quarter).delete()
    session.add(
        Firm(
            firm_id=call.firm_id,
            quarter=call.quarter,
            firm_name=call.firm_name,
            call_date=call.call_date,
            n_sentences=len(call),
            n_topics=len(topics.topics),
            outlier_share=topics.outlier_share,
            topic_outcome=topics.outcome,
            summary_source=_summary_source(summaries),
            prompt_tokens=sum(s.usage.prompt_tokens for s in summaries),
            completion_tokens=sum(s.usage.completion_tokens for s in summaries),
            llm_calls=len(summaries),
            input_fingerprint="naive-baseline",
        )
    )
    session.flush()
    topic_ids = {}
    for i, (t, s) in enumerate(zip(topics.topics, summaries, strict=True)):
        row = Topic(
            firm_id=call.firm_id,
            quarter=call.quarter,
            local_topic_id=t.local_topic_id,
            label=t.label,
            keywords=list(t.keywords),
            size=t.size,
            representative_sentence_indexes=[
                call.sentences[p].sentence_index for p in t.representative_positions
            ],
            summary=s.summary,
            summary_source=s.source,
            fallback_reason=s.fallback_reason,
            prompt_tokens=s.usage.prompt_tokens,
            completion_tokens=s.usage.completion_tokens,
            embedding=summary_emb[i],
        )
        session.add(row)
        session.flush()
        topic_ids[t.local_topic_id] = row.topic_id
    for i, sentence in enumerate(call.sentences):
        local = int(topics.assignments[i])
        session.add(
            Sentence(
                firm_id=call.firm_id,
                quarter=call.quarter,
                sentence_index=sentence.sentence_index,
                text=sentence.text,
                section=sentence.section,
                speaker=sentence.speaker,
                topic_id=topic_ids.get(local) if local != OUTLIER_TOPIC else None,
                embedding=sentence_emb[i],
            )
        )
        session.flush()
    session.merge(
        FirmRun(firm_id=call.firm_id, quarter=call.quarter, status="succeeded", error=None, run_id="naive")
    )
    session.commit()


def run_naive_firms(
    calls: Sequence[FirmCall],
    model,
    database_url: str,
    summarizer: TopicSummarizer,
    settings: FirmTopicSettings | None = None,
) -> dict:
    """Process ``calls`` the naive way (module docstring) into ``database_url`` (schema already
    migrated); ``summarizer`` should be started with ``max_concurrency=1``. Returns wall seconds,
    seconds per stage, and counts."""
    settings = settings or FirmTopicSettings()
    models = naive_orm_models(_dim(model))
    engine = create_engine(sqlalchemy_psycopg_url(database_url))
    stages = dict.fromkeys(("embed", "topics", "llm_wait", "summary_embed", "db_write"), 0.0)
    counts = {"firms": 0, "sentences": 0, "topics": 0, "rows_written": 0}
    t_all = time.perf_counter()
    try:
        for call in calls:
            t0 = time.perf_counter()
            emb = _naive_encode(model, call.texts)
            t1 = time.perf_counter()
            topics = build_firm_topics(call, emb, settings)
            t2 = time.perf_counter()
            prompts = [
                TopicPromptInput(
                    t.local_topic_id,
                    list(t.keywords),
                    [call.sentences[p].text for p in t.representative_positions],
                )
                for t in topics.topics
            ]
            summaries = summarizer.summarize_firm(call.firm_id, call.quarter, prompts)
            t3 = time.perf_counter()
            summary_emb = _naive_encode(model, [s.summary for s in summaries])
            t4 = time.perf_counter()
            with Session(engine) as session:
                _write_orm(session, models, call, topics, summaries, emb, summary_emb)
            t5 = time.perf_counter()
            for stage, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                stages[stage] += seconds
            counts["firms"] += 1
            counts["sentences"] += len(call)
            counts["topics"] += len(topics.topics)
            counts["rows_written"] += len(call) + len(topics.topics) + 2
    finally:
        engine.dispose()
    wall = time.perf_counter() - t_all
    return {"seconds": round(wall, 2), "stages_s": {k: round(v, 2) for k, v in stages.items()}, **counts}

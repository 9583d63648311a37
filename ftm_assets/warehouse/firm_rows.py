"""Write one firm's quarter (call, sentences, topics, summaries) in one transaction.

The firm's previous rows are deleted first (``ON DELETE CASCADE`` from ``firms`` removes its topics,
sentences and topic->theme links), then the new rows are bulk-loaded with binary ``COPY`` (psycopg 3
+ pgvector), so a re-run replaces the firm with no duplicates and no orphans, and a failure at any
point leaves the previous state untouched. The firm's quarter partitions are created by the
``firms`` insert trigger the first time the quarter is written (migration 0003); vectors are
written as the database's vector type (``vector`` or ``halfvec``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg

from ftm_assets.modeling.types import OUTLIER_TOPIC, FirmCall, FirmTopics, TokenUsage, TopicSummary
from ftm_assets.warehouse.database import db_vector
from ftm_assets.warehouse.schema import stored_vector_type


@dataclass(frozen=True)
class FirmResult:
    """Everything computed for one firm's call, ready to store."""

    call: FirmCall
    sentence_embeddings: np.ndarray
    topics: FirmTopics
    summaries: Sequence[TopicSummary]
    summary_embeddings: np.ndarray
    fingerprint: str

    @property
    def usage(self) -> TokenUsage:
        total = TokenUsage()
        for s in self.summaries:
            total = total + s.usage
        return total

    @property
    def summary_source(self) -> str:
        sources = {s.source for s in self.summaries}
        if not sources:
            return "none"
        return sources.pop() if len(sources) == 1 else "mixed"


def input_fingerprint(call: FirmCall, model_id: str, settings_repr: str) -> str:
    """Hash of what determines a firm's rows: its sentences, the model and the stage settings."""
    h = hashlib.sha256()
    for part in (call.firm_id, call.quarter, call.firm_name or "", str(call.call_date or ""), model_id, settings_repr):
        h.update(part.encode())
        h.update(b"\x1f")
    for s in call.sentences:
        h.update(f"{s.sentence_index}\x1e{s.text}\x1e{s.section or ''}\x1e{s.speaker or ''}\x1f".encode())
    return h.hexdigest()


def stored_fingerprint(conn: psycopg.Connection, firm_id: str, quarter: str) -> str | None:
    row = conn.execute(
        "SELECT f.input_fingerprint FROM firms f JOIN firm_runs r USING (firm_id, quarter) "
        "WHERE f.firm_id = %s AND f.quarter = %s AND r.status = 'succeeded'",
        (firm_id, quarter),
    ).fetchone()
    return row[0] if row else None


def replace_firm(conn: psycopg.Connection, result: FirmResult, run_id: str | None = None) -> dict[str, int]:
    """Replace the firm's rows for the quarter in ONE transaction; returns row counts."""
    call, topics = result.call, result.topics
    n = len(call.sentences)
    if result.sentence_embeddings.shape[0] != n:
        raise ValueError(
            f"firm {call.firm_id} quarter {call.quarter}: {result.sentence_embeddings.shape[0]} embeddings "
            f"for {n} sentences"
        )
    by_local = {s.local_topic_id: (s, i) for i, s in enumerate(result.summaries)}
    usage = result.usage
    with conn.transaction():
        vtype = stored_vector_type(conn) or "vector"
        conn.execute("DELETE FROM firms WHERE firm_id = %s AND quarter = %s", (call.firm_id, call.quarter))
        conn.execute(
            "INSERT INTO firms (firm_id, quarter, firm_name, call_date, n_sentences, n_topics, outlier_share,"
            " topic_outcome, summary_source, prompt_tokens, completion_tokens, llm_calls, input_fingerprint)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                call.firm_id, call.quarter, call.firm_name, call.call_date, n, len(topics.topics),
                topics.outlier_share, topics.outcome, result.summary_source, usage.prompt_tokens,
                usage.completion_tokens, usage.calls, result.fingerprint,
            ),
        )
        topic_db_ids: dict[int, int] = {}
        if topics.topics:
            with conn.cursor().copy(
                "COPY topics (firm_id, quarter, local_topic_id, label, keywords, size,"
                " representative_sentence_indexes, summary, summary_source, fallback_reason, prompt_tokens,"
                " completion_tokens, embedding) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["text", "text", "int4", "text", "text[]", "int4", "int4[]", "text", "text",
                                "text", "int4", "int4", vtype])
                for t in topics.topics:
                    summary, pos = by_local[t.local_topic_id]
                    copy.write_row((
                        call.firm_id, call.quarter, t.local_topic_id, t.label, list(t.keywords), t.size,
                        [call.sentences[p].sentence_index for p in t.representative_positions],
                        summary.summary, summary.source, summary.fallback_reason, summary.usage.prompt_tokens,
                        summary.usage.completion_tokens, db_vector(result.summary_embeddings[pos], vtype),
                    ))
            topic_db_ids = dict(conn.execute(
                "SELECT local_topic_id, topic_id FROM topics WHERE firm_id = %s AND quarter = %s",
                (call.firm_id, call.quarter),
            ).fetchall())
        with conn.cursor().copy(
            "COPY sentences (firm_id, quarter, sentence_index, text, section, speaker, topic_id, embedding)"
            " FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "text", "int4", "text", "text", "text", "int8", vtype])
            emb = np.asarray(result.sentence_embeddings, dtype=np.float32)
            for i, s in enumerate(call.sentences):
                local = int(topics.assignments[i])
                copy.write_row((
                    call.firm_id, call.quarter, s.sentence_index, s.text, s.section, s.speaker,
                    topic_db_ids.get(local) if local != OUTLIER_TOPIC else None, db_vector(emb[i], vtype),
                ))
        mark_firm(conn, call.firm_id, call.quarter, "succeeded", None, run_id)
    return {"sentences": n, "topics": len(topics.topics)}


def mark_firm(conn: psycopg.Connection, firm_id: str, quarter: str, status: str, error: str | None,
              run_id: str | None) -> None:
    conn.execute(
        "INSERT INTO firm_runs (firm_id, quarter, status, error, run_id, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, now())"
        " ON CONFLICT (firm_id, quarter) DO UPDATE SET status = EXCLUDED.status, error = EXCLUDED.error,"
        " run_id = EXCLUDED.run_id, updated_at = now()",
        (firm_id, quarter, status, error, run_id),
    )


def failed_or_missing_firms(conn: psycopg.Connection, quarter: str, expected: Sequence[str]) -> list[str]:
    """Firms of ``expected`` that have no succeeded row for the quarter, in ``expected`` order."""
    done = {r[0] for r in conn.execute(
        "SELECT firm_id FROM firm_runs WHERE quarter = %s AND status = 'succeeded'", (quarter,)
    )}
    return [f for f in expected if f not in done]

"""Quarter-level reads and writes: the quarter's topic summaries in, its themes out.

Themes go to the quarter's partitions of ``themes`` and ``topic_themes`` (created here when the
quarter has none yet); the quarter's ``themes`` partition gets its HNSW index after the write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg

from ftm_assets.modeling.types import Theme, TopicRef
from ftm_assets.warehouse.database import db_vector
from ftm_assets.warehouse.quarters import build_quarter_indexes, ensure_quarter_partitions
from ftm_assets.warehouse.schema import stored_vector_type


@dataclass(frozen=True)
class QuarterTopics:
    """All topic summaries of one quarter with their embeddings (rows aligned with ``topics``)."""

    quarter: str
    topics: tuple[TopicRef, ...]
    embeddings: np.ndarray

    @property
    def firm_ids(self) -> list[str]:
        return sorted({t.firm_id for t in self.topics})


def load_quarter_topics(conn: psycopg.Connection, quarter: str) -> QuarterTopics:
    """One query for the whole quarter (``WHERE quarter = ...``, not an IN-list of firms)."""
    rows = conn.execute(
        "SELECT topic_id, firm_id, local_topic_id, summary, keywords, embedding FROM topics"
        " WHERE quarter = %s ORDER BY firm_id, local_topic_id",
        (quarter,),
    ).fetchall()
    topics = tuple(TopicRef(r[0], r[1], r[2], r[3], tuple(r[4])) for r in rows)
    emb = np.vstack([np.asarray(r[5].to_numpy(), dtype=np.float32) for r in rows]) if rows else np.zeros((0, 0))
    return QuarterTopics(quarter, topics, emb)


def replace_quarter_themes(
    conn: psycopg.Connection,
    quarter: str,
    themes: Sequence[Theme],
    *,
    n_firms_included: int,
    n_firms_expected: int | None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
) -> dict[str, int]:
    """Replace the quarter's themes and topic->theme links in one transaction."""
    with conn.transaction():
        ensure_quarter_partitions(conn, quarter)
        vtype = stored_vector_type(conn) or "vector"
        conn.execute("DELETE FROM themes WHERE quarter = %s", (quarter,))
        assigned = 0
        for theme in themes:
            if theme.embedding is None:
                raise ValueError(f"quarter {quarter}: theme {theme.theme_local_id} has no embedding")
            theme_id = conn.execute(
                "INSERT INTO themes (quarter, theme_local_id, name, description, keywords, n_firms, n_topics,"
                " source, fallback_reason, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " RETURNING theme_id",
                (quarter, theme.theme_local_id, theme.name, theme.description, list(theme.keywords),
                 theme.n_firms, theme.n_topics, theme.source, theme.fallback_reason,
                 db_vector(theme.embedding, vtype)),
            ).fetchone()[0]
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO topic_themes (topic_id, quarter, theme_id, rank_in_theme) VALUES (%s, %s, %s, %s)",
                    [(tid, quarter, theme_id, rank) for rank, tid in enumerate(theme.member_topic_ids)],
                )
            assigned += theme.n_topics
        conn.execute(
            "INSERT INTO quarter_runs (quarter, n_firms_included, n_firms_expected, n_themes, n_topics_assigned,"
            " prompt_tokens, completion_tokens, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, now())"
            " ON CONFLICT (quarter) DO UPDATE SET n_firms_included = EXCLUDED.n_firms_included,"
            " n_firms_expected = EXCLUDED.n_firms_expected, n_themes = EXCLUDED.n_themes,"
            " n_topics_assigned = EXCLUDED.n_topics_assigned, prompt_tokens = EXCLUDED.prompt_tokens,"
            " completion_tokens = EXCLUDED.completion_tokens, updated_at = now()",
            (quarter, n_firms_included, n_firms_expected, len(themes), assigned, prompt_tokens, completion_tokens),
        )
        build_quarter_indexes(conn, quarter, tables=("themes",))
    return {"themes": len(themes), "topics_assigned": assigned}


def table_counts(conn: psycopg.Connection, quarter: str | None = None) -> dict[str, int]:
    """Row counts per table (for one quarter when given)."""
    out = {}
    for table in ("firms", "sentences", "topics", "themes", "topic_themes", "firm_runs"):
        if quarter is None:
            out[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        elif table == "topic_themes":
            out[table] = conn.execute(
                "SELECT count(*) FROM topic_themes WHERE quarter = %s",
                (quarter,),
            ).fetchone()[0]
        else:
            out[table] = conn.execute(f"SELECT count(*) FROM {table} WHERE quarter = %s", (quarter,)).fetchone()[0]
    return out

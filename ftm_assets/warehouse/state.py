"""What a quarter looks like in the warehouse, in a form two databases can be compared by.

``quarter_state`` reads every table of one quarter into plain values that do not depend on how
the rows got there: surrogate ids (``topic_id``, ``theme_id``), run ids and timestamps are left
out, topics are named by ``(firm, local_topic_id)`` and sentences are summarised per firm by an
md5 over ``sentence_index``, text and local topic id. Two runs that stored the same content give
equal states. ``integrity_problems`` lists duplicates (natural keys), orphans and partial firms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import psycopg

from ftm_assets.warehouse.database import connect

#: Natural keys of every table; a duplicate under any of them is a bug.
NATURAL_KEYS = {
    "firms": "firm_id, quarter",
    "sentences": "firm_id, quarter, sentence_index",
    "topics": "firm_id, quarter, local_topic_id",
    "themes": "quarter, theme_local_id",
    "topic_themes": "topic_id",
    "firm_runs": "firm_id, quarter",
    "quarter_runs": "quarter",
}

SENTENCE_CHECKSUMS = """
SELECT s.firm_id,
       count(*),
       md5(string_agg(s.sentence_index::text || chr(31) || s.text || chr(31)
                      || coalesce(t.local_topic_id, -1)::text, chr(30) ORDER BY s.sentence_index))
FROM sentences s LEFT JOIN topics t ON t.topic_id = s.topic_id
WHERE s.quarter = %s
GROUP BY s.firm_id
"""


@dataclass
class QuarterState:
    """One quarter's stored content, free of surrogate ids and timestamps (see module docstring)."""

    counts: dict[str, int]
    firms: dict[str, tuple]
    sentence_checksums: dict[str, tuple[int, str]]
    topics: dict[tuple[str, int], tuple]
    themes: dict[int, tuple]
    theme_members: dict[int, list[tuple[str, int, int]]]
    quarter_run: tuple | None
    firm_status: dict[str, str]
    embeddings: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def content(self) -> dict:
        """Everything but the embeddings (compared with a tolerance instead)."""
        return {k: v for k, v in self.__dict__.items() if k != "embeddings"}


def quarter_state(url: str, quarter: str, *, with_embeddings: bool = True) -> QuarterState:
    with connect(url) as conn:
        return read_quarter_state(conn, quarter, with_embeddings=with_embeddings)


def read_quarter_state(conn: psycopg.Connection, quarter: str, *, with_embeddings: bool = True) -> QuarterState:
    q = (quarter,)
    counts = {
        "firms": _one(conn, "SELECT count(*) FROM firms WHERE quarter = %s", q),
        "sentences": _one(conn, "SELECT count(*) FROM sentences WHERE quarter = %s", q),
        "topics": _one(conn, "SELECT count(*) FROM topics WHERE quarter = %s", q),
        "themes": _one(conn, "SELECT count(*) FROM themes WHERE quarter = %s", q),
        "topic_themes": _one(conn, "SELECT count(*) FROM topic_themes tt JOIN themes t USING (theme_id)"
                                   " WHERE t.quarter = %s", q),
        "firm_runs": _one(conn, "SELECT count(*) FROM firm_runs WHERE quarter = %s", q),
        "quarter_runs": _one(conn, "SELECT count(*) FROM quarter_runs WHERE quarter = %s", q),
    }
    firms = {
        r[0]: tuple(r[1:])
        for r in conn.execute(
            "SELECT firm_id, firm_name, call_date, n_sentences, n_topics, outlier_share, topic_outcome,"
            " summary_source, prompt_tokens, completion_tokens, llm_calls, input_fingerprint"
            " FROM firms WHERE quarter = %s", q)
    }
    checksums = {r[0]: (r[1], r[2]) for r in conn.execute(SENTENCE_CHECKSUMS, q)}
    topics = {
        (r[0], r[1]): tuple(r[2:])
        for r in conn.execute(
            "SELECT firm_id, local_topic_id, label, keywords, size, representative_sentence_indexes, summary,"
            " summary_source, fallback_reason, prompt_tokens, completion_tokens FROM topics WHERE quarter = %s", q)
    }
    themes = {
        r[0]: tuple(r[1:])
        for r in conn.execute(
            "SELECT theme_local_id, name, description, keywords, n_firms, n_topics, source, fallback_reason"
            " FROM themes WHERE quarter = %s", q)
    }
    members: dict[int, list[tuple[str, int, int]]] = {}
    for theme_local_id, firm_id, local_topic_id, rank in conn.execute(
        "SELECT th.theme_local_id, t.firm_id, t.local_topic_id, tt.rank_in_theme FROM topic_themes tt"
        " JOIN themes th USING (theme_id) JOIN topics t ON t.topic_id = tt.topic_id WHERE th.quarter = %s"
        " ORDER BY th.theme_local_id, tt.rank_in_theme", q,
    ):
        members.setdefault(theme_local_id, []).append((firm_id, local_topic_id, rank))
    quarter_run = conn.execute(
        "SELECT n_firms_included, n_firms_expected, n_themes, n_topics_assigned, prompt_tokens, completion_tokens"
        " FROM quarter_runs WHERE quarter = %s", q).fetchone()
    status = dict(conn.execute("SELECT firm_id, status FROM firm_runs WHERE quarter = %s", q).fetchall())
    embeddings: dict[str, np.ndarray] = {}
    if with_embeddings:
        embeddings["sentences"] = _vectors(conn, "SELECT embedding FROM sentences WHERE quarter = %s"
                                                 " ORDER BY firm_id, sentence_index", q)
        embeddings["topics"] = _vectors(conn, "SELECT embedding FROM topics WHERE quarter = %s"
                                              " ORDER BY firm_id, local_topic_id", q)
        embeddings["themes"] = _vectors(conn, "SELECT embedding FROM themes WHERE quarter = %s"
                                              " ORDER BY theme_local_id", q)
    return QuarterState(counts, firms, checksums, topics, themes, members, quarter_run, status, embeddings)


def state_differences(expected: QuarterState, actual: QuarterState, *, atol: float = 1e-5) -> list[str]:
    """Human-readable differences between two states (empty when they are equal)."""
    problems = []
    want, got = expected.content(), actual.content()
    for name in want:
        if want[name] != got[name]:
            problems.append(f"{name} differ: {_diff(want[name], got[name])}")
    for table, vectors in expected.embeddings.items():
        other = actual.embeddings.get(table)
        if other is None or other.shape != vectors.shape:
            problems.append(f"{table} embeddings: shape {None if other is None else other.shape} != {vectors.shape}")
        elif vectors.size and float(np.abs(vectors - other).max()) > atol:
            problems.append(f"{table} embeddings differ by up to {float(np.abs(vectors - other).max()):.2e}")
    return problems


def integrity_problems(conn: psycopg.Connection) -> list[str]:
    """Duplicates under natural keys, orphans and partially stored firms, over all quarters.

    A stored firm whose latest attempt failed is not a problem here: a failed re-materialization
    keeps the previous rows (its transaction rolled back) and records the failure."""
    problems = []
    for table, key in NATURAL_KEYS.items():
        n = _one(conn, f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY {key} HAVING count(*) > 1) d")
        if n:
            problems.append(f"{table}: {n} duplicated key(s) ({key})")
    checks = {
        "sentences without their firm row":
            "SELECT count(*) FROM sentences s LEFT JOIN firms f USING (firm_id, quarter) WHERE f.firm_id IS NULL",
        "topics without their firm row":
            "SELECT count(*) FROM topics t LEFT JOIN firms f USING (firm_id, quarter) WHERE f.firm_id IS NULL",
        "sentences pointing to a missing topic or another firm's topic":
            "SELECT count(*) FROM sentences s LEFT JOIN topics t ON t.topic_id = s.topic_id"
            " WHERE s.topic_id IS NOT NULL AND (t.topic_id IS NULL OR t.firm_id <> s.firm_id"
            " OR t.quarter <> s.quarter)",
        "topic_themes pointing nowhere":
            "SELECT count(*) FROM topic_themes tt LEFT JOIN topics t USING (topic_id)"
            " LEFT JOIN themes th USING (theme_id) WHERE t.topic_id IS NULL OR th.theme_id IS NULL",
        "topic_themes linking a topic to a theme of another quarter":
            "SELECT count(*) FROM topic_themes tt JOIN topics t USING (topic_id) JOIN themes th USING (theme_id)"
            " WHERE t.quarter <> th.quarter",
        "firms whose n_sentences differs from their stored sentences (partial firm)":
            "SELECT count(*) FROM firms f WHERE n_sentences <> (SELECT count(*) FROM sentences s"
            " WHERE s.firm_id = f.firm_id AND s.quarter = f.quarter)",
        "firms whose n_topics differs from their stored topics (partial firm)":
            "SELECT count(*) FROM firms f WHERE n_topics <> (SELECT count(*) FROM topics t"
            " WHERE t.firm_id = f.firm_id AND t.quarter = f.quarter)",
        "stored firms with no firm_runs row":
            "SELECT count(*) FROM firms f LEFT JOIN firm_runs r USING (firm_id, quarter) WHERE r.firm_id IS NULL",
        "firms marked 'succeeded' with no stored rows":
            "SELECT count(*) FROM firm_runs r LEFT JOIN firms f USING (firm_id, quarter)"
            " WHERE r.status = 'succeeded' AND f.firm_id IS NULL",
    }
    for what, query in checks.items():
        n = _one(conn, query)
        if n:
            problems.append(f"{n} {what}")
    return problems


def committed_firms(conn: psycopg.Connection, quarter: str) -> dict[str, tuple]:
    """Succeeded firms of a quarter -> (run id of their firm_runs row, firms.processed_at)."""
    return {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "SELECT r.firm_id, r.run_id, f.processed_at FROM firm_runs r JOIN firms f USING (firm_id, quarter)"
            " WHERE r.quarter = %s AND r.status = 'succeeded'", (quarter,))
    }


def _one(conn: psycopg.Connection, query: str, params: tuple = ()) -> int:
    return int(conn.execute(query, params).fetchone()[0])


def _vectors(conn: psycopg.Connection, query: str, params: tuple) -> np.ndarray:
    rows = conn.execute(query, params).fetchall()
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack([np.asarray(r[0].to_numpy(), dtype=np.float32) for r in rows])


def _diff(want, got) -> str:
    if isinstance(want, dict) and isinstance(got, dict):
        keys = sorted(set(want) | set(got), key=str)
        bad = [k for k in keys if want.get(k) != got.get(k)]
        shown = "; ".join(f"{k!r}: {want.get(k)!r} != {got.get(k)!r}" for k in bad[:3])
        return f"{len(bad)} key(s): {shown}"
    return f"{want!r} != {got!r}"

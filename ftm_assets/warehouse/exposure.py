"""The exposure panel of a quarter: how much of each firm's call is about each theme and topic.

``exposure`` is the share of the firm's **substantive sentences** that belong to the theme's
topics (or to the topic). Substantive sentences are read from what the firm stage stored: every
sentence that carries a topic, plus every outlier sentence (``topic_id`` NULL) that
``modeling.boilerplate.is_boilerplate`` does not flag, which is the same test the firm stage applies
before topic modelling. Boilerplate (operator lines, greetings, safe harbour) therefore neither
counts for nor dilutes a theme; substantive sentences BERTopic left as outliers dilute it. A
topic's sentences are all substantive and a topic joins at most one theme, so a firm's topic
exposures sum to at most 1, and so do its theme exposures.

Evidence ids: for a firm x topic row, the topic's representative sentences (the ones its summary
was written from, in their stored order); for a firm x theme row, the firm's sentences in that
theme's topics closest (cosine) to the theme's embedding (``name. description``).

:func:`replace_quarter_exposures` deletes and rewrites both tables for a quarter in one
transaction, so re-running it is idempotent. The tables hold ids as plain columns (migration
0004, no foreign keys); :func:`clear_quarter_exposures` empties a quarter when its themes are
replaced, so no row ever names a deleted theme.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import psycopg

from ftm_assets.modeling.boilerplate import is_boilerplate

EXPOSURE_TABLES = ("firm_theme_exposures", "firm_topic_exposures")
DEFAULT_EVIDENCE = 3


@dataclass(frozen=True)
class ExposureSummary:
    """What :func:`replace_quarter_exposures` stored, for the asset's metadata."""

    quarter: str
    theme_rows: int
    topic_rows: int
    firms: int  # firms with at least one theme exposure
    themes: int  # themes with at least one firm row
    mean_exposure: float  # over firm x theme rows
    max_exposure: float
    max_firm_total: float  # largest sum of one firm's theme exposures (<= 1)
    firms_with_topics: int
    mean_theme_coverage: float  # mean over firms with topics of their summed theme exposure

    def metadata(self) -> dict[str, float | int | str]:
        return {
            "quarter": self.quarter,
            "rows": self.theme_rows,
            "topic_rows": self.topic_rows,
            "firms": self.firms,
            "themes": self.themes,
            "mean_exposure": round(self.mean_exposure, 4),
            "max_exposure": round(self.max_exposure, 4),
            "max_firm_total_exposure": round(self.max_firm_total, 4),
            "firms_with_topics": self.firms_with_topics,
            "mean_theme_coverage": round(self.mean_theme_coverage, 4),
        }


def substantive_sentence_counts(conn: psycopg.Connection, quarter: str) -> dict[str, int]:
    """Substantive sentences per firm of the quarter (module docstring); firms with none are left out.
    Needs a transaction (the outlier sentences are read through a server-side cursor)."""
    counts: Counter[str] = Counter(dict(conn.execute(
        "SELECT firm_id, count(*) FROM sentences WHERE quarter = %s AND topic_id IS NOT NULL GROUP BY firm_id",
        (quarter,)).fetchall()))
    with conn.cursor(name="ftm_outlier_sentences") as cur:  # server-side: a quarter's outliers stream
        cur.execute("SELECT firm_id, text FROM sentences WHERE quarter = %s AND topic_id IS NULL", (quarter,))
        while rows := cur.fetchmany(10_000):
            counts.update(firm for firm, text in rows if not is_boilerplate(text))
    return {firm: n for firm, n in counts.items() if n > 0}


def clear_quarter_exposures(conn: psycopg.Connection, quarter: str) -> None:
    """Delete the quarter's exposure rows (in the caller's transaction)."""
    for table in EXPOSURE_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE quarter = %s", (quarter,))


_TOPIC_ROWS = """
INSERT INTO firm_topic_exposures (quarter, firm_id, topic_id, theme_id, n_sentences, n_substantive_sentences,
                                  exposure, evidence_sentence_ids)
SELECT t.quarter, t.firm_id, t.topic_id, th.theme_id, c.n, d.n_substantive, c.n::float8 / d.n_substantive,
       coalesce(ev.ids, '{}')
FROM topics t
JOIN (SELECT topic_id, count(*) AS n FROM sentences WHERE quarter = %(quarter)s AND topic_id IS NOT NULL
      GROUP BY topic_id) c ON c.topic_id = t.topic_id
JOIN _firm_substantive d ON d.firm_id = t.firm_id
LEFT JOIN topic_themes tt ON tt.topic_id = t.topic_id
LEFT JOIN themes th ON th.theme_id = tt.theme_id AND th.quarter = t.quarter
LEFT JOIN LATERAL (
    SELECT array_agg(s.sentence_id ORDER BY r.ord) AS ids
    FROM unnest(t.representative_sentence_indexes) WITH ORDINALITY AS r(sentence_index, ord)
    JOIN sentences s ON s.firm_id = t.firm_id AND s.quarter = t.quarter AND s.sentence_index = r.sentence_index
    WHERE r.ord <= %(evidence)s
) ev ON true
WHERE t.quarter = %(quarter)s
"""

_THEME_ROWS = """
INSERT INTO firm_theme_exposures (quarter, firm_id, theme_id, n_topics, n_sentences, n_substantive_sentences,
                                  exposure, evidence_sentence_ids)
SELECT %(quarter)s, m.firm_id, m.theme_id, count(DISTINCT m.topic_id), count(*), d.n_substantive,
       count(*)::float8 / d.n_substantive,
       array_agg(m.sentence_id ORDER BY m.position) FILTER (WHERE m.position <= %(evidence)s)
FROM (
    SELECT t.firm_id, th.theme_id, t.topic_id, s.sentence_id,
           row_number() OVER (PARTITION BY t.firm_id, th.theme_id
                              ORDER BY s.embedding <=> th.embedding, s.sentence_id) AS position
    FROM themes th
    JOIN topic_themes tt ON tt.theme_id = th.theme_id
    JOIN topics t ON t.topic_id = tt.topic_id AND t.quarter = th.quarter
    JOIN sentences s ON s.topic_id = t.topic_id AND s.quarter = t.quarter
    WHERE th.quarter = %(quarter)s
) m
JOIN _firm_substantive d ON d.firm_id = m.firm_id
GROUP BY m.firm_id, m.theme_id, d.n_substantive
"""


def replace_quarter_exposures(conn: psycopg.Connection, quarter: str,
                              evidence: int = DEFAULT_EVIDENCE) -> ExposureSummary:
    """Recompute both exposure tables of ``quarter`` from its stored sentences, topics and themes,
    replacing its previous rows in one transaction. ``evidence``: sentence ids kept per row."""
    if evidence < 1:
        raise ValueError(f"evidence must be at least 1 sentence id per row, got {evidence}")
    with conn.transaction():
        substantive = substantive_sentence_counts(conn, quarter)
        clear_quarter_exposures(conn, quarter)
        conn.execute("DROP TABLE IF EXISTS pg_temp._firm_substantive")
        conn.execute("CREATE TEMP TABLE _firm_substantive (firm_id text PRIMARY KEY, n_substantive integer NOT NULL)"
                     " ON COMMIT DROP")
        with conn.cursor().copy("COPY _firm_substantive (firm_id, n_substantive) FROM STDIN") as copy:
            for firm, n in substantive.items():
                copy.write_row((firm, n))
        params = {"quarter": quarter, "evidence": evidence}
        topic_rows = conn.execute(_TOPIC_ROWS, params).rowcount
        theme_rows = conn.execute(_THEME_ROWS, params).rowcount
        stats = conn.execute(
            "SELECT count(DISTINCT firm_id), count(DISTINCT theme_id), coalesce(avg(exposure), 0),"
            " coalesce(max(exposure), 0) FROM firm_theme_exposures WHERE quarter = %s", (quarter,)).fetchone()
        totals = conn.execute(
            "SELECT coalesce(max(total), 0), coalesce(avg(total), 0) FROM ("
            " SELECT f.firm_id, coalesce(sum(e.exposure), 0) AS total"
            " FROM (SELECT DISTINCT firm_id FROM firm_topic_exposures WHERE quarter = %(q)s) f"
            " LEFT JOIN firm_theme_exposures e ON e.firm_id = f.firm_id AND e.quarter = %(q)s"
            " GROUP BY f.firm_id) x", {"q": quarter}).fetchone()
        firms_with_topics = conn.execute(
            "SELECT count(DISTINCT firm_id) FROM firm_topic_exposures WHERE quarter = %s", (quarter,)).fetchone()[0]
    return ExposureSummary(
        quarter=quarter, theme_rows=theme_rows, topic_rows=topic_rows, firms=int(stats[0]), themes=int(stats[1]),
        mean_exposure=float(stats[2]), max_exposure=float(stats[3]), max_firm_total=float(totals[0]),
        firms_with_topics=int(firms_with_topics), mean_theme_coverage=float(totals[1]),
    )

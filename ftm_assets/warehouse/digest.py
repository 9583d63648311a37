"""A digest of one quarter's stored content, to tell whether two runs stored the same rows.

Surrogate ids (``topic_id``, ``sentence_id``, ``theme_id``), run ids and timestamps are left out:
topics are named by ``(firm_id, local_topic_id)``, a sentence's topic by that pair, a theme by
``theme_local_id``. Everything else, vectors included (as pgvector's text form), goes into one md5
per table. Two quarters with equal digests hold the same firms, sentences, topic assignments,
topics, summaries, themes and theme members.
"""

from __future__ import annotations

import psycopg

__all__ = ["quarter_digest"]

_TABLES = {
    "firms": """
        SELECT firm_id, firm_name, call_date, n_sentences, n_topics, outlier_share, topic_outcome,
               summary_source, prompt_tokens, completion_tokens, llm_calls, input_fingerprint
        FROM firms WHERE quarter = %(q)s ORDER BY firm_id""",
    "topics": """
        SELECT firm_id, local_topic_id, label, keywords, size, representative_sentence_indexes, summary,
               summary_source, fallback_reason, prompt_tokens, completion_tokens, embedding::text
        FROM topics WHERE quarter = %(q)s ORDER BY firm_id, local_topic_id""",
    "sentences": """
        SELECT s.firm_id, s.sentence_index, s.text, s.section, s.speaker, t.local_topic_id, s.embedding::text
        FROM sentences s LEFT JOIN topics t ON t.topic_id = s.topic_id
        WHERE s.quarter = %(q)s ORDER BY s.firm_id, s.sentence_index""",
    "themes": """
        SELECT theme_local_id, name, description, keywords, n_firms, n_topics, source, fallback_reason,
               embedding::text
        FROM themes WHERE quarter = %(q)s ORDER BY theme_local_id""",
    "topic_themes": """
        SELECT th.theme_local_id, t.firm_id, t.local_topic_id, tt.rank_in_theme
        FROM topic_themes tt JOIN themes th USING (theme_id) JOIN topics t USING (topic_id)
        WHERE th.quarter = %(q)s ORDER BY th.theme_local_id, tt.rank_in_theme, t.firm_id, t.local_topic_id""",
}


def quarter_digest(conn: psycopg.Connection, quarter: str) -> dict[str, dict]:
    """``{table: {"rows": n, "md5": hex}}`` over the quarter's content (see module docstring)."""
    out = {}
    for table, query in _TABLES.items():
        row = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(r::text, chr(30) ORDER BY r::text), '')) FROM ({query}) r",
            {"q": quarter},
        ).fetchone()
        out[table] = {"rows": int(row[0]), "md5": row[1]}
    return out

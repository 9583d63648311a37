"""Traceability in both directions, read from the views of migration 0002 (docs/search.md).

* :func:`trace_theme`: theme -> its topics, grouped by firm -> each topic's sentences.
* :func:`trace_sentence`: sentence -> its topic -> its theme, and the other firms in that theme.
* :func:`trace_lineage`: a theme's chain across quarters (``theme_links``, migration 0004), with
  each quarter's theme name, firms and their exposure (``firm_theme_exposures``).

Both return plain dicts (JSON-ready). An unknown id raises :class:`TraceNotFoundError`.
"""

from __future__ import annotations

from typing import Any

import psycopg


class TraceNotFoundError(ValueError):
    """The theme or sentence id does not exist (or was replaced by a re-run)."""


def _dicts(cur: psycopg.Cursor) -> list[dict[str, Any]]:
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def trace_theme(conn: psycopg.Connection, theme_id: int, *, sentences_per_topic: int | None = None) -> dict[str, Any]:
    """Theme -> topics -> firms -> sentences. ``sentences_per_topic`` caps the sentences listed per
    topic (in call order); ``n_sentences`` always counts them all."""
    if sentences_per_topic is not None and sentences_per_topic < 0:
        raise ValueError(f"sentences_per_topic must be >= 0, got {sentences_per_topic}")
    theme = _dicts(conn.execute(
        "SELECT theme_id, quarter, name, description, keywords, n_firms, n_topics, source FROM themes"
        " WHERE theme_id = %s", (theme_id,)))
    if not theme:
        raise TraceNotFoundError(f"theme {theme_id} not found")
    topics = _dicts(conn.execute(
        "SELECT topic_id, firm_id, firm_name, quarter, local_topic_id, topic_label, topic_keywords, topic_size,"
        " topic_summary, rank_in_theme FROM topic_lineage WHERE theme_id = %s ORDER BY firm_id, rank_in_theme",
        (theme_id,)))
    sentences = _dicts(conn.execute(
        "SELECT topic_id, sentence_id, sentence_index, text, n_sentences FROM ("
        " SELECT topic_id, sentence_id, sentence_index, text, count(*) OVER (PARTITION BY topic_id) AS n_sentences,"
        "  row_number() OVER (PARTITION BY topic_id ORDER BY sentence_index) AS position"
        " FROM theme_sentences WHERE theme_id = %(theme)s"
        ") s WHERE %(cap)s::int IS NULL OR position <= %(cap)s::int ORDER BY topic_id, sentence_index",
        {"theme": theme_id, "cap": sentences_per_topic}))
    by_topic: dict[int, list[dict[str, Any]]] = {}
    counts: dict[int, int] = {}
    for s in sentences:
        counts[s["topic_id"]] = s.pop("n_sentences")
        by_topic.setdefault(s.pop("topic_id"), []).append(s)
    if sentences_per_topic == 0:
        counts = dict(conn.execute(
            "SELECT topic_id, count(*) FROM theme_sentences WHERE theme_id = %s GROUP BY topic_id", (theme_id,)
        ).fetchall())
    firms: dict[str, dict[str, Any]] = {}
    for t in topics:
        firm = firms.setdefault(t["firm_id"], {"firm_id": t["firm_id"], "firm_name": t["firm_name"], "topics": []})
        firm["topics"].append({
            "topic_id": t["topic_id"], "local_topic_id": t["local_topic_id"], "label": t["topic_label"],
            "keywords": list(t["topic_keywords"]), "size": t["topic_size"], "summary": t["topic_summary"],
            "rank_in_theme": t["rank_in_theme"], "n_sentences": counts.get(t["topic_id"], 0),
            "sentences": by_topic.get(t["topic_id"], []),
        })
    out = theme[0]
    out["keywords"] = list(out["keywords"])
    return {
        "theme": out,
        "n_firms": len(firms),
        "n_topics": len(topics),
        "n_sentences": sum(counts.values()),
        "firms": list(firms.values()),
    }


def trace_sentence(conn: psycopg.Connection, sentence_id: int) -> dict[str, Any]:
    """Sentence -> topic -> theme, plus the other firms of that theme with their member topics."""
    rows = _dicts(conn.execute("SELECT * FROM sentence_lineage WHERE sentence_id = %s", (sentence_id,)))
    if not rows:
        raise TraceNotFoundError(f"sentence {sentence_id} not found")
    r = rows[0]
    sentence = {key: r[key] for key in ("sentence_id", "firm_id", "firm_name", "quarter", "sentence_index",
                                        "section", "speaker", "text")}
    topic = None
    if r["topic_id"] is not None:
        topic = {"topic_id": r["topic_id"], "local_topic_id": r["local_topic_id"], "label": r["topic_label"],
                 "summary": r["topic_summary"], "rank_in_theme": r["rank_in_theme"]}
    theme = None
    other_firms: list[dict[str, Any]] = []
    if r["theme_id"] is not None:
        theme = {"theme_id": r["theme_id"], "name": r["theme_name"], "description": r["theme_description"],
                 "quarter": r["quarter"]}
        members = _dicts(conn.execute(
            "SELECT firm_id, firm_name, topic_id, topic_label, rank_in_theme FROM topic_lineage"
            " WHERE theme_id = %s AND firm_id <> %s ORDER BY firm_id, rank_in_theme",
            (r["theme_id"], r["firm_id"])))
        firms: dict[str, dict[str, Any]] = {}
        for m in members:
            firm = firms.setdefault(m["firm_id"], {"firm_id": m["firm_id"], "firm_name": m["firm_name"], "topics": []})
            firm["topics"].append({"topic_id": m["topic_id"], "label": m["topic_label"],
                                   "rank_in_theme": m["rank_in_theme"]})
        other_firms = list(firms.values())
    return {"sentence": sentence, "topic": topic, "theme": theme, "other_firms": other_firms}


def trace_lineage(conn: psycopg.Connection, theme_id: int, *, firms_per_theme: int | None = None) -> dict[str, Any]:
    """The lineage of ``theme_id``: every theme of its chain, oldest quarter first, each with its
    link to the previous one (similarity, firm overlap), its firms by exposure (highest first;
    ``firms_per_theme`` caps the list, ``n_firms`` counts them all) and its mean exposure."""
    if firms_per_theme is not None and firms_per_theme < 0:
        raise ValueError(f"firms_per_theme must be >= 0, got {firms_per_theme}")
    theme = _dicts(conn.execute("SELECT theme_id, quarter FROM themes WHERE theme_id = %s", (theme_id,)))
    if not theme:
        raise TraceNotFoundError(f"theme {theme_id} not found")
    link = conn.execute("SELECT lineage_id FROM theme_links WHERE theme_id = %s AND quarter = %s",
                        (theme_id, theme[0]["quarter"])).fetchone()
    if link is None:
        raise TraceNotFoundError(f"theme {theme_id} ({theme[0]['quarter']}) has no lineage yet: re-materialize "
                                 "the quarter's themes to link them")
    chain = _dicts(conn.execute(
        "SELECT l.quarter, l.theme_id, l.prev_theme_id, l.similarity, l.firm_overlap, th.name, th.description,"
        " th.n_firms, th.n_topics"
        " FROM theme_links l JOIN themes th ON th.theme_id = l.theme_id AND th.quarter = l.quarter"
        " WHERE l.lineage_id = %s ORDER BY l.quarter", (link[0],)))
    firms = _dicts(conn.execute(
        "SELECT e.theme_id, e.firm_id, f.firm_name, e.exposure, e.n_topics, e.n_sentences"
        " FROM theme_links l JOIN firm_theme_exposures e ON e.theme_id = l.theme_id AND e.quarter = l.quarter"
        " JOIN firms f ON f.firm_id = e.firm_id AND f.quarter = e.quarter"
        " WHERE l.lineage_id = %s ORDER BY e.theme_id, e.exposure DESC, e.firm_id", (link[0],)))
    by_theme: dict[int, list[dict[str, Any]]] = {}
    for f in firms:
        by_theme.setdefault(f.pop("theme_id"), []).append(f)
    for step in chain:
        members = by_theme.get(step["theme_id"], [])
        step["n_firms_exposed"] = len(members)
        step["mean_exposure"] = (sum(m["exposure"] for m in members) / len(members)) if members else None
        step["firms"] = members if firms_per_theme is None else members[:firms_per_theme]
        for key in ("similarity", "firm_overlap"):
            step[key] = None if step[key] is None else round(float(step[key]), 4)
    return {"theme_id": theme_id, "lineage_id": link[0], "quarters": [c["quarter"] for c in chain], "chain": chain}

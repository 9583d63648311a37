"""Hierarchical retrieval: one query over themes, topic summaries and sentences, merged into one ranking.

**One vector space.** Sentences, topic summaries and theme texts (``"name. description"``) are all
embedded by the pipeline's model, L2-normalised, and the query is embedded by the same model. For
normalised vectors, pgvector's cosine distance ``d`` gives the cosine similarity ``1 - d`` in
``[-1, 1]``, and that number means the same thing at every level: how close the query is to the
text that was embedded. Hits of all levels are therefore ranked together by that similarity, with
no per-level rescaling (none is applied: a per-level offset would be a guess about which level the
user wants, and the ``--levels`` flag already says that explicitly).

**Level floor.** Long texts (summaries, theme descriptions) tend to sit at lower similarity to a
short query than the single sentence that says the same thing, so a plain top-``k`` over all
levels can be all sentences. ``min_per_level`` (default 1) keeps the best hit of each requested
level that has any match in the list; the list is still ordered by similarity.

**Index use.** Each level is one ``ORDER BY embedding <=> q LIMIT k`` query served by the HNSW
indexes of the level's quarter partitions (one partition with a quarter filter; without one, the
per-quarter scans merged, each with ``ef_search_per_quarter`` candidates unless ``ef_search`` is
given), with quarter/firm filters kept on the index path by pgvector's iterative scans and an
exact fallback when the index returns too few rows (:mod:`ftm_assets.search.knn`). On small tables
PostgreSQL's planner may prefer an exact scan by itself; the rows are then exact.

**Expansion.** Every hit carries its place in the hierarchy: a sentence its topic (when not an
outlier), theme (when its topic joined one), firm and quarter; a topic its theme and firm; a
theme its member firms. Topic and theme hits also carry ``evidence``: the ``EVIDENCE_PER_HIT``
sentences of that topic or theme most similar to the query (exact, over the topic's or theme's
sentences only; with a firm filter, a theme's evidence comes from that firm).

The query text never reaches SQL (it is embedded first; the SQL sees a vector), and the quarter and
firm filters travel as bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from ftm_assets.modeling.types import parse_quarter
from ftm_assets.search.knn import (
    DEFAULT_EF_SEARCH,
    Neighbour,
    ScanSettings,
    ef_search_per_quarter,
    nearest,
    query_param,
)
from ftm_assets.warehouse.quarters import stored_quarters
from ftm_assets.warehouse.schema import SchemaMismatchError, stored_embedding_dim

LEVELS = ("theme", "topic", "sentence")
EVIDENCE_PER_HIT = 3
MAX_K = 1000
_TABLES = {"theme": ("themes", "theme_id"), "topic": ("topics", "topic_id"), "sentence": ("sentences", "sentence_id")}


@dataclass(frozen=True)
class TopicInfo:
    id: int
    label: str
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "summary": self.summary}


@dataclass(frozen=True)
class ThemeInfo:
    id: int
    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class Evidence:
    """A sentence backing a topic or theme hit, with its own similarity to the query."""

    sentence_id: int
    score: float
    text: str
    firm_id: str
    quarter: str
    sentence_index: int
    topic_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"sentence_id": self.sentence_id, "score": round(self.score, 4), "text": self.text,
                "firm_id": self.firm_id, "quarter": self.quarter, "sentence_index": self.sentence_index,
                "topic_id": self.topic_id}


@dataclass(frozen=True)
class SearchHit:
    """One ranked result. ``id`` is the row id at its ``level`` (sentence_id, topic_id or theme_id);
    ``score`` is the cosine similarity to the query. ``firm_id``/``firm_name`` are empty for a
    theme (cross-firm; see ``firm_ids``)."""

    level: str
    id: int
    score: float
    text: str
    quarter: str
    firm_id: str | None = None
    firm_name: str | None = None
    topic: TopicInfo | None = None
    theme: ThemeInfo | None = None
    evidence: tuple[Evidence, ...] = ()
    firm_ids: tuple[str, ...] = ()
    sentence_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level, "id": self.id, "score": round(self.score, 4), "text": self.text,
            "firm_id": self.firm_id, "firm_name": self.firm_name, "quarter": self.quarter,
            "sentence_index": self.sentence_index, "firm_ids": list(self.firm_ids),
            "topic": self.topic.to_dict() if self.topic else None,
            "theme": self.theme.to_dict() if self.theme else None,
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass(frozen=True)
class _Candidate:
    level: str
    neighbour: Neighbour

    @property
    def score(self) -> float:
        return self.neighbour.similarity


def parse_levels(levels: str | Iterable[str]) -> tuple[str, ...]:
    """``"theme,topic"`` or an iterable of names -> a tuple in hierarchy order; unknown names raise."""
    names = [p.strip() for p in levels.split(",")] if isinstance(levels, str) else [str(p).strip() for p in levels]
    names = [n for n in names if n]
    unknown = sorted(set(names) - set(LEVELS))
    if unknown or not names:
        raise ValueError(f"levels must be a non-empty subset of {', '.join(LEVELS)}; got {names or 'none'}")
    return tuple(level for level in LEVELS if level in names)


def embed_query(encoder: Any, query: str) -> np.ndarray:
    """The query's normalised embedding (the same model as the stored vectors)."""
    if not isinstance(query, str) or not query.strip():
        raise ValueError("the search query is empty")
    return np.asarray(encoder.encode([query])[0], dtype=np.float32)


def check_dimension(conn: psycopg.Connection, dim: int, model_id: str = "") -> None:
    stored = stored_embedding_dim(conn)
    if stored is None:
        raise ValueError("the database has no FTM schema yet: run `ftm demo` (or materialize a quarter) first")
    if stored != dim:
        raise SchemaMismatchError(
            f"the database stores {stored}-dimensional embeddings but the query model {model_id or ''} "
            f"produces {dim}: search with the model the pipeline used"
        )


def _filters(level: str, quarter: str | None, firm: str | None) -> list[sql.Composable]:
    out: list[sql.Composable] = []
    if quarter is not None:
        out.append(sql.SQL("quarter = %(quarter)s"))
    if firm is not None:
        if level == "theme":
            out.append(sql.SQL(
                "theme_id IN (SELECT tt.theme_id FROM topic_themes tt JOIN topics t ON t.topic_id = tt.topic_id"
                " AND t.quarter = tt.quarter"
                " WHERE t.firm_id = %(firm)s)"
            ))
        else:
            out.append(sql.SQL("firm_id = %(firm)s"))
    return out


def merge_ranked(per_level: Mapping[str, Sequence[Neighbour]], k: int, min_per_level: int = 1) -> list[_Candidate]:
    """One list of at most ``k`` hits by similarity, keeping the best ``min_per_level`` of each level
    that has candidates (while ``k`` allows); ties break by level order then id."""
    order = {level: i for i, level in enumerate(LEVELS)}

    def rank(c: _Candidate) -> tuple[float, int, int]:
        return (-c.score, order[c.level], c.neighbour.id)

    reserved: list[_Candidate] = []
    rest: list[_Candidate] = []
    for level, neighbours in per_level.items():
        ranked = sorted((_Candidate(level, n) for n in neighbours), key=rank)
        reserved.extend(ranked[:min_per_level])
        rest.extend(ranked[min_per_level:])
    reserved = sorted(reserved, key=rank)[:k]
    chosen = reserved + sorted(rest, key=rank)[: k - len(reserved)]
    return sorted(chosen, key=rank)


def search(
    conn: psycopg.Connection,
    encoder: Any,
    query: str,
    *,
    quarter: str | None = None,
    firm: str | None = None,
    levels: str | Iterable[str] = LEVELS,
    k: int = 10,
    ef_search: int | None = None,
    min_per_level: int = 1,
    scan: ScanSettings | None = None,
) -> list[SearchHit]:
    """Search themes, topics and sentences for ``query``; the ``k`` best hits, best first.

    ``encoder`` is the pipeline's ``SentenceEncoder`` (anything with ``encode(texts)`` returning
    normalised vectors). ``ef_search`` overrides ``hnsw.ef_search`` for this call (default
    ``DEFAULT_EF_SEARCH``); ``scan`` sets all query-time HNSW settings at once.
    """
    vector = embed_query(encoder, query)
    check_dimension(conn, int(vector.shape[0]), getattr(encoder, "model_id", ""))
    return search_vector(conn, vector, quarter=quarter, firm=firm, levels=levels, k=k, ef_search=ef_search,
                         min_per_level=min_per_level, scan=scan)


def search_vector(
    conn: psycopg.Connection,
    vector: np.ndarray,
    *,
    quarter: str | None = None,
    firm: str | None = None,
    levels: str | Iterable[str] = LEVELS,
    k: int = 10,
    ef_search: int | None = None,
    min_per_level: int = 1,
    scan: ScanSettings | None = None,
) -> list[SearchHit]:
    """:func:`search` for an already embedded (normalised) query vector."""
    chosen_levels = parse_levels(levels)
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be in 1..{MAX_K}, got {k}")
    if quarter is not None:
        parse_quarter(quarter)
    if firm is not None and not firm.strip():
        raise ValueError("the firm filter is empty")
    if scan is None and ef_search is None and quarter is None:
        # one query over every quarter: each quarter's scan looks at fewer candidates
        scan = ScanSettings(ef_search=ef_search_per_quarter(DEFAULT_EF_SEARCH, len(stored_quarters(conn))))
    if scan is None:
        scan = ScanSettings(ef_search=ef_search or DEFAULT_EF_SEARCH)
    elif ef_search is not None:
        scan = ScanSettings(ef_search, scan.iterative_scan, scan.max_scan_tuples)
    params = {"quarter": quarter, "firm": firm}
    per_level = {}
    for level in chosen_levels:
        table, id_column = _TABLES[level]
        per_level[level] = nearest(conn, table, id_column, vector, k, filters=_filters(level, quarter, firm),
                                   params=params, scan=scan).neighbours
    merged = merge_ranked(per_level, k, min_per_level)
    return _expand(conn, merged, vector, firm)


def _expand(conn: psycopg.Connection, merged: Sequence[_Candidate], vector: np.ndarray,
            firm: str | None) -> list[SearchHit]:
    ids = {level: [c.neighbour.id for c in merged if c.level == level] for level in LEVELS}
    sentences = _sentence_rows(conn, ids["sentence"])
    topics = _topic_rows(conn, ids["topic"])
    themes = _theme_rows(conn, ids["theme"])
    topic_evidence = _topic_evidence(conn, ids["topic"], vector)
    theme_evidence = _theme_evidence(conn, ids["theme"], vector, firm)
    hits = []
    rows = {"sentence": sentences, "topic": topics, "theme": themes}
    for c in merged:
        hit_id, score = c.neighbour.id, c.score
        r = rows[c.level].get(hit_id)
        if r is None:  # replaced by a concurrent re-run between the k-NN query and the expansion
            continue
        if c.level == "sentence":
            hits.append(SearchHit(
                "sentence", hit_id, score, r["text"], r["quarter"], r["firm_id"], r["firm_name"],
                TopicInfo(r["topic_id"], r["topic_label"], r["topic_summary"]) if r["topic_id"] is not None else None,
                ThemeInfo(r["theme_id"], r["theme_name"]) if r["theme_id"] is not None else None,
                firm_ids=(r["firm_id"],), sentence_index=r["sentence_index"],
            ))
        elif c.level == "topic":
            hits.append(SearchHit(
                "topic", hit_id, score, r["topic_summary"], r["quarter"], r["firm_id"], r["firm_name"],
                TopicInfo(hit_id, r["topic_label"], r["topic_summary"]),
                ThemeInfo(r["theme_id"], r["theme_name"]) if r["theme_id"] is not None else None,
                tuple(topic_evidence.get(hit_id, ())), firm_ids=(r["firm_id"],),
            ))
        else:
            hits.append(SearchHit(
                "theme", hit_id, score, r["description"], r["quarter"], theme=ThemeInfo(hit_id, r["name"]),
                evidence=tuple(theme_evidence.get(hit_id, ())), firm_ids=tuple(r["firm_ids"]),
            ))
    return hits


def _rows_by_id(conn: psycopg.Connection, query: str, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    cur = conn.execute(query, {"ids": list(ids)})
    names = [d.name for d in cur.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def _sentence_rows(conn: psycopg.Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    return _rows_by_id(conn, (
        "SELECT sentence_id, firm_id, firm_name, quarter, sentence_index, text, topic_id, topic_label,"
        " topic_summary, theme_id, theme_name FROM sentence_lineage WHERE sentence_id = ANY(%(ids)s)"
    ), ids)


def _topic_rows(conn: psycopg.Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    return _rows_by_id(conn, (
        "SELECT topic_id, firm_id, firm_name, quarter, topic_label, topic_summary, theme_id, theme_name"
        " FROM topic_lineage WHERE topic_id = ANY(%(ids)s)"
    ), ids)


def _theme_rows(conn: psycopg.Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    return _rows_by_id(conn, (
        "SELECT th.theme_id, th.quarter, th.name, th.description,"
        " coalesce(array_agg(DISTINCT t.firm_id) FILTER (WHERE t.firm_id IS NOT NULL), '{}') AS firm_ids"
        " FROM themes th LEFT JOIN topic_themes tt ON tt.theme_id = th.theme_id AND tt.quarter = th.quarter"
        " LEFT JOIN topics t ON t.topic_id = tt.topic_id AND t.quarter = tt.quarter"
        " WHERE th.theme_id = ANY(%(ids)s) GROUP BY th.theme_id, th.quarter"
    ), ids)


def _evidence(conn: psycopg.Connection, query: sql.Composable, params: dict[str, Any]) -> dict[int, list[Evidence]]:
    out: dict[int, list[Evidence]] = {}
    for owner, sentence_id, distance, text, firm_id, quarter, index, topic_id in conn.execute(query, params):
        out.setdefault(owner, []).append(Evidence(sentence_id, 1.0 - distance, text, firm_id, quarter, index, topic_id))
    return out


_EVIDENCE_SQL = (
    "SELECT owner, sentence_id, distance, text, firm_id, quarter, sentence_index, topic_id FROM ("
    " SELECT {owner} AS owner, s.sentence_id, s.embedding <=> %(q)s AS distance, s.text, s.firm_id, s.quarter,"
    "  s.sentence_index, s.topic_id,"
    "  row_number() OVER (PARTITION BY {owner} ORDER BY s.embedding <=> %(q)s, s.sentence_id) AS rank"
    " FROM sentences s {join} WHERE {where}"
    ") ranked WHERE rank <= %(n)s ORDER BY owner, rank"
)


def _topic_evidence(conn: psycopg.Connection, topic_ids: Sequence[int], vector: np.ndarray) -> dict[int, list[Evidence]]:
    if not topic_ids:
        return {}
    query = sql.SQL(_EVIDENCE_SQL).format(owner=sql.SQL("s.topic_id"), join=sql.SQL(""),
                                          where=sql.SQL("s.topic_id = ANY(%(ids)s)"))
    return _evidence(conn, query, {"q": query_param(vector), "ids": list(topic_ids), "n": EVIDENCE_PER_HIT})


def _theme_evidence(conn: psycopg.Connection, theme_ids: Sequence[int], vector: np.ndarray,
                    firm: str | None) -> dict[int, list[Evidence]]:
    if not theme_ids:
        return {}
    where = sql.SQL("tt.theme_id = ANY(%(ids)s)")
    if firm is not None:
        where = where + sql.SQL(" AND s.firm_id = %(firm)s")
    query = sql.SQL(_EVIDENCE_SQL).format(owner=sql.SQL("tt.theme_id"),
                                          join=sql.SQL("JOIN topic_themes tt ON tt.topic_id = s.topic_id AND tt.quarter = s.quarter"), where=where)
    return _evidence(conn, query, {"q": query_param(vector), "ids": list(theme_ids), "n": EVIDENCE_PER_HIT, "firm": firm})

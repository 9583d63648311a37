"""One nearest-neighbour query over an HNSW-indexed ``embedding`` column, filtered or not.

The query is the form pgvector's HNSW index serves: ``ORDER BY embedding <=> $q LIMIT k`` (cosine
distance, the operator class the ``*_embedding_hnsw`` indexes are built with). Filters (quarter,
firm) go in the ``WHERE`` clause and keep using the index through pgvector 0.8 *iterative index
scans*: with ``hnsw.iterative_scan = relaxed_order`` the scan keeps walking the graph until ``k``
rows pass the filter (or ``hnsw.max_scan_tuples`` tuples were visited). Relaxed order may emit rows
slightly out of order, so the candidates are re-sorted by their exact distance
(``ORDER BY distance + 0`` over a ``MATERIALIZED`` CTE, as the pgvector README does).

When the index path returns fewer than ``k`` rows (the filtered set is smaller than ``k``, or the
scan hit ``max_scan_tuples`` on a very selective filter) the same query is re-run as an exact scan
(``ORDER BY (embedding <=> $q) + 0`` cannot use the vector index; the planner serves the filter
with a b-tree index when one fits), so a selective filter never silently returns too few rows.

The query vector is sent as an untyped literal (:func:`query_param`), so PostgreSQL reads it as
the column's type, ``vector`` or ``halfvec`` (``FTM_VECTOR_TYPE``), and the operator stays the one
the index serves. On the quarter-partitioned tables an unfiltered query is a ``Merge Append`` of
the per-quarter index scans (one query over all quarters, the per-quarter results merged by
distance); a quarter filter is pruned to that quarter's partition at plan time.

Settings are transaction-local (``set_config(..., true)`` = ``SET LOCAL``) and passed as bound
parameters; the caller's session settings are untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

#: ``hnsw.ef_search`` used when none is given. In the 1M-vector benchmark (docs/search.md) 100 gave
#: recall@10 0.955 unfiltered but 0.945 with a quarter filter; 200 gave 0.985 / 0.980 at a p95 of
#: about 20 ms. pgvector's own default is 40 (recall@10 0.87 there).
DEFAULT_EF_SEARCH = 200
#: Least ``ef_search`` of each quarter's scan in a query over several quarters (see
#: :func:`ef_search_per_quarter`).
HISTORY_MIN_EF_SEARCH = 40
#: pgvector accepts ef_search in 1..1000.
MAX_EF_SEARCH = 1000
#: pgvector's default; a filter matching 1/8 of the rows needs about 8 * ef_search tuples.
DEFAULT_MAX_SCAN_TUPLES = 20_000


@dataclass(frozen=True)
class ScanSettings:
    """Query-time HNSW settings (index build settings are ``warehouse.schema.HnswSettings``)."""

    ef_search: int = DEFAULT_EF_SEARCH
    iterative_scan: str = "relaxed_order"  # used for filtered queries: "relaxed_order", "strict_order" or "off"
    max_scan_tuples: int = DEFAULT_MAX_SCAN_TUPLES

    def __post_init__(self) -> None:
        if not 1 <= self.ef_search <= MAX_EF_SEARCH:
            raise ValueError(f"ef_search must be in 1..{MAX_EF_SEARCH}, got {self.ef_search}")
        if self.iterative_scan not in ("relaxed_order", "strict_order", "off"):
            raise ValueError(f"iterative_scan must be relaxed_order, strict_order or off, got {self.iterative_scan!r}")
        if self.max_scan_tuples < 1:
            raise ValueError(f"max_scan_tuples must be >= 1, got {self.max_scan_tuples}")


@dataclass(frozen=True)
class Neighbour:
    id: int
    distance: float

    @property
    def similarity(self) -> float:
        """Cosine similarity (the vectors are L2-normalised, so ``1 - cosine distance``)."""
        return 1.0 - self.distance


@dataclass(frozen=True)
class KnnResult:
    """Neighbours nearest first; ``exact_fallback`` when the index path returned fewer than ``k``
    rows and the exact scan answered instead."""

    neighbours: list[Neighbour]
    exact_fallback: bool


def ef_search_per_quarter(ef_search: int, quarters: int) -> int:
    """``ef_search`` of each quarter partition's scan when one query runs over ``quarters`` of them.

    The merged top ``k`` comes from ``quarters x ef_search`` candidates, and each quarter holds only
    a share of it, so each scan can look at fewer: ``ef_search / quarters``, at least
    :data:`HISTORY_MIN_EF_SEARCH` (one quarter: ``ef_search`` itself). Over 8 quarters of 100,000
    vectors this is 40 per quarter: recall@10 0.98 against 0.999 at 200, at a quarter of the
    latency (docs/search.md, "Search across the history")."""
    if quarters <= 1:
        return ef_search
    return max(min(ef_search, HISTORY_MIN_EF_SEARCH), -(-ef_search // quarters))


def query_param(query_vector: np.ndarray) -> str:
    """The vector as a pgvector text literal bound with no type (psycopg sends ``str`` as
    ``unknown``): PostgreSQL then reads it as the compared column's type, ``vector`` or ``halfvec``
    (a typed ``vector`` parameter against a ``halfvec`` column is an ambiguous operator)."""
    values = np.asarray(query_vector, dtype=np.float32).ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError("query vector has NaN or infinite values")
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


def apply_scan_settings(conn: psycopg.Connection, scan: ScanSettings, k: int, filtered: bool) -> None:
    """``SET LOCAL`` the HNSW settings for this transaction. ``ef_search`` is raised to ``k`` when
    smaller (an HNSW scan returns at most ``ef_search`` rows per pass)."""
    ef = min(MAX_EF_SEARCH, max(scan.ef_search, k))
    iterative = scan.iterative_scan if filtered else "off"
    conn.execute(
        "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', %s, true),"
        " set_config('hnsw.max_scan_tuples', %s, true)",
        (str(ef), iterative, str(scan.max_scan_tuples)),
    )


def _where(filters: Sequence[sql.Composable]) -> sql.Composable:
    if not filters:
        return sql.SQL("")
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(filters)


def nearest_sql(table: str, id_column: str, filters: Sequence[sql.Composable] = ()) -> sql.Composed:
    """Index-served k-NN: ``%(q)s`` is the query vector, ``%(k)s`` the limit; filters may use
    further named parameters."""
    return sql.SQL(
        "WITH candidates AS MATERIALIZED ("
        "SELECT {id} AS id, embedding <=> %(q)s AS distance FROM {table}{where} ORDER BY distance LIMIT %(k)s"
        ") SELECT id, distance FROM candidates ORDER BY distance + 0, id"
    ).format(id=sql.Identifier(id_column), table=sql.Identifier(table), where=_where(filters))


def exact_sql(table: str, id_column: str, filters: Sequence[sql.Composable] = ()) -> sql.Composed:
    """The same query as an exact scan: ``+ 0`` hides the ordering from the vector index."""
    return sql.SQL(
        "SELECT {id} AS id, embedding <=> %(q)s AS distance FROM {table}{where}"
        " ORDER BY (embedding <=> %(q)s) + 0, {id} LIMIT %(k)s"
    ).format(id=sql.Identifier(id_column), table=sql.Identifier(table), where=_where(filters))


def nearest(
    conn: psycopg.Connection,
    table: str,
    id_column: str,
    query_vector: np.ndarray,
    k: int,
    *,
    filters: Sequence[sql.Composable] = (),
    params: Mapping[str, Any] | None = None,
    scan: ScanSettings = ScanSettings(),
) -> KnnResult:
    """The ``k`` rows of ``table`` nearest to ``query_vector`` (cosine), nearest first, in one
    transaction (a savepoint when the caller already holds one)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    bound = {**(params or {}), "q": query_param(query_vector), "k": k}
    with conn.transaction():
        apply_scan_settings(conn, scan, k, filtered=bool(filters))
        rows = conn.execute(nearest_sql(table, id_column, filters), bound).fetchall()
        fallback = len(rows) < k
        if fallback:
            rows = conn.execute(exact_sql(table, id_column, filters), bound).fetchall()
    return KnnResult([Neighbour(int(r[0]), float(r[1])) for r in rows], fallback)


def explain_nearest(
    conn: psycopg.Connection,
    table: str,
    id_column: str,
    query_vector: np.ndarray,
    k: int,
    *,
    filters: Sequence[sql.Composable] = (),
    params: Mapping[str, Any] | None = None,
    scan: ScanSettings = ScanSettings(),
) -> str:
    """``EXPLAIN`` of the index-served query under the same settings (to check the plan)."""
    bound = {**(params or {}), "q": query_param(query_vector), "k": k}
    with conn.transaction():
        apply_scan_settings(conn, scan, k, filtered=bool(filters))
        rows = conn.execute(sql.SQL("EXPLAIN ") + nearest_sql(table, id_column, filters), bound).fetchall()
    return "\n".join(r[0] for r in rows)

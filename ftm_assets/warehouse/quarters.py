"""Quarter partitions: creating them, one HNSW index per partition, dropping a quarter.

``sentences``, ``topics``, ``themes`` and ``topic_themes`` are LIST-partitioned by ``quarter``
(migration 0003). A quarter's partitions (``sentences_2020q2`` ...) are created when the quarter is
first written: by a trigger on ``firms`` inserts, or :func:`ensure_quarter_partitions` before a
quarter's themes. The vector tables' partitions get their HNSW index (cosine) once the quarter is
loaded (:func:`build_quarter_indexes`); the index then stays, so re-running firms of a quarter keeps
it searchable, and loading a quarter never touches another quarter's index.

:func:`drop_quarter` removes a quarter from every table with a ``quarter`` column, discovered from
the catalog (tables added by later migrations included): partitions are dropped (no row-by-row
delete), other tables have the quarter's rows deleted, all in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from ftm_assets.modeling.types import parse_quarter
from ftm_assets.warehouse.lineage import relink_quarter
from ftm_assets.warehouse.schema import VECTOR_TABLES, HnswSettings, stored_vector_type

OPCLASS = {"vector": "vector_cosine_ops", "halfvec": "halfvec_cosine_ops"}
DEFAULT_HNSW = HnswSettings()


def partition_name(table: str, quarter: str) -> str:
    """``sentences_2020q2`` for ``("sentences", "2020Q2")``."""
    parse_quarter(quarter)
    return f"{table}_{quarter.lower()}"


def index_name(table: str, quarter: str) -> str:
    """The HNSW index of a table's quarter partition, e.g. ``sentences_2020q2_embedding_hnsw``."""
    return f"{partition_name(table, quarter)}_embedding_hnsw"


def _exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def ensure_quarter_partitions(conn: psycopg.Connection, quarter: str) -> None:
    """Create the quarter's partition of every quarter-partitioned table when missing."""
    parse_quarter(quarter)
    conn.execute("SELECT ftm_ensure_quarter_partitions(%s)", (quarter,))


def stored_quarters(conn: psycopg.Connection) -> list[str]:
    """Quarters that have partitions, oldest first."""
    rows = conn.execute(
        "SELECT DISTINCT substring(pg_get_expr(c.relpartbound, c.oid) FROM '''([0-9]{4}Q[1-4])''')"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'sentences'::regclass AND c.relkind = 'r' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows if r[0]]


def build_quarter_indexes(conn: psycopg.Connection, quarter: str, hnsw: HnswSettings = DEFAULT_HNSW,
                          tables: tuple[str, ...] = VECTOR_TABLES) -> list[str]:
    """Build the HNSW (cosine) index of the quarter's partition of each vector table where missing;
    returns the names built now. Other quarters' indexes are never touched."""
    vtype = stored_vector_type(conn) or "vector"
    built = []
    conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(hnsw.maintenance_work_mem)))
    try:
        for table in tables:
            part, name = partition_name(table, quarter), index_name(table, quarter)
            if not _exists(conn, part) or _exists(conn, name):
                continue
            conn.execute(sql.SQL(
                "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding {}) WITH (m = {}, ef_construction = {})"
            ).format(sql.Identifier(name), sql.Identifier(part), sql.SQL(OPCLASS[vtype]),
                     sql.Literal(int(hnsw.m)), sql.Literal(int(hnsw.ef_construction))))
            built.append(name)
    finally:
        conn.execute("RESET maintenance_work_mem")
    return built


def build_missing_indexes(conn: psycopg.Connection, hnsw: HnswSettings = DEFAULT_HNSW) -> list[str]:
    """:func:`build_quarter_indexes` for every stored quarter, oldest first (after migrating an
    existing database, whose quarters have no per-quarter index yet); returns the names built."""
    built = []
    for quarter in stored_quarters(conn):
        built += build_quarter_indexes(conn, quarter, hnsw)
    return built


def quarter_indexes(conn: psycopg.Connection) -> list[str]:
    """Names of the HNSW indexes present, sorted."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_am am ON am.oid = c.relam WHERE am.amname = 'hnsw' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True)
class DroppedQuarter:
    quarter: str
    partitions_dropped: tuple[str, ...]
    rows_deleted: dict[str, int]


def quarter_tables(conn: psycopg.Connection) -> tuple[list[str], list[str]]:
    """(partitioned tables, plain tables) of the current schema with a ``quarter`` column; partitions
    and views are not listed."""
    rows = conn.execute(
        "SELECT c.table_name, k.relkind FROM information_schema.columns c"
        " JOIN pg_class k ON k.relname = c.table_name AND k.relnamespace = c.table_schema::regnamespace"
        " WHERE c.table_schema = current_schema() AND c.column_name = 'quarter'"
        " AND k.relkind IN ('r', 'p') AND NOT k.relispartition ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows if r[1] == "p"], [r[0] for r in rows if r[1] == "r"]


def _references(conn: psycopg.Connection) -> dict[str, set[str]]:
    """table -> tables it references by foreign key (parents only)."""
    out: dict[str, set[str]] = {}
    for child, parent in conn.execute(
        "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
        " WHERE contype = 'f' AND conparentid = 0"
    ):
        out.setdefault(child, set()).add(parent)
    return out


def _referencing_first(tables: list[str], refs: dict[str, set[str]]) -> list[str]:
    """``tables`` ordered so that a table comes before every table it references."""
    left, ordered = list(tables), []
    while left:
        free = [t for t in left if not any(t in refs.get(o, set()) for o in left if o != t)]
        if not free:  # a cycle: keep the given order for the rest
            free = left[:1]
        ordered.extend(free)
        left = [t for t in left if t not in free]
    return ordered


def drop_quarter(conn: psycopg.Connection, quarter: str) -> DroppedQuarter:
    """Remove ``quarter`` from every table with a ``quarter`` column in ONE transaction: drop its
    partitions, delete its rows elsewhere. Idempotent (a quarter with nothing stored drops nothing)."""
    parse_quarter(quarter)
    dropped: list[str] = []
    deleted: dict[str, int] = {}
    with conn.transaction():
        partitioned, plain = quarter_tables(conn)
        refs = _references(conn)
        targets = set(partitioned)
        # plain tables pointing into a partitioned one lose their rows before the partitions go
        first = [t for t in plain if refs.get(t, set()) & targets]
        for table in _referencing_first(first, refs):
            deleted[table] = _delete(conn, table, quarter)
        # one DROP for all of the quarter's partitions: the foreign keys between them (declared
        # partition to partition, ftm_quarter_foreign_keys) go with them, nothing else is checked
        parts = [partition_name(t, quarter) for t in partitioned if _exists(conn, partition_name(t, quarter))]
        if parts:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.SQL(", ").join(map(sql.Identifier, parts))))
            dropped.extend(parts)
        for table in _referencing_first([t for t in plain if t not in first], refs):
            deleted[table] = _delete(conn, table, quarter)
        # the next quarter's themes pointed at the dropped ones: they start new chains now
        relink_quarter(conn, quarter)
    return DroppedQuarter(quarter, tuple(dropped), deleted)


def _delete(conn: psycopg.Connection, table: str, quarter: str) -> int:
    cur = conn.execute(sql.SQL("DELETE FROM {} WHERE quarter = %s").format(sql.Identifier(table)), (quarter,))
    return cur.rowcount


def quarter_row_counts(conn: psycopg.Connection, quarter: str) -> dict[str, int]:
    """Rows of ``quarter`` in every table with a ``quarter`` column (what :func:`drop_quarter` removes)."""
    parse_quarter(quarter)
    partitioned, plain = quarter_tables(conn)
    return {table: conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE quarter = %s").format(sql.Identifier(table)),
                                (quarter,)).fetchone()[0]
            for table in sorted(partitioned + plain)}

"""Versioned schema migrations and the deferred HNSW indexes.

Migrations are the numbered ``migrations/NNNN_name.sql`` files, applied in order, each in its own
transaction, under an advisory lock (two processes starting at once cannot both apply one). The
applied versions are recorded in ``ftm_schema_migrations``, so an existing database is upgraded in
place and never rebuilt. ``{embedding_dim}`` in a migration is filled with the model's vector width
when the schema is first created; the width is then kept in ``ftm_meta`` and a model of another
width is refused with a clear error instead of corrupting the tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg

MIGRATION_LOCK_ID = 7_311_2024
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

VECTOR_TABLES = ("sentences", "topics", "themes")


class SchemaMismatchError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    folder = resources.files("ftm_assets.warehouse") / "migrations"
    found = []
    for entry in folder.iterdir():
        m = _MIGRATION_NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def applied_versions(conn: psycopg.Connection) -> set[int]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS ftm_schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    return {row[0] for row in conn.execute("SELECT version FROM ftm_schema_migrations")}


def stored_embedding_dim(conn: psycopg.Connection) -> int | None:
    exists = conn.execute("SELECT to_regclass('ftm_meta') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    row = conn.execute("SELECT value FROM ftm_meta WHERE key = 'embedding_dim'").fetchone()
    return int(row[0]) if row else None


def migrate(url: str, embedding_dim: int, model_name: str = "") -> list[str]:
    """Bring the schema at ``url`` up to date; returns the names of the migrations applied now."""
    if not isinstance(embedding_dim, int) or not 0 < embedding_dim <= 16000:
        raise ValueError(f"embedding_dim must be a positive integer, got {embedding_dim!r}")
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        try:
            done = applied_versions(conn)
            current = stored_embedding_dim(conn)
            if current is not None and current != embedding_dim:
                raise SchemaMismatchError(
                    f"the database stores {current}-dimensional embeddings but the configured model "
                    f"{model_name or '(unnamed)'} produces {embedding_dim}: use the same model, or a new "
                    "database (FTM_DATABASE_URL / FTM_HOME)"
                )
            for mig in available_migrations():
                if mig.version in done:
                    continue
                with conn.transaction():
                    conn.execute(mig.sql.replace("{embedding_dim}", str(embedding_dim)))
                    conn.execute(
                        "INSERT INTO ftm_schema_migrations (version, name) VALUES (%s, %s)",
                        (mig.version, mig.name),
                    )
                    if mig.version == 1:
                        conn.execute(
                            "INSERT INTO ftm_meta (key, value) VALUES ('embedding_dim', %s), "
                            "('embedding_model', %s)",
                            (str(embedding_dim), model_name),
                        )
                applied_now.append(mig.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    return applied_now


@dataclass(frozen=True)
class HnswSettings:
    """HNSW parameters: ``m`` and ``ef_construction`` at build time; ``ef_search`` is what searches
    use by default (200: recall@10 0.985 at 1M vectors, see docs/search.md)."""

    m: int = 16
    ef_construction: int = 64
    ef_search: int = 200
    maintenance_work_mem: str = "1GB"


def _index_name(table: str) -> str:
    return f"{table}_embedding_hnsw"


def drop_vector_indexes(conn: psycopg.Connection) -> None:
    """Drop the HNSW indexes before a bulk load (they are rebuilt once afterwards)."""
    for table in VECTOR_TABLES:
        conn.execute(f"DROP INDEX IF EXISTS {_index_name(table)}")


def build_vector_indexes(conn: psycopg.Connection, hnsw: HnswSettings = HnswSettings()) -> list[str]:
    """Create any missing HNSW (cosine) index; returns the names built now. Needs autocommit
    off or on; ``maintenance_work_mem`` is raised for the build only."""
    if not re.fullmatch(r"\d+(kB|MB|GB)", hnsw.maintenance_work_mem):
        raise ValueError(f"maintenance_work_mem must look like 512MB or 2GB, got {hnsw.maintenance_work_mem!r}")
    built = []
    conn.execute(f"SET maintenance_work_mem = '{hnsw.maintenance_work_mem}'")
    for table in VECTOR_TABLES:
        name = _index_name(table)
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]
        if exists:
            continue
        conn.execute(
            f"CREATE INDEX {name} ON {table} USING hnsw (embedding vector_cosine_ops) "
            f"WITH (m = {int(hnsw.m)}, ef_construction = {int(hnsw.ef_construction)})"
        )
        built.append(name)
    conn.execute("RESET maintenance_work_mem")
    return built

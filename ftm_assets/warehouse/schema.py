"""Versioned schema migrations, the vector type and the per-quarter HNSW indexes.

Migrations are the numbered ``migrations/NNNN_name.sql`` files, applied in order, each in its own
transaction, under an advisory lock (two processes starting at once cannot both apply one). The
applied versions are recorded in ``ftm_schema_migrations``, so an existing database is upgraded in
place and never rebuilt. ``{embedding_dim}`` in a migration is filled with the model's vector width
when the schema is first created; the width is then kept in ``ftm_meta`` and a model of another
width is refused with a clear error instead of corrupting the tables.

``{vector_type}`` is the column type of the embeddings, ``vector`` (float32) or ``halfvec``
(float16, half the bytes; docs/search.md has the measurement behind the default). It comes from
``FTM_VECTOR_TYPE`` when the database is created and is then kept in ``ftm_meta`` like the width;
a database created before migration 0003 keeps ``vector``. Setting ``FTM_VECTOR_TYPE`` to another
type than the database's is refused with a clear error.

From migration 0003 on, ``sentences``, ``topics``, ``themes`` and ``topic_themes`` are partitioned by
quarter (:mod:`ftm_assets.warehouse.quarters`), each quarter partition with its own HNSW index.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

MIGRATION_LOCK_ID = 7_311_2024
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

VECTOR_TABLES = ("sentences", "topics", "themes")
VECTOR_TYPES = ("vector", "halfvec")
#: the type of a new database when FTM_VECTOR_TYPE is unset (docs/search.md, "Half-size vectors")
DEFAULT_VECTOR_TYPE = "halfvec"
VECTOR_TYPE_ENV = "FTM_VECTOR_TYPE"


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


def requested_vector_type() -> str | None:
    """``FTM_VECTOR_TYPE`` when set (``vector`` or ``halfvec``), else None."""
    value = os.environ.get(VECTOR_TYPE_ENV, "").strip().lower()
    if not value:
        return None
    if value not in VECTOR_TYPES:
        raise ValueError(f"{VECTOR_TYPE_ENV}={value!r}: must be one of {', '.join(VECTOR_TYPES)}")
    return value


def stored_vector_type(conn: psycopg.Connection) -> str | None:
    """The database's vector type: ``ftm_meta.vector_type``; ``vector`` for a database created
    before it was recorded; None before the schema exists."""
    exists = conn.execute("SELECT to_regclass('ftm_meta') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    row = conn.execute("SELECT value FROM ftm_meta WHERE key = 'vector_type'").fetchone()
    return row[0] if row else "vector"


def migrate(url: str, embedding_dim: int, model_name: str = "", vector_type: str | None = None,
            *, up_to: int | None = None) -> list[str]:
    """Bring the schema at ``url`` up to date; returns the names of the migrations applied now.

    ``vector_type`` (default: ``FTM_VECTOR_TYPE``, else the database's, else
    :data:`DEFAULT_VECTOR_TYPE`) must match the database's once it is recorded. ``up_to`` stops
    after that migration version (tests build an older schema with it)."""
    if not isinstance(embedding_dim, int) or not 0 < embedding_dim <= 16000:
        raise ValueError(f"embedding_dim must be a positive integer, got {embedding_dim!r}")
    requested = vector_type if vector_type is not None else requested_vector_type()
    if requested is not None and requested not in VECTOR_TYPES:
        raise ValueError(f"vector type must be one of {', '.join(VECTOR_TYPES)}, got {requested!r}")
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
            stored_type = stored_vector_type(conn)
            if stored_type is not None and requested is not None and stored_type != requested:
                raise SchemaMismatchError(
                    f"the database stores embeddings as {stored_type} but {VECTOR_TYPE_ENV} asks for "
                    f"{requested}: the type is fixed when a database is created; unset {VECTOR_TYPE_ENV}, "
                    "set it to the database's type, or use a new database (FTM_DATABASE_URL / FTM_HOME)"
                )
            vtype = stored_type or requested or DEFAULT_VECTOR_TYPE
            for mig in available_migrations():
                if mig.version in done or (up_to is not None and mig.version > up_to):
                    continue
                with conn.transaction():
                    conn.execute(mig.sql.replace("{embedding_dim}", str(embedding_dim))
                                 .replace("{vector_type}", vtype))
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
                    if mig.version == 3:
                        conn.execute("INSERT INTO ftm_meta (key, value) VALUES ('vector_type', %s)"
                                     " ON CONFLICT (key) DO NOTHING", (vtype,))
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

    def __post_init__(self) -> None:
        if not re.fullmatch(r"\d+(kB|MB|GB)", self.maintenance_work_mem):
            raise ValueError(f"maintenance_work_mem must look like 512MB or 2GB, got {self.maintenance_work_mem!r}")

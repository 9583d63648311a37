"""Shared fixtures: a real embedded PostgreSQL + pgvector server, a fresh database per test, the
real embedding model, and an isolated FTM_HOME.

Tiers: each expensive thing has ONE session fixture here (``pg_admin_url``: the Postgres server;
``sentence_transformer``: the bundled model). Every test that uses one of them, directly or through
another fixture (``database_url``, ``ftm_env``, ``pg_instance``, ``encoder``...), is marked ``slow``
at collection (:func:`pytest_collection_modifyitems`), so ``pytest -m "not slow"`` (``make
test-fast``) is the edit-test loop and ``make test`` the full suite CI runs. A test that starts the
server or loads the model another way (a subprocess) carries ``@pytest.mark.slow`` itself.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Topic modelling in the run's own process unless a test asks for worker processes: each worker
# pays ~17 s of imports and numba compilation on a 2-core machine, per run. The worker pool itself
# is tested with real processes in ftm_assets_tests/stages/ and ftm_assets_tests/defs/test_workers.py.
os.environ.setdefault("FTM_FIRM_WORKERS", "0")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "earnings21"
EARNINGS21 = SHARED_DATA / "corpus.parquet"


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory) -> str:
    """The embedded server (PostgreSQL 18 + pgvector) for the whole test session."""
    from ftm_assets.warehouse.database import embedded_server_url

    pgdata = tmp_path_factory.mktemp("pg") / "pgdata"
    return embedded_server_url(pgdata, "postgres")


@pytest.fixture
def database_url(pg_admin_url: str) -> str:
    """A new empty database on the embedded server."""
    from ftm_assets.warehouse.database import ensure_database

    name = f"t_{uuid.uuid4().hex[:12]}"
    ensure_database(pg_admin_url, name)
    return pg_admin_url.replace("/postgres?", f"/{name}?")


@pytest.fixture(scope="session")
def sentence_transformer():
    """The bundled SentenceTransformer (all-MiniLM-L6-v2) on the CPU, loaded once per session."""
    from ftm_assets.modeling.embedding import load_sentence_transformer

    return load_sentence_transformer(None, "cpu")


@pytest.fixture(scope="session")
def encoder(sentence_transformer):
    """:class:`SentenceEncoder` over the session's model (what ``SentenceEncoder.load`` builds)."""
    from ftm_assets.modeling.embedding import BUNDLED_MODEL_ID, SentenceEncoder

    return SentenceEncoder(sentence_transformer, BUNDLED_MODEL_ID, batch_size=32)


#: Session fixtures that start something expensive; a test using any of them is ``slow``.
EXPENSIVE_FIXTURES = frozenset({"pg_admin_url", "sentence_transformer"})


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if EXPENSIVE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def ftm_env(tmp_path, database_url, monkeypatch) -> dict:
    """FTM settings pointing at a fresh database and a private FTM_HOME, with no LLM key."""
    monkeypatch.setenv("FTM_HOME", str(tmp_path / "ftm_home"))
    monkeypatch.setenv("FTM_DATABASE_URL", database_url)
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    monkeypatch.delenv("FTM_TRANSCRIPTS_URI", raising=False)
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    return {"home": tmp_path / "ftm_home", "database_url": database_url}


@pytest.fixture
def pg_instance(pg_admin_url):
    """A Dagster instance whose run/event/schedule storage is the embedded Postgres."""
    import dagster as dg

    from ftm_assets.warehouse.database import ensure_database, sqlalchemy_url

    name = f"dagster_{uuid.uuid4().hex[:10]}"
    ensure_database(pg_admin_url, name)
    url = sqlalchemy_url(pg_admin_url.replace("/postgres?", f"/{name}?"))
    with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}}}) as instance:
        yield instance


@pytest.fixture(autouse=True)
def _forget_closed_dagster_state_storage():
    """Each DagsterInstance publishes its defs-state storage in a context variable; an instance
    closed out of creation order can leave it pointing at a dead instance, and building Definitions
    in a later test then fails ("undefined DagsterInstance weakref"). Clear it after every test."""
    yield
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)

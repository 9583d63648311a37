"""The local Dagster instance used by ``ftm demo`` and ``ftm dev``.

``$DAGSTER_HOME`` (default ``$FTM_HOME/dagster``) gets the repository's ``dagster.yaml``;
``DAGSTER_PG_URL`` points at the ``dagster`` database of the embedded server (or, with
``FTM_DATABASE_URL`` set and no ``DAGSTER_PG_URL``, at that same database), so the runs made by
``ftm demo`` are the ones the UI of ``ftm dev`` shows. ``DAGSTER_EVENT_BATCH_SIZE`` (unless set)
turns on Dagster's batched event writes, which the firm op uses for its per-firm reports, and the
``gpu`` pool gets its limit stored before any run is queued.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ftm_assets.config import FtmSettings
from ftm_assets.warehouse.database import DAGSTER_DB_NAME, embedded_server_url, sqlalchemy_url

if TYPE_CHECKING:
    from dagster import DagsterInstance

REPO_DAGSTER_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"
#: Default ``DAGSTER_EVENT_BATCH_SIZE``: Dagster then writes the firm op's per-firm reports in
#: batches (``ftm_assets.defs.firm_assets.FirmReports``, docs/operations.md "Bookkeeping cost").
#: Any value >= the op's batch (100 firms) gives one write per batch; 0 turns batching off.
DAGSTER_EVENT_BATCH_SIZE = 1000


#: Session option of Dagster's own connections: commits return before the WAL is flushed to disk.
#: Only Dagster's bookkeeping uses it (the warehouse keeps synchronous commits); a crash of the
#: PostgreSQL server can lose its last fraction of a second of Dagster events, never corrupt them.
ASYNC_COMMIT_OPTION = "options=-c%20synchronous_commit%3Doff"


def dagster_pg_url(url: str) -> str:
    """The Dagster storage URL for a libpq ``url``: the psycopg2 driver (docs/design.md §7) and, unless
    the URL already sets ``options``, asynchronous commits for Dagster's sessions (about half the
    cost of each event write here, docs/operations.md "Bookkeeping cost")."""
    url = sqlalchemy_url(url)
    if "options=" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}{ASYNC_COMMIT_OPTION}"


#: The pool of the firm op and the retry op (one GPU run at a time, dagster.yaml ``concurrency``).
GPU_POOL = "gpu"
GPU_POOL_LIMIT = 1


def ensure_gpu_pool(instance: DagsterInstance, limit: int = GPU_POOL_LIMIT) -> bool:
    """Store the ``gpu`` pool's limit unless it is already set; True when it was set now.

    ``concurrency.pools.default_limit`` alone is not enough: the queued-run coordinator applies the
    default to a pool only while deciding, after it has read the configured pools, so in the first
    pass that meets pool ``gpu`` every queued GPU run is launched (docs/operations.md, "One GPU run
    at a time"). Same as ``dagster instance concurrency set gpu 1``; a limit set by hand is kept."""
    storage = instance.event_log_storage
    if GPU_POOL in storage.get_concurrency_keys():
        return False
    storage.set_concurrency_slots(GPU_POOL, limit)
    return True


def prepare_instance(settings: FtmSettings) -> Path:
    """Write ``dagster.yaml`` into DAGSTER_HOME and export the variables it reads; returns the home."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    if not REPO_DAGSTER_YAML.exists():
        raise FileNotFoundError(
            f"{REPO_DAGSTER_YAML} not found: install the project from its checkout (pip install -e .)"
        )
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != REPO_DAGSTER_YAML.read_bytes():
        shutil.copyfile(REPO_DAGSTER_YAML, target)
    if not os.environ.get("DAGSTER_PG_URL"):
        url = settings.database_url or embedded_server_url(settings.pgdata, DAGSTER_DB_NAME)
        os.environ["DAGSTER_PG_URL"] = dagster_pg_url(url)
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(DAGSTER_EVENT_BATCH_SIZE))
    os.environ["DAGSTER_HOME"] = str(home)
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        ensure_gpu_pool(instance)
    return home

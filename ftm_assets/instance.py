"""The local Dagster instance used by ``ftm demo`` and ``ftm dev``.

``$DAGSTER_HOME`` (default ``$FTM_HOME/dagster``) gets the repository's ``dagster.yaml``;
``DAGSTER_PG_URL`` points at the ``dagster`` database of the embedded server (or, with
``FTM_DATABASE_URL`` set and no ``DAGSTER_PG_URL``, at that same database), so the runs made by
``ftm demo`` are the ones the UI of ``ftm dev`` shows.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ftm_assets.config import FtmSettings
from ftm_assets.warehouse.database import DAGSTER_DB_NAME, embedded_server_url, sqlalchemy_url

REPO_DAGSTER_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"


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
        os.environ["DAGSTER_PG_URL"] = sqlalchemy_url(url)
    os.environ["DAGSTER_HOME"] = str(home)
    return home

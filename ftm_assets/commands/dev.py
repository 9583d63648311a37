"""``ftm dev``: the Dagster webserver + daemon on the local instance and the embedded Postgres.

Starts (or reuses) the embedded server, points the instance storage (``DAGSTER_PG_URL``) and the
pipeline (``FTM_DATABASE_URL``) at it, then runs ``dagster dev`` with this project's
``workspace.yaml``. The server stays up while this command runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dev", help="run the Dagster UI + daemon against the local instance")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--print-env", action="store_true", help="only print the environment the UI would get")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftm_assets.config import load_settings
    from ftm_assets.instance import prepare_instance
    from ftm_assets.warehouse.database import mask_url, resolve_database_url

    settings = load_settings()
    url = resolve_database_url(settings.database_url, settings.pgdata)
    os.environ["FTM_DATABASE_URL"] = url
    home = prepare_instance(settings)
    if args.print_env:
        print(f"DAGSTER_HOME={home}")
        print(f"FTM_DATABASE_URL={mask_url(url)}")
        return 0
    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
    cmd = [sys.executable, "-m", "dagster", "dev", "-h", args.host, "-p", str(args.port)]
    cmd += ["-w", str(workspace)] if workspace.exists() else ["-m", "ftm_assets.definitions"]
    print(f"Dagster UI on http://{args.host}:{args.port}  (DAGSTER_HOME={home}, database {mask_url(url)})")
    # SIGTERM behaves like Ctrl-C, so the exit handlers that stop the embedded server run
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    return subprocess.call(cmd)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt

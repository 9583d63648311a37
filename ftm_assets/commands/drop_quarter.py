"""``ftm drop-quarter 2020Q2 [--yes]``: remove a quarter from the warehouse and from Dagster's status.

Drops the quarter's partitions (``sentences_2020q2``, ``topics_2020q2`` ... with their HNSW
indexes: no row-by-row delete) and deletes its rows from every other table with a ``quarter``
column, in one transaction (:func:`ftm_assets.warehouse.quarters.drop_quarter`); then wipes the
quarter's partitions of every quarter-partitioned asset in the Dagster instance, so the UI shows
them missing instead of materialized (:mod:`ftm_assets.defs.quarter_wipe`). Asks for confirmation
unless ``--yes``; other quarters, their indexes and their status are untouched. Running it again
for the same quarter drops nothing.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("drop-quarter", help="remove a quarter's rows, partitions and Dagster partition status")
    p.add_argument("quarter", help="quarter to drop, e.g. 2020Q2")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _confirm(quarter: str, counts: dict[str, int]) -> bool:
    summary = ", ".join(f"{n} {table}" for table, n in counts.items() if n)
    print(f"drop quarter {quarter}: {summary or 'no rows stored'}; its Dagster partition status is wiped too.",
          file=sys.stderr)
    if not sys.stdin.isatty():
        print("not a terminal: pass --yes to drop without asking", file=sys.stderr)
        return False
    return input(f"type the quarter ({quarter}) to confirm: ").strip() == quarter


def run(args: argparse.Namespace) -> int:
    from ftm_assets.config import load_settings
    from ftm_assets.modeling.types import parse_quarter
    from ftm_assets.search import runtime
    from ftm_assets.warehouse.database import connect
    from ftm_assets.warehouse.quarters import drop_quarter, quarter_row_counts
    from ftm_assets.warehouse.schema import stored_embedding_dim

    quarter = args.quarter.strip()
    parse_quarter(quarter)
    settings = load_settings()
    url = runtime.database_url(settings)
    with connect(url, autocommit=True, vector=False) as conn:
        dim = stored_embedding_dim(conn)
    if dim is None:
        raise ValueError("the database has no FTM schema yet: nothing to drop")
    runtime.prepare_database(url, dim)  # a database from before migration 0003 is partitioned first
    with connect(url, autocommit=True) as conn:
        counts = quarter_row_counts(conn, quarter)
        if not args.yes and not _confirm(quarter, counts):
            print("nothing dropped", file=sys.stderr)
            return 1
        dropped = drop_quarter(conn, quarter)
    wiped = _wipe_dagster_status(settings, quarter)
    result = {"quarter": quarter, "rows_before": counts, "partitions_dropped": list(dropped.partitions_dropped),
              "rows_deleted": dropped.rows_deleted, "dagster_partitions_wiped": wiped}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{quarter}: dropped {len(dropped.partitions_dropped)} partition(s) "
              f"({', '.join(dropped.partitions_dropped) or 'none'}), deleted rows "
              f"{', '.join(f'{t} {n}' for t, n in dropped.rows_deleted.items()) or 'none'}; "
              f"Dagster status wiped for {sum(wiped.values())} partition(s) of {len(wiped)} asset(s)")
    return 0


def _wipe_dagster_status(settings, quarter: str) -> dict[str, int]:
    import dagster as dg

    from ftm_assets.definitions import defs
    from ftm_assets.defs.quarter_wipe import wipe_quarter
    from ftm_assets.instance import prepare_instance

    prepare_instance(settings)
    with dg.DagsterInstance.get() as instance:
        return wipe_quarter(instance, defs, quarter)

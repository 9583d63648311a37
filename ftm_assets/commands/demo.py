"""``ftm demo``: one quarter end to end through Dagster on the embedded default.

With no argument it writes the project's own demo calls (planted topics) under
``$FTM_HOME/demo`` and runs their quarter; ``--transcripts PATH --quarter Q`` runs that data. It
registers the quarter's firms as dynamic partitions, launches ONE ranged run of the firm-level
assets (one model load), then the quarter's ``themes``, on the persistent instance that ``ftm dev``
shows in the UI. The terminal shows one live progress line of the firm run (firms done / skipped /
failed, rate, ETA) and the summary; Dagster's event log stays in the runs, and ``ftm -v demo``
prints it as well.
"""

from __future__ import annotations

import argparse
import json
import sys

DEMO_QUARTER = "2024Q1"
DEMO_FIRMS = 12


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="materialize one quarter end to end (embedded Postgres by default)")
    p.add_argument("--transcripts", help="Parquet/CSV file, folder, or s3://bucket/prefix (default: demo calls)")
    p.add_argument("--quarter", help="quarter to run, e.g. 2020Q2 (default: the demo quarter, or the only one)")
    p.add_argument("--firms", type=int, default=DEMO_FIRMS, help="number of generated demo firms")
    p.add_argument("--recompute", action="store_true", help="recompute firms whose rows are already current")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftm_assets.defs.launch import run_quarter

    verbose = bool(getattr(args, "verbose", False))
    report = run_quarter(
        transcripts=args.transcripts,
        quarter=args.quarter,
        demo_firms=args.firms,
        recompute=args.recompute,
        progress=sys.stderr,
        event_log_level="DEBUG" if verbose else "WARNING",
    )
    if args.json:
        print(json.dumps(report, indent=None, default=str))
    else:
        print(f"quarter {report['quarter']}: {report['firms']} firms ({len(report['failed_firms'])} failed), "
              f"{report['sentences']} sentences, {report['topics']} topics, {report['themes']} themes")
        for name, seconds in report["timings_s"].items():
            print(f"  {name:<22} {seconds:8.2f} s")
        if report["failed_firms"]:
            print("failed firms:", file=sys.stderr)
            for firm, reason in report["failure_reasons"].items():
                print(f"  {firm}: {reason}", file=sys.stderr)
        print(f"database: {report['database_url']}")
        print("open the UI on the same instance with: ftm dev")
    return 0 if not report["failed_firms"] else 1



"""``ftm export``: a quarter's themes, topics, sentence assignments and exposure panel as files.

``ftm export --quarter 2020Q2 --format parquet --out PATH`` (or ``--all-quarters``) writes one file
per table and quarter under PATH, a folder or ``s3://bucket/prefix`` (credentials and endpoint as
for the transcript readers: the standard AWS variables, e.g. ``AWS_PROFILE``,
``AWS_ENDPOINT_URL``). Re-exporting overwrites the same files. Layout and columns:
docs/export.md; the work is :mod:`ftm_assets.warehouse.export`.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a quarter's themes, topics, assignments and exposures to files")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--quarter", help="quarter to export, e.g. 2020Q2")
    which.add_argument("--all-quarters", action="store_true", help="every quarter with stored firms")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="file format (default parquet)")
    p.add_argument("--out", required=True, help="a folder, or s3://bucket/prefix")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftm_assets.search import runtime
    from ftm_assets.warehouse.database import connect
    from ftm_assets.warehouse.export import export_quarters, stored_quarters

    url = runtime.database_url()
    runtime.prepare_database(url)

    def progress(q) -> None:
        if not args.json:
            print(f"{q.quarter}: " + ", ".join(f"{name} {n}" for name, n in q.rows.items()))
        for warning in q.warnings:
            print(f"warning: {warning}", file=sys.stderr)

    with connect(url, autocommit=True) as conn:
        quarters = stored_quarters(conn) if args.all_quarters else [args.quarter]
        report = export_quarters(conn, quarters, args.out, args.format, progress=progress)
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(f"wrote {sum(len(q.files) for q in report.quarters)} files under {report.out}")
    return 0

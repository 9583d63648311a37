"""``ftm bench``: throughput, memory and ratios against baselines, as one JSON object.

``--quick`` runs small sizes (meant for under five minutes on an idle 2-core machine); the
default is the full run (tens of minutes). Everything runs in a temporary FTM_HOME with its own
embedded PostgreSQL, deleted afterwards. See ``ftm_assets.bench.run`` and docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SECTIONS = ("embedding", "firm_stage", "bulk_load", "themes", "memory", "search", "scale", "llm", "history")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark: embedding, firm stage vs naive, COPY, themes, memory")
    p.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    p.add_argument("--json", action="store_true", help="print only the JSON object (progress goes to stderr)")
    p.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="real calls (default: ../shared/data/earnings21/corpus.parquet next to the repository)",
    )
    p.add_argument("--only", default=None, help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    p.add_argument("--scale-firms", type=int, default=None,
                   help="firms in the scale section (default 8 quick, 48 full; >= 1000 on a GPU box)")
    p.add_argument("--scale-workers", type=int, default=None,
                   help="topic workers of the scale section's all-workers run (default: all cores but one, >= 2)")
    p.add_argument("--history-quarters", type=int, default=None,
                   help="quarters of the history section (default 8; 3 with --quick)")
    p.add_argument("--history-vectors", type=int, default=None,
                   help="vectors per quarter of the history section (default 100000, the issue's size is 250000;"
                        " 2000 with --quick)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON object to this file")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables instead of JSON")
    p.add_argument("--from-json", type=Path, default=None, help="render an earlier --out file, run nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftm_assets.bench.run import run_bench

    only = None
    if args.only:
        only = {s.strip() for s in args.only.split(",") if s.strip()}
        unknown = only - set(SECTIONS)
        if unknown:
            raise ValueError(f"--only: unknown section(s) {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    if args.from_json is not None:
        report = json.loads(args.from_json.read_text())
    else:
        report = run_bench(
            args.quick,
            corpus=args.corpus,
            only=only,
            scale_firms=args.scale_firms,
            scale_workers=args.scale_workers,
            history_quarters=args.history_quarters,
            history_vectors=args.history_vectors,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
    text = json.dumps(report, default=str)
    if args.out is not None and args.from_json is None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.markdown:
        from ftm_assets.bench.report import markdown_report

        print(markdown_report(report))
    elif args.json:
        print(text)
    else:
        print(json.dumps(report, indent=2, default=str))
    return 0

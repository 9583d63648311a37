"""``ftm eval PATH``: topic quality of a transcript file (embed + firm topics, no database).

Prints per-quarter coherence (NPMI), diversity, outlier share and boilerplate share, plus the
adjusted Rand index against ``planted_topic`` when the file has that column (the demo calls).
Topic settings can be overridden with ``--set name=value`` (fields of ``FirmTopicSettings``).
``--themes`` adds each quarter's offline themes (extractive names, largest theme's share of the
topics, planted purity on the demo calls); ``--compare SUITE`` instead runs a configuration
comparison of ``quality/compare.py`` on the file plus 12 demo calls and prints its table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="topic quality of a transcript file (no database)")
    p.add_argument("path", help="Parquet/CSV file or folder of transcripts")
    p.add_argument("--quarter", help="only this quarter, e.g. 2020Q2 (default: every quarter)")
    p.add_argument("--max-firms", type=int, default=None, help="at most this many firms per quarter")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a FirmTopicSettings field, e.g. --set min_cluster_size=10",
    )
    p.add_argument("--cache-dir", type=Path, default=None, help="cache embeddings here (one .npy per call)")
    p.add_argument("--device", default="auto", help="embedding device (auto, cpu, cuda)")
    p.add_argument("--firms", action="store_true", help="also print one line per firm (text mode)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--themes", action="store_true", help="also build each quarter's offline themes and print their names"
    )
    p.add_argument(
        "--compare",
        metavar="SUITE",
        default=None,
        help="compare the configurations of SUITE (representation, clustering) instead; prints a table",
    )
    p.set_defaults(func=run)


def parse_overrides(pairs: list[str]):
    """``["min_cluster_size=10", "outlier_policy=keep"]`` -> ``FirmTopicSettings`` (value types from
    the defaults)."""
    from ftm_assets.modeling.settings import FirmTopicSettings

    fields = {f.name: f for f in dataclasses.fields(FirmTopicSettings)}
    defaults = FirmTopicSettings()
    values: dict = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or name not in fields:
            raise ValueError(f"--set {pair!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}")
        current = getattr(defaults, name)
        if raw.strip().lower() == "none":
            values[name] = None
        elif isinstance(current, bool):
            values[name] = raw.strip().lower() in ("1", "true", "yes")
        elif isinstance(current, int) or (current is None and name == "min_samples"):
            values[name] = int(raw)
        elif isinstance(current, float):
            values[name] = float(raw)
        else:
            values[name] = raw.strip()
    return FirmTopicSettings(**values)


def run(args: argparse.Namespace) -> int:
    from ftm_assets.config import load_settings
    from ftm_assets.modeling.embedding import SentenceEncoder
    from ftm_assets.quality.evaluate import evaluate_transcripts

    if not Path(args.path).exists():
        raise FileNotFoundError(f"transcripts not found: {args.path}")
    settings = parse_overrides(args.overrides)
    env = load_settings()
    encoder = SentenceEncoder.load(env.embedding_model, args.device, env.embed_batch_size)
    progress = None if args.json else (lambda line: print(line, file=sys.stderr))
    if args.compare:
        return _compare(args, encoder)
    report = evaluate_transcripts(
        args.path,
        encoder,
        settings,
        quarter=args.quarter,
        max_firms=args.max_firms,
        cache_dir=args.cache_dir,
        progress=progress,
    )
    if args.themes:
        from ftm_assets.quality.theme_quality import evaluate_themes

        report["themes"] = evaluate_themes(
            args.path, encoder, settings, quarter=args.quarter, cache_dir=args.cache_dir
        )["quarters"]
    if args.json:
        print(json.dumps(report, default=str))
        return 0
    print(
        f"{report['transcripts']}: {report['overall']['firms']} firms, {report['overall']['topics']} topics"
    )
    header = (
        f"{'quarter':<8} {'firms':>5} {'topics':>6} {'coherence':>9} {'diversity':>9} {'outliers':>8} "
        f"{'boilerpl.':>9} {'ARI':>6}"
    )
    print(header)
    for quarter, q in {**report["quarters"], "all": report["overall"]}.items():
        print(
            f"{quarter:<8} {q['firms']:>5} {q['topics']:>6} {_fmt(q['coherence']):>9} "
            f"{_fmt(q['diversity']):>9} {_fmt(q['outlier_share']):>8} "
            f"{_fmt(q['boilerplate_share']):>9} {_fmt(q.get('ari_mean')):>6}"
        )
    if args.firms:
        for f in report["firms"]:
            print(
                f"  {f['firm_id']:<12} {f['quarter']} topics {f['n_topics']:>3} "
                f"coherence {_fmt(f['coherence'])} diversity {_fmt(f['diversity'])} "
                f"outliers {_fmt(f['outlier_share'])}"
                + (f" ARI {_fmt(f['ari'])}" if "ari" in f else "")
            )
    if args.themes:
        _print_themes(report["themes"])
    for message in report["unreadable_firms"]:
        print(f"unreadable: {message}", file=sys.stderr)
    return 0


def _print_themes(themes: dict) -> None:
    for quarter, q in themes.items():
        share = "-" if q["largest_theme_share"] is None else f"{q['largest_theme_share']:.2f}"
        print(f"themes {quarter}: {q['themes']} themes over {q['topics']} topics, largest share {share}")
        for theme in q["names"]:
            planted = f"  [planted {theme['planted']} {theme['purity']:.2f}]" if "planted" in theme else ""
            print(f"  {theme['topics']:>3} topics {theme['firms']:>3} firms  {theme['name']}{planted}")


def _compare(args: argparse.Namespace, encoder) -> int:
    from ftm_assets.quality.compare import markdown_table, run_comparison, select

    rows = run_comparison(
        Path(args.path),
        select(args.compare),
        encoder,
        cache_dir=args.cache_dir,
        progress=None if args.json else (lambda line: print(line, file=sys.stderr)),
    )
    print(json.dumps(rows) if args.json else markdown_table(rows))
    return 0


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"

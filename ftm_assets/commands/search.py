"""``ftm search "QUERY"``: one ranked list over themes, topic summaries and sentences.

Embeds the query with the pipeline's model (loaded once), searches the HNSW indexes of the
database that ``FTM_DATABASE_URL`` or the embedded server under ``$FTM_HOME`` holds, and prints
each hit with its firm, quarter, theme and topic (``--json``: one object).
"""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search themes, topics and sentences in one ranked list")
    p.add_argument("query", help="what to look for, in plain words")
    p.add_argument("--quarter", help="only this quarter, e.g. 2020Q2")
    p.add_argument("--firm", help="only this firm id")
    p.add_argument("--levels", default="theme,topic,sentence", help="comma-separated subset of theme,topic,sentence")
    p.add_argument("--k", type=int, default=10, help="number of hits (default 10)")
    p.add_argument("--ef-search", type=int, default=None, help="HNSW ef_search for this query (default 200)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftm_assets.search import runtime
    from ftm_assets.search.context import format_context
    from ftm_assets.search.retrieval import parse_levels, search
    from ftm_assets.warehouse.database import connect
    from ftm_assets.warehouse.schema import SchemaMismatchError

    levels = parse_levels(args.levels)
    url = runtime.database_url()
    encoder = runtime.load_encoder()
    try:
        runtime.prepare_database(url, encoder.dim, encoder.model_id)
        with connect(url, autocommit=True) as conn:
            hits = search(conn, encoder, args.query, quarter=args.quarter, firm=args.firm, levels=levels, k=args.k,
                          ef_search=args.ef_search)
    except SchemaMismatchError as exc:
        print(f"ftm search: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"query": args.query, "quarter": args.quarter, "firm": args.firm, "levels": list(levels),
                          "k": args.k, "hits": [h.to_dict() for h in hits]}, default=str))
    else:
        print(format_context(hits, args.query))
    return 0

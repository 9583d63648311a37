"""``ftm ask "QUESTION"``: search, then answer from the hits citing sentence ids like ``[S123]``.

With an LLM key in the environment (``XAI_API_KEY`` or the variable named by
``FTM_LLM_API_KEY_ENV``) the hierarchical context goes to the configured endpoint in one chat
completion; offline it prints the context and an extractive answer (the best sentences, cited).
"""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="answer a question from the stored calls, citing sentence ids")
    p.add_argument("question")
    p.add_argument("--quarter", help="only this quarter, e.g. 2020Q2")
    p.add_argument("--firm", help="only this firm id")
    p.add_argument("--k", type=int, default=10, help="hits put in the context (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftm_assets.search import runtime
    from ftm_assets.search.answer import answer
    from ftm_assets.search.retrieval import search
    from ftm_assets.warehouse.database import connect
    from ftm_assets.warehouse.schema import SchemaMismatchError

    if not args.question.strip():
        raise ValueError("the question is empty")
    url = runtime.database_url()
    encoder = runtime.load_encoder()
    try:
        runtime.prepare_database(url, encoder.dim, encoder.model_id)
        with connect(url, autocommit=True) as conn:
            hits = search(conn, encoder, args.question, quarter=args.quarter, firm=args.firm, k=args.k)
    except SchemaMismatchError as exc:
        print(f"ftm ask: error: {exc}", file=sys.stderr)
        return 2
    result = answer(args.question, hits, runtime.llm_settings())
    if args.json:
        print(json.dumps({**result.to_dict(), "hits": [h.to_dict() for h in hits]}, default=str))
        return 0
    if result.source == "extractive":
        print(result.context)
        print()
        print(f"extractive answer ({result.fallback_reason}):")
    else:
        print(f"answer ({result.model}):")
    print(result.text)
    if result.unknown_citations:
        print("note: cited ids not in the context: " + ", ".join(f"S{i}" for i in result.unknown_citations))
    return 0

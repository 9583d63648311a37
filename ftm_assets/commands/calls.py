"""``ftm calls --quarter Q``: which firms have a call in Q, as a selection for the Dagster UI.

Prints the quarter dimension's key (the grid shows ``2020-04-01``, not ``2020Q2``) and the firm
dimension's selection of the firms with a call, to paste into Materialize or the Partitions tab
(:mod:`ftm_assets.defs.selection`; docs/operations.md, "Reading the UI").
"""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calls", help="firms with a call in a quarter, as a Dagster UI partition selection")
    p.add_argument("--quarter", required=True, help="quarter, e.g. 2020Q2")
    p.add_argument("--transcripts", help="Parquet/CSV file, folder, or s3://bucket/prefix "
                                         "(default: FTM_TRANSCRIPTS_URI, else the demo calls)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dagster as dg

    from ftm_assets.config import load_settings
    from ftm_assets.defs.resources import TranscriptSourceResource
    from ftm_assets.defs.selection import quarter_selection
    from ftm_assets.instance import prepare_instance
    from ftm_assets.modeling.types import parse_quarter

    parse_quarter(args.quarter)
    source = TranscriptSourceResource(uri=args.transcripts).source()
    prepare_instance(load_settings())
    selection = quarter_selection(dg.DagsterInstance.get(), source.list_calls(), args.quarter)
    if args.json:
        print(json.dumps(selection.as_dict()))
        return 0
    print(f"{selection.quarter}: quarter key {selection.quarter_key}, {selection.firms_with_call} firms with a call")
    print("firm selection (paste into the firm dimension):")
    print(selection.firm_selection or "(none registered yet)")
    if selection.unregistered:
        print(f"{len(selection.unregistered)} firm(s) with a call are not partitions yet; the discovery sensor "
              f"or `ftm demo` registers them: {', '.join(selection.unregistered[:10])}"
              + (" ..." if len(selection.unregistered) > 10 else ""))
    return 0

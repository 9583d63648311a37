"""``ftm``: each command is a thin shell over the package's functions (see ``ftm --help``)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

#: command modules under ftm_assets.commands, each with ``add_parser(subparsers)``
COMMANDS = ("demo", "dev", "calls", "search", "trace", "ask", "export", "bench", "eval", "drop_quarter")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftm", description="Financial topic modeling on Dagster")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"ftm_assets.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError) as exc:
        print(f"ftm {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

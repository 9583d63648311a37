"""``ftm bench --only scale``: the real firm job twice (one worker, two workers) on repeated real
calls, through the CLI as a user runs it. No timing is asserted (the machine is shared)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ftm_assets.bench.scale_bench import write_repeated_quarter
from ftm_assets_tests.conftest import EARNINGS21


def test_repeated_quarter_relabels_real_calls(tmp_path):
    firms, sentences = write_repeated_quarter(EARNINGS21, 50, tmp_path / "q.parquet", quarter="2021Q1")
    frame = pd.read_parquet(tmp_path / "q.parquet")
    corpus = pd.read_parquet(EARNINGS21)
    n_calls = corpus.groupby(["firm_id", "quarter"]).ngroups
    assert firms == 50 and sentences == len(frame)
    assert frame["firm_id"].nunique() == 50 and set(frame["quarter"]) == {"2021Q1"}
    first = sorted(corpus.groupby(["firm_id", "quarter"]).groups)[0]
    copies = [f for f in frame["firm_id"].unique() if f.startswith(f"{first[0]}-r")]
    assert len(copies) == (2 if n_calls < 50 else 1)  # cycled once the corpus ran out
    original = corpus[(corpus["firm_id"] == first[0]) & (corpus["quarter"] == first[1])]
    assert list(frame[frame["firm_id"] == f"{first[0]}-r0"].sort_values("sentence_index")["text"]) == list(
        original.sort_values("sentence_index")["text"])


@pytest.mark.slow
def test_scale_bench_prints_identical_output_for_one_and_two_workers(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("FTM_FIRM_WORKERS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "ftm_assets.cli", "bench", "--only", "scale", "--json", "--quick",
         "--scale-firms", "4", "--scale-workers", "2", "--corpus", str(EARNINGS21)],
        capture_output=True, text=True, timeout=1200, env=env, cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    scale = json.loads(proc.stdout)["scale"]
    assert scale["firms"] == 4 and scale["workers"] == 2
    assert scale["identical_output"] is True, scale.get("differing_tables")
    for key in ("firms_per_min_one_worker", "firms_per_min_all_workers", "ratio", "peak_rss_mb", "sentences"):
        assert scale[key] > 0, key
    assert scale["rows"]["firms"] == 4 and scale["rows"]["sentences"] == scale["sentences"]
    assert scale["runs"]["one_worker"]["workers"] == 1 and scale["runs"]["all_workers"]["workers"] == 2
    assert scale["runs"]["all_workers"]["llm_by_outcome"]
    assert set(scale["runs"]["one_worker"]["stages_s"]) >= {"embed", "topics", "llm_wait", "db_write"}

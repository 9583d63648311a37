"""The LLM throughput bench, quick size: every topic is summarised in every configuration, and the
figures exist and add up. No timing is asserted (the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ftm_assets.bench.llm_bench import bench_params, run_llm_bench, synthetic_firms

REPO = Path(__file__).resolve().parents[2]
RUNS = ("baseline", "adaptive_per_topic", "adaptive_per_firm")
RUN_KEYS = {
    "mode",
    "concurrency",
    "wall_s",
    "requests",
    "server_requests",
    "rate_limited_429",
    "client_saw_429",
    "requests_per_min",
    "topics_per_min",
    "prompt_tokens_per_topic",
    "completion_tokens_per_topic",
    "topics",
    "topics_llm",
    "topics_fallback_extractive",
    "batch_requests",
    "batch_topics_refetched_per_topic",
    "malformed_batch_answers",
    "topics_lost",
    "usage_adds_up",
    "final_concurrency_limit",
    "server_max_in_flight",
}


def test_synthetic_firms_are_seeded() -> None:
    firms = synthetic_firms(3, 4)
    assert firms == synthetic_firms(3, 4)
    assert [len(topics) for _, _, topics in firms] == [4, 4, 4]
    assert firms[0][2][0].keywords != firms[1][2][0].keywords


def test_quick_llm_bench_loses_no_topic() -> None:
    result = run_llm_bench(quick=True)
    params = bench_params(quick=True)
    n_topics = params["firms"] * params["topics_per_firm"]
    assert result["quick"] is True and result["topics_lost"] == 0
    for name in RUNS:
        run = result[name]
        assert set(run) >= RUN_KEYS, name
        assert run["topics"] == n_topics and run["topics_lost"] == 0
        assert run["topics_llm"] + run["topics_fallback_extractive"] == n_topics
        assert run["usage_adds_up"] is True
        assert run["requests"] == run["server_requests"]
        assert run["rate_limited_429"] == run["client_saw_429"]
        assert run["wall_s"] > 0 and run["prompt_tokens_per_topic"] > 0
        assert run["server_max_in_flight"] <= params["max_concurrent"]
    baseline, per_topic, per_firm = (result[name] for name in RUNS)
    assert baseline["server_max_in_flight"] <= 8 and baseline["final_concurrency_limit"] == 8
    assert baseline["requests"] >= n_topics and per_topic["requests"] >= n_topics
    assert per_firm["batch_requests"] == params["firms"]
    # Fewer requests, and fewer prompt tokens per topic (the instructions are sent once per firm).
    assert per_firm["requests"] < per_topic["requests"]
    assert per_firm["prompt_tokens_per_topic"] < per_topic["prompt_tokens_per_topic"]
    for name in ("adaptive_per_topic", "adaptive_per_firm"):
        assert set(result[name]["vs_baseline"]) == {
            "speedup_wall",
            "topics_per_min_ratio",
            "requests_ratio",
            "tokens_per_topic_ratio",
        }


def test_command_line_help() -> None:
    # The module is importable and its --help works; the JSON itself is covered above.
    done = subprocess.run(
        [sys.executable, "-m", "ftm_assets.bench.llm_bench", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    assert "--quick" in done.stdout and "--json" in done.stdout
    json.dumps(bench_params(quick=False))

"""LLM throughput under an emulated provider rate limit: fixed vs adaptive concurrency, per-topic vs per-firm.

The same synthetic firms' topics are summarised three times, each against a fresh
:class:`~ftm_assets.llm.fake_server.FakeOpenAIServer` with latency (a fixed part, a seeded random
part, and a part per answer word, so a per-firm answer takes longer than a per-topic one) and an
emulated rate limit (requests per minute as a token bucket holding 10 requests, and a cap on
requests in flight; 429 with ``Retry-After`` beyond either), through the real ``openai`` client
in :class:`~ftm_assets.llm.client.TopicSummarizer` with the default retry settings (scaled
with the clock in the quick run):

- ``baseline``: today's behaviour before issue 10: 8 requests in flight, fixed, one per topic;
- ``adaptive_per_topic``: AIMD concurrency (start 8, ceiling 64), one request per topic;
- ``adaptive_per_firm``: AIMD concurrency, one JSON request per firm; the server answers 5 % of
  them with broken JSON, so the per-topic fallback is exercised (and paid for) in the timing.

All firms are submitted at once. The quick run scales every time constant down 10x (and the rate
limit up 10x) and uses fewer firms; it is a smoke test, its ratios are noisier than the full
run's. ``python -m ftm_assets.bench.llm_bench --json [--quick]`` prints the result.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from typing import Any

from ftm_assets.llm.client import TopicSummarizer
from ftm_assets.llm.fake_server import FakeOpenAIServer
from ftm_assets.llm.prompts import TopicPromptInput
from ftm_assets.llm.settings import LlmSettings
from ftm_assets.modeling.types import TokenUsage

__all__ = ["bench_params", "run_llm_bench", "synthetic_firms"]

_VOCABULARY_TEXT = (
    "revenue margin guidance tariffs inventory pricing demand backlog freight labour wages capex "
    "dividend buyback liquidity revolver covenant leverage refinancing cloud subscription churn "
    "retention pipeline bookings semiconductor shortage supply chain logistics warehouse ecommerce "
    "traffic same-store restaurants franchise utilization occupancy hospital reimbursement medicare "
    "drilling rigs production hedging refinery crack spreads loans deposits credit provisions "
    "reserves underwriting premiums claims catastrophe acquisitions integration synergies "
    "restructuring headcount automation software licences advertising subscribers streaming content"
)
_VOCABULARY = tuple(_VOCABULARY_TEXT.split())

_SENTENCE_TEMPLATES = (
    "We saw {a} improve through the quarter while {b} remained a focus for the team.",
    "On {a}, we expect the trend to continue into the second half, with {b} a key driver.",
    "Our {a} performance reflects disciplined execution, and we are watching {b} closely.",
    "Investors asked about {a}; management said {b} would shape the outlook for next year.",
)


def bench_params(quick: bool) -> dict[str, Any]:
    """Sizes and emulated-provider settings of a run (quick: 10x faster clock, fewer firms)."""
    scale = 0.1 if quick else 1.0
    return {
        "firms": 60 if quick else 100,
        "topics_per_firm": 6,
        "latency_s": round(1.0 * scale, 6),
        "latency_jitter_s": round(1.0 * scale, 6),
        "latency_per_word_s": round(0.02 * scale, 6),
        "rate_limit_rpm": round(600 / scale, 6),
        "rate_limit_burst": 10,
        "max_concurrent": 32,
        "rate_limit_retry_after_s": round(1.0 * scale, 6),
        "per_firm_batch_fault_rate": 0.05,
        "timeout_s": round(30.0 * scale, 6),
        "backoff_base_s": round(0.5 * scale, 6),
        "backoff_max_s": round(20.0 * scale, 6),
    }


def synthetic_firms(
    n_firms: int, topics_per_firm: int, seed: int = 10
) -> list[tuple[str, str, list[TopicPromptInput]]]:
    """``(firm_id, quarter, topics)`` with seeded keywords and four template sentences per topic."""
    rng = random.Random(seed)
    firms = []
    for f in range(n_firms):
        topics = []
        for t in range(topics_per_firm):
            keywords = rng.sample(_VOCABULARY, 6)
            sentences = [
                template.format(a=keywords[i % 3], b=keywords[3 + i % 3])
                for i, template in enumerate(rng.sample(_SENTENCE_TEMPLATES, 4))
            ]
            topics.append(TopicPromptInput(local_topic_id=t, keywords=keywords, sentences=sentences))
        firms.append((f"FIRM{f:04d}", "2024Q1", topics))
    return firms


def _run_one(
    name: str,
    firms: Sequence[tuple[str, str, list[TopicPromptInput]]],
    params: dict[str, Any],
    *,
    adaptive: bool,
    mode: str,
    batch_fault_rate: float = 0.0,
) -> dict[str, Any]:
    server = FakeOpenAIServer(
        latency_s=params["latency_s"],
        latency_per_word_s=params["latency_per_word_s"],
        latency_jitter_s=params["latency_jitter_s"],
        rate_limit_rpm=params["rate_limit_rpm"],
        rate_limit_burst=params["rate_limit_burst"],
        max_concurrent=params["max_concurrent"],
        rate_limit_retry_after_s=params["rate_limit_retry_after_s"],
        batch_fault_rate=batch_fault_rate,
        seed=10,
    )
    n_topics = sum(len(topics) for _, _, topics in firms)
    with server:
        settings = LlmSettings(
            base_url=server.base_url,
            api_key="ftm-bench-fake-key",
            max_concurrency=64 if adaptive else 8,
            initial_concurrency=8,
            adaptive_concurrency=adaptive,
            mode=mode,
            timeout_s=params["timeout_s"],
            backoff_base_s=params["backoff_base_s"],
            backoff_max_s=params["backoff_max_s"],
        )
        with TopicSummarizer(settings) as summarizer:
            start = time.perf_counter()
            futures = [summarizer.submit_firm(f, q, topics) for f, q, topics in firms]
            results = [future.result() for future in futures]
            wall = time.perf_counter() - start
            stats, usage = summarizer.call_stats, summarizer.usage
            final_limit = summarizer.concurrency_limit
        server_requests = server.request_count
        server_429 = server.rate_limited_count
        max_in_flight = server.max_in_flight
        outcomes = server.count_by_outcome

    summarised = 0
    for (_, _, topics), summaries in zip(firms, results, strict=True):
        ids_ok = [s.local_topic_id for s in summaries] == [t.local_topic_id for t in topics]
        summarised += sum(bool(s.summary.strip()) for s in summaries) if ids_ok else 0
    all_summaries = [s for summaries in results for s in summaries]
    per_topic_usage = sum((s.usage for s in all_summaries), TokenUsage())
    return {
        "mode": mode,
        "concurrency": "adaptive (start 8, ceiling 64)" if adaptive else "fixed 8",
        "wall_s": round(wall, 2),
        "requests": stats.requests,
        "server_requests": server_requests,
        "rate_limited_429": server_429,
        "client_saw_429": stats.rate_limited,
        "requests_per_min": round(stats.requests / wall * 60, 1),
        "topics_per_min": round(n_topics / wall * 60, 1),
        "prompt_tokens_per_topic": round(usage.prompt_tokens / n_topics, 1),
        "completion_tokens_per_topic": round(usage.completion_tokens / n_topics, 1),
        "topics": n_topics,
        "topics_llm": sum(s.source == "llm" for s in all_summaries),
        "topics_fallback_extractive": sum(s.source != "llm" for s in all_summaries),
        "batch_requests": stats.batch_calls,
        "batch_topics_refetched_per_topic": stats.batch_topic_fallbacks,
        "malformed_batch_answers": outcomes.get("bad_json", 0) + outcomes.get("partial_json", 0),
        "topics_lost": n_topics - summarised,
        "usage_adds_up": per_topic_usage == usage,
        "final_concurrency_limit": final_limit,
        "server_max_in_flight": max_in_flight,
        "_name": name,
    }


def run_llm_bench(quick: bool = False) -> dict:
    """Run the three configurations on the same firms; ratios are against ``baseline``."""
    params = bench_params(quick)
    firms = synthetic_firms(params["firms"], params["topics_per_firm"])
    runs = [
        _run_one("baseline", firms, params, adaptive=False, mode="per_topic"),
        _run_one("adaptive_per_topic", firms, params, adaptive=True, mode="per_topic"),
        _run_one(
            "adaptive_per_firm",
            firms,
            params,
            adaptive=True,
            mode="per_firm",
            batch_fault_rate=params["per_firm_batch_fault_rate"],
        ),
    ]
    base = runs[0]
    out: dict[str, Any] = {"quick": quick, "params": params}
    for run in runs:
        name = run.pop("_name")
        if name != "baseline":
            run["vs_baseline"] = {
                "speedup_wall": round(base["wall_s"] / run["wall_s"], 2),
                "topics_per_min_ratio": round(run["topics_per_min"] / base["topics_per_min"], 2),
                "requests_ratio": round(run["requests"] / base["requests"], 3),
                "tokens_per_topic_ratio": round(
                    (run["prompt_tokens_per_topic"] + run["completion_tokens_per_topic"])
                    / (base["prompt_tokens_per_topic"] + base["completion_tokens_per_topic"]),
                    3,
                ),
            }
        out[name] = run
    out["topics_lost"] = sum(
        out[name]["topics_lost"] for name in ("baseline", "adaptive_per_topic", "adaptive_per_firm")
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="LLM throughput benchmark against the fake endpoint.")
    parser.add_argument("--quick", action="store_true", help="10x faster clock, 60 firms (< 60 s)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run_llm_bench(quick=args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name in ("baseline", "adaptive_per_topic", "adaptive_per_firm"):
            run = result[name]
            print(
                f"{name:20s} wall {run['wall_s']:7.2f} s  requests {run['requests']:5d}  "
                f"429s {run['rate_limited_429']:4d}  topics/min {run['topics_per_min']:8.1f}  "
                f"lost {run['topics_lost']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

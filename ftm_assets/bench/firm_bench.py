"""Firm stage on real calls: the pipeline through Dagster vs the naive baseline, same firms.

Both runs read the same real calls (a subset of the Earnings-21 corpus written to Parquet), talk
to the same :class:`~ftm_assets.llm.fake_server.FakeOpenAIServer` with a fixed latency, and write
the same schema, each into its own database of the bench server.

* **Pipeline**: the quarter's firm job of ``ftm_assets.definitions`` executed in-process on a
  Postgres-backed Dagster instance (one ranged run, the resources as in production). Its stages
  come from the firms' materialization metadata (embed, topics, LLM wait, database write) and
  from :class:`~ftm_assets.bench.timing.StageTimer` (model load, UMAP, HDBSCAN, summary
  embedding); ``representation`` is topics minus UMAP and HDBSCAN (c-TF-IDF keywords, outlier
  reduction, representative sentences); ``dagster_bookkeeping`` is the run's wall time minus
  all of the above (run start, resource setup, schema check, event writes).
* **Naive**: :func:`ftm_assets.bench.naive.run_naive_firms`, with the firm run's default topic
  settings (``FirmRunConfig``), so both do the same modelling.

A warm-up fit runs first (:func:`warm_up_topic_model`) so that numba's compilation of UMAP and
HDBSCAN lands on neither run.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from ftm_assets.bench.naive import _dim, run_naive_firms
from ftm_assets.bench.timing import StageTimer
from ftm_assets.quality.corpus import REAL_CORPUS, default_corpus_path, require_corpus

__all__ = [
    "REAL_CORPUS",
    "default_corpus_path",
    "require_corpus",
    "run_pipeline_firms",
    "select_real_calls",
]


def select_real_calls(corpus: Path, quarter: str, n_firms: int | None, out: Path) -> tuple[list[str], int]:
    """Write the ``n_firms`` firms of ``quarter`` closest to the quarter's median call length
    (all firms when ``None``) to ``out``; returns the firm ids and the number of sentences."""
    frame = pd.read_parquet(require_corpus(corpus))
    frame = frame[frame["quarter"] == quarter]
    if frame.empty:
        raise ValueError(f"{corpus}: no calls in quarter {quarter}")
    sizes = frame.groupby("firm_id").size()
    firms = sorted(sizes.index)
    if n_firms is not None and n_firms < len(firms):
        median = sizes.median()
        firms = sorted(sorted(firms, key=lambda f: (abs(sizes[f] - median), f))[:n_firms])
    subset = frame[frame["firm_id"].isin(firms)]
    out.parent.mkdir(parents=True, exist_ok=True)
    subset.to_parquet(out, index=False)
    return firms, len(subset)


def pipeline_topic_settings():
    """The firm-topic settings a firm run uses by default (``FirmRunConfig``), so that the naive
    baseline does exactly the same modelling work."""
    from ftm_assets.defs.firm_assets import FirmRunConfig

    return FirmRunConfig().stage_settings().topics


def warm_up_topic_model(call, settings) -> float:
    """One topic-model fit on ``call`` with random embeddings, untimed by the runs: UMAP and
    HDBSCAN are compiled by numba on first use in a process (about 10 s here), which would
    otherwise land on whichever run goes first. Returns the seconds it took."""
    import numpy as np

    from ftm_assets.modeling.firm_topics import build_firm_topics

    t0 = time.perf_counter()
    vectors = np.random.default_rng(0).standard_normal((len(call), 384)).astype(np.float32)
    build_firm_topics(call, vectors, settings)
    return time.perf_counter() - t0


def run_pipeline_firms(transcripts: Path, quarter: str, firms: list[str], llm_base_url: str,
                       op_config: dict | None = None) -> dict:
    """One ranged Dagster run of the firm job over ``firms`` (env from ``BenchEnvironment``);
    ``op_config`` adds to the firm op's config (e.g. ``{"workers": 4}``)."""
    import dagster as dg

    from ftm_assets.bench.env import BenchEnvironment
    from ftm_assets.config import load_settings
    from ftm_assets.defs.asset_keys import TOPIC_SUMMARIES
    from ftm_assets.defs.launch import (
        STAGE_METADATA,
        execute_firm_run,
        firm_run_config,
        sum_materialization_metadata,
    )
    from ftm_assets.instance import prepare_instance

    prepare_instance(load_settings())
    with dg.DagsterInstance.get() as instance:
        run_config = firm_run_config(str(transcripts), op_config={"recompute": True, **(op_config or {})},
                                     log_level="WARNING")
        with BenchEnvironment.llm_endpoint(llm_base_url), StageTimer() as timer:
            t0 = time.perf_counter()
            result = execute_firm_run(instance, quarter, firms, run_config=run_config)
            wall = time.perf_counter() - t0
    if not result.success:
        failures = [e.message for e in result.all_events if e.is_failure]
        raise RuntimeError(f"pipeline firm run failed for quarter {quarter}: {failures[:3]}")
    embed = sum_materialization_metadata(result, *STAGE_METADATA["embed"])
    topics = sum_materialization_metadata(result, *STAGE_METADATA["topics"])
    umap, hdbscan = timer.get("umap"), timer.get("hdbscan")
    stages = {
        "model_load": timer.seconds.get("model_load", 0.0),
        "embed": embed,
        "topics": topics,
        "umap": umap,
        "hdbscan": hdbscan,
        "representation": topics - (umap or 0.0) - (hdbscan or 0.0) if umap is not None else None,
        "summary_embed": max(0.0, timer.seconds.get("encode", 0.0) - embed),
        "llm_wait": sum_materialization_metadata(result, *STAGE_METADATA["llm_wait"]),
        "db_write": sum_materialization_metadata(result, *STAGE_METADATA["db_write"]),
    }
    accounted = (
        stages["model_load"]
        + embed
        + topics
        + stages["summary_embed"]
        + stages["llm_wait"]
        + stages["db_write"]
    )
    stages["dagster_bookkeeping"] = max(0.0, wall - accounted)
    n_done = len(
        {
            e.partition
            for e in result.get_asset_materialization_events()
            if e.asset_key == TOPIC_SUMMARIES
        }
    )
    return {
        "seconds": round(wall, 2),
        "firms": n_done,
        "firms_per_min": round(60.0 * n_done / wall, 2),
        "firms_per_min_after_model_load": round(60.0 * n_done / max(wall - stages["model_load"], 1e-9), 2),
        "stages_s": {k: (round(v, 2) if v is not None else None) for k, v in stages.items()},
        "dagster_events": len(result.all_events),
    }


def _prompt_words(requests: list[dict]) -> float:
    """Mean words sent per chat request (all messages), the basis of the token projection."""
    words = [
        sum(len(str(m.get("content", "")).split()) for m in (r.get("body") or {}).get("messages", []))
        for r in requests
    ]
    return round(sum(words) / len(words), 1) if words else 0.0


def run_firm_bench(env, corpus: Path, quarter: str, n_firms: int | None, llm_latency_s: float, model) -> dict:
    """Pipeline vs naive on the same real calls; ``env`` is an entered ``BenchEnvironment`` and
    ``model`` a loaded SentenceTransformer for the naive run. ``time_ratio_pipeline_to_naive``
    compares both without model loading (the naive run gets ``model`` already loaded)."""
    from ftm_assets.llm.client import TopicSummarizer
    from ftm_assets.llm.fake_server import FakeOpenAIServer
    from ftm_assets.llm.settings import LlmSettings
    from ftm_assets.modeling.types import FirmCall
    from ftm_assets.sources.open import open_source
    from ftm_assets.warehouse.schema import migrate

    transcripts = env.workdir("firm_bench") / "calls.parquet"
    firms, n_sentences = select_real_calls(corpus, quarter, n_firms, transcripts)
    calls = [c for c in open_source(str(transcripts)).iter_calls(quarter, firms) if isinstance(c, FirmCall)]
    out: dict = {
        "corpus": str(corpus),
        "quarter": quarter,
        "firms": len(firms),
        "sentences": n_sentences,
        "llm_latency_s": llm_latency_s,
    }
    out["warmup_s"] = round(warm_up_topic_model(calls[0], pipeline_topic_settings()), 2)
    with FakeOpenAIServer(latency_s=llm_latency_s) as server:
        pipeline = run_pipeline_firms(transcripts, quarter, firms, server.base_url)
        pipeline["llm_requests"] = server.request_count
        pipeline["max_llm_in_flight"] = server.max_in_flight
        pipeline["prompt_words_per_request"] = _prompt_words(server.requests)
        before = server.request_count
        naive_url = env.database("naive")
        migrate(naive_url, _dim(model), "naive baseline")
        settings = LlmSettings(
            base_url=server.base_url, api_key="ftm-bench-fake-key", max_concurrency=1, max_retries=0
        )
        with TopicSummarizer(settings) as summarizer, StageTimer() as timer:
            naive = run_naive_firms(calls, model, naive_url, summarizer, pipeline_topic_settings())
        naive["stages_s"]["umap"] = round(timer.get("umap") or 0.0, 2)
        naive["stages_s"]["hdbscan"] = round(timer.get("hdbscan") or 0.0, 2)
        naive["firms_per_min"] = round(60.0 * naive["firms"] / naive["seconds"], 2)
        naive["llm_requests"] = server.request_count - before
    out["pipeline"] = pipeline
    out["naive"] = naive
    # The naive run reuses an already loaded model, so compare without the pipeline's model load.
    ours = max(pipeline["seconds"] - pipeline["stages_s"]["model_load"], 1e-9)
    out["time_ratio_pipeline_to_naive"] = round(ours / naive["seconds"], 3)
    out["speedup_vs_naive"] = round(naive["seconds"] / ours, 2)
    return out

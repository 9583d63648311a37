"""Scale benchmark: the real Dagster firm job over many firms, one topic worker vs all workers.

``ftm bench --only scale`` writes a quarter of ``firms`` calls made of the real Earnings-21 calls
repeated under new firm ids (``<firm>-r<k>``; every call of the corpus, all quarters, relabelled
to one quarter), then materializes the whole quarter twice with the production firm job
(``quarter_firms_job``: embedding, topic workers, LLM against the local fake server with its
latency and an emulated rate limit, binary COPY writes, per-firm Dagster events), each run into
its own database:

1. ``workers=1``: one topic worker process (the baseline: what the firm stage does with one core);
2. ``workers=N``: all workers (:func:`~ftm_assets.stages.topic_workers.default_workers`, at
   least 2 so that the comparison means something on a 2-core machine).

It prints ``firms_per_min`` of both, their ``ratio``, ``identical_output`` (the two databases hold
the same rows: :func:`~ftm_assets.warehouse.digest.quarter_digest`), peak RSS and a stage
breakdown per run. On a 2-core machine the ratio is small (one core embeds while one clusters);
the figure that matters is a 16-core box's (docs/performance.md). ``stages_s`` of a run are sums
of per-firm seconds (embedding thread, worker compute, LLM wait, main-thread writes); they overlap,
so they add up to more than the wall time. ``projection_16_core_gpu_box`` scales this run's
per-firm costs to 5,000 firms x 500 sentences (:func:`project_box`, a PROJECTION with its
assumptions printed beside it).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

__all__ = ["project_box", "run_scale_bench", "write_repeated_quarter"]

SCALE_QUARTER = "2021Q1"


def write_repeated_quarter(corpus: Path, n_firms: int, out: Path, quarter: str = SCALE_QUARTER) -> tuple[int, int]:
    """Write ``n_firms`` real calls, the corpus's calls cycled under new firm ids, as one quarter;
    returns ``(firms, sentences)``."""
    frame = pd.read_parquet(corpus)
    calls = sorted(frame.groupby(["firm_id", "quarter"]).groups)
    parts = []
    for i in range(n_firms):
        firm, q = calls[i % len(calls)]
        rows = frame[(frame["firm_id"] == firm) & (frame["quarter"] == q)].copy()
        rows["firm_id"] = f"{firm}-r{i // len(calls)}"
        rows["quarter"] = quarter
        parts.append(rows)
    quarter_frame = pd.concat(parts, ignore_index=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    quarter_frame.to_parquet(out, index=False)
    return n_firms, len(quarter_frame)


def _worker_peak_rss_mb() -> float:
    """Largest peak RSS of any finished child process (the topic workers), MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def run_scale_bench(env, corpus: Path, n_firms: int, llm_latency_s: float, *, workers: int | None = None,
                    llm_rpm: int = 6000, llm_max_in_flight: int = 128) -> dict:
    """See the module docstring; ``env`` is an entered ``BenchEnvironment``."""
    from ftm_assets.bench.env import patched_environ
    from ftm_assets.bench.firm_bench import run_pipeline_firms
    from ftm_assets.bench.timing import peak_rss_mb
    from ftm_assets.llm.fake_server import FakeOpenAIServer
    from ftm_assets.sources.open import open_source
    from ftm_assets.stages.topic_workers import default_workers
    from ftm_assets.warehouse.database import connect
    from ftm_assets.warehouse.digest import quarter_digest

    all_workers = workers if workers is not None else max(2, default_workers())
    transcripts = env.workdir("scale") / "calls.parquet"
    firms, sentences = write_repeated_quarter(corpus, n_firms, transcripts)
    firm_ids = sorted({f for f, _ in open_source(str(transcripts)).list_calls()})
    out: dict = {
        "corpus": str(corpus),
        "quarter": SCALE_QUARTER,
        "firms": firms,
        "sentences": sentences,
        "workers": all_workers,
        "llm": {"latency_s": llm_latency_s, "rate_limit_rpm": llm_rpm, "rate_limit_in_flight": llm_max_in_flight},
    }
    runs: dict = {}
    digests: dict = {}
    server_kwargs = {"rate_limit_rpm": llm_rpm, "max_concurrent": llm_max_in_flight}
    for label, n_workers in (("one_worker", 1), ("all_workers", all_workers)):
        url = env.database(f"scale_{label}")
        with FakeOpenAIServer(latency_s=llm_latency_s, **server_kwargs) as server, \
                patched_environ(FTM_DATABASE_URL=url):
            t0 = time.perf_counter()
            run = run_pipeline_firms(transcripts, SCALE_QUARTER, firm_ids, server.base_url,
                                     op_config={"workers": n_workers})
            run["wall_s"] = round(time.perf_counter() - t0, 2)
            run["llm_requests"] = server.request_count
            run["llm_max_in_flight"] = server.max_in_flight
            run["llm_by_outcome"] = server.count_by_outcome
        run["workers"] = n_workers
        for key in ("umap", "hdbscan", "representation", "dagster_bookkeeping"):
            run["stages_s"].pop(key, None)  # measured in the main process only; UMAP runs in the workers
        run["topic_parallelism"] = round((run["stages_s"].get("topics") or 0.0) / max(run["seconds"], 1e-9), 2)
        runs[label] = run
        with connect(url) as conn:
            digests[label] = quarter_digest(conn, SCALE_QUARTER)
    one, many = runs["one_worker"], runs["all_workers"]
    out["firms_per_min_one_worker"] = one["firms_per_min"]
    out["firms_per_min_all_workers"] = many["firms_per_min"]
    out["ratio"] = round(many["firms_per_min"] / max(one["firms_per_min"], 1e-9), 2)
    out["identical_output"] = digests["one_worker"] == digests["all_workers"]
    out["rows"] = {table: d["rows"] for table, d in digests["all_workers"].items()}
    if not out["identical_output"]:
        out["differing_tables"] = sorted(t for t in digests["one_worker"]
                                         if digests["one_worker"][t] != digests["all_workers"].get(t))
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    out["peak_rss_mb_largest_worker"] = round(_worker_peak_rss_mb(), 1)
    out["runs"] = runs
    out["projection_16_core_gpu_box"] = project_box(out)
    return out


#: Measured on the 16-core H100 box of issue 10 (landed code): ``build_firm_topics`` ran 1.72
#: firms/s in one process and 19.3 firms/s over 16 worker processes (11.2x), i.e. each worker
#: kept 0.70 of a core's speed; all-MiniLM-L6-v2 embedded 5,125 sentences/s with one encode call
#: per firm (tokenization-bound).
BOX_WORKER_EFFICIENCY = 11.2 / 16
BOX_GPU_SENTENCES_PER_S = 5125.0
#: ... and 0.73 s per firm in one process over 122 real calls averaging 237 sentences.
BOX_TOPIC_S_PER_FIRM, BOX_TOPIC_SENTENCES = 0.73, 28962 / 122
#: Summary embedding of one firm's ~6 summaries on the GPU (one small batch), seconds.
GPU_SUMMARY_EMBED_S_PER_FIRM = 0.01


def project_box(scale: dict, *, cores: int = 16, firms: int = 5000, sentences_per_firm: int = 500,
                gpu_sentences_per_s: float = BOX_GPU_SENTENCES_PER_S, worker_efficiency: float = BOX_WORKER_EFFICIENCY,
                cpu_core_speedup: float = 1.0, llm_requests_per_min: float = 600.0, llm_latency_s: float = 2.0,
                llm_in_flight: int = 64, topics_per_firm: float = 6.0, dagster_bookkeeping_s: float = 170.0,
                themes_s: float = 90.0, hnsw_s: float = 2.5 * 610.0 / 4) -> dict:
    """PROJECTION of a ``firms`` x ``sentences_per_firm`` quarter on a ``cores``-core GPU box from
    the per-firm costs this run measured (one-worker run), plus the named assumptions. Stages run
    side by side (embedding thread, topic workers, LLM, main-thread writes), so the firm stage
    takes its slowest stage (LLM in ``per_firm`` mode); themes and the HNSW build follow it.
    ``topics_workers`` scales the topic cost measured here (``cpu_core_speedup`` for a faster
    core); ``topics_workers_from_box_measurement`` uses the 16-core box's own measured cost instead
    (``total_min_with_box_topic_cost``). A per-firm LLM request (all
    topics of a firm in one JSON answer) is assumed to take twice a per-topic request's latency;
    the HNSW default is docs/search.md's 610 s per million vectors on 2 cores, 4x faster with
    16 cores' parallel maintenance workers, for the quarter's 2.5 M sentence vectors."""
    one = scale["runs"]["one_worker"]
    n, mean_sentences = max(scale["firms"], 1), scale["sentences"] / max(scale["firms"], 1)
    size = sentences_per_firm / mean_sentences
    topic_s_per_firm = one["stages_s"]["topics"] / n * size ** 1.1 / cpu_core_speedup  # UMAP ~ n log n
    box_topic_s_per_firm = BOX_TOPIC_S_PER_FIRM * (sentences_per_firm / BOX_TOPIC_SENTENCES) ** 1.1
    workers = max(1, cores - 1)
    main_s_per_firm = one["stages_s"]["db_write"] / n * size + GPU_SUMMARY_EMBED_S_PER_FIRM
    stages = {
        "embed_gpu_per_firm_batches": firms * sentences_per_firm / gpu_sentences_per_s,
        "topics_workers": firms * topic_s_per_firm / (workers * worker_efficiency),
        "topics_workers_from_box_measurement": firms * box_topic_s_per_firm / (workers * worker_efficiency),
        "llm_per_topic": max(firms * topics_per_firm / llm_requests_per_min * 60,
                             firms * topics_per_firm * llm_latency_s / llm_in_flight),
        "llm_per_firm": max(firms / llm_requests_per_min * 60, firms * 2 * llm_latency_s / llm_in_flight),
        "main_thread_writes_and_events": firms * main_s_per_firm + dagster_bookkeeping_s,
    }
    alternatives = ("llm_per_topic", "topics_workers_from_box_measurement")
    firm_stage = max(v for k, v in stages.items() if k not in alternatives)
    box_firm_stage = max(v for k, v in stages.items() if k not in ("llm_per_topic", "topics_workers"))
    total = firm_stage + themes_s + hnsw_s
    return {
        "projection": True,
        "box": f"{cores} cores, 1 GPU",
        "firms": firms,
        "sentences_per_firm": sentences_per_firm,
        "workers": workers,
        "measured_topic_s_per_firm_here": round(one["stages_s"]["topics"] / n, 3),
        "topic_s_per_firm_at_size": round(topic_s_per_firm, 3),
        "stages_s": {k: round(v, 1) for k, v in stages.items()},
        "critical_stage": max((k for k in stages if k not in alternatives), key=stages.get),
        "firm_stage_s": round(firm_stage, 1),
        "themes_s": themes_s,
        "hnsw_build_s": hnsw_s,
        "total_s": round(total, 1),
        "total_min": round(total / 60, 1),
        "meets_15_min": total <= 900,
        "total_min_with_box_topic_cost": round((box_firm_stage + themes_s + hnsw_s) / 60, 1),
        "assumptions": {"gpu_sentences_per_s": gpu_sentences_per_s, "worker_efficiency": round(worker_efficiency, 3),
                        "cpu_core_speedup": cpu_core_speedup, "llm_requests_per_min": llm_requests_per_min,
                        "llm_latency_s": llm_latency_s, "llm_in_flight": llm_in_flight,
                        "topics_per_firm": topics_per_firm, "dagster_bookkeeping_s": dagster_bookkeeping_s,
                        "themes_s": themes_s, "hnsw_build_s": hnsw_s},
    }

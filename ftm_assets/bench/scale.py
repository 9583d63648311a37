"""Scale model: project a 5,000-firm quarter on a 16-core GPU box from the bench's measurements.

Everything here is a **projection**: measured per-firm figures from this machine, scaled to the
target quarter, combined with the assumptions in :class:`ScaleAssumptions` (GPU embedding
throughput, LLM latency and price, box price), each named in the output. The firm stage runs
its firms one after another in one thread (embedding, clustering, writing), with only the LLM
calls overlapping, so the stage's wall time is the sum of its per-firm stages plus whatever LLM
time the overlap cannot hide.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["ScaleAssumptions", "project_quarter"]


@dataclass(frozen=True)
class ScaleAssumptions:
    """Inputs that are not measured here (the defaults are stated in docs/performance.md)."""

    firms: int = 5000
    sentences_per_firm: int = 500
    gpu_sentences_per_s: float = 5000.0  # all-MiniLM-L6-v2 on a T4 (sbert.net: 14,200/s on a V100)
    cpu_core_speedup: float = 1.0  # one core of the box vs one core here (clustering is single-threaded)
    llm_latency_s: float = 2.0  # one grok-3-mini summary request
    llm_concurrency: int = 8  # FTM_LLM_MAX_CONCURRENCY default
    tokens_per_word: float = 1.33
    completion_tokens_per_request: int = 400  # summary plus reasoning tokens
    llm_input_usd_per_m: float = 0.30  # grok-3-mini list price per million input tokens
    llm_output_usd_per_m: float = 0.50  # ... per million output tokens
    box_usd_per_h: float = 1.204  # g4dn.4xlarge (16 vCPU, T4) on demand, us-east-1; spot is ~1/3
    database_usd_per_h: float = 0.13  # RDS db.t4g.large (infra/README.md)
    hnsw_seconds_per_m_vectors_here: float = 610.0  # docs/search.md: 1M x 384 on this 2-core VM
    hnsw_parallel_speedup: float = 4.0  # 16 cores with parallel maintenance workers vs 2 here
    themes_per_1000_topics: float = 8.0
    #: Dagster's run creation and per-firm events for one ranged run of ``firms`` firms, measured by
    #: ``python -m ftm_assets.bench.bookkeeping --firms 5000`` (docs/operations.md: 170 s batched);
    #: None scales the firm bench's own bookkeeping per firm instead (which includes per-run costs).
    dagster_bookkeeping_s: float | None = 170.0
    #: One topic-quality check evaluation per firm, logged unbatched (~15-20 ms per event there).
    check_event_s_per_firm: float = 0.02
    alternative_llm_concurrency: int = 32


def _per_firm(stage_s: float | None, firms: int) -> float:
    return (stage_s or 0.0) / max(firms, 1)


def project_quarter(
    firm_bench: dict, theme_bench: dict | None, assumptions: ScaleAssumptions | None = None
) -> dict:
    """Stage-by-stage projected seconds and cost of a quarter (see module docstring)."""
    a = assumptions or ScaleAssumptions()
    pipe = firm_bench["pipeline"]
    stages = pipe["stages_s"]
    n = pipe["firms"]
    sentence_scale = a.sentences_per_firm / (firm_bench["sentences"] / max(firm_bench["firms"], 1))
    total_sentences = a.firms * a.sentences_per_firm
    requests_per_firm = pipe["llm_requests"] / max(n, 1)
    requests = requests_per_firm * a.firms
    cpu_embed_s = firm_bench["sentences"] / max(stages["embed"], 1e-9)

    projected = {
        "model_load": stages["model_load"],
        "embed_gpu": total_sentences / a.gpu_sentences_per_s,
        "umap": _per_firm(stages["umap"], n) * a.firms * sentence_scale / a.cpu_core_speedup,
        "hdbscan": _per_firm(stages["hdbscan"], n) * a.firms * sentence_scale / a.cpu_core_speedup,
        "representation": _per_firm(stages["representation"], n)
        * a.firms
        * sentence_scale
        / a.cpu_core_speedup,
        # a summary is a few sentences long: count it as four
        "summary_embed_gpu": requests * 4 / a.gpu_sentences_per_s,
        "db_write": _per_firm(stages["db_write"], n) * a.firms * sentence_scale,
        "dagster_bookkeeping": (
            a.dagster_bookkeeping_s * a.firms / 5000
            if a.dagster_bookkeeping_s is not None
            else _per_firm(stages["dagster_bookkeeping"], n) * a.firms
        )
        + a.check_event_s_per_firm * a.firms,
    }
    serial = sum(projected.values())
    llm_wall = requests * a.llm_latency_s / a.llm_concurrency
    projected["llm_wait_not_hidden"] = max(0.0, llm_wall - serial)
    alternative_llm_wall = requests * a.llm_latency_s / a.alternative_llm_concurrency
    index_vectors_m = (total_sentences + requests) / 1e6
    projected["hnsw_index_build"] = (
        a.hnsw_seconds_per_m_vectors_here
        * index_vectors_m
        * math.log(index_vectors_m * 1e6)
        / math.log(1e6)
        / a.hnsw_parallel_speedup
    )
    topics = requests
    themes = topics * a.themes_per_1000_topics / 1000
    theme_cluster = _theme_seconds(theme_bench, topics)
    if theme_cluster is not None:
        projected["themes_cluster"] = theme_cluster
    projected["themes_naming_llm"] = themes * a.llm_latency_s / a.llm_concurrency
    total = sum(projected.values())

    prompt_tokens = pipe.get("prompt_words_per_request", 350) * a.tokens_per_word * requests
    completion_tokens = a.completion_tokens_per_request * (requests + themes)
    llm_usd = prompt_tokens / 1e6 * a.llm_input_usd_per_m + completion_tokens / 1e6 * a.llm_output_usd_per_m
    box_usd = total / 3600 * (a.box_usd_per_h + a.database_usd_per_h)
    # The firm loop runs its stages one after another with the LLM calls overlapped: the LLM binds
    # when its calls alone take longer than everything else of the loop.
    loop_stages = {k: v for k, v in projected.items() if k not in ("model_load", "llm_wait_not_hidden")}
    bottleneck = "llm" if llm_wall > serial else max(loop_stages, key=lambda k: loop_stages[k])
    return {
        "label": "PROJECTION from this machine's per-firm figures and the stated assumptions, "
        "not a measurement",
        "assumptions": asdict(a),
        "inputs": {
            "measured_firms": n,
            "sentence_scale": round(sentence_scale, 2),
            "llm_requests_per_firm": round(requests_per_firm, 2),
            "cpu_sentences_per_s_here": round(cpu_embed_s, 1),
        },
        "stages_s": {k: round(v, 1) for k, v in projected.items()},
        "themes_cluster_note": None
        if theme_cluster is not None
        else "no theme measurement in this run: not included",
        "llm_wall_if_alone_s": round(llm_wall, 1),
        "with_llm_concurrency": {
            "concurrency": a.alternative_llm_concurrency,
            "llm_wall_if_alone_s": round(alternative_llm_wall, 1),
            "total_s": round(
                total - projected["llm_wait_not_hidden"] + max(0.0, alternative_llm_wall - serial), 1
            ),
        },
        "total_s": round(total, 1),
        "total_h": round(total / 3600, 2),
        "bottleneck": bottleneck,
        "llm_requests": round(requests + themes),
        "llm_tokens": {"prompt": round(prompt_tokens), "completion": round(completion_tokens)},
        "cost_usd": {
            "llm": round(llm_usd, 2),
            "box_and_database": round(box_usd, 2),
            "total": round(llm_usd + box_usd, 2),
        },
        "cpu_only_embed_s": round(total_sentences / cpu_embed_s, 1),
    }


def _theme_seconds(theme_bench: dict | None, topics: float) -> float | None:
    """Seconds of the chosen method at ``topics`` topics: measured at the nearest size, scaled
    n log n from the largest measured size below it."""
    if not theme_bench:
        return None
    method = theme_bench.get("choice", {}).get("method") or "pca_hdbscan"
    runs = [r for r in theme_bench["scale"] if r.get("method") == method and "seconds" in r]
    if not runs:
        return None
    best = min(runs, key=lambda r: abs(r["n"] - topics))
    return best["seconds"] * (topics * math.log(topics)) / (best["n"] * math.log(best["n"]))

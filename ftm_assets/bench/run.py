"""``ftm bench``: every figure of the performance table in one run, as one JSON object.

Sections, each measured against its baseline in the same run:

* ``embedding``: pipeline batching vs naive per-firm ``model.encode`` (:mod:`.embedding_bench`);
* ``firm_stage``: the firm job through Dagster on real calls vs the naive baseline, with the
  per-stage breakdown (:mod:`.firm_bench`);
* ``bulk_load``: binary ``COPY`` vs ``executemany`` (:mod:`.load_bench`);
* ``themes``: theme clustering at quarter sizes, time, peak RSS and ARI per method, and the
  method chosen (:mod:`.theme_bench`);
* ``memory``: peak RSS of a quarter run at two firm counts (:mod:`.memory_bench`);
* ``search``: HNSW recall/latency at a small size (:mod:`.search_bench`; run it alone for 1M);
* ``scale``: the Dagster firm job over many firms (real calls repeated), one topic worker vs all
  workers, with ``identical_output`` (:mod:`.scale_bench`);
* ``llm``: summaries against a rate-limited fake server, today's fixed 8-in-flight client vs the
  adaptive client, per topic and per firm (:mod:`.llm_bench`);
* ``history``: many quarters in one database, one HNSW index per quarter partition: cost of
  adding the last quarter vs the first, search over all quarters and one, recall, bytes per
  quarter as ``vector`` and ``halfvec`` (:mod:`.history_bench`);
* ``projection_5000_firms``: the scale model (:mod:`.scale`).

``quick=True`` (``--quick``) uses small sizes (:data:`QUICK`), meant to finish in under five
minutes on an idle 2-core machine; the default sizes are :data:`FULL`. Everything runs in a
temporary FTM_HOME with its own embedded PostgreSQL (:mod:`.env`), deleted afterwards.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["FULL", "QUICK", "BenchSizes", "run_bench"]


@dataclass(frozen=True)
class BenchSizes:
    embed_firms: int
    firm_stage_firms: int | None  # None: every firm of the quarter
    llm_latency_s: float
    load_rows: int
    theme_sizes: tuple[int, ...]
    theme_comparison_sizes: tuple[int, ...]
    theme_timeout_s: float
    theme_scale_budget_s: float
    memory_firms: tuple[int, int]
    memory_sentences: int
    search_vectors: int
    scale_firms: int
    scale_llm_latency_s: float
    quarter: str = "2020Q2"
    history_quarters: int = 8
    history_vectors: int = 100_000


QUICK = BenchSizes(
    embed_firms=1,
    firm_stage_firms=2,
    llm_latency_s=0.5,
    load_rows=20_000,
    theme_sizes=(10_000,),
    theme_comparison_sizes=(2000,),
    theme_timeout_s=240,
    theme_scale_budget_s=120,
    memory_firms=(500, 5000),
    memory_sentences=40,
    search_vectors=10_000,
    scale_firms=8,
    scale_llm_latency_s=0.5,
    history_quarters=3,
    history_vectors=2_000,
)
FULL = BenchSizes(
    embed_firms=6,
    firm_stage_firms=None,
    llm_latency_s=1.0,
    load_rows=50_000,
    theme_sizes=(10_000, 50_000, 125_000),
    theme_comparison_sizes=(10_000,),
    theme_timeout_s=1800,
    theme_scale_budget_s=1800,
    memory_firms=(500, 5000),
    memory_sentences=500,
    search_vectors=200_000,
    scale_firms=48,
    scale_llm_latency_s=2.0,
)


def _timed(sections: dict, name: str, fn: Callable[[], dict], log: Callable[[str], None]) -> None:
    log(f"bench: {name} ...")
    t0 = time.perf_counter()
    sections[name] = fn()
    sections[name]["section_seconds"] = round(time.perf_counter() - t0, 1)
    log(f"bench: {name} done in {sections[name]['section_seconds']} s")


def run_bench(
    quick: bool = False,
    *,
    corpus: Path | None = None,
    sizes: BenchSizes | None = None,
    only: set[str] | None = None,
    log: Callable[[str], None] = lambda _line: None,
    scale_firms: int | None = None,
    scale_workers: int | None = None,
    history_quarters: int | None = None,
    history_vectors: int | None = None,
) -> dict:
    """Run the benchmark (see module docstring); ``only`` restricts it to some sections;
    ``scale_firms`` / ``scale_workers`` override the scale section's firm count and worker count."""
    from ftm_assets.bench.env import BenchEnvironment
    from ftm_assets.bench.firm_bench import default_corpus_path, require_corpus, select_real_calls
    from ftm_assets.bench.timing import machine_facts

    sizes = sizes or (QUICK if quick else FULL)
    corpus = require_corpus(corpus or default_corpus_path())
    wanted = only or {"embedding", "firm_stage", "bulk_load", "themes", "memory", "search", "scale", "llm",
                      "history"}
    if scale_firms is not None:
        sizes = replace(sizes, scale_firms=scale_firms)
    if history_quarters is not None:
        sizes = replace(sizes, history_quarters=history_quarters)
    if history_vectors is not None:
        sizes = replace(sizes, history_vectors=history_vectors)
    started = time.perf_counter()
    report: dict = {
        "bench": "ftm",
        "mode": "quick" if quick else "full",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "sizes": {k: v for k, v in sizes.__dict__.items()},
    }
    sections: dict = {}
    with BenchEnvironment() as env:
        model = None
        if wanted & {"embedding", "firm_stage"}:
            from ftm_assets.modeling.embedding import load_sentence_transformer
            from ftm_assets.modeling.types import FirmCall
            from ftm_assets.sources.open import open_source

            t0 = time.perf_counter()
            model = load_sentence_transformer(None, "auto")
            report["model_load_s"] = round(time.perf_counter() - t0, 2)
        if "embedding" in wanted:
            from ftm_assets.bench.embedding_bench import run_embedding_bench

            def embedding() -> dict:
                path = env.workdir("embedding") / "calls.parquet"
                firms, _ = select_real_calls(corpus, sizes.quarter, sizes.embed_firms, path)
                calls = [
                    c
                    for c in open_source(str(path)).iter_calls(sizes.quarter, firms)
                    if isinstance(c, FirmCall)
                ]
                return run_embedding_bench(model, calls, pipeline_batch_size())

            _timed(sections, "embedding", embedding, log)
        if "firm_stage" in wanted:
            from ftm_assets.bench.firm_bench import run_firm_bench

            _timed(
                sections,
                "firm_stage",
                lambda: run_firm_bench(
                    env, corpus, sizes.quarter, sizes.firm_stage_firms, sizes.llm_latency_s, model
                ),
                log,
            )
        model = None
        if "bulk_load" in wanted:
            from ftm_assets.bench.load_bench import run_load_bench

            _timed(
                sections,
                "bulk_load",
                lambda: run_load_bench(env.database("load_bench"), sizes.load_rows),
                log,
            )
        if "themes" in wanted:
            from ftm_assets.bench.theme_bench import run_theme_bench

            _timed(
                sections,
                "themes",
                lambda: run_theme_bench(
                    sizes.theme_sizes,
                    sizes.theme_comparison_sizes,
                    sizes.theme_timeout_s,
                    scale_budget_s=sizes.theme_scale_budget_s,
                ),
                log,
            )
        if "memory" in wanted:
            from ftm_assets.bench.memory_bench import run_memory_bench

            _timed(
                sections,
                "memory",
                lambda: run_memory_bench(env, sizes.memory_firms, sizes.memory_sentences, timeout_s=3600),
                log,
            )
        if "search" in wanted:
            _timed(sections, "search", lambda: _search(env, sizes.search_vectors), log)
        if "scale" in wanted:
            from ftm_assets.bench.scale_bench import run_scale_bench

            _timed(
                sections,
                "scale",
                lambda: run_scale_bench(env, corpus, sizes.scale_firms, sizes.scale_llm_latency_s,
                                        workers=scale_workers),
                log,
            )
        if "llm" in wanted:
            from ftm_assets.bench.llm_bench import run_llm_bench

            _timed(sections, "llm", lambda: run_llm_bench(quick), log)
        if "history" in wanted:
            from ftm_assets.bench.history_bench import QUICK as HISTORY_QUICK
            from ftm_assets.bench.history_bench import HistorySizes, run_history_bench

            history_sizes = HistorySizes(sizes.history_quarters, sizes.history_vectors,
                                         *((HISTORY_QUICK.queries, HISTORY_QUICK.warmup_queries) if quick else ()))
            _timed(sections, "history", lambda: run_history_bench(env.database, history_sizes, log=log), log)
    report.update(sections)
    if "firm_stage" in sections:
        from ftm_assets.bench.scale import project_quarter

        report["projection_5000_firms"] = project_quarter(sections["firm_stage"], sections.get("themes"))
    report["machine"]["load_average_end"] = machine_facts()["load_average"]
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    return report


def pipeline_batch_size() -> int:
    """The embedding batch size a run uses by default (``EmbeddingModelResource``)."""
    from ftm_assets.defs.resources import EmbeddingModelResource

    return int(getattr(EmbeddingModelResource(), "batch_size", None) or 256)


def _search(env, n_vectors: int) -> dict:
    from ftm_assets.bench.search_bench import BENCH_HNSW, run_search_bench
    from ftm_assets.warehouse.schema import migrate

    url = env.database("search_bench")
    migrate(url, 384)
    result = run_search_bench(
        url,
        n_vectors=n_vectors,
        n_queries=50,
        quarters=8,
        k=10,
        hnsw=replace(BENCH_HNSW, maintenance_work_mem="512MB"),
        ef_search_values=(BENCH_HNSW.ef_search,),
        warmup_queries=10,
        exact_latency_queries=3,
    )
    return {
        "n_vectors": result["n_vectors"],
        "summary": result["summary"],
        "index_build_seconds": result["index_build_seconds"],
        "load_seconds": result["load_seconds"],
        "full_run": "python -m ftm_assets.bench.search_bench --vectors 1000000 --json (docs/search.md)",
    }

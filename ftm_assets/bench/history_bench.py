"""History benchmark: many quarters in one database, one HNSW index per quarter partition.

Loads ``quarters`` quarters of ``vectors_per_quarter`` synthetic 384-d sentence vectors (the
clustered mixture of :func:`ftm_assets.bench.search_bench.clustered_unit_vectors`: the same topics
every quarter, fresh samples of them) into the REAL schema (migrations up to 0003: ``firms`` rows, then ``sentences`` by binary
``COPY`` into the quarter's new partition), then builds that quarter's HNSW index with
:func:`ftm_assets.warehouse.quarters.build_quarter_indexes`, as the firm op does after a quarter's
load. ``load_index_s`` per quarter is COPY + index build; adding the last quarter should cost what
adding the first did (``ratio_last_to_first``), since no other quarter's index is touched.

Search goes through :func:`ftm_assets.search.knn.nearest` (the ``ftm search`` path): over all
quarters (one query, the per-partition index scans merged) and with a quarter filter (one
partition). Recall@10 is against exact numpy search over the original float32 vectors, so for
``halfvec`` it includes the rounding to float16. Bytes per quarter (the ``sentences`` partition:
table and HNSW index) are measured for both types: the main run uses the default type, and its
first quarter is loaded again into a ``vector`` (or ``halfvec``) database for the comparison, with
its one-quarter recall on the same queries.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

from ftm_assets.bench.search_bench import (
    _PGCOPY_HEADER,
    _PGCOPY_TRAILER,
    quarter_labels,
)
from ftm_assets.search.knn import ScanSettings, ef_search_per_quarter, explain_nearest, nearest
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.quarters import build_quarter_indexes, partition_name
from ftm_assets.warehouse.schema import DEFAULT_VECTOR_TYPE, VECTOR_TYPES, HnswSettings, migrate

DIM = 384
K = 10
SENTENCES_PER_FIRM = 500
TARGETS = {"ratio_last_to_first_max": 1.25, "recall_at_10_min": 0.95, "search_p95_ms_max": 50.0}
_TEXT = b"synthetic sentence"
_COPY_CHUNK = 20_000


@dataclass(frozen=True)
class HistorySizes:
    quarters: int = 8
    vectors_per_quarter: int = 100_000
    queries: int = 100
    warmup_queries: int = 10

    def __post_init__(self) -> None:
        if self.quarters < 2 or self.vectors_per_quarter < SENTENCES_PER_FIRM or self.queries < 1:
            raise ValueError(f"history bench needs >= 2 quarters, >= {SENTENCES_PER_FIRM} vectors per quarter "
                             f"and >= 1 query, got {self}")


#: ``ftm bench --only history`` (about 10 minutes on an idle 2-core machine); the issue's size is
#: ``--history-vectors 250000``.
FULL = HistorySizes()
QUICK = HistorySizes(quarters=3, vectors_per_quarter=2_000, queries=20, warmup_queries=3)


def _quarter_vectors(quarter_index: int, n: int, seed: int) -> np.ndarray:
    """The quarter's ``n`` vectors (deterministic): fresh samples, every quarter, of ONE mixture
    (one model and recurring topics: the same shared direction and topic centres every quarter),
    with the parameters of :func:`ftm_assets.bench.search_bench.clustered_unit_vectors` (fitted to real MiniLM embeddings)."""
    shared_rng = np.random.default_rng(seed)
    shared = shared_rng.standard_normal(DIM).astype(np.float32)
    shared /= np.linalg.norm(shared)
    centers = shared_rng.standard_normal((200, DIM)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    scale = np.arange(1, DIM + 1, dtype=np.float32) ** -0.5
    scale /= np.sqrt(np.sum(scale**2))
    rng = np.random.default_rng([seed, quarter_index])
    members = rng.integers(0, len(centers), n)
    out = rng.standard_normal((n, DIM)).astype(np.float32) * scale
    out += 0.6 * centers[members] + 0.45 * shared
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _copy_dtype(vector_type: str) -> np.dtype:
    value = (">f2", (DIM,)) if vector_type == "halfvec" else (">f4", (DIM,))
    return np.dtype([
        ("nfields", ">i2"),
        ("firm_len", ">i4"), ("firm", "S7"),
        ("quarter_len", ">i4"), ("quarter", "S6"),
        ("index_len", ">i4"), ("sentence_index", ">i4"),
        ("text_len", ">i4"), ("text", f"S{len(_TEXT)}"),
        ("vec_len", ">i4"), ("vec_dim", ">i2"), ("vec_unused", ">i2"), ("vec", *value),
    ])


def load_quarter(conn: psycopg.Connection, quarter: str, vectors: np.ndarray, vector_type: str) -> float:
    """Insert the quarter's firms (the trigger creates its partitions) and COPY its sentences in
    one transaction, in row order; returns the seconds taken."""
    n = len(vectors)
    firms = [f"F{i:06d}" for i in range((n + SENTENCES_PER_FIRM - 1) // SENTENCES_PER_FIRM)]
    dtype = _copy_dtype(vector_type)
    t0 = time.perf_counter()
    with conn.transaction():
        with conn.cursor().copy(
            "COPY firms (firm_id, quarter, n_sentences, n_topics, outlier_share, topic_outcome, summary_source,"
            " input_fingerprint) FROM STDIN"
        ) as copy:
            for i, firm in enumerate(firms):
                size = min(SENTENCES_PER_FIRM, n - i * SENTENCES_PER_FIRM)
                copy.write_row((firm, quarter, size, 0, 1.0, "bench", "none", "bench"))
        with conn.cursor().copy(
            "COPY sentences (firm_id, quarter, sentence_index, text, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.write(_PGCOPY_HEADER)
            for start in range(0, n, _COPY_CHUNK):
                stop = min(n, start + _COPY_CHUNK)
                pos = np.arange(start, stop)
                rows = np.zeros(stop - start, dtype=dtype)
                rows["nfields"] = 5
                rows["firm_len"], rows["firm"] = 7, [firms[p // SENTENCES_PER_FIRM].encode() for p in pos]
                rows["quarter_len"], rows["quarter"] = 6, quarter.encode()
                rows["index_len"], rows["sentence_index"] = 4, pos % SENTENCES_PER_FIRM
                rows["text_len"], rows["text"] = len(_TEXT), _TEXT
                rows["vec_len"] = 4 + DIM * dtype["vec"].base.itemsize
                rows["vec_dim"], rows["vec"] = DIM, vectors[start:stop]
                copy.write(rows.tobytes())
            copy.write(_PGCOPY_TRAILER)
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(partition_name("sentences", quarter))))
    return time.perf_counter() - t0


def _first_id(conn: psycopg.Connection, quarter: str, n: int) -> int:
    lo, hi, count = conn.execute(
        "SELECT min(sentence_id), max(sentence_id), count(*) FROM sentences WHERE quarter = %s", (quarter,)
    ).fetchone()
    if count != n or hi - lo + 1 != n:
        raise RuntimeError(f"quarter {quarter}: ids of the {n} loaded rows are not consecutive ({lo}..{hi}, {count})")
    return int(lo)


def _top_k(sims: np.ndarray, k: int) -> np.ndarray:
    idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return idx


def _sizes(conn: psycopg.Connection, quarter: str) -> dict:
    part = partition_name("sentences", quarter)
    table, index = conn.execute(
        "SELECT pg_table_size(%s::regclass), pg_relation_size(%s::regclass)", (part, f"{part}_embedding_hnsw")
    ).fetchone()
    return {"table": int(table), "hnsw_index": int(index), "total": int(table + index)}


def _search(conn: psycopg.Connection, queries: np.ndarray, truth: Sequence[set[int]],
            quarters: Sequence[str] | None, scan: ScanSettings, warmup: np.ndarray) -> dict:
    def run(qv: np.ndarray, quarter: str | None):
        if quarter is None:
            return nearest(conn, "sentences", "sentence_id", qv, K, scan=scan)
        return nearest(conn, "sentences", "sentence_id", qv, K, filters=(sql.SQL("quarter = %(quarter)s"),),
                       params={"quarter": quarter}, scan=scan)

    for i, qv in enumerate(warmup):
        run(qv, None if quarters is None else quarters[i % len(quarters)])
    latencies, recalls = [], []
    for i, qv in enumerate(queries):
        t0 = time.perf_counter()
        result = run(qv, None if quarters is None else quarters[i])
        latencies.append(time.perf_counter() - t0)
        recalls.append(len({n.id for n in result.neighbours} & truth[i]) / K)
    return {"p95_ms": round(float(np.percentile(np.asarray(latencies) * 1000, 95)), 2),
            "p50_ms": round(float(np.percentile(np.asarray(latencies) * 1000, 50)), 2),
            "recall_at_10": round(statistics.fmean(recalls), 4)}


def run_history_bench(database: Callable[[str], str], sizes: HistorySizes = FULL, *,
                      vector_type: str = DEFAULT_VECTOR_TYPE, hnsw: HnswSettings | None = None,
                      seed: int = 0, log: Callable[[str], None] = lambda _line: None) -> dict:
    """Run the benchmark; ``database(name)`` returns the URL of a new empty database."""
    if vector_type not in VECTOR_TYPES:
        raise ValueError(f"vector_type must be one of {VECTOR_TYPES}, got {vector_type!r}")
    hnsw = hnsw or HnswSettings(maintenance_work_mem="1GB")
    other_type = "vector" if vector_type == "halfvec" else "halfvec"
    n, nq = sizes.vectors_per_quarter, sizes.queries
    labels = quarter_labels(sizes.quarters)
    rng = np.random.default_rng(seed)

    # queries: rows of a random quarter's mixture not stored; filtered queries name a random quarter
    extra = nq * 2 + sizes.warmup_queries
    query_from = rng.integers(0, sizes.quarters, extra)
    pool = np.zeros((extra, DIM), np.float32)
    for qi in range(sizes.quarters):
        rows = _quarter_vectors(qi, n + extra, seed)[n:]
        pool[query_from == qi] = rows[query_from == qi]
    all_q, one_q, warmup = pool[:nq], pool[nq:2 * nq], pool[2 * nq:]
    one_quarter = rng.integers(0, sizes.quarters, nq)
    zero_q = pool[nq:2 * nq]  # the same queries, filtered to the first quarter, for the type comparison

    url = database(f"history_{vector_type}")
    migrate(url, DIM, "history-bench", vector_type)
    best_all = np.full((nq, K), -np.inf, np.float32)
    best_all_ids = np.zeros((nq, K), np.int64)
    truth_one: list[set[int]] = [set() for _ in range(nq)]
    truth_zero: list[set[int]] = []
    first0 = 0
    per_quarter: list[dict] = []
    first_vectors = None
    with connect(url, autocommit=True) as conn:
        for qi, quarter in enumerate(labels):
            vectors = _quarter_vectors(qi, n + extra, seed)[:n]
            load_s = load_quarter(conn, quarter, vectors, vector_type)
            t0 = time.perf_counter()
            build_quarter_indexes(conn, quarter, hnsw, tables=("sentences",))
            index_s = time.perf_counter() - t0
            first = _first_id(conn, quarter, n)
            sims = all_q @ vectors.T
            both = np.concatenate([best_all, sims], axis=1)
            both_ids = np.concatenate([best_all_ids, np.broadcast_to(np.arange(n) + first, sims.shape)], axis=1)
            top = _top_k(both, K)
            best_all, best_all_ids = np.take_along_axis(both, top, 1), np.take_along_axis(both_ids, top, 1)
            mine = np.flatnonzero(one_quarter == qi)
            if len(mine):
                for row, idx in zip(mine, _top_k(one_q[mine] @ vectors.T, K), strict=True):
                    truth_one[row] = {int(i) + first for i in idx}
            if qi == 0:
                truth_zero = [{int(i) + first for i in idx} for idx in _top_k(zero_q @ vectors.T, K)]
                first_vectors, first0 = vectors, first
            per_quarter.append({"quarter": quarter, "load_s": round(load_s, 2), "index_s": round(index_s, 2),
                                "load_index_s": round(load_s + index_s, 2)})
            log(f"history: {quarter} loaded in {load_s:.1f} s, indexed in {index_s:.1f} s")
        truth_all = [{int(i) for i in row} for row in best_all_ids]
        scan = ScanSettings(ef_search=hnsw.ef_search)
        ef_all = ef_search_per_quarter(hnsw.ef_search, sizes.quarters)  # as `ftm search` without --quarter
        all_quarters = _search(conn, all_q, truth_all, None, ScanSettings(ef_search=ef_all), warmup)
        ef_sweep = {ef: _search(conn, all_q, truth_all, None, ScanSettings(ef_search=ef), warmup[:0])
                    for ef in sorted({40, 100, hnsw.ef_search} - {ef_all})}
        one = _search(conn, one_q, truth_one, [labels[i] for i in one_quarter], scan, warmup)
        zero_main = _search(conn, zero_q, truth_zero, [labels[0]] * nq, scan, warmup[:0])
        bytes_main = _sizes(conn, labels[0])
        plan_one = explain_nearest(conn, "sentences", "sentence_id", one_q[0], K,
                                   filters=(sql.SQL("quarter = %(quarter)s"),), params={"quarter": labels[-1]},
                                   scan=scan)
        plan_all = explain_nearest(conn, "sentences", "sentence_id", all_q[0], K, scan=scan)

    # the first quarter again, as the other vector type
    other_url = database(f"history_{other_type}")
    migrate(other_url, DIM, "history-bench", other_type)
    with connect(other_url, autocommit=True) as conn:
        load_s = load_quarter(conn, labels[0], first_vectors, other_type)
        t0 = time.perf_counter()
        build_quarter_indexes(conn, labels[0], hnsw, tables=("sentences",))
        other_index_s = time.perf_counter() - t0
        first = _first_id(conn, labels[0], n)
        zero_other = _search(conn, zero_q, [{i - first0 + first for i in s} for s in truth_zero], [labels[0]] * nq,
                             scan, warmup[:0])
        bytes_other = _sizes(conn, labels[0])
    log(f"history: {other_type} quarter loaded in {load_s:.1f} s, indexed in {other_index_s:.1f} s")

    first_s, last_s = per_quarter[0]["load_index_s"], per_quarter[-1]["load_index_s"]
    result = {
        "quarters": sizes.quarters,
        "vectors_per_quarter": n,
        "vector_type": vector_type,
        "load_index_s_first": first_s,
        "load_index_s_last": last_s,
        "ratio_last_to_first": round(last_s / first_s, 3) if first_s else None,
        "search_p95_ms_all_quarters": all_quarters["p95_ms"],
        "search_p95_ms_one_quarter": one["p95_ms"],
        "recall_at_10": min(all_quarters["recall_at_10"], one["recall_at_10"]),
        "recall_at_10_all_quarters": all_quarters["recall_at_10"],
        "recall_at_10_one_quarter": one["recall_at_10"],
        "bytes_per_quarter": {vector_type: bytes_main, other_type: bytes_other},
        "first_quarter_by_type": {
            vector_type: {"load_index_s": first_s, **zero_main},
            other_type: {"load_index_s": round(load_s + other_index_s, 2), **zero_other},
        },
        "ef_search_all_quarters": ef_all,
        "ef_search_one_quarter": hnsw.ef_search,
        "all_quarters_by_ef_search": {str(ef): r for ef, r in ef_sweep.items()},
        "per_quarter": per_quarter,
        "plan_one_quarter_partitions": sorted(set(_partitions_in(plan_one))),
        "plan_all_quarters_partitions": len(set(_partitions_in(plan_all))),
        "hnsw": {"m": hnsw.m, "ef_construction": hnsw.ef_construction, "ef_search": hnsw.ef_search},
        "targets": TARGETS,
    }
    result["targets_met"] = {
        "ratio": result["ratio_last_to_first"] is not None
        and result["ratio_last_to_first"] <= TARGETS["ratio_last_to_first_max"],
        "recall": result["recall_at_10"] >= TARGETS["recall_at_10_min"],
        "p95_all_quarters": result["search_p95_ms_all_quarters"] <= TARGETS["search_p95_ms_max"],
        "p95_one_quarter": result["search_p95_ms_one_quarter"] <= TARGETS["search_p95_ms_max"],
    }
    return result


def _partitions_in(plan: str) -> list[str]:
    import re

    return re.findall(r"\bon (sentences_\d{4}q[1-4])\b", plan)

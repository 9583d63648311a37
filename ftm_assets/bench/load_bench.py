"""Bulk load with vectors: binary ``COPY`` (the pipeline's path) vs ``executemany`` INSERTs.

Rows shaped like ``sentences`` (firm, quarter, index, ~120 characters of text, a 384-float
vector) go into a scratch table with no index but its primary key, once per method, each in one
transaction. ``COPY`` uses ``write_row`` with binary types as ``warehouse.firm_rows`` does;
``executemany`` is psycopg 3's (which already pipelines the statements). The scratch table is
dropped afterwards.
"""

from __future__ import annotations

import time

import numpy as np
from pgvector.psycopg import register_vector

from ftm_assets.warehouse.database import connect

__all__ = ["LOAD_TABLE", "run_load_bench"]

LOAD_TABLE = "bench_load_sentences"
_TEXT = "Revenue grew in the quarter as demand for our products stayed strong across regions and channels."


def _rows(n: int, dim: int, seed: int):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [(f"F{i // 500:05d}", "2024Q1", i % 500, f"{_TEXT} ({i})", vectors[i]) for i in range(n)]


def run_load_bench(database_url: str, n_rows: int = 20_000, dim: int = 384, seed: int = 0) -> dict:
    """Rows per second of both methods over the same ``n_rows`` rows; ratio COPY / executemany."""
    rows = _rows(n_rows, dim, seed)
    seconds = {}
    with connect(database_url, autocommit=True, vector=False) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        conn.execute(f"DROP TABLE IF EXISTS {LOAD_TABLE}")
        conn.execute(
            f"CREATE TABLE {LOAD_TABLE} (row_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            f" firm_id text, quarter text, sentence_index integer, text text, embedding vector({dim}))"
        )
        try:
            for method in ("copy", "executemany"):
                conn.execute(f"TRUNCATE {LOAD_TABLE}")
                t0 = time.perf_counter()
                with conn.transaction():
                    if method == "copy":
                        with conn.cursor().copy(
                            f"COPY {LOAD_TABLE} (firm_id, quarter, sentence_index, text, embedding)"
                            " FROM STDIN WITH (FORMAT BINARY)"
                        ) as copy:
                            copy.set_types(["text", "text", "int4", "text", "vector"])
                            for row in rows:
                                copy.write_row(row)
                    else:
                        with conn.cursor() as cur:
                            cur.executemany(
                                f"INSERT INTO {LOAD_TABLE} (firm_id, quarter, sentence_index, text,"
                                " embedding) VALUES (%s, %s, %s, %s, %s)",
                                rows,
                            )
                seconds[method] = time.perf_counter() - t0
                stored = conn.execute(f"SELECT count(*) FROM {LOAD_TABLE}").fetchone()[0]
                if stored != n_rows:
                    raise RuntimeError(f"load bench: {method} stored {stored} rows, expected {n_rows}")
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {LOAD_TABLE}")
    copy_rate, many_rate = n_rows / seconds["copy"], n_rows / seconds["executemany"]
    return {
        "rows": n_rows,
        "dim": dim,
        "copy": {"seconds": round(seconds["copy"], 2), "rows_per_s": round(copy_rate)},
        "executemany": {"seconds": round(seconds["executemany"], 2), "rows_per_s": round(many_rate)},
        "ratio_copy_to_executemany": round(copy_rate / many_rate, 2),
    }

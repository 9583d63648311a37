"""Peak memory of a quarter run against the number of firms: it must not grow with the quarter.

A synthetic quarter of ``firms`` x ``sentences`` rows is written to Parquet (row groups of 500
firms), then a fresh subprocess streams it through :class:`~ftm_assets.stages.firms.FirmStage`
into its own database of the bench server: the file reader (chunks of firms), the stage's
pending-firm queue, the per-firm transaction with binary ``COPY`` of every sentence and its
vector. The child samples its RSS after every 10 % of the firms and reports its peak
(``getrusage``). The bench databases run with ``synchronous_commit = off``: memory is measured
here, not commit latency (the firm-stage bench measures that).

Embedding 2.5 M sentences and fitting 5,000 BERTopic models does not fit in a bench on this
machine, so this run uses two stand-ins, and says so in its output: a model-free encoder
(:class:`StandInEncoder`, deterministic unit vectors of the real width) and ``min_sentences``
above the call length, so every firm takes the ``too_few_sentences`` path (no UMAP, no LLM
call). What is measured is therefore the streaming of rows and vectors through reader, stage
and database, which is where a quarter's volume is; topic modelling holds one firm at a time
and is measured by the firm-stage bench.

Run one measurement: ``python -m ftm_assets.bench.memory_bench --firms 500 --sentences 500
--database-url URL`` (a database where the schema may be created).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import psycopg

__all__ = ["StandInEncoder", "measure_quarter_memory", "run_memory_bench", "write_synthetic_quarter"]

QUARTER = "2024Q1"
_WORDS = (
    "revenue",
    "margin",
    "demand",
    "customers",
    "pricing",
    "supply",
    "chain",
    "inventory",
    "guidance",
    "growth",
    "cloud",
    "data",
    "freight",
    "labor",
    "costs",
    "capital",
    "dividend",
    "debt",
    "rates",
    "orders",
    "backlog",
    "segment",
    "outlook",
    "quarter",
)


class StandInEncoder:
    """Model-free stand-in for ``SentenceEncoder`` (memory bench only): unit vectors of width
    ``dim`` from a generator seeded by the batch size, no model weights."""

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.model_id = f"stand-in-random-{dim}"
        self.device = "cpu"
        self.batch_size = 256

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        rng = np.random.default_rng(len(texts))
        vectors = rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def write_synthetic_quarter(path: Path, n_firms: int, sentences: int, seed: int = 0) -> Path:
    """``n_firms`` calls of ``sentences`` sentences (~15 words each) in one Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    vocabulary = np.array(_WORDS)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        for start in range(0, n_firms, 500):
            firms = range(start, min(n_firms, start + 500))
            n = len(firms) * sentences
            words = vocabulary[rng.integers(0, len(vocabulary), (n, 15))]
            table = pa.table(
                {
                    "firm_id": np.repeat([f"SYN{f:05d}" for f in firms], sentences),
                    "quarter": np.full(n, QUARTER),
                    "sentence_index": np.tile(np.arange(sentences, dtype=np.int64), len(firms)),
                    "text": [" ".join(row) + "." for row in words],
                    "section": np.full(n, "prepared"),
                    "speaker": np.full(n, "Speaker"),
                }
            )
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return path


def measure_quarter_memory(transcripts: Path, database_url: str, expected_firms: int) -> dict:
    """Stream the quarter through ``FirmStage`` in this process; RSS samples and peak."""
    from ftm_assets.bench.timing import current_rss_mb, peak_rss_mb
    from ftm_assets.llm.client import TopicSummarizer
    from ftm_assets.llm.settings import LlmSettings
    from ftm_assets.modeling.settings import FirmTopicSettings
    from ftm_assets.sources.open import open_source
    from ftm_assets.stages.firms import FirmStage, FirmStageSettings
    from ftm_assets.warehouse.database import connect
    from ftm_assets.warehouse.schema import migrate

    encoder = StandInEncoder()
    migrate(database_url, encoder.dim, encoder.model_id)  # a new quarter's partitions have no index yet
    source = open_source(str(transcripts))
    settings = FirmStageSettings(topics=FirmTopicSettings(min_sentences=10**6), recompute=True)
    samples, statuses = [], {}
    step = max(1, expected_firms // 10)
    rss_start = current_rss_mb()
    t0 = time.perf_counter()
    with TopicSummarizer(LlmSettings(api_key=None)) as summarizer:
        stage = FirmStage(encoder, summarizer, database_url, settings, run_id="memory-bench")
        try:
            for n, outcome in enumerate(stage.run(source.iter_calls(QUARTER)), 1):
                statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
                if n % step == 0:
                    samples.append([n, round(current_rss_mb(), 1)])
        finally:
            stage.close()
    seconds = time.perf_counter() - t0
    with connect(database_url) as conn:
        stored = conn.execute("SELECT count(*) FROM sentences").fetchone()[0]
    return {
        "firms": sum(statuses.values()),
        "statuses": statuses,
        "sentences_stored": stored,
        "seconds": round(seconds, 1),
        "firms_per_s": round(sum(statuses.values()) / seconds, 1),
        "rss_start_mb": round(rss_start, 1),
        "rss_samples_mb": samples,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def run_memory_bench(env, firm_counts: Sequence[int], sentences: int, timeout_s: float) -> dict:
    """One subprocess per firm count (each its own database); peak RSS and growth per 1,000 firms."""
    runs = []
    for n_firms in firm_counts:
        transcripts = write_synthetic_quarter(
            env.workdir("memory") / f"quarter_{n_firms}.parquet", n_firms, sentences
        )
        url = env.database(f"memory_{n_firms}")
        # Memory is measured here, not commit latency: skip the fsync wait of each firm's commit.
        with psycopg.connect(env.admin_url, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE memory_{int(n_firms)} SET synchronous_commit = off")
        command = [
            sys.executable,
            "-m",
            "ftm_assets.bench.memory_bench",
            "--transcripts",
            str(transcripts),
            "--database-url",
            url,
            "--firms",
            str(n_firms),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"memory bench with {n_firms} firms failed: {done.stderr.strip()[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["sentences_per_firm"] = sentences
        runs.append(result)
        transcripts.unlink()
    small, large = runs[0], runs[-1]
    growth = (large["peak_rss_mb"] - small["peak_rss_mb"]) / max(1, large["firms"] - small["firms"]) * 1000
    return {
        "runs": runs,
        "peak_rss_growth_mb_per_1000_firms": round(growth, 2),
        "flat": bool(large["peak_rss_mb"] <= small["peak_rss_mb"] * 1.15 + 20),
        "stand_ins": "model-free encoder (random unit vectors, 384 wide) and min_sentences above the call "
        "length (no UMAP/HDBSCAN, no LLM); reader, stage queue and per-firm COPY of all "
        "sentences with vectors are real",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ftm_assets.bench.memory_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--transcripts", type=Path, help="an existing synthetic quarter (default: write one)")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--firms", type=int, required=True)
    parser.add_argument(
        "--sentences", type=int, default=500, help="sentences per firm when writing a quarter"
    )
    args = parser.parse_args(argv)
    transcripts = args.transcripts
    if transcripts is None:
        transcripts = write_synthetic_quarter(
            Path(f"/tmp/ftm_memory_bench_{args.firms}.parquet"), args.firms, args.sentences
        )
    print(json.dumps(measure_quarter_memory(transcripts, args.database_url, args.firms)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

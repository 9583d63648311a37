"""A firm with 20,000 sentences, through the real reader, the real firm stage and the real database.

Embedding 20,000 sentences with the real model takes minutes on a CPU CI box (about 60 sentences a
second on this 2-core machine), so the vectors are precomputed: clustered random unit vectors, one
per sentence, served by a stand-in encoder. Everything else is the pipeline's own code: the
Parquet file (many small row groups, rows shuffled) is streamed by ``FileTranscriptSource``, the
``min_sentences`` check, UMAP + HDBSCAN topics, the offline summarizer and the one-transaction
COPY write. A 3-sentence firm in the same file gets the ``too_few_sentences`` outcome.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from ftm_assets.llm.client import TopicSummarizer
from ftm_assets.llm.settings import LlmSettings
from ftm_assets.sources.files import FileTranscriptSource
from ftm_assets.stages.firms import FirmStage, FirmStageSettings
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.schema import migrate
from ftm_assets.warehouse.state import integrity_problems

from .conftest import QUARTER, record_figures

pytestmark = pytest.mark.reliability

BIG = 20_000
DIM = 384
SUBJECTS = ["pricing", "margins", "China demand", "labor costs", "energy transition", "interest rates",
            "data centers", "supply chain", "buybacks", "inventory"]


class PrecomputedEncoder:
    """Serves a vector per known text; the same interface the stage uses (``encode``, ``dim``, ``model_id``)."""

    model_id = "precomputed-test-vectors"
    dim = DIM

    def __init__(self, vectors: dict[str, np.ndarray], rng: np.random.Generator):
        self._vectors = vectors
        self._rng = rng
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.stack([self._vectors[t] if t in self._vectors else self._random() for t in texts]) if texts \
            else np.zeros((0, DIM), np.float32)
        return out.astype(np.float32)

    def _random(self) -> np.ndarray:  # summaries written by the stage itself
        v = self._rng.normal(size=DIM)
        return v / np.linalg.norm(v)


def big_call(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    centres = rng.normal(size=(len(SUBJECTS), DIM))
    labels = rng.integers(0, len(SUBJECTS), n)
    vectors = centres[labels] + 0.7 * rng.normal(size=(n, DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [f"In segment {i % 13}, remark {i} was about {SUBJECTS[k]} and what it means for next year."
             for i, k in enumerate(labels)]
    frame = pd.DataFrame({"firm_id": "BIGCO", "quarter": QUARTER, "sentence_index": np.arange(n, dtype="int64"),
                          "text": texts, "speaker": "CEO", "section": "prepared_remarks"})
    return frame, dict(zip(texts, vectors, strict=True))


def test_a_20000_sentence_firm_streams_clusters_and_stores(database_url, tmp_path):
    rng = np.random.default_rng(20_000)
    frame, vectors = big_call(BIG, rng)
    tiny = pd.DataFrame({"firm_id": "TINY", "quarter": QUARTER, "sentence_index": [0, 1, 2],
                         "text": ["Revenue grew.", "Margins held up well.", "We raised guidance."],
                         "speaker": "CFO", "section": "prepared_remarks"})
    path = tmp_path / "big.parquet"
    shuffled = pd.concat([frame, tiny]).sample(frac=1.0, random_state=1)  # the reader must restore the order
    shuffled.to_parquet(path, index=False, row_group_size=1500)

    source = FileTranscriptSource(path)
    assert source.list_calls() == [("BIGCO", QUARTER), ("TINY", QUARTER)]
    migrate(database_url, DIM, PrecomputedEncoder.model_id)
    encoder = PrecomputedEncoder(vectors, rng)
    with TopicSummarizer(LlmSettings(api_key=None)) as summarizer:
        stage = FirmStage(encoder, summarizer, database_url, FirmStageSettings(), run_id="large-firm-test")
        try:
            outcomes = {o.firm_id: o for o in stage.run(source.iter_calls(QUARTER, chunk_firms=1))}
        finally:
            stage.close()

    big, small = outcomes["BIGCO"], outcomes["TINY"]
    assert big.status == "succeeded" and small.status == "succeeded", (big.error, small.error)
    assert big.stats.sentences == BIG and big.stats.topic_outcome == "ok" and big.stats.topics >= 2
    assert small.stats.topic_outcome == "too_few_sentences" and small.stats.topics == 0
    with connect(database_url) as conn:
        stored = conn.execute("SELECT count(*), min(sentence_index), max(sentence_index), count(DISTINCT text),"
                              " count(topic_id) FROM sentences WHERE firm_id = 'BIGCO'").fetchone()
        sizes = conn.execute("SELECT sum(size) FROM topics WHERE firm_id = 'BIGCO'").fetchone()[0]
        pairs = conn.execute("SELECT sentence_index, text FROM sentences WHERE firm_id = 'BIGCO'").fetchall()
        assert integrity_problems(conn) == []
    assert stored[:4] == (BIG, 0, BIG - 1, BIG)
    assert all(f", remark {i} was about " in text for i, text in pairs)  # each kept its index after the shuffle
    assert sizes == stored[4]  # topic sizes add up to the sentences assigned to a topic
    record_figures("large_firm", {"sentences": BIG, "topics": big.stats.topics,
                                  "outlier_share": big.stats.outlier_share,
                                  "timings_s": {k: round(v, 1) for k, v in big.timings.as_dict().items()}})

"""The per-firm stats and the metadata names every reader shares."""

from __future__ import annotations

from ftm_assets.defs.asset_keys import FIRM_ASSET_KEYS, FIRM_TOPICS, SENTENCE_EMBEDDINGS, TOPIC_SUMMARIES
from ftm_assets.defs.firm_assets import firm_metadata
from ftm_assets.defs.launch import STAGE_METADATA
from ftm_assets.stages.firm_stats import (
    SKIPPED,
    SUCCEEDED,
    FirmMetadata,
    FirmStats,
    FirmTimings,
    no_call_metadata,
)
from ftm_assets.stages.firms import FirmOutcome

STATS = FirmStats(sentences=120, topics=4, outlier_share=0.25, topic_outcome="ok", summary_source="llm",
                  fallback_reasons=("timeout",), prompt_tokens=900, completion_tokens=80, llm_calls=4,
                  quality={"n_topics": 4})
TIMINGS = FirmTimings(embed=1.23456, topics=2.0, llm_wait=0.5, db_write=0.1)


def test_metadata_of_a_computed_firm_per_asset():
    outcome = FirmOutcome("AAA", "2024Q1", SUCCEEDED, stats=STATS, timings=TIMINGS)
    emb = firm_metadata(outcome, SENTENCE_EMBEDDINGS, "model-x", 384)
    assert emb == {"quarter": "2024Q1", "has_call": True, "status": "computed", "sentences": 120,
                   "embedding_model": "model-x", "embedding_dim": 384, "embed_seconds": 1.235}
    topics = firm_metadata(outcome, FIRM_TOPICS, "model-x", 384)
    assert topics[FirmMetadata.TOPICS] == 4 and topics[FirmMetadata.OUTLIER_SHARE] == 0.25
    summaries = firm_metadata(outcome, TOPIC_SUMMARIES, "model-x", 384)
    assert summaries[FirmMetadata.FALLBACK_REASONS] == "timeout"
    assert summaries[FirmMetadata.TOPICS_SUMMARIZED] == 4 and summaries[FirmMetadata.LLM_CALLS] == 4


def test_a_skipped_firm_says_so_and_reports_stored_counts():
    stored = FirmStats(sentences=120, topics=4, outlier_share=0.25, topic_outcome="ok", summary_source="llm")
    outcome = FirmOutcome("AAA", "2024Q1", SKIPPED, stats=stored)
    for key in FIRM_ASSET_KEYS:
        meta = firm_metadata(outcome, key, "model-x", 384)
        assert meta[FirmMetadata.STATUS] == FirmMetadata.SKIPPED_STATUS
    assert firm_metadata(outcome, TOPIC_SUMMARIES, "m", 1)[FirmMetadata.FALLBACK_REASONS] == "none"
    assert stored.quality is None  # its quality check is the earlier evaluation


def test_no_call_metadata_and_stage_timings_use_the_same_names():
    assert no_call_metadata("2024Q1") == {FirmMetadata.QUARTER: "2024Q1", FirmMetadata.HAS_CALL: False}
    outcome = FirmOutcome("AAA", "2024Q1", SUCCEEDED, stats=STATS, timings=TIMINGS)
    for asset, field in STAGE_METADATA.values():
        assert field in firm_metadata(outcome, asset, "m", 1), (asset, field)


def test_timings_from_a_partial_mapping():
    assert FirmTimings.from_mapping({"embed": 1, "unknown": 5}) == FirmTimings(embed=1.0)
    assert FirmTimings(topics=2.0).as_dict()["topics"] == 2.0

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from ftm_assets.modeling.types import (
    OUTLIER_TOPIC,
    CallSentence,
    FirmCall,
    FirmTopics,
    Theme,
    TokenUsage,
    TopicRecord,
    TopicSummary,
)
from ftm_assets.warehouse.database import connect, mask_url
from ftm_assets.warehouse.firm_rows import FirmResult, input_fingerprint, replace_firm
from ftm_assets.warehouse.quarter_rows import load_quarter_topics, replace_quarter_themes, table_counts
from ftm_assets.warehouse.schema import (
    SchemaMismatchError,
    available_migrations,
    build_vector_indexes,
    drop_vector_indexes,
    migrate,
)

DIM = 8


def _unit(rng, n):
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _result(firm="ACME", quarter="2024Q1", n=6, seed=0, text_prefix="s") -> FirmResult:
    rng = np.random.default_rng(seed)
    call = FirmCall(firm, quarter, tuple(CallSentence(i, f"{text_prefix} {i}", "qa", "CEO") for i in range(n)),
                    firm_name="Acme Corp")
    topics = FirmTopics(
        topics=(TopicRecord(0, ("a", "b"), "a / b", 3, (0, 1)), TopicRecord(1, ("c",), "c", 2, (3,))),
        assignments=np.array([0, 0, 0, 1, 1] + [OUTLIER_TOPIC] * (n - 5)),
    )
    summaries = [TopicSummary(0, "sum a", "llm", usage=TokenUsage(10, 5, 1)),
                 TopicSummary(1, "sum c", "extractive", "no_api_key")]
    return FirmResult(call, _unit(rng, n), topics, summaries, _unit(rng, 2), input_fingerprint(call, "m", "s"))


def test_migrate_is_versioned_idempotent_and_keeps_width(database_url):
    applied = migrate(database_url, DIM, "m")
    assert applied == [m.name for m in available_migrations()]  # every migration, in order
    assert {"0001_core.sql", "0002_search_views.sql", "0004_exposures_and_lineage.sql"} <= set(applied)
    assert migrate(database_url, DIM, "m") == []
    with pytest.raises(SchemaMismatchError, match="stores 8-dimensional embeddings"):
        migrate(database_url, 384, "other")
    with connect(database_url) as conn:
        typ = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'sentences'::regclass"
            " AND attname = 'embedding'"
        ).fetchone()[0]
    assert typ == f"vector({DIM})"


def test_replace_firm_replaces_rows_without_duplicates_or_orphans(database_url):
    migrate(database_url, DIM)
    with connect(database_url, autocommit=True) as conn:
        replace_firm(conn, _result(n=6))
        first = table_counts(conn)
        replace_firm(conn, _result(n=6))
        assert table_counts(conn) == first
        assert first["sentences"] == 6 and first["topics"] == 2 and first["firms"] == 1
        # a smaller call replaces the larger one completely
        replace_firm(conn, _result(n=5, text_prefix="new"))
        assert conn.execute("SELECT count(*) FROM sentences").fetchone()[0] == 5
        assert conn.execute("SELECT count(*) FROM sentences WHERE text LIKE 's %'").fetchone()[0] == 0
        # topic assignment and representative sentences survive the round trip
        rows = conn.execute(
            "SELECT s.sentence_index, t.local_topic_id FROM sentences s LEFT JOIN topics t USING (topic_id)"
            " ORDER BY s.sentence_index").fetchall()
        assert [r[1] for r in rows] == [0, 0, 0, 1, 1]
        rep = conn.execute("SELECT representative_sentence_indexes, summary_source, fallback_reason FROM topics"
                           " ORDER BY local_topic_id").fetchall()
        assert rep == [([0, 1], "llm", None), ([3], "extractive", "no_api_key")]
        usage = conn.execute("SELECT prompt_tokens, completion_tokens, llm_calls, summary_source FROM firms").fetchone()
        assert usage == (10, 5, 1, "mixed")


def test_failed_write_keeps_previous_rows(database_url):
    migrate(database_url, DIM)
    with connect(database_url, autocommit=True) as conn:
        replace_firm(conn, _result(n=6))
        bad = _result(n=6)
        bad = FirmResult(bad.call, bad.sentence_embeddings[:3], bad.topics, bad.summaries,
                         bad.summary_embeddings, bad.fingerprint)
        with pytest.raises(ValueError, match="ACME quarter 2024Q1"):
            replace_firm(conn, bad)
        wrong_width = _result(n=6)
        wrong_width = FirmResult(wrong_width.call, np.ones((6, DIM + 1), np.float32), wrong_width.topics,
                                 wrong_width.summaries, wrong_width.summary_embeddings, wrong_width.fingerprint)
        with pytest.raises(psycopg.Error):
            replace_firm(conn, wrong_width)
        assert table_counts(conn)["sentences"] == 6


def test_quarter_topics_and_themes_round_trip(database_url):
    migrate(database_url, DIM)
    with connect(database_url, autocommit=True) as conn:
        replace_firm(conn, _result("ACME", seed=1))
        replace_firm(conn, _result("BETA", seed=2))
        replace_firm(conn, _result("GAMMA", quarter="2024Q2", seed=3))
        qt = load_quarter_topics(conn, "2024Q1")
        assert [t.firm_id for t in qt.topics] == ["ACME", "ACME", "BETA", "BETA"]
        assert qt.embeddings.shape == (4, DIM)
        theme = Theme(0, "Pricing", "Firms discuss pricing.", ("price",),
                      (qt.topics[0].topic_id, qt.topics[2].topic_id), 2, "extractive",
                      embedding=np.ones(DIM, np.float32))
        for _ in range(2):  # replacing twice leaves one copy
            replace_quarter_themes(conn, "2024Q1", [theme], n_firms_included=2, n_firms_expected=3)
        counts = table_counts(conn, "2024Q1")
        assert counts["themes"] == 1 and counts["topic_themes"] == 2
        # re-materializing a firm drops its links (no orphans), the other firm's stay
        replace_firm(conn, _result("ACME", seed=1))
        assert table_counts(conn, "2024Q1")["topic_themes"] == 1
        assert conn.execute("SELECT n_firms_expected FROM quarter_runs WHERE quarter='2024Q1'").fetchone()[0] == 3


def test_vector_indexes_are_deferred_and_rebuilt(database_url):
    migrate(database_url, DIM)
    with connect(database_url, autocommit=True) as conn:
        assert len(build_vector_indexes(conn)) == 3
        assert build_vector_indexes(conn) == []
        drop_vector_indexes(conn)
        replace_firm(conn, _result())
        assert sorted(build_vector_indexes(conn)) == ["sentences_embedding_hnsw", "themes_embedding_hnsw",
                                                      "topics_embedding_hnsw"]


def test_mask_url_hides_password():
    assert mask_url("postgresql://u:s3cret@db:5432/ftm") == "postgresql://u:***@db:5432/ftm"
    assert "s3cret" not in mask_url("postgresql://u:s3cret@db/ftm?sslmode=require")

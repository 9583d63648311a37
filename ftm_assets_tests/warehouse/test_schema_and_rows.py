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
from ftm_assets.warehouse.quarters import build_quarter_indexes, quarter_indexes, stored_quarters
from ftm_assets.warehouse.schema import SchemaMismatchError, available_migrations, migrate

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


def _embedding_type(conn, table="sentences") -> str:
    return conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass"
        " AND attname = 'embedding'", (table,)
    ).fetchone()[0]


def test_migrate_is_versioned_idempotent_and_keeps_width(database_url, monkeypatch):
    monkeypatch.delenv("FTM_VECTOR_TYPE", raising=False)
    applied = migrate(database_url, DIM, "m")
    assert applied == [m.name for m in available_migrations()]  # every migration, in order
    assert {"0001_core.sql", "0002_search_views.sql", "0003_quarter_partitions.sql",
            "0004_exposures_and_lineage.sql"} <= set(applied)
    assert migrate(database_url, DIM, "m") == []
    with pytest.raises(SchemaMismatchError, match="stores 8-dimensional embeddings"):
        migrate(database_url, 384, "other")
    with connect(database_url) as conn:
        assert _embedding_type(conn) == f"halfvec({DIM})"  # the default type of a new database
        assert conn.execute("SELECT value FROM ftm_meta WHERE key = 'vector_type'").fetchone()[0] == "halfvec"


@pytest.mark.parametrize("vtype", ["vector", "halfvec"])
def test_vector_type_is_fixed_when_the_database_is_created(database_url, monkeypatch, vtype):
    monkeypatch.setenv("FTM_VECTOR_TYPE", vtype)
    migrate(database_url, DIM, "m")
    other = "halfvec" if vtype == "vector" else "vector"
    monkeypatch.setenv("FTM_VECTOR_TYPE", other)
    with pytest.raises(SchemaMismatchError, match=f"stores embeddings as {vtype} but FTM_VECTOR_TYPE asks for {other}"):
        migrate(database_url, DIM, "m")
    monkeypatch.delenv("FTM_VECTOR_TYPE")
    assert migrate(database_url, DIM, "m") == []  # unset: the database's type
    monkeypatch.setenv("FTM_VECTOR_TYPE", "float8")
    with pytest.raises(ValueError, match="FTM_VECTOR_TYPE='float8'"):
        migrate(database_url, DIM, "m")
    with connect(database_url, autocommit=True) as conn:
        for table in ("sentences", "topics", "themes"):
            assert _embedding_type(conn, table) == f"{vtype}({DIM})"
        replace_firm(conn, _result(n=6))
        build_quarter_indexes(conn, "2024Q1")
        stored = np.vstack([r[0].to_numpy() for r in conn.execute(
            "SELECT embedding FROM sentences ORDER BY sentence_index")])
        expected = _result(n=6).sentence_embeddings
        np.testing.assert_allclose(stored, expected, atol=1e-3 if vtype == "halfvec" else 0)
        opclass = conn.execute(
            "SELECT opc.opcname FROM pg_index i JOIN pg_opclass opc ON opc.oid = i.indclass[0]"
            " WHERE i.indexrelid = 'sentences_2024q1_embedding_hnsw'::regclass").fetchone()[0]
        assert opclass == f"{vtype}_cosine_ops"


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


def test_one_partition_and_one_index_per_quarter(database_url):
    migrate(database_url, DIM)
    with connect(database_url, autocommit=True) as conn:
        replace_firm(conn, _result("ACME", quarter="2024Q1"))
        assert stored_quarters(conn) == ["2024Q1"]  # the first write of a quarter created its partitions
        partitions = {r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r'")}
        assert partitions == {"sentences_2024q1", "topics_2024q1", "themes_2024q1", "topic_themes_2024q1"}
        assert quarter_indexes(conn) == []  # nothing indexed during the load
        assert sorted(build_quarter_indexes(conn, "2024Q1")) == [
            "sentences_2024q1_embedding_hnsw", "themes_2024q1_embedding_hnsw", "topics_2024q1_embedding_hnsw"]
        assert build_quarter_indexes(conn, "2024Q1") == []
        q1_index = conn.execute("SELECT 'sentences_2024q1_embedding_hnsw'::regclass::oid").fetchone()[0]
        # loading another quarter creates and indexes only its own partitions
        replace_firm(conn, _result("BETA", quarter="2024Q2"))
        assert build_quarter_indexes(conn, "2024Q2", tables=("sentences",)) == ["sentences_2024q2_embedding_hnsw"]
        # re-running a firm of an indexed quarter keeps that quarter's index (same object)
        replace_firm(conn, _result("ACME", quarter="2024Q1", text_prefix="again"))
        assert conn.execute("SELECT 'sentences_2024q1_embedding_hnsw'::regclass::oid").fetchone()[0] == q1_index
        assert stored_quarters(conn) == ["2024Q1", "2024Q2"]
        # ids stay globally unique across partitions
        ids = [r[0] for r in conn.execute("SELECT sentence_id FROM sentences")]
        assert len(ids) == len(set(ids)) == 12


def test_mask_url_hides_password():
    assert mask_url("postgresql://u:s3cret@db:5432/ftm") == "postgresql://u:***@db:5432/ftm"
    assert "s3cret" not in mask_url("postgresql://u:s3cret@db/ftm?sslmode=require")

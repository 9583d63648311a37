"""Migration 0003 on a database filled by the previous schema: every row survives, ids included.

A demo quarter is materialized through Dagster (``run_quarter``, as ``ftm demo`` does) and its rows
are copied, ids and all, into a database built with migrations 0001-0002 only (the schema before
0003). Migration 0003 is then applied there and every row of every table, and of the three
views, is compared before and after."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from ftm_assets.defs.launch import run_quarter
from ftm_assets.modeling.types import OUTLIER_TOPIC, CallSentence, FirmCall, FirmTopics
from ftm_assets.search.retrieval import search_vector
from ftm_assets.warehouse.database import connect, ensure_database
from ftm_assets.warehouse.firm_rows import FirmResult, replace_firm
from ftm_assets.warehouse.quarters import build_missing_indexes, stored_quarters
from ftm_assets.warehouse.schema import migrate
from ftm_assets_tests.defs.helpers import write_corpus

QUARTER = "2020Q2"
#: the tables of the schema before 0003, in foreign-key order
OLD_TABLES = ("firms", "topics", "sentences", "themes", "topic_themes", "firm_runs", "quarter_runs")
VIEWS = {"topic_lineage": "topic_id", "sentence_lineage": "sentence_id", "theme_sentences": "theme_id, sentence_id"}


def _columns(conn, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = %s ORDER BY ordinal_position", (table,))]


def _rows(conn, relation: str, columns: list[str], order: str | None = None) -> list[tuple]:
    """Every row as text (vectors compared by their text form), in a stable order."""
    cols = ", ".join(f"{c}::text" for c in columns)
    return conn.execute(f"SELECT {cols} FROM {relation} ORDER BY {order or ', '.join(columns)}").fetchall()


def _snapshot(conn, old_columns: dict[str, list[str]]) -> dict[str, list[tuple]]:
    out = {table: _rows(conn, table, cols) for table, cols in old_columns.items()}
    for view, order in VIEWS.items():
        out[view] = _rows(conn, view, _columns(conn, view), order)
    return out


@pytest.mark.slow
def test_migration_0003_moves_every_row_of_a_demo_quarter(ftm_env, pg_instance, pg_admin_url, tmp_path,
                                                          monkeypatch):
    # the demo quarter, through the pipeline (stored as float32 vectors, like the old schema)
    monkeypatch.setenv("FTM_VECTOR_TYPE", "vector")
    corpus = write_corpus(tmp_path / "calls.parquet", n_firms=3, quarter=QUARTER, seed=3)  # a seed whose 3 firms form themes
    report = run_quarter(str(corpus), QUARTER, instance=pg_instance, event_log_level="WARNING")
    assert report["failed_firms"] == [] and report["themes"] >= 1

    # the same rows in a database with the schema before 0003
    name = f"old_{uuid.uuid4().hex[:10]}"
    ensure_database(pg_admin_url, name)
    old_url = pg_admin_url.replace("/postgres?", f"/{name}?")
    assert migrate(old_url, 384, "demo-model", up_to=2) == ["0001_core.sql", "0002_search_views.sql"]
    with connect(ftm_env["database_url"]) as src, connect(old_url, autocommit=True) as dst:
        old_columns = {t: _columns(dst, t) for t in OLD_TABLES}
        assert "quarter" not in old_columns["topic_themes"]
        for table, cols in old_columns.items():
            names = ", ".join(cols)
            with src.cursor().copy(f"COPY (SELECT {names} FROM {table}) TO STDOUT") as out, \
                    dst.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as into:
                for block in out:
                    into.write(block)
        before = _snapshot(dst, old_columns)
    assert {t: len(before[t]) > 0 for t in before} == {t: True for t in before}
    assert len(before["sentences"]) == report["sentences"]

    assert migrate(old_url, 384, "demo-model", up_to=3) == ["0003_quarter_partitions.sql"]

    with connect(old_url, autocommit=True) as conn:
        after = _snapshot(conn, old_columns)
        for relation in before:
            assert after[relation] == before[relation], relation
        # the new shape: partitioned by quarter, the type kept, the links carry their quarter
        assert stored_quarters(conn) == [QUARTER]
        assert conn.execute("SELECT value FROM ftm_meta WHERE key = 'vector_type'").fetchone()[0] == "vector"
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'sentences'").fetchone()[0] == "p"
        assert conn.execute("SELECT count(*) FROM topic_themes WHERE quarter <> %s", (QUARTER,)).fetchone()[0] == 0
        assert not conn.execute("SELECT to_regclass('sentences_v2')").fetchone()[0]

        # the quarter is searchable once indexed, and new rows get ids after the moved ones
        assert sorted(build_missing_indexes(conn)) == [
            "sentences_2020q2_embedding_hnsw", "themes_2020q2_embedding_hnsw", "topics_2020q2_embedding_hnsw"]
        vector = np.asarray(conn.execute("SELECT embedding FROM sentences LIMIT 1").fetchone()[0].to_numpy())
        hits = search_vector(conn, vector, quarter=QUARTER, levels=("sentence",), k=3)
        assert hits[0].score == pytest.approx(1.0, abs=1e-6)
        old_max = max(int(r[0]) for r in before["sentences"])
        rng = np.random.default_rng(0)
        emb = rng.normal(size=(3, 384)).astype(np.float32)
        call = FirmCall("NEWCO", QUARTER, tuple(CallSentence(i, f"new {i}") for i in range(3)))
        replace_firm(conn, FirmResult(call, emb / np.linalg.norm(emb, axis=1, keepdims=True),
                                      FirmTopics((), np.full(3, OUTLIER_TOPIC), "too_few_sentences"), (),
                                      np.zeros((0, 384), np.float32), "fp"))
        new_ids = [r[0] for r in conn.execute("SELECT sentence_id FROM sentences WHERE firm_id = 'NEWCO'")]
        assert min(new_ids) > old_max
        # a firm rewrite still cascades through the partitions (no orphans)
        firm = before["firms"][0][0]
        conn.execute("DELETE FROM firms WHERE firm_id = %s AND quarter = %s", (firm, QUARTER))
        assert conn.execute("SELECT count(*) FROM sentences WHERE firm_id = %s", (firm,)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM topic_themes tt LEFT JOIN topics t USING (topic_id, quarter)"
                            " WHERE t.topic_id IS NULL").fetchone()[0] == 0

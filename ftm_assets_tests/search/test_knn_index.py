"""The HNSW index path on a table large enough for the planner to choose it (6,000 synthetic sentences
over four quarter partitions, each with its own index)."""

from __future__ import annotations

import re
import uuid

import numpy as np
import pytest
from psycopg import sql

from ftm_assets.bench.search_bench import clustered_unit_vectors
from ftm_assets.modeling.types import OUTLIER_TOPIC, CallSentence, FirmCall, FirmTopics
from ftm_assets.search.knn import ScanSettings, ef_search_per_quarter, explain_nearest, nearest
from ftm_assets.search.retrieval import search_vector
from ftm_assets.warehouse.database import connect, ensure_database
from ftm_assets.warehouse.firm_rows import FirmResult, replace_firm
from ftm_assets.warehouse.quarters import build_quarter_indexes, stored_quarters
from ftm_assets.warehouse.schema import migrate

DIM = 384
BIG_FIRMS = [(f"BIG{i}", f"2020Q{i % 3 + 1}") for i in range(8)]  # 5,800 rows over three quarters
SMALL = ("SMALL", "2019Q4")  # 200 rows from other topics: never among the query's nearest overall
QUARTER_FILTER = (sql.SQL("quarter = %(quarter)s"),)
#: pgvector's cost model grows with ef_search: at 6,000 rows the planner already prefers an exact
#: scan at the search default (200), so the index-path tests run at pgvector's default of 40.
INDEX_SCAN = ScanSettings(ef_search=40)


def _firm(firm_id: str, quarter: str, vectors: np.ndarray) -> FirmResult:
    call = FirmCall(firm_id, quarter, tuple(CallSentence(i, f"{firm_id} sentence {i}") for i in range(len(vectors))))
    topics = FirmTopics((), np.full(len(vectors), OUTLIER_TOPIC), "too_few_sentences")
    return FirmResult(call, vectors, topics, (), np.zeros((0, DIM), np.float32), f"fp-{firm_id}")


@pytest.fixture(scope="module")
def big_table(pg_admin_url):
    """Built once for the module; the tests only read it."""
    name = f"knn_{uuid.uuid4().hex[:10]}"
    ensure_database(pg_admin_url, name)
    database_url = pg_admin_url.replace("/postgres?", f"/{name}?")
    migrate(database_url, DIM)
    big = clustered_unit_vectors(5800, DIM, np.random.default_rng(1))
    small = clustered_unit_vectors(200, DIM, np.random.default_rng(2))
    with connect(database_url, autocommit=True) as conn:
        for i, (firm_id, quarter) in enumerate(BIG_FIRMS):
            replace_firm(conn, _firm(firm_id, quarter, big[i::len(BIG_FIRMS)]))
        replace_firm(conn, _firm(*SMALL, small))
        for quarter in stored_quarters(conn):
            build_quarter_indexes(conn, quarter)
        conn.execute("ANALYZE sentences")
        rows = conn.execute("SELECT sentence_id, quarter, embedding FROM sentences ORDER BY sentence_id").fetchall()
        ids = np.array([r[0] for r in rows])
        quarters = np.array([r[1] for r in rows])
        vectors = np.vstack([r[2].to_numpy() for r in rows])
        yield conn, ids, quarters, vectors, big[0]


def _exact(ids, vectors, query, k, mask=None):
    sims = vectors @ query
    if mask is not None:
        sims = np.where(mask, sims, -np.inf)
    return [int(i) for i in ids[np.argsort(-sims, kind="stable")[:k]]]


def _partitions(plan: str) -> set[str]:
    return set(re.findall(r"\bsentences_\d{4}q[1-4]\b", plan))


def test_one_query_over_all_quarters_merges_the_per_quarter_index_scans(big_table):
    conn, *_, query = big_table
    plan = explain_nearest(conn, "sentences", "sentence_id", query, 10, scan=INDEX_SCAN)
    assert "Merge Append" in plan  # per-quarter results merged by distance
    for quarter in ("2020q1", "2020q2", "2020q3"):
        assert f"sentences_{quarter}_embedding_hnsw" in plan
    assert _partitions(plan) == {"sentences_2019q4", "sentences_2020q1", "sentences_2020q2", "sentences_2020q3"}


def test_a_quarter_filter_touches_that_quarters_partition_only(big_table):
    conn, *_, query = big_table
    plan = explain_nearest(conn, "sentences", "sentence_id", query, 10, filters=QUARTER_FILTER,
                           params={"quarter": "2020Q1"}, scan=INDEX_SCAN)
    # e.g. "Index Scan using sentences_2020q1_embedding_hnsw on sentences_2020q1 sentences"
    assert "Index Scan using sentences_2020q1_embedding_hnsw on sentences_2020q1" in plan
    assert _partitions(plan) == {"sentences_2020q1"}


def test_filtered_search_returns_k_in_filter_hits(big_table):
    conn, ids, quarters, vectors, query = big_table
    result = nearest(conn, "sentences", "sentence_id", query, 10, filters=QUARTER_FILTER,
                     params={"quarter": "2020Q1"}, scan=INDEX_SCAN)
    assert not result.exact_fallback  # the iterative index scan found 10 in-quarter rows
    got = [n.id for n in result.neighbours]
    assert len(got) == 10 and set(quarters[np.isin(ids, got)]) == {"2020Q1"}
    exact = _exact(ids, vectors, query, 10, quarters == "2020Q1")
    assert len(set(got) & set(exact)) >= 8  # approximate search: recall@10 of one query
    assert [n.distance for n in result.neighbours] == sorted(n.distance for n in result.neighbours)


def test_selective_filter_whose_quarter_has_none_of_the_top_hits(big_table):
    conn, ids, quarters, vectors, query = big_table
    overall = _exact(ids, vectors, query, 50)
    assert "2019Q4" not in set(quarters[np.isin(ids, overall)])
    hits = search_vector(conn, query, quarter="2019Q4", levels=("sentence",), k=10)
    assert [h.id for h in hits] == _exact(ids, vectors, query, 10, quarters == "2019Q4")
    assert {(h.firm_id, h.quarter) for h in hits} == {SMALL}


def test_too_few_index_rows_fall_back_to_an_exact_scan(big_table):
    conn, ids, quarters, vectors, query = big_table
    # no iterative scan: the quarter's index returns ef_search candidates and the firm filter keeps
    # about a third of them (three firms share the quarter's partition)
    scan = ScanSettings(ef_search=10, iterative_scan="off")
    filters = (*QUARTER_FILTER, sql.SQL("firm_id = %(firm)s"))
    params = {"quarter": "2020Q2", "firm": "BIG1"}
    plan = explain_nearest(conn, "sentences", "sentence_id", query, 10, filters=filters, params=params, scan=scan)
    assert "sentences_2020q2_embedding_hnsw" in plan
    result = nearest(conn, "sentences", "sentence_id", query, 10, filters=filters, params=params, scan=scan)
    assert result.exact_fallback
    in_firm = np.isin(ids, [r[0] for r in conn.execute("SELECT sentence_id FROM sentences WHERE firm_id = 'BIG1'")])
    assert [n.id for n in result.neighbours] == _exact(ids, vectors, query, 10, in_firm)


def test_scan_settings_are_validated_and_transaction_local(big_table):
    conn, *_, query = big_table
    with pytest.raises(ValueError, match="ef_search"):
        ScanSettings(ef_search=0)
    with pytest.raises(ValueError, match="iterative_scan"):
        ScanSettings(iterative_scan="fast")
    nearest(conn, "sentences", "sentence_id", query, 5, scan=ScanSettings(ef_search=321))
    assert conn.execute("SELECT current_setting('hnsw.ef_search')").fetchone()[0] == "40"


def test_a_query_over_many_quarters_scans_each_with_fewer_candidates():
    assert ef_search_per_quarter(200, 1) == 200
    assert ef_search_per_quarter(200, 2) == 100
    assert ef_search_per_quarter(200, 4) == 50
    assert ef_search_per_quarter(200, 8) == 40 == ef_search_per_quarter(200, 40)  # the floor
    assert ef_search_per_quarter(20, 8) == 20  # never more than asked

"""A quarter materialized through Dagster with one topic worker process and with two stores the
same rows (firms, sentences and their topics, topics, summaries, themes and their members)."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest

from ftm_assets.defs.launch import run_quarter
from ftm_assets.warehouse.database import connect, ensure_database
from ftm_assets.warehouse.state import integrity_problems, quarter_state, state_differences

from .helpers import write_corpus

QUARTER = "2024Q1"


@pytest.mark.slow
def test_one_worker_and_two_workers_store_identical_rows(ftm_env, pg_admin_url, tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "calls.parquet", n_firms=8, seed=11)
    states = {}
    for workers in (1, 2):
        name = f"w{workers}_{uuid.uuid4().hex[:8]}"
        ensure_database(pg_admin_url, name)
        url = pg_admin_url.replace("/postgres?", f"/{name}?")
        monkeypatch.setenv("FTM_DATABASE_URL", url)
        monkeypatch.setenv("FTM_FIRM_WORKERS", str(workers))
        with dg.instance_for_test() as instance:
            report = run_quarter(str(corpus), QUARTER, instance=instance)
        assert report["failed_firms"] == [], report["failure_reasons"]
        assert report["firms_stored"] == 8 and report["themes"] >= 1
        states[workers] = quarter_state(url, QUARTER)
        with connect(url) as conn:
            assert integrity_problems(conn) == []
    one, two = states[1], states[2]
    assert one.counts["topics"] > 8 and one.counts["topic_themes"] > 0
    assert state_differences(one, two, atol=0.0) == []

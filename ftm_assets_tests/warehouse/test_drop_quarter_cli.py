"""``ftm drop-quarter`` end to end: two demo quarters materialized through Dagster on a real
(PostgreSQL-backed) instance, one dropped: its rows and partitions leave the warehouse and its
partitions read missing in Dagster's status (as the UI computes it); the other quarter keeps its
rows, HNSW indexes and status."""

from __future__ import annotations

import json
import uuid

import dagster as dg
import pandas as pd
import pytest

from ftm_assets.cli import main
from ftm_assets.defs.launch import run_quarter
from ftm_assets.defs.partitions import call_partitions, key_to_quarter, quarter_partitions, split_call_key
from ftm_assets.sources.demo import generate_demo_corpus
from ftm_assets.warehouse.database import connect, ensure_database, sqlalchemy_url
from ftm_assets.warehouse.quarters import quarter_indexes, quarter_row_counts, stored_quarters
from ftm_assets_tests.defs.helpers import status_partition_keys

FIRM_ASSETS = ("sentence_embeddings", "firm_topics", "topic_summaries")


def _status(instance: dg.DagsterInstance, asset: str) -> tuple[set, set]:
    """(materialized, failed) partition keys of an asset as (firm or None, quarter), from the status
    cache the UI reads."""
    pdef = quarter_partitions if asset == "themes" else call_partitions
    mat, failed = status_partition_keys(instance, asset, pdef)

    def key(k):
        return (None, key_to_quarter(k)) if asset == "themes" else split_call_key(k)

    return {key(k) for k in mat}, {key(k) for k in failed}


@pytest.mark.slow
def test_drop_quarter_clears_rows_partitions_and_dagster_status(ftm_env, pg_admin_url, tmp_path, monkeypatch,
                                                               capsys):
    dagster_db = f"dagster_{uuid.uuid4().hex[:10]}"
    ensure_database(pg_admin_url, dagster_db)
    monkeypatch.setenv("DAGSTER_PG_URL", sqlalchemy_url(pg_admin_url.replace("/postgres?", f"/{dagster_db}?")))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    path = tmp_path / "calls.parquet"
    pd.concat([generate_demo_corpus(n_firms=2, quarter=q, seed=7, sentences_per_firm=(100, 130))
               for q in ("2020Q2", "2020Q3")], ignore_index=True).to_parquet(path, index=False)
    for quarter in ("2020Q2", "2020Q3"):
        assert run_quarter(str(path), quarter, event_log_level="WARNING")["failed_firms"] == []

    with connect(ftm_env["database_url"], autocommit=True) as conn:
        assert stored_quarters(conn) == ["2020Q2", "2020Q3"]
        kept_rows = quarter_row_counts(conn, "2020Q3")
        kept_indexes = [i for i in quarter_indexes(conn) if "2020q3" in i]
        assert len(kept_indexes) == 3
    with dg.DagsterInstance.get() as instance:
        before = {asset: _status(instance, asset)[0] for asset in (*FIRM_ASSETS, "themes")}
    firms = {firm for firm, _ in before["sentence_embeddings"]}
    assert len(firms) == 2
    for asset in FIRM_ASSETS:
        assert before[asset] == {(f, q) for f in firms for q in ("2020Q2", "2020Q3")}
    assert before["themes"] == {(None, "2020Q2"), (None, "2020Q3")}

    # without --yes and without a terminal to ask on: nothing is dropped
    assert main(["drop-quarter", "2020Q2"]) == 1
    with connect(ftm_env["database_url"], autocommit=True) as conn:
        assert quarter_row_counts(conn, "2020Q2")["sentences"] > 0

    capsys.readouterr()
    assert main(["drop-quarter", "2020Q2", "--yes", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["quarter"] == "2020Q2" and report["rows_before"]["firms"] == 2
    assert sorted(report["partitions_dropped"]) == ["sentences_2020q2", "themes_2020q2", "topic_themes_2020q2",
                                                    "topics_2020q2"]
    assert report["dagster_partitions_wiped"] == {"firm_topics": 2, "sentence_embeddings": 2, "themes": 1,
                                                  "exposure_panel": 1, "topic_summaries": 2}

    with connect(ftm_env["database_url"], autocommit=True) as conn:
        assert set(quarter_row_counts(conn, "2020Q2").values()) == {0}
        assert quarter_row_counts(conn, "2020Q3") == kept_rows
        assert [i for i in quarter_indexes(conn) if "2020q3" in i] == kept_indexes
        assert stored_quarters(conn) == ["2020Q3"]
    with dg.DagsterInstance.get() as instance:
        for asset in (*FIRM_ASSETS, "themes"):
            materialized, failed = _status(instance, asset)
            assert materialized == {k for k in before[asset] if k[1] == "2020Q3"}, asset
            assert failed == set(), asset

    # dropping it again drops nothing and says so
    assert main(["drop-quarter", "2020Q2", "--yes", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["partitions_dropped"] == [] and set(again["dagster_partitions_wiped"].values()) == {0}

"""``ftm calls``: the firms with a call in a quarter, as the Dagster UI's partition selection text."""

from __future__ import annotations

import dagster as dg
import pytest

from ftm_assets.defs.partitions import FIRM_DIM, call_partitions
from ftm_assets.defs.selection import quarter_selection, selection_text


def test_selection_text_compacts_runs_in_dagster_order_and_quotes_like_the_ui():
    order = ["A", "B", "C", "D", "E", "BRK.B", "G"]
    assert selection_text(order, {"A", "B", "C", "E"}) == "[A...C], E"
    assert selection_text(order, {"BRK.B", "G", "A"}) == 'A, ["BRK.B"...G]'
    assert selection_text(order, set()) == ""


def test_quarter_selection_matches_the_partitions_dagster_resolves(pg_instance):
    pg_instance.add_dynamic_partitions(FIRM_DIM, ["AAA", "NOCALL", "BBB", "CCC", "DDD"])
    calls = [("AAA", "2024Q1"), ("BBB", "2024Q1"), ("CCC", "2024Q1"), ("NEW", "2024Q1"), ("AAA", "2024Q2")]
    selection = quarter_selection(pg_instance, calls, "2024Q1")
    assert selection.as_dict() == {"quarter": "2024Q1", "quarter_key": "2024-01-01", "firms_with_call": 4,
                                   "firm_selection": "AAA, [BBB...CCC]", "unregistered_firms": ["NEW"]}
    # the range is the one Dagster resolves over its own firm order
    firm_dim = call_partitions.get_partitions_def_for_dimension(FIRM_DIM)
    with dg.partition_loading_context(dynamic_partitions_store=pg_instance):
        keys = firm_dim.get_partition_keys_in_range(dg.PartitionKeyRange("BBB", "CCC"))
    assert keys == ["BBB", "CCC"]
    with pytest.raises(ValueError, match="2023Q4: no calls"):
        quarter_selection(pg_instance, calls, "2023Q4")


def test_ftm_calls_prints_the_selection(ftm_env, tmp_path, monkeypatch, capsys):
    import json

    from ftm_assets.cli import main

    from .helpers import write_corpus

    corpus = write_corpus(tmp_path / "calls.parquet", n_firms=3)
    # prepare_instance exports these; recorded here so that they are restored after the test
    for name in ("DAGSTER_HOME", "DAGSTER_PG_URL", "DAGSTER_EVENT_BATCH_SIZE"):
        monkeypatch.setenv(name, "")
    monkeypatch.delenv("DAGSTER_PG_URL")
    assert main(["calls", "--quarter", "2024Q1", "--transcripts", str(corpus), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["firms_with_call"] == 3 and report["firm_selection"] == ""
    assert len(report["unregistered_firms"]) == 3  # nothing registered on this fresh instance

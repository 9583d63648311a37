"""The history bench at quick size: the ``history`` object has every field, the figures add up and
the search plans touch the right partitions. No timing target is asserted (the machine is shared;
targets belong to ``ftm bench``)."""

from __future__ import annotations

import argparse
import json
import uuid

from ftm_assets.bench.history_bench import QUICK, run_history_bench
from ftm_assets.warehouse.database import ensure_database

FIELDS = {"quarters", "vectors_per_quarter", "load_index_s_first", "load_index_s_last", "ratio_last_to_first",
          "search_p95_ms_all_quarters", "search_p95_ms_one_quarter", "recall_at_10", "bytes_per_quarter"}


def test_history_bench_quick_reports_the_history_object(pg_admin_url):
    def database(name: str) -> str:
        db = f"{name}_{uuid.uuid4().hex[:8]}"
        ensure_database(pg_admin_url, db)
        return pg_admin_url.replace("/postgres?", f"/{db}?")

    result = run_history_bench(database, QUICK)
    assert set(result) >= FIELDS
    assert json.loads(json.dumps(result)) == result  # one JSON object
    assert result["quarters"] == QUICK.quarters and result["vectors_per_quarter"] == QUICK.vectors_per_quarter
    assert len(result["per_quarter"]) == QUICK.quarters
    assert result["load_index_s_first"] == result["per_quarter"][0]["load_index_s"]
    assert result["load_index_s_last"] == result["per_quarter"][-1]["load_index_s"]
    assert result["ratio_last_to_first"] == round(result["load_index_s_last"] / result["load_index_s_first"], 3)
    assert 0.0 <= result["recall_at_10"] <= 1.0
    assert result["recall_at_10"] == min(result["recall_at_10_all_quarters"], result["recall_at_10_one_quarter"])
    sizes = result["bytes_per_quarter"]
    assert set(sizes) == {"vector", "halfvec"}
    for figures in sizes.values():
        assert figures["total"] == figures["table"] + figures["hnsw_index"] > 0
    assert sizes["halfvec"]["table"] < sizes["vector"]["table"]  # 2 bytes a dimension instead of 4
    # a quarter filter plans one partition; the query over all quarters, every one
    assert result["plan_one_quarter_partitions"] == ["sentences_2020q4"]
    assert result["plan_all_quarters_partitions"] == QUICK.quarters


def test_bench_command_registers_the_history_section():
    from ftm_assets.commands.bench import SECTIONS, add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["bench", "--only", "history", "--history-quarters", "4", "--history-vectors", "250000"])
    assert "history" in SECTIONS and args.history_quarters == 4 and args.history_vectors == 250_000

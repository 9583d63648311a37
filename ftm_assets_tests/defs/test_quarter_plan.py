from __future__ import annotations

from ftm_assets.defs.quarter_plan import plan_discovery, quarter_signature


def test_one_launch_per_quarter_with_new_firms_registered_in_order():
    calls = [("B", "2024Q1"), ("A", "2024Q1"), ("C", "2024Q2"), ("A", "2024Q2"), ("BRK|B", "2024Q1")]
    plan = plan_discovery(calls, known_firms=["C"], launched={})
    assert plan.new_firms == ("A", "B")
    assert "BRK|B" in plan.invalid_firms and "|" in plan.invalid_firms["BRK|B"]
    assert [(lq.quarter, lq.firm_ids) for lq in plan.launches] == [("2024Q1", ("A", "B")), ("2024Q2", ("C", "A"))]
    q2 = plan.launches[1]
    assert q2.tags["dagster/asset_partition_range_start"] == "C|2024-04-01"
    assert q2.tags["dagster/asset_partition_range_end"] == "A|2024-04-01"


def test_unchanged_quarters_are_not_relaunched_and_changed_ones_are():
    calls = [("A", "2024Q1"), ("B", "2024Q1")]
    launched = {"2024Q1": quarter_signature(["A", "B"])}
    assert plan_discovery(calls, ["A", "B"], launched).launches == ()
    late = plan_discovery(calls + [("C", "2024Q1")], ["A", "B"], launched)
    assert late.new_firms == ("C",)
    assert [lq.firm_ids for lq in late.launches] == [("A", "B", "C")]
    assert late.launches[0].run_key != plan_discovery(calls, [], {}).launches[0].run_key


def test_quarters_that_are_not_partitions_yet_are_held_back():
    plan = plan_discovery([("A", "2024Q1"), ("A", "2099Q1")], [], {}, valid_quarters={"2024Q1"})
    assert [lq.quarter for lq in plan.launches] == ["2024Q1"]

from __future__ import annotations

import dagster as dg
import pytest

from ftm_assets.definitions import FIRM_JOB, THEMES_JOB, defs
from ftm_assets.defs.asset_keys import FIRM_ASSET_KEYS
from ftm_assets.defs.partitions import (
    call_key,
    key_to_quarter,
    quarter_partitions,
    quarter_range_tags,
    quarter_to_key,
    split_call_key,
)


def test_definitions_expose_assets_jobs_and_in_process_executor():
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"sentence_embeddings", "firm_topics", "topic_summaries", "themes"} <= keys
    job = defs.resolve_job_def(FIRM_JOB)
    assert job.executor_def.name == "in_process"
    assert defs.resolve_job_def(THEMES_JOB).executor_def.name == "in_process"
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "in_process"


def test_firm_assets_share_one_op_with_single_run_backfill_policy():
    graph = defs.get_repository_def().asset_graph
    nodes = [graph.get(k) for k in FIRM_ASSET_KEYS]
    assert {n.assets_def.op.name for n in nodes} == {"firm_pipeline"}
    policy = nodes[0].assets_def.backfill_policy
    assert policy is not None and policy.max_partitions_per_run is None  # single_run
    # selecting one of the three always runs and reports all three (issue 13)
    assert not nodes[0].assets_def.can_subset
    assert graph.get_execution_set_asset_and_check_keys(FIRM_ASSET_KEYS[2]) >= set(FIRM_ASSET_KEYS)


def test_themes_input_maps_quarter_to_all_firm_partitions():
    graph = defs.get_repository_def().asset_graph
    themes = graph.get(dg.AssetKey("themes")).assets_def
    mapping = themes.get_partition_mapping(dg.AssetKey("topic_summaries"))
    assert mapping is None or isinstance(mapping, dg.MultiToSingleDimensionPartitionMapping)
    assert themes.partitions_def == quarter_partitions


def test_quarter_keys_round_trip():
    assert quarter_to_key("2020Q2") == "2020-04-01"
    assert key_to_quarter("2020-10-01") == "2020Q4"
    assert [key_to_quarter(quarter_to_key(f"2024Q{q}")) for q in range(1, 5)] == [f"2024Q{q}" for q in range(1, 5)]
    with pytest.raises(ValueError, match="malformed quarter"):
        quarter_to_key("2020-Q2")
    with pytest.raises(ValueError, match="not a quarter partition key"):
        key_to_quarter("2020-05-01")


def test_call_keys_and_range_tags():
    key = call_key("AAPL", "2024Q1")
    assert str(key) == "AAPL|2024-01-01"
    assert split_call_key(key) == ("AAPL", "2024Q1")
    assert split_call_key("MSFT|2024-04-01") == ("MSFT", "2024Q2")
    tags = quarter_range_tags("2024Q1", ["A", "B", "C"])
    assert tags["dagster/asset_partition_range_start"] == "A|2024-01-01"
    assert tags["dagster/asset_partition_range_end"] == "C|2024-01-01"
    with pytest.raises(ValueError, match="no firms"):
        quarter_range_tags("2024Q1", [])


def test_firms_per_run_switches_to_a_chunked_backfill_policy(monkeypatch):
    from ftm_assets.defs.firm_assets import firm_backfill_policy

    monkeypatch.setenv("FTM_FIRMS_PER_RUN", "250")
    assert firm_backfill_policy().max_partitions_per_run == 250
    monkeypatch.setenv("FTM_FIRMS_PER_RUN", "0")
    assert firm_backfill_policy().max_partitions_per_run is None
    monkeypatch.setenv("FTM_FIRMS_PER_RUN", "many")
    with pytest.raises(ValueError, match="FTM_FIRMS_PER_RUN"):
        firm_backfill_policy()


def test_run_configs_default_to_the_modelling_settings_and_pass_every_keyword_option():
    from ftm_assets.defs.firm_assets import FirmRunConfig
    from ftm_assets.defs.themes_asset import ThemeConfig
    from ftm_assets.modeling.settings import FirmTopicSettings, ThemeSettings

    assert FirmRunConfig().topic_settings() == FirmTopicSettings()
    assert ThemeConfig().settings() == ThemeSettings()
    custom = FirmRunConfig(ngram_max=1, earnings_stop_words=False, reduce_frequent_words=False,
                           bm25_weighting=True, drop_participant_names=False).topic_settings()
    assert (custom.ngram_max, custom.earnings_stop_words, custom.reduce_frequent_words, custom.bm25_weighting,
            custom.drop_participant_names) == (1, False, False, True, False)
    themes = ThemeConfig(max_theme_share=1.0, exclude_chatter=False).settings()
    assert (themes.max_theme_share, themes.exclude_chatter) == (1.0, False)

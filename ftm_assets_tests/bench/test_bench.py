"""Bench components at tiny sizes: each measures what it says and leaves nothing behind.
No timing is asserted (the machine is shared); only that figures exist and add up."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from ftm_assets.bench.embedding_bench import run_embedding_bench
from ftm_assets.bench.firm_bench import default_corpus_path, select_real_calls
from ftm_assets.bench.load_bench import LOAD_TABLE, run_load_bench
from ftm_assets.bench.memory_bench import StandInEncoder, measure_quarter_memory, write_synthetic_quarter
from ftm_assets.bench.naive import run_naive_firms
from ftm_assets.bench.scale import ScaleAssumptions, project_quarter
from ftm_assets.bench.theme_bench import (
    QUARTER_SCALE_KEYS,
    choose_method,
    measure_theme_clustering,
    meets_target,
    planted_summaries,
    quarter_scale,
    run_theme_bench,
)
from ftm_assets.bench.timing import StageTimer
from ftm_assets.modeling.settings import FirmTopicSettings
from ftm_assets.quality.evaluate import load_calls
from ftm_assets.sources.demo import write_demo_corpus
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.schema import migrate
from ftm_assets_tests.conftest import EARNINGS21


@pytest.fixture(scope="module")
def demo_call(tmp_path_factory):
    path = write_demo_corpus(
        tmp_path_factory.mktemp("demo") / "demo.parquet", n_firms=1, sentences_per_firm=(120, 130)
    )
    calls, errors = load_calls(str(path))
    assert not errors
    return calls[0]


def test_stage_timer_times_umap_and_hdbscan_and_restores_the_methods(demo_call, encoder):
    from bertopic import BERTopic

    from ftm_assets.modeling.embedding import SentenceEncoder
    from ftm_assets.modeling.firm_topics import build_firm_topics

    original = BERTopic.__dict__["_reduce_dimensionality"], SentenceEncoder.__dict__["encode"]
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((len(demo_call), 384)).astype(np.float32)
    with StageTimer() as timer:
        encoder.encode(demo_call.texts[:5])
        build_firm_topics(demo_call, embeddings, FirmTopicSettings())
    assert timer.calls["umap"] == 1 and timer.calls["hdbscan"] == 1 and timer.calls["encode"] == 1
    assert timer.get("umap") > 0 and timer.get("hdbscan") > 0 and timer.encode_texts == 5
    assert (BERTopic.__dict__["_reduce_dimensionality"], SentenceEncoder.__dict__["encode"]) == original


def test_embedding_bench_compares_both_paths_on_the_same_sentences(demo_call, encoder):
    result = run_embedding_bench(encoder._model, [demo_call])
    assert result["sentences"] == len(demo_call) and result["firms"] == 1
    assert result["pipeline"]["batch_size"] == 256 and result["naive"]["batch_size"] == 32
    ratio = result["pipeline"]["sentences_per_s"] / result["naive"]["sentences_per_s"]
    assert result["ratio_pipeline_to_naive_throughput"] == pytest.approx(ratio, rel=0.01)


def test_naive_baseline_writes_the_same_rows_as_the_pipeline_would(demo_call, encoder, database_url):
    from ftm_assets.llm.client import TopicSummarizer
    from ftm_assets.llm.fake_server import FakeOpenAIServer
    from ftm_assets.llm.settings import LlmSettings

    migrate(database_url, encoder.dim)
    with (
        FakeOpenAIServer() as server,
        TopicSummarizer(
            LlmSettings(base_url=server.base_url, api_key="test-key", max_concurrency=1, max_retries=0)
        ) as summarizer,
    ):
        result = run_naive_firms([demo_call], encoder._model, database_url, summarizer)
        assert server.max_in_flight == 1 and server.request_count == result["topics"]
    assert result["firms"] == 1 and result["sentences"] == len(demo_call) and result["topics"] >= 2
    assert set(result["stages_s"]) == {"embed", "topics", "llm_wait", "summary_embed", "db_write"}
    with connect(database_url) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM sentences), (SELECT count(*) FROM topics),"
            " (SELECT count(*) FROM sentences WHERE topic_id IS NOT NULL), (SELECT status FROM firm_runs)"
        ).fetchone()
        sources = {r[0] for r in conn.execute("SELECT summary_source FROM topics")}
    assert counts[:2] == (len(demo_call), result["topics"]) and counts[2] > 0 and counts[3] == "succeeded"
    assert sources == {"llm"}


def test_load_bench_measures_both_methods_and_drops_its_table(database_url):
    result = run_load_bench(database_url, n_rows=300, dim=8)
    assert (
        result["rows"] == 300 and result["copy"]["rows_per_s"] > 0 and result["executemany"]["rows_per_s"] > 0
    )
    with connect(database_url, vector=False) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (LOAD_TABLE,)).fetchone()[0] is None


def test_memory_bench_streams_a_synthetic_quarter_through_the_stage(tmp_path, database_url):
    path = write_synthetic_quarter(tmp_path / "quarter.parquet", n_firms=30, sentences=6)
    result = measure_quarter_memory(path, database_url, expected_firms=30)
    assert result["statuses"] == {"succeeded": 30} and result["sentences_stored"] == 180
    assert len(result["rss_samples_mb"]) == 10 and result["peak_rss_mb"] > 0
    vectors = StandInEncoder().encode(["a", "b"])
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_theme_bench_planted_data_and_quality():
    vectors, labels, firms, summaries = planted_summaries(1000, seed=1)
    assert vectors.shape == (1000, 384) and len(firms) == len(summaries) == 1000
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert 0.2 < np.mean(labels == -1) < 0.4 and labels.max() + 1 == 7
    result = measure_theme_clustering(1000, "pca_hdbscan", center_weight=1.3)
    assert result["themes_found"] >= 1 and -1.0 <= result["ari"] <= 1.0 and result["peak_rss_mb"] > 0
    assert result["ari_planted_topics"] > 0.5  # well-separated planted themes are found
    assert result["ari_planted"] > 0.5 and result["min_cluster_size_used"] == 5  # sqrt(0.1) x 15
    assert result["found_over_planted"] == round(result["themes_found"] / result["themes_planted"], 3)
    assert result["meets_target"] == meets_target(
        result["themes_found"], result["themes_planted"], result["ari_planted"]
    )


def test_meets_target_needs_count_and_quality():
    assert meets_target(100, 80, 0.8) and meets_target(60, 80, 0.95)
    assert not meets_target(101, 80, 0.95)  # 26 % too many
    assert not meets_target(59, 80, 0.95)  # 26 % too few
    assert not meets_target(80, 80, 0.79)


def test_quarter_scale_lists_each_size_of_the_method():
    scale = [
        {
            "n": 10_000,
            "method": "umap_hdbscan",
            "seconds": 40.0,
            "themes_found": 77,
            "themes_planted": 70,
            "found_over_planted": 1.1,
            "ari_planted": 0.95,
            "ari": 0.7,
            "peak_rss_mb": 700.0,
            "min_cluster_size_used": 15,
            "meets_target": True,
            "assigned_share": 0.8,
        },
        {"n": 10_000, "method": "pca_hdbscan", "seconds": 30.0},
        {"n": 50_000, "method": "umap_hdbscan", "skipped": "projected 900 s > 600 s"},
        {"n": 125_000, "method": "umap_hdbscan", "timed_out": True, "limit_s": 600},
    ]
    rows = quarter_scale(scale, "umap_hdbscan")
    assert [r["n"] for r in rows] == [10_000, 50_000, 125_000]
    assert tuple(rows[0]) == QUARTER_SCALE_KEYS and rows[0]["meets_target"]
    assert rows[1] == {"n": 50_000, "meets_target": False, "not_measured": "projected 900 s > 600 s"}
    assert not rows[2]["meets_target"] and "600" in rows[2]["not_measured"]


def test_theme_bench_reports_the_target_per_size():
    """End to end at a tiny size: each run in its own process, the default method's figures
    per size in ``quarter_scale``."""
    result = run_theme_bench((1000,), (1000,), 300, methods=("umap_hdbscan",))
    assert len(result["comparison"]) == 2  # both separations
    section = result["quarter_scale"]
    assert section["method"] == "umap_hdbscan" and "25%" in section["target"]
    (row,) = section["sizes"]
    assert tuple(row) == QUARTER_SCALE_KEYS and row["n"] == 1000 and row["min_cluster_size_used"] == 5
    assert row["themes_planted"] == 7 and row["themes_found"] >= 1 and row["peak_rss_mb"] > 0
    assert row["meets_target"] == meets_target(row["themes_found"], row["themes_planted"], row["ari_planted"])
    assert section["all_meet_target"] == row["meets_target"]


def test_choose_method_takes_quality_at_scale_first_then_time():
    comparison = [
        {"n": 2000, "method": "a", "ari": 0.80},
        {"n": 2000, "method": "b", "ari": 0.81},
        {"n": 2000, "method": "c", "ari": 0.95},
    ]
    scale = [
        {"n": 10_000, "method": "a", "seconds": 5.0, "ari": 0.70},
        {"n": 10_000, "method": "b", "seconds": 50.0, "ari": 0.71},
        {"n": 10_000, "method": "c", "skipped": "projected 900 s > 60 s"},
    ]
    choice = choose_method(comparison, scale, 10_000)
    # c is best at 2,000 but never ran at 10,000; a and b tie on ARI at 10,000, a is faster
    assert choice["method"] == "a" and "quality_warning" not in choice
    assert choice["comparison_mean_ari"]["c"] == 0.95 and "c: not run at 10000" in choice["why"]
    scale[1]["ari"] = 0.9
    assert choose_method(comparison, scale, 10_000)["method"] == "b"  # quality before time
    poor = choose_method(comparison, [{"n": 10_000, "method": "a", "seconds": 5.0, "ari": 0.1}], 10_000)
    assert poor["method"] == "a" and "poorly" in poor["quality_warning"]
    assert choose_method(comparison, [], 10_000)["method"] is None


def _firm_bench_result() -> dict:
    stages = {
        "model_load": 5.0,
        "embed": 20.0,
        "umap": 3.0,
        "hdbscan": 0.2,
        "representation": 1.0,
        "summary_embed": 0.5,
        "llm_wait": 0.1,
        "db_write": 0.3,
        "dagster_bookkeeping": 2.0,
    }
    return {
        "firms": 2,
        "sentences": 800,
        "pipeline": {"firms": 2, "llm_requests": 18, "prompt_words_per_request": 300, "stages_s": stages},
    }


def test_projection_scales_per_firm_figures_and_names_the_bottleneck():
    theme_bench = {
        "choice": {"method": "pca_hdbscan"},
        "scale": [{"n": 10_000, "method": "pca_hdbscan", "seconds": 10.0}],
    }
    p = project_quarter(
        _firm_bench_result(), theme_bench, ScaleAssumptions(firms=1000, sentences_per_firm=400)
    )
    assert "PROJECTION" in p["label"]
    assert p["stages_s"]["umap"] == pytest.approx(1.5 * 1000, rel=1e-3)  # 1.5 s per firm, same call length
    assert p["stages_s"]["embed_gpu"] == pytest.approx(1000 * 400 / 5000)
    assert p["bottleneck"] == "umap" and p["total_s"] == pytest.approx(sum(p["stages_s"].values()), abs=1)
    assert p["llm_requests"] > 9000 and p["cost_usd"]["total"] > 0
    assert "themes_cluster" in p["stages_s"]
    assert "themes_cluster" not in project_quarter(_firm_bench_result(), None)["stages_s"]


def test_real_calls_selection(tmp_path):
    assert default_corpus_path().resolve() == EARNINGS21.resolve()
    firms, sentences = select_real_calls(EARNINGS21, "2020Q2", 2, tmp_path / "calls.parquet")
    assert len(firms) == 2 and sentences > 100
    with pytest.raises(FileNotFoundError, match="corpus"):
        select_real_calls(tmp_path / "missing.parquet", "2020Q2", 2, tmp_path / "x.parquet")


def test_bench_command_parses_and_rejects_unknown_sections():
    from ftm_assets.commands import bench

    parser = argparse.ArgumentParser()
    bench.add_parser(parser.add_subparsers())
    args = parser.parse_args(["bench", "--quick", "--json", "--only", "themes,nope"])
    assert args.quick and args.json
    with pytest.raises(ValueError, match="nope"):
        args.func(args)


def test_markdown_report_renders_every_section():
    from ftm_assets.bench.report import markdown_report

    firm = _firm_bench_result()
    firm.update({"llm_latency_s": 0.5, "time_ratio_pipeline_to_naive": 0.5})
    firm["pipeline"].update({"firms_per_min": 6.0, "llm_requests": 18})
    firm["naive"] = {
        "firms_per_min": 3.0,
        "seconds": 60.0,
        "stages_s": {
            "embed": 20.0,
            "topics": 4.0,
            "umap": 3.0,
            "hdbscan": 0.2,
            "llm_wait": 9.0,
            "summary_embed": 0.5,
            "db_write": 3.0,
        },
    }
    firm["pipeline"]["seconds"] = 30.0
    run = {
        "n": 100,
        "method": "umap_hdbscan",
        "center_weight": 0.8,
        "seconds": 1.0,
        "peak_rss_mb": 300.0,
        "themes_found": 3,
        "themes_planted": 2,
        "ari": 0.9,
        "ari_planted_topics": 1.0,
    }
    report = {
        "date": "2026-11-24T00:00:00+00:00",
        "mode": "quick",
        "total_seconds": 1.0,
        "machine": {
            "cpu_count": 2,
            "cpu_model": "x",
            "memory_gb": 1.0,
            "torch": "2",
            "torch_threads": 2,
            "cuda": None,
            "load_average": [0.1, 0.1, 0.1],
            "load_average_end": [0.2, 0.2, 0.2],
        },
        "embedding": {
            "sentences": 10,
            "firms": 1,
            "device": "cpu",
            "ratio_pipeline_to_naive_throughput": 0.5,
            "pipeline": {"sentences_per_s": 5.0, "batch_size": 256},
            "naive": {"sentences_per_s": 10.0},
        },
        "firm_stage": firm,
        "bulk_load": {
            "dim": 384,
            "rows": 10,
            "copy": {"rows_per_s": 2},
            "executemany": {"rows_per_s": 1},
            "ratio_copy_to_executemany": 2.0,
        },
        "themes": {
            "comparison": [run],
            "scale": [{"n": 1000, "method": "pca_hdbscan", "skipped": "projected"}],
            "choice": {"method": "umap_hdbscan", "why": "best"},
        },
        "memory": {
            "stand_ins": "s",
            "peak_rss_growth_mb_per_1000_firms": 1.0,
            "flat": True,
            "runs": [
                {
                    "firms": 5,
                    "sentences_per_firm": 2,
                    "sentences_stored": 10,
                    "seconds": 0.1,
                    "peak_rss_mb": 100.0,
                    "rss_samples_mb": [[1, 90.0], [5, 95.0]],
                }
            ],
        },
        "projection_5000_firms": project_quarter(firm, None),
    }
    text = markdown_report(report)
    for expected in (
        "| embedding, sentences/s",
        "| firm stage, firms/min",
        "| dagster_bookkeeping |",
        "| 100 | umap_hdbscan |",
        "| 1,000 | pca_hdbscan | - | projected",
        "Peak RSS growth",
        "PROJECTION",
        "Bottleneck",
    ):
        assert expected in text

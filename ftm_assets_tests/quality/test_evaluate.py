"""``ftm eval`` on a small demo corpus: per-quarter metrics and the ARI against planted topics."""

from __future__ import annotations

import argparse
import json

import pytest

from ftm_assets.quality.evaluate import evaluate_transcripts, planted_labels
from ftm_assets.sources.demo import write_demo_corpus


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    return write_demo_corpus(
        tmp_path_factory.mktemp("demo") / "demo.parquet", n_firms=2, sentences_per_firm=(120, 130)
    )


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("embeddings")


def test_eval_reports_quarter_metrics_and_planted_ari(demo_path, encoder, cache_dir):
    report = evaluate_transcripts(str(demo_path), encoder, cache_dir=cache_dir)
    assert list(report["quarters"]) == ["2024Q1"] and report["unreadable_firms"] == []
    quarter = report["quarters"]["2024Q1"]
    assert quarter["firms"] == 2 and quarter["topics"] >= 4
    assert -1.0 <= quarter["coherence"] <= 1.0 and 0.5 <= quarter["diversity"] <= 1.0
    assert 0.0 < quarter["outlier_share"] < 0.5  # boilerplate is left out, the rest mostly placed
    assert quarter["boilerplate_share"] == 0.0  # boilerplate never forms a topic
    # topics recover the planted themes well above chance (0 = random); among the planted-theme
    # sentences alone it is lower: a call's theme is often split into two or three topics
    assert quarter["ari_mean"] > 0.3 and quarter["ari_planted_sentences_mean"] > 0.2
    for firm in report["firms"]:
        assert firm["planted_topics"] >= 3 and firm["n_topics"] >= 2
    # the cache makes the second pass skip embedding and gives the same result
    again = evaluate_transcripts(str(demo_path), encoder, cache_dir=cache_dir)
    assert again["quarters"] == report["quarters"]
    assert len(list(cache_dir.glob("*.npy"))) == 2


def test_planted_labels_only_for_files_with_the_column(demo_path, tmp_path):
    labels = planted_labels(str(demo_path))
    (firm, quarter), by_index = next(iter(labels.items()))
    assert quarter == "2024Q1" and "boilerplate" in set(by_index.values())
    import pandas as pd

    plain = tmp_path / "plain.parquet"
    pd.read_parquet(demo_path).drop(columns=["planted_topic"]).to_parquet(plain)
    assert planted_labels(str(plain)) is None
    assert planted_labels(str(tmp_path)) is None  # a folder


@pytest.mark.slow  # loads the model through the command when the cache is cold (run alone or in -m "not slow")
def test_eval_command_json(demo_path, cache_dir, capsys):
    from ftm_assets.commands import eval as eval_command

    parser = argparse.ArgumentParser()
    eval_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            "eval",
            str(demo_path),
            "--quarter",
            "2024Q1",
            "--max-firms",
            "1",
            "--json",
            "--set",
            "min_cluster_size=6",
            "--device",
            "cpu",
            "--cache-dir",
            str(cache_dir),
        ]
    )
    assert args.func(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["settings"]["min_cluster_size"] == 6 and report["overall"]["firms"] == 1
    assert "ari_mean" in report["quarters"]["2024Q1"]
    with pytest.raises(ValueError, match="NAME=VALUE"):
        eval_command.parse_overrides(["no_such_field=1"])
    with pytest.raises(ValueError, match="quarter 2019Q1"):
        args = parser.parse_args(["eval", str(demo_path), "--quarter", "2019Q1", "--device", "cpu"])
        args.func(args)


def test_eval_command_prints_offline_themes(demo_path, cache_dir, capsys):
    from ftm_assets.commands import eval as eval_command

    parser = argparse.ArgumentParser()
    eval_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        ["eval", str(demo_path), "--themes", "--device", "cpu", "--cache-dir", str(cache_dir)]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "themes 2024Q1:" in out and "largest share" in out
    assert eval_command.parse_overrides(["earnings_stop_words=false"]).earnings_stop_words is False

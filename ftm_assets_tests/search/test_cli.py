"""``ftm search`` / ``ftm trace`` / ``ftm ask`` through their argparse entry points, on the test warehouse.

The commands resolve the database from ``FTM_DATABASE_URL``; the model loader is pointed at the
session's already-loaded model (the same real model, loaded once instead of once per command).
"""

from __future__ import annotations

import argparse
import json

import pytest

from ftm_assets.commands import ask as ask_cmd
from ftm_assets.commands import search as search_cmd
from ftm_assets.commands import trace as trace_cmd
from ftm_assets.search import runtime


def _run(module, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ftm")
    module.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def cli_env(warehouse, encoder, monkeypatch, tmp_path):
    monkeypatch.setenv("FTM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FTM_DATABASE_URL", warehouse.url)
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    monkeypatch.delenv("FTM_LLM_API_KEY_ENV", raising=False)
    monkeypatch.setattr(runtime, "load_encoder", lambda settings=None: encoder)
    return warehouse


def test_search_json_returns_every_level_with_parents(cli_env, capsys):
    assert _run(search_cmd, ["search", "supply chain disruption", "--quarter", "2020Q3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["quarter"] == "2020Q3" and len(out["hits"]) == 10
    assert {h["level"] for h in out["hits"]} == {"theme", "topic", "sentence"}
    for hit in out["hits"]:
        assert hit["quarter"] == "2020Q3"
        if hit["level"] == "sentence":
            want = cli_env.expected[hit["id"]]
            assert hit["firm_id"] == want["firm_id"]
            assert (hit["topic"] or {}).get("id") == want["topic_id"]
            assert (hit["theme"] or {}).get("name") == want["theme_name"]


def test_search_text_and_level_errors(cli_env, capsys):
    assert _run(search_cmd, ["search", "gross margin", "--levels", "topic", "--k", "3"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Search results for: gross margin") and text.count("TOPIC ") == 3
    with pytest.raises(ValueError, match="levels must be"):
        _run(search_cmd, ["search", "gross margin", "--levels", "chapters"])


def test_trace_commands(cli_env, capsys):
    theme_id = cli_env.theme_ids["Revenue growth and margins"]
    assert _run(trace_cmd, ["trace", "theme", str(theme_id), "--sentences", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"theme {theme_id} (2020Q3): Revenue growth and margins") and "more (--all)" in text
    sentence_id = cli_env.sentence_ids[("SITM", 33)]
    assert _run(trace_cmd, ["trace", "sentence", str(sentence_id), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sentence"]["sentence_id"] == sentence_id and out["sentence"]["firm_id"] == "SITM"
    assert _run(trace_cmd, ["trace", "sentence", str(sentence_id)]) == 0
    assert f"[S{sentence_id}] SITM (SiTime Corporation) 2020Q3 #33" in capsys.readouterr().out


def test_ask_offline_prints_context_and_cited_extractive_answer(cli_env, capsys):
    assert _run(ask_cmd, ["ask", "How many oscillators has SiTime shipped?", "--k", "5"]) == 0
    text = capsys.readouterr().out
    assert "Search results for:" in text and "extractive answer (no_api_key):" in text
    assert f"[S{cli_env.sentence_ids[('SITM', 33)]}]" in text.split("extractive answer")[1]
    assert _run(ask_cmd, ["ask", "How many oscillators has SiTime shipped?", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["source"] == "extractive" and cli_env.sentence_ids[("SITM", 33)] in out["cited_sentence_ids"]

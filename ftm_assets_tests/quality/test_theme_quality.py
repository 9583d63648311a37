"""Offline themes of a demo quarter (``ftm eval --themes``) and the comparison's injected sub-models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ftm_assets.quality as quality_package
from ftm_assets.quality.compare import REPRESENTATION_CONFIGURATIONS, Configuration, select, sub_models
from ftm_assets.quality.theme_quality import evaluate_themes
from ftm_assets.sources.demo import write_demo_corpus


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    return write_demo_corpus(tmp_path_factory.mktemp("demo") / "demo.parquet", n_firms=6)


def test_demo_quarter_themes_are_named_by_phrases_and_none_swallows_the_quarter(demo_path, encoder):
    report = evaluate_themes(str(demo_path), encoder)
    quarter = report["quarters"]["2024Q1"]
    assert quarter["themes"] >= 3
    assert quarter["largest_theme_share"] <= 0.5
    for theme in quarter["names"]:
        name = theme["name"]
        assert "," not in name and len(name.split()) <= 7, name  # a phrase, not a keyword list
        assert theme["firms"] >= 2
    assert quarter["planted_purity_mean"] >= 0.7


def test_quality_never_imports_bench_or_patches_models() -> None:
    for module in Path(quality_package.__file__).parent.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("ftm_assets.bench"), module.name
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    assert not (isinstance(target, ast.Attribute) and target.attr == "__init__"), module.name


def test_comparison_passes_sub_models_in() -> None:
    from bertopic.representation import KeyBERTInspired, MaximalMarginalRelevance
    from sklearn.feature_extraction.text import CountVectorizer

    marker = object()
    chain = sub_models(Configuration("x", representation="keybert+mmr"), marker)
    assert [type(m) for m in chain["representation_model"]] == [KeyBERTInspired, MaximalMarginalRelevance]
    assert chain["embedding_model"] is marker
    english = sub_models(Configuration("y", vectorizer="english_only"), marker)
    assert isinstance(english["vectorizer_model"], CountVectorizer) and "embedding_model" not in english
    assert sub_models(REPRESENTATION_CONFIGURATIONS[0], marker) == {}
    with pytest.raises(ValueError, match="representation must be one of"):
        Configuration("z", representation="llm")
    with pytest.raises(ValueError, match="unknown suite"):
        select("nope")

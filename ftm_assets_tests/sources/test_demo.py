"""The demo-call generator: deterministic, valid input, and planted themes that embeddings can find."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ftm_assets.modeling.types import FirmCall
from ftm_assets.sources.demo import (
    BOILERPLATE,
    OTHER,
    PLANTED_THEMES,
    generate_demo_corpus,
    write_demo_corpus,
)
from ftm_assets.sources.files import FileTranscriptSource
from ftm_assets.sources.schema import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, validate_firm_id


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return generate_demo_corpus()


def test_same_seed_same_corpus_other_seed_other_corpus(corpus):
    pd.testing.assert_frame_equal(corpus, generate_demo_corpus())
    assert not corpus["text"].equals(generate_demo_corpus(seed=1)["text"])


def test_shape_and_ground_truth(corpus):
    assert set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS) | {"planted_topic"} == set(corpus.columns)
    sizes = corpus.groupby("firm_id").size()
    assert len(sizes) == 12 and sizes.between(250, 400).all()
    assert set(corpus["planted_topic"]) == set(PLANTED_THEMES) | {BOILERPLATE, OTHER}
    assert all(validate_firm_id(f) is None for f in sizes.index)
    assert corpus["firm_name"].nunique() == 12 and (corpus["quarter"] == "2024Q1").all()


def test_every_theme_spans_at_least_three_firms_and_each_firm_has_three_to_five(corpus):
    themed = corpus[corpus["planted_topic"].isin(list(PLANTED_THEMES))]
    assert themed.groupby("planted_topic")["firm_id"].nunique().min() >= 3
    per_firm = themed.groupby("firm_id")["planted_topic"].nunique()
    assert per_firm.between(3, 5).all()
    per_call_theme = themed.groupby(["firm_id", "planted_topic"]).size()
    assert per_call_theme.between(25, 70).all(), per_call_theme.describe()


def test_calls_follow_the_earnings_call_script(corpus):
    call = corpus[corpus["firm_id"] == corpus["firm_id"].iloc[0]]
    first, last = call["text"].iloc[0], call["text"].iloc[-1]
    assert first.startswith("Good morning, and welcome to the") and "Earnings Conference Call" in first
    assert call["text"].str.contains("forward-looking statements").any()
    assert (
        call["text"].str.match(r"Our (first|next) question comes from [A-Z][\w']+ [A-Z][\w']+ with ").sum()
        >= 4
    )
    assert call["text"].isin(["Great, thanks.", "Thank you.", "That's helpful, thanks."]).any()
    assert "disconnect" in last
    assert list(call["section"].drop_duplicates()) == ["prepared", "qa"]


def test_written_corpus_is_valid_reader_input(tmp_path, corpus):
    path = write_demo_corpus(tmp_path / "demo" / "calls.parquet", n_firms=9, quarter="2023Q4", seed=3)
    expected = generate_demo_corpus(n_firms=9, quarter="2023Q4", seed=3)
    calls = list(FileTranscriptSource(path).iter_calls("2023Q4"))
    assert len(calls) == 9 and all(isinstance(c, FirmCall) for c in calls)
    assert sum(len(c) for c in calls) == len(expected)
    assert all(c.call_date.isoformat() > "2023-12-31" and c.firm_name for c in calls)


def test_planted_themes_cluster_in_embedding_space(corpus, sentence_transformer):
    themed = corpus[corpus["planted_topic"].isin(list(PLANTED_THEMES))]
    sample = themed.groupby("planted_topic", group_keys=False).sample(n=10, random_state=0)
    vectors = sentence_transformer.encode(sample["text"].tolist(), batch_size=64, normalize_embeddings=True)
    similarity = vectors @ vectors.T
    labels = sample["planted_topic"].to_numpy()
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    within, across = similarity[same & off_diagonal].mean(), similarity[~same].mean()
    assert within > across + 0.1, (within, across)
    for theme in PLANTED_THEMES:  # and for every theme on its own
        rows = labels == theme
        assert (
            similarity[np.ix_(rows, rows)][off_diagonal[np.ix_(rows, rows)]].mean()
            > similarity[np.ix_(rows, ~rows)].mean()
        )

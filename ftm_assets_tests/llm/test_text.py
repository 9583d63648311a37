"""Pure text helpers: clipping, sentence-boundary cuts, plausibility of answers, theme answer parsing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftm_assets.llm.fake_server import _GARBAGE_ALPHABET
from ftm_assets.llm.text import (
    ELLIPSIS,
    EMPTY_CONTENT,
    GARBAGE_CONTENT,
    clip_text,
    cut_at_sentence_boundary,
    drop_unfinished_sentence,
    parse_theme_answer,
    rejection_reason,
)

PROSE = [
    "Management said demand for replacement tires recovered in June as traffic returned.",
    "Revenue was $1,234.5 million, up 12% from $1,100.2 million a year earlier, on 3.4% volume growth.",
    "La compañía reportó una mejora en los márgenes de cemento durante el trimestre.",
    "Die Nachfrage nach Stahl blieb im zweiten Quartal schwach.",
]


@pytest.mark.parametrize("text", PROSE)
def test_prose_is_accepted(text: str) -> None:
    assert rejection_reason(text) is None


@pytest.mark.parametrize("text", [None, "", "   \n\t", "null", "N/A", '"none"', "…", "**TBD**"])
def test_empty_or_placeholder_is_empty_content(text: str | None) -> None:
    assert rejection_reason(text) == EMPTY_CONTENT


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01#@!$%^&*~|<>{}",
        "#@!$%^&* ~~~ <<>> {{}} 1234 5678",
        "Revenue grew \x00\x1b strongly in the quarter overall",
        "Revenue grew \ufffd\ufffd strongly in the quarter",
        "ok ok",
        "12.5% 13.1% 14.0% +3.2pp",
        "I'm sorry, but I can't help with that request.",
        "As an AI language model, I cannot summarise this topic.",
    ],
)
def test_garbage_is_garbage_content(text: str) -> None:
    assert rejection_reason(text) == GARBAGE_CONTENT


@given(st.text(alphabet=_GARBAGE_ALPHABET, min_size=1, max_size=200))
def test_fake_server_garbage_is_always_rejected(text: str) -> None:
    assert rejection_reason(text) in (EMPTY_CONTENT, GARBAGE_CONTENT)


def test_fake_server_style_garbage_with_seeds_is_rejected() -> None:
    for seed in range(50):
        rng = random.Random(seed)
        assert rejection_reason("".join(rng.choice(_GARBAGE_ALPHABET) for _ in range(48))) == GARBAGE_CONTENT


def test_cut_at_sentence_boundary_keeps_whole_sentences() -> None:
    text = " ".join(f"Sentence number {i} talks about margins." for i in range(50))
    cut = cut_at_sentence_boundary(text, 200)
    assert len(cut) <= 200
    assert cut.endswith("margins.")
    assert text.startswith(cut)


def test_cut_at_sentence_boundary_counts_a_sentence_ending_exactly_at_the_limit() -> None:
    text = "Alpha beta gamma. Delta epsilon zeta."
    assert cut_at_sentence_boundary(text, len("Alpha beta gamma.")) == "Alpha beta gamma."


def test_cut_without_sentence_end_falls_back_to_word_clip() -> None:
    text = "word " * 100
    cut = cut_at_sentence_boundary(text, 50)
    assert len(cut) <= 50
    assert cut.endswith(ELLIPSIS)
    assert "wor" + ELLIPSIS not in cut  # cut between words


def test_short_text_is_only_normalised() -> None:
    assert cut_at_sentence_boundary("  Two   words.\n", 100) == "Two words."
    assert clip_text("  a\n b ", 10) == "a b"


@given(st.text(max_size=600), st.integers(min_value=5, max_value=300))
def test_cuts_never_exceed_the_limit(text: str, max_chars: int) -> None:
    assert len(clip_text(text, max_chars)) <= max_chars
    assert len(cut_at_sentence_boundary(text, max_chars)) <= max_chars


def test_drop_unfinished_sentence() -> None:
    assert drop_unfinished_sentence("Margins rose. Demand was strong. Management expects the") == (
        "Margins rose. Demand was strong."
    )
    assert drop_unfinished_sentence("Margins rose.") == "Margins rose."
    assert drop_unfinished_sentence("no sentence end at all") == "no sentence end at all"


@pytest.mark.parametrize(
    "answer",
    [
        "Name: Supply Chain Strain\nDescription: Firms cited shipping delays. Costs rose across sectors.",
        "**Name:** Supply Chain Strain\n**Description:** Firms cited shipping delays. Costs rose across sectors.",
        'Description: Firms cited shipping delays. Costs rose across sectors.\nName: "Supply Chain Strain"',
        "## Name: Supply Chain Strain.\n\ndescription: Firms cited shipping delays.\nCosts rose across sectors.",
    ],
)
def test_parse_theme_answer_variants(answer: str) -> None:
    parsed = parse_theme_answer(answer, 1200)
    assert parsed is not None
    name, description = parsed
    assert name == "Supply Chain Strain"
    assert description == "Firms cited shipping delays. Costs rose across sectors."


@pytest.mark.parametrize(
    "answer",
    [
        "Supply Chain Strain. Firms cited shipping delays.",
        "Name: Supply Chain Strain",
        "Name: \nDescription: Firms cited shipping delays and higher costs.",
        "Name: Supply Chain\nDescription: #@!$%^&*",
    ],
)
def test_parse_theme_answer_rejects_incomplete_answers(answer: str) -> None:
    assert parse_theme_answer(answer, 1200) is None


def test_parse_theme_answer_clips_long_parts() -> None:
    answer = "Name: " + "very " * 40 + "long name\nDescription: " + "Costs rose again. " * 200
    name, description = parse_theme_answer(answer, 300) or ("", "")
    assert 0 < len(name) <= 80
    assert 0 < len(description) <= 300
    assert description.endswith("again.")

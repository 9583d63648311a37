from __future__ import annotations

import pytest

from ftm_assets.sources.schema import (
    MAX_FIRM_ID_LENGTH,
    FirmInputError,
    interpret_quarter,
    validate_firm_id,
)


@pytest.mark.parametrize("firm_id", ["AAPL", "0000320193", "BRK.B", "firm-42", "x" * MAX_FIRM_ID_LENGTH])
def test_usable_firm_ids(firm_id):
    assert validate_firm_id(firm_id) is None


@pytest.mark.parametrize(
    ("firm_id", "expected"),
    [
        ("", "empty"),
        ("A|B", "'|'"),
        ("Acme, Inc.", "','"),
        ("X[1]", "'['"),
        ("A...B", "'...'"),
        ("A\tB", "control"),
        (" AAPL", "whitespace"),
        ("x" * (MAX_FIRM_ID_LENGTH + 1), "characters long"),
    ],
)
def test_unusable_firm_ids_say_why(firm_id, expected):
    reason = validate_firm_id(firm_id)
    assert reason is not None and expected in reason


def test_forbidden_character_reason_suggests_a_stable_id():
    reason = validate_firm_id("Apple, Inc.")
    assert "partition key" in reason and "CIK" in reason


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("2020Q2", "2020Q2"),
        ("2020-Q2", "2020Q2"),
        ("2020 q2", "2020Q2"),
        ("Q2 2020", "2020Q2"),
        ("FY2020Q2", "2020Q2"),
        ("2020Q5", None),
        ("second quarter", None),
        ("", None),
        (None, None),
    ],
)
def test_interpret_quarter(label, expected):
    assert interpret_quarter(label) == expected


def test_firm_input_error_message_names_source_firm_and_quarter():
    error = FirmInputError("ACME", "2020Q2", "duplicate sentence_index 3 (a.csv rows 4, 5)", "a.csv")
    assert (
        error.message() == "a.csv: firm 'ACME', quarter 2020Q2: duplicate sentence_index 3 (a.csv rows 4, 5)"
    )

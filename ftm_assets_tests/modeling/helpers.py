"""Shared test data for the modelling tests: where the Earnings-21 corpus is, which calls to
use, and how to turn corpus rows into a ``FirmCall``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ftm_assets.modeling.types import CallSentence, FirmCall

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "earnings21" / "corpus.parquet"
#: Three short calls (148-182 sentences, to keep encoding quick) from different industries:
#: gas utility, biotech, real estate.
REAL_FIRMS = ("OGS", "ALDX", "CLPR")


def call_from_rows(rows: pd.DataFrame) -> FirmCall:
    """A ``FirmCall`` from the corpus rows of one call."""
    rows = rows.sort_values("sentence_index")
    return FirmCall(
        firm_id=str(rows["firm_id"].iloc[0]),
        quarter=str(rows["quarter"].iloc[0]),
        firm_name=str(rows["firm_name"].iloc[0]),
        sentences=tuple(
            CallSentence(int(r.sentence_index), str(r.text), str(r.section), str(r.speaker))
            for r in rows.itertuples()
        ),
    )

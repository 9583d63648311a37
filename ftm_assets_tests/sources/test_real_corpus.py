"""The readers on the real Earnings-21 sentences (CC BY-SA 4.0, read in place from shared/)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from ftm_assets.modeling.types import FirmCall
from ftm_assets.sources.open import open_source

EARNINGS21 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "earnings21" / "corpus.parquet"


def test_quarter_2020q2_yields_every_call_and_every_sentence():
    expected = pq.read_table(EARNINGS21, columns=["firm_id", "quarter", "sentence_index"]).to_pandas()
    in_quarter = expected[expected["quarter"] == "2020Q2"]

    calls = list(open_source(str(EARNINGS21)).iter_calls("2020Q2", chunk_firms=4))

    assert len(calls) == 18 and all(isinstance(c, FirmCall) for c in calls)
    assert [c.firm_id for c in calls] == sorted(in_quarter["firm_id"].unique())
    assert sum(len(c) for c in calls) == len(in_quarter)
    for call in calls:
        assert [s.sentence_index for s in call.sentences] == list(range(len(call)))
        assert call.firm_name and call.call_date is None
        assert {s.section for s in call.sentences} <= {"prepared", "qa"}


def test_list_calls_matches_the_corpus():
    frame = pd.read_parquet(EARNINGS21, columns=["firm_id", "quarter"]).drop_duplicates()
    expected = sorted(zip(frame["firm_id"], frame["quarter"], strict=True))
    assert open_source(str(EARNINGS21)).list_calls() == expected
    assert len(expected) == 42

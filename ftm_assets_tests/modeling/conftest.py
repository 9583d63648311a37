"""Fixtures for the modelling tests: the real Earnings-21 corpus, loaded once per test session, and
the calls of ``REAL_FIRMS`` embedded by the root conftest's model."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from ftm_assets.modeling.types import FirmCall
from ftm_assets_tests.modeling.helpers import CORPUS, REAL_FIRMS, call_from_rows

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def corpus() -> pd.DataFrame:
    return pd.read_parquet(CORPUS)


@pytest.fixture(scope="session")
def real_calls(corpus: pd.DataFrame, sentence_transformer) -> dict[str, tuple[FirmCall, np.ndarray]]:
    """``firm_id -> (call, embeddings)`` for ``REAL_FIRMS``."""
    calls = {}
    for firm_id in REAL_FIRMS:
        call = call_from_rows(corpus[corpus["firm_id"] == firm_id])
        calls[firm_id] = (call, sentence_transformer.encode(call.texts, batch_size=64, convert_to_numpy=True))
    return calls

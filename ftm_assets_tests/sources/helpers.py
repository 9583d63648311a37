"""Small transcript tables written to disk for the reader tests."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ftm_assets.modeling.types import FirmCall
from ftm_assets.sources.schema import FirmInputError


def call_rows(firm_id: str, quarter: str, n: int, start: int = 0, **extra: object) -> list[dict]:
    """``n`` well-formed sentence rows of one call."""
    return [
        {
            "firm_id": firm_id,
            "quarter": quarter,
            "sentence_index": i,
            "text": f"{firm_id} sentence {i} about margins and demand.",
            **extra,
        }
        for i in range(start, start + n)
    ]


def write_table(path: Path, rows: Iterable[dict], **to_kw: object) -> Path:
    """Write rows as Parquet or CSV depending on the suffix of ``path``."""
    frame = pd.DataFrame(list(rows))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False, **to_kw)
    else:
        frame.to_parquet(path, index=False, **to_kw)
    return path


def split_results(results: Iterable[FirmCall | FirmInputError]) -> tuple[dict, dict]:
    """``({firm_id: FirmCall}, {firm_id: FirmInputError})``."""
    calls, errors = {}, {}
    for item in results:
        (errors if isinstance(item, FirmInputError) else calls)[item.firm_id] = item
    return calls, errors

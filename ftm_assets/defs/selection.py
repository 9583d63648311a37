"""The UI selection of "firms with a call in quarter Q", in the Materialize dialog's own syntax.

The partition grid is the full quarter x firm cross-product and Dagster OSS has no saved
partition selections, so ``ftm calls --quarter Q`` prints the firm-dimension selection to paste
into the dialog (or the Partitions tab): the firms with a call in Q, as ranges over Dagster's
firm order (``[AAPL...MSFT], NVDA``), written as the UI writes them (keys with other characters
than ``-a-zA-Z0-9_:/@`` in double quotes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dagster as dg

from ftm_assets.defs.partitions import FIRM_DIM, quarter_to_key

_PLAIN_KEY = re.compile(r"^[-a-zA-Z0-9_:/@]+$")


def _ui_key(key: str) -> str:
    if _PLAIN_KEY.match(key):
        return key
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def selection_text(ordered_keys: Sequence[str], selected: Iterable[str]) -> str:
    """``selected`` keys of a dimension whose keys are in ``ordered_keys`` order, as the UI's text
    selection: contiguous runs become ``[first...last]``, single keys stay as they are."""
    chosen = set(selected)
    parts: list[str] = []
    run: list[str] = []
    for key in [*ordered_keys, None]:
        if key is not None and key in chosen:
            run.append(key)
            continue
        if run:
            parts.append(_ui_key(run[0]) if len(run) == 1 else f"[{_ui_key(run[0])}...{_ui_key(run[-1])}]")
            run = []
    return ", ".join(parts)


@dataclass(frozen=True)
class QuarterSelection:
    quarter: str
    quarter_key: str  # the quarter dimension's key, e.g. 2020-04-01
    firms_with_call: int
    firm_selection: str  # paste into the firm dimension
    unregistered: tuple[str, ...]  # firms with a call that are no partition yet

    def as_dict(self) -> dict:
        return {"quarter": self.quarter, "quarter_key": self.quarter_key, "firms_with_call": self.firms_with_call,
                "firm_selection": self.firm_selection, "unregistered_firms": list(self.unregistered)}


def quarter_selection(instance: dg.DagsterInstance, calls: Iterable[tuple[str, str]], quarter: str) -> QuarterSelection:
    """The selection of the firms with a call in ``quarter`` among the firms Dagster knows."""
    firms = {f for f, q in calls if q == quarter}
    if not firms:
        raise ValueError(f"quarter {quarter}: no calls in the transcript source")
    known = instance.get_dynamic_partitions(FIRM_DIM)
    known_set = set(known)
    return QuarterSelection(quarter, quarter_to_key(quarter), len(firms), selection_text(known, firms),
                            tuple(sorted(firms - known_set)))

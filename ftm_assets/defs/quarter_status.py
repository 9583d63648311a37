"""Is a quarter up to date with its transcripts? The discovery sensor's decision, without Dagster.

For each call of a quarter the sensor computes the input fingerprint a default firm run would
compute (sentences, embedding model, topic settings: ``warehouse.firm_rows.input_fingerprint``) and
compares it with what the warehouse holds (``warehouse.firm_status``). A firm is

* **new**: its firm id was not a partition yet (first call ever seen);
* **not yet stored**: no attempt recorded (never run, or its run was cancelled or killed first);
* **changed**: stored, but from other input (corrected transcripts, another embedding model);
* **failed, input changed**: its latest attempt failed and its input changed since that attempt;
* **failed**: its latest attempt failed on this same input. Not a reason to re-run the quarter
  (it would fail again); ``retry_failed_firms`` or a fix of the input is the way out;
* **unreadable**: the source cannot build its call (NaN text, duplicate ``sentence_index``...);
  also not a reason to re-run: the firm run would report the same error.

The first four are *pending*: a quarter with a pending firm needs a run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ftm_assets.modeling.types import FirmCall
from ftm_assets.sources.schema import FirmInputError
from ftm_assets.warehouse.firm_rows import input_fingerprint
from ftm_assets.warehouse.firm_status import FAILED, SUCCEEDED, StoredFirm

#: characters of a firm's fingerprint kept in the sensor cursor (enough to tell inputs apart)
SHORT = 16


@dataclass(frozen=True)
class QuarterStatus:
    quarter: str
    new: tuple[str, ...] = ()
    not_stored: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    failed_changed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    unreadable: Mapping[str, str] = field(default_factory=dict)
    up_to_date: int = 0
    fingerprints: Mapping[str, str] = field(default_factory=dict)  # firm -> short input fingerprint

    @property
    def pending(self) -> tuple[str, ...]:
        return self.new + self.not_stored + self.changed + self.failed_changed

    def describe(self) -> str:
        """``"2020Q3: 3 changed, 15 not yet stored"`` (what a tick log line says)."""
        parts = [(len(self.new), "new"), (len(self.not_stored), "not yet stored"), (len(self.changed), "changed"),
                 (len(self.failed_changed), "failed before, input changed")]
        text = ", ".join(f"{n} {label}" for n, label in parts if n)
        if not text:
            text = f"up to date ({self.up_to_date} firms stored)"
        extra = []
        if self.failed:
            extra.append(f"{len(self.failed)} failed on the same input (retry_failed_firms)")
        if self.unreadable:
            extra.append(f"{len(self.unreadable)} unreadable in the source")
        return f"{self.quarter}: {text}" + (f"; {', '.join(extra)}" if extra else "")


def assess_quarter(
    quarter: str,
    calls: Iterable[FirmCall | FirmInputError],
    stored: Mapping[str, StoredFirm],
    *,
    new_firms: set[str],
    model_id: str,
    settings_repr: str,
    attempted: Mapping[str, str],
) -> QuarterStatus:
    """Classify the quarter's calls (see the module docstring). ``attempted`` maps firm -> short
    fingerprint of the input a firm run already attempted (the sensor cursor)."""
    groups: dict[str, list[str]] = {k: [] for k in ("new", "not_stored", "changed", "failed_changed", "failed")}
    unreadable: dict[str, str] = {}
    fingerprints: dict[str, str] = {}
    up_to_date = 0
    for call in calls:
        if isinstance(call, FirmInputError):
            unreadable[call.firm_id] = call.reason
            continue
        fp = input_fingerprint(call, model_id, settings_repr)
        short = fp[:SHORT]
        fingerprints[call.firm_id] = short
        state = stored.get(call.firm_id)
        if call.firm_id in new_firms:
            groups["new"].append(call.firm_id)
        elif state is None:
            groups["not_stored"].append(call.firm_id)
        elif state.status == SUCCEEDED and state.fingerprint == fp:
            up_to_date += 1
        elif state.status == SUCCEEDED:
            groups["changed"].append(call.firm_id)
        elif state.status == FAILED and attempted.get(call.firm_id, short) != short:
            groups["failed_changed"].append(call.firm_id)
        else:
            groups["failed"].append(call.firm_id)
    return QuarterStatus(quarter, *(tuple(groups[k]) for k in groups), unreadable=unreadable,
                         up_to_date=up_to_date, fingerprints=fingerprints)

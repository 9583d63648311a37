"""What to launch for which quarter: pure planning shared by the sensor, the schedule and the CLI.

Given the calls found in the transcript source and the firms Dagster already knows, decide which
firms to register (dynamic partitions) and, per quarter, the ONE range of firm partitions that
covers it. Ranges follow partition insertion order, so a range may include firms that have no call
in that quarter; the firm op reports those as no-op materializations (``has_call: false``).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ftm_assets.defs.partitions import quarter_range_tags
from ftm_assets.sources.schema import validate_firm_id


@dataclass(frozen=True)
class QuarterLaunch:
    quarter: str
    firm_ids: tuple[str, ...]  # firms with a call, in partition insertion order
    signature: str  # changes when the quarter's set of firms changes

    @property
    def tags(self) -> dict[str, str]:
        return quarter_range_tags(self.quarter, self.firm_ids)

    @property
    def run_key(self) -> str:
        return f"{self.quarter}:{self.signature[:16]}"


@dataclass(frozen=True)
class DiscoveryPlan:
    new_firms: tuple[str, ...]
    invalid_firms: dict[str, str]  # firm id -> reason it cannot be a partition key
    launches: tuple[QuarterLaunch, ...]


def quarter_signature(firm_ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(firm_ids)).encode()).hexdigest()


def plan_discovery(
    calls: Sequence[tuple[str, str]],
    known_firms: Sequence[str],
    launched: dict[str, str],
    valid_quarters: set[str] | None = None,
) -> DiscoveryPlan:
    """``launched`` maps quarter -> signature already launched (the sensor cursor). A quarter is
    (re)launched when its firm set is new or changed; ``valid_quarters`` limits launches to quarters
    that exist as partitions (ended, after the first quarter)."""
    invalid: dict[str, str] = {}
    by_quarter: dict[str, set[str]] = defaultdict(set)
    for firm, quarter in calls:
        reason = validate_firm_id(firm)
        if reason:
            invalid[firm] = reason
            continue
        by_quarter[quarter].add(firm)
    known = list(known_firms)
    known_set = set(known)
    new = sorted({f for firms in by_quarter.values() for f in firms} - known_set)
    order = {f: i for i, f in enumerate(known + new)}
    launches = []
    for quarter in sorted(by_quarter):
        if valid_quarters is not None and quarter not in valid_quarters:
            continue
        sig = quarter_signature(by_quarter[quarter])
        if launched.get(quarter) == sig:
            continue
        firms = tuple(sorted(by_quarter[quarter], key=order.__getitem__))
        launches.append(QuarterLaunch(quarter, firms, sig))
    return DiscoveryPlan(tuple(new), invalid, tuple(launches))

"""Quarter x firm partitions (docs/design.md §1).

* ``quarter``: a quarterly time window; keys are the quarter's first day (``2020-04-01``), since
  strftime has no quarter directive. :func:`quarter_to_key` / :func:`key_to_quarter` convert from
  and to the ``2020Q2`` labels used everywhere else. The first quarter is ``FTM_FIRST_QUARTER``
  (default ``2000Q1``, read when the code location loads); a quarter appears once it has ended.
  :func:`require_partition_quarter` turns a quarter outside that range into a clear error
  instead of Dagster's internal invariant failure.
* ``firm``: dynamic; a firm id is registered when its first call is seen. Keys must not contain
  ``| , [ ]`` (validated by the readers before registration).

Multi-partition keys read ``FIRM|YYYY-MM-DD`` (dimensions sorted by name).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date

import dagster as dg

from ftm_assets.modeling.types import parse_quarter

QUARTER_DIM, FIRM_DIM = "quarter", "firm"
FIRST_QUARTER_ENV = "FTM_FIRST_QUARTER"
DEFAULT_FIRST_QUARTER = "2000Q1"


class QuarterOutOfRange(ValueError):
    """A quarter that is not (yet) a partition: before the first quarter, or not ended yet."""


def first_quarter() -> str:
    """``FTM_FIRST_QUARTER`` (default ``2000Q1``), validated."""
    raw = os.environ.get(FIRST_QUARTER_ENV, "").strip() or DEFAULT_FIRST_QUARTER
    try:
        parse_quarter(raw)
    except ValueError as exc:
        raise ValueError(f"{FIRST_QUARTER_ENV} must be a quarter like 2000Q1, got {raw!r}") from exc
    return raw


def quarter_to_key(quarter: str) -> str:
    year, q = parse_quarter(quarter)
    return date(year, 3 * (q - 1) + 1, 1).isoformat()


FIRST_QUARTER = first_quarter()

quarter_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,4,7,10 *",
    start=quarter_to_key(FIRST_QUARTER),
    fmt="%Y-%m-%d",
    end_offset=0,  # a quarter appears once it has ended (calls come after quarter end)
)
firm_partitions = dg.DynamicPartitionsDefinition(name=FIRM_DIM)
call_partitions = dg.MultiPartitionsDefinition({QUARTER_DIM: quarter_partitions, FIRM_DIM: firm_partitions})


def key_to_quarter(key: str) -> str:
    d = date.fromisoformat(key)
    if d.day != 1 or d.month not in (1, 4, 7, 10):
        raise ValueError(f"{key!r} is not a quarter partition key (first day of Jan/Apr/Jul/Oct)")
    return f"{d.year}Q{(d.month - 1) // 3 + 1}"


def require_partition_quarter(quarter: str) -> str:
    """``quarter`` if it is a partition; else :class:`QuarterOutOfRange` naming the quarter and,
    for an early one, the setting that moves the first quarter."""
    parse_quarter(quarter)
    if quarter < FIRST_QUARTER:
        raise QuarterOutOfRange(
            f"quarter {quarter} is before the first quarter partition {FIRST_QUARTER} "
            f"(setting {FIRST_QUARTER_ENV}, default {DEFAULT_FIRST_QUARTER}): set {FIRST_QUARTER_ENV}={quarter} "
            "or earlier for `ftm`, the UI and the daemon, then run again")
    last = quarter_partitions.get_last_partition_key()
    if last is None or quarter_to_key(quarter) > last:
        newest = key_to_quarter(last) if last else "none"
        raise QuarterOutOfRange(
            f"quarter {quarter} has not ended yet: a quarter becomes a partition once it has ended "
            f"(calls follow the quarter end; newest quarter now {newest})")
    return quarter


def call_key(firm_id: str, quarter: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({FIRM_DIM: firm_id, QUARTER_DIM: quarter_to_key(quarter)})


def split_call_key(key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """``"AAPL|2024-01-01"`` -> ``("AAPL", "2024Q1")``."""
    if not isinstance(key, dg.MultiPartitionKey):
        firm, qkey = str(key).split("|", 1)
        return firm, key_to_quarter(qkey)
    dims = key.keys_by_dimension
    return dims[FIRM_DIM], key_to_quarter(dims[QUARTER_DIM])


def quarter_range_tags(quarter: str, firm_ids: Iterable[str]) -> dict[str, str]:
    """Tags for ONE ranged run over ``firm_ids`` (in partition insertion order) of a quarter."""
    require_partition_quarter(quarter)
    firms = list(firm_ids)
    if not firms:
        raise ValueError(f"quarter {quarter}: no firms to run")
    return {
        "dagster/asset_partition_range_start": str(call_key(firms[0], quarter)),
        "dagster/asset_partition_range_end": str(call_key(firms[-1], quarter)),
        "ftm/quarter": quarter,
    }

"""Quarter x firm partitions (dagster-findings §0.1, §1).

* ``quarter``: a quarterly time window; keys are the quarter's first day (``2020-04-01``), since
  strftime has no quarter directive. :func:`quarter_to_key` / :func:`key_to_quarter` convert from
  and to the ``2020Q2`` labels used everywhere else.
* ``firm``: dynamic; a firm id is registered when its first call is seen. Keys must not contain
  ``| , [ ]`` (validated by the readers before registration).

Multi-partition keys read ``FIRM|YYYY-MM-DD`` (dimensions sorted by name).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import dagster as dg

from ftm_assets.modeling.types import parse_quarter

QUARTER_DIM, FIRM_DIM = "quarter", "firm"
FIRST_QUARTER_START = "2016-01-01"

quarter_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,4,7,10 *",
    start=FIRST_QUARTER_START,
    fmt="%Y-%m-%d",
    end_offset=0,  # a quarter appears once it has ended (calls come after quarter end)
)
firm_partitions = dg.DynamicPartitionsDefinition(name=FIRM_DIM)
call_partitions = dg.MultiPartitionsDefinition({QUARTER_DIM: quarter_partitions, FIRM_DIM: firm_partitions})


def quarter_to_key(quarter: str) -> str:
    year, q = parse_quarter(quarter)
    return date(year, 3 * (q - 1) + 1, 1).isoformat()


def key_to_quarter(key: str) -> str:
    d = date.fromisoformat(key)
    if d.day != 1 or d.month not in (1, 4, 7, 10):
        raise ValueError(f"{key!r} is not a quarter partition key (first day of Jan/Apr/Jul/Oct)")
    return f"{d.year}Q{(d.month - 1) // 3 + 1}"


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
    firms = list(firm_ids)
    if not firms:
        raise ValueError(f"quarter {quarter}: no firms to run")
    return {
        "dagster/asset_partition_range_start": str(call_key(firms[0], quarter)),
        "dagster/asset_partition_range_end": str(call_key(firms[-1], quarter)),
        "ftm/quarter": quarter,
    }

"""Forget a quarter in Dagster: the partition status of every quarter-partitioned asset.

``ftm drop-quarter`` removes a quarter's rows from the warehouse; without this the UI would keep
showing that quarter's firms and themes as materialized. For every asset whose partitions have a
quarter dimension (the three firm assets: ``quarter x firm``; ``themes``: quarter) the quarter's
partition keys are wiped: their materializations, planned and failed-to-materialize events and
observations, so the partitions read *missing* again, as before their first run.

``DagsterInstance.wipe_asset_partitions`` does this where the event log supports it; the open
source SQL event log storages (PostgreSQL, SQLite, MySQL) raise ``NotImplementedError`` as of
Dagster 1.13, so :func:`wipe_partitions` then deletes the same events itself from the event log
tables (``event_logs`` and their ``asset_event_tags``) and clears the asset's status cache
(``wipe_asset_cached_status``), which Dagster then recomputes from the events that remain.
Run history (runs, logs of other assets) is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from ftm_assets.defs.dagster_internals import delete_partition_events, partitions_with_events
from ftm_assets.defs.partitions import FIRM_DIM, QUARTER_DIM, quarter_to_key

#: the events that give a partition a status in the UI
_STATUS_EVENTS = (
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    dg.DagsterEventType.ASSET_FAILED_TO_MATERIALIZE,
    dg.DagsterEventType.ASSET_OBSERVATION,
)


def quarter_partition_keys(instance: dg.DagsterInstance, partitions_def: dg.PartitionsDefinition | None,
                           quarter: str) -> list[str]:
    """The quarter's keys of a partitions definition: the quarter key of a quarter-only asset, one
    ``FIRM|YYYY-MM-DD`` key per registered firm of a quarter x firm asset; none otherwise."""
    qkey = quarter_to_key(quarter)
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return [qkey]
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        names = {d.name for d in partitions_def.partitions_defs}
        if names == {QUARTER_DIM, FIRM_DIM}:
            firms = instance.get_dynamic_partitions(FIRM_DIM)
            return [str(dg.MultiPartitionKey({FIRM_DIM: f, QUARTER_DIM: qkey})) for f in firms]
    return []


def quarter_assets(defs: dg.Definitions) -> list[tuple[dg.AssetKey, dg.PartitionsDefinition]]:
    """The partitioned assets of ``defs`` with a quarter dimension, sorted by key."""
    out = []
    for node in defs.resolve_asset_graph().asset_nodes:
        pdef = node.partitions_def
        if isinstance(pdef, dg.TimeWindowPartitionsDefinition) or (
            isinstance(pdef, dg.MultiPartitionsDefinition)
            and QUARTER_DIM in {d.name for d in pdef.partitions_defs}
        ):
            out.append((node.key, pdef))
    return sorted(out, key=lambda item: item[0].to_user_string())


def wipe_quarter(instance: dg.DagsterInstance, defs: dg.Definitions, quarter: str) -> dict[str, int]:
    """Wipe the quarter's partitions of every quarter-partitioned asset; returns, per asset, how
    many of its partition keys had status events."""
    wiped = {}
    for key, pdef in quarter_assets(defs):
        keys = quarter_partition_keys(instance, pdef, quarter)
        wiped[key.to_user_string()] = wipe_partitions(instance, key, keys)
    return wiped


def wipe_partitions(instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition_keys: Sequence[str]) -> int:
    """Wipe the status events of ``partition_keys`` of one asset; returns how many of those keys
    had any."""
    if not partition_keys:
        return 0
    present = partitions_with_events(instance, asset_key, partition_keys, _STATUS_EVENTS)
    if not present:
        return 0
    try:
        instance.wipe_asset_partitions(asset_key, sorted(present))
    except NotImplementedError:
        delete_partition_events(instance, asset_key, sorted(present), _STATUS_EVENTS)
        instance.event_log_storage.wipe_asset_cached_status(asset_key)
    return len(present)

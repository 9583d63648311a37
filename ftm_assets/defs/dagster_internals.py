"""Every use of Dagster's private API (``dagster._core...``), in one adapter module.

Why we need them at all: per-partition status of a 5,000-firm run needs a few things the public
API does not offer (docs/design.md). Each is wrapped here with the reason, so that a Dagster
upgrade that moves one breaks this file only, and the rest of the project imports public names:

* :func:`new_run_id`: ``ftm demo`` picks the firm run's id before ``execute_in_process`` starts,
  so its progress line can follow the run's event log while the run is executing.
* :data:`ExecutionInterrupted`: Dagster's SIGTERM/SIGINT interrupt is a ``BaseException`` that the
  firm op must catch to report the firms committed before it.
* :func:`batched_materialization`, :data:`EVENT_BATCHING`: per-firm materializations written as
  one batched insert per asset (``DAGSTER_EVENT_BATCH_SIZE``); Dagster only batches events that
  carry its internal batch metadata (docs/operations.md, "Bookkeeping cost").
* :data:`IN_PROGRESS_RUN_STATUSES`: the sensors' "already queued or in progress" test uses the
  same set of statuses Dagster's own run queries use.
* :func:`latest_check_evaluation`: a skipped firm's earlier ``topic_quality`` evaluation, read
  per partition from the event log (there is no public per-partition check history).
* :func:`partition_status_cache`: materialized / failed partitions as the UI computes them
  (benches and tests).
* :func:`partitions_with_events`, :func:`delete_partition_events`: ``ftm drop-quarter`` clears a
  quarter's partition status; ``DagsterInstance.wipe_asset_partitions`` raises
  ``NotImplementedError`` on the open-source SQL event logs (Dagster 1.13), so the events are
  read and deleted from the event log tables directly (``defs/quarter_wipe.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import dagster as dg
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.events import DagsterEvent, generate_event_batch_id
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES
from dagster._core.utils import make_new_run_id

try:  # internal to Dagster since 1.7; without it per-firm reports are written unbatched
    from dagster._core.events import DagsterEventBatchMetadata
except ImportError:  # pragma: no cover - depends on the installed Dagster
    DagsterEventBatchMetadata = None

__all__ = [
    "EVENT_BATCHING",
    "IN_PROGRESS_RUN_STATUSES",
    "ExecutionInterrupted",
    "batched_materialization",
    "delete_partition_events",
    "latest_check_evaluation",
    "new_event_batch_id",
    "new_run_id",
    "partition_status_cache",
    "partitions_with_events",
]

ExecutionInterrupted = DagsterExecutionInterruptedError
#: True when the installed Dagster can write a batch of events in one insert.
EVENT_BATCHING = DagsterEventBatchMetadata is not None


def new_run_id() -> str:
    return make_new_run_id()


def new_event_batch_id() -> str:
    return generate_event_batch_id()


def batched_materialization(
    context: dg.OpExecutionContext, materialization: dg.AssetMaterialization, batch_id: str, is_batch_end: bool
) -> DagsterEvent:
    """Log ``materialization`` as part of the event batch ``batch_id`` (Dagster buffers the batch and
    writes it when the event with ``is_batch_end`` arrives); returns the event for the op to yield."""
    return DagsterEvent.asset_materialization(context.get_step_execution_context(), materialization,
                                              DagsterEventBatchMetadata(batch_id, is_batch_end))


def latest_check_evaluation(
    instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, partition: str
) -> tuple[str, dg.AssetCheckEvaluation] | None:
    """``(run_id, evaluation)`` of the latest finished evaluation of ``check_key`` for ``partition``."""
    from dagster._core.event_api import PartitionKeyFilter
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

    records = instance.event_log_storage.get_asset_check_execution_history(
        check_key, limit=1, status={Status.SUCCEEDED, Status.FAILED},
        partition_filter=PartitionKeyFilter(key=partition))
    entry = records[0].event if records else None
    evaluation = entry.dagster_event.event_specific_data if entry and entry.dagster_event else None
    if not isinstance(evaluation, dg.AssetCheckEvaluation):
        return None
    return records[0].run_id, evaluation


def partition_status_cache(instance: dg.DagsterInstance, key: dg.AssetKey, partitions_def: dg.PartitionsDefinition):
    """The asset's partition status cache value (None before any event), refreshed as the UI does."""
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    return get_and_update_asset_status_cache_value(instance, key, partitions_def)


def _sql_storage(instance: dg.DagsterInstance):
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage):
        raise RuntimeError(f"cannot clear partition status in a {type(storage).__name__} event log storage")
    return storage


def _chunks(values: Sequence[str], size: int = 1000) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def partitions_with_events(instance: dg.DagsterInstance, asset_key: dg.AssetKey,
                           partition_keys: Sequence[str], event_types: Sequence[dg.DagsterEventType]) -> set[str]:
    """The keys among ``partition_keys`` with at least one event of ``event_types`` (SQL event logs)."""
    import sqlalchemy as db
    from dagster._core.storage.event_log.schema import SqlEventLogStorageTable as Events

    storage = _sql_storage(instance)
    found: set[str] = set()
    with storage.index_connection() as conn:
        for chunk in _chunks(list(partition_keys)):
            rows = conn.execute(
                db.select(Events.c.partition).distinct().where(
                    Events.c.asset_key == asset_key.to_string(),
                    Events.c.partition.in_(list(chunk)),
                    Events.c.dagster_event_type.in_([e.value for e in event_types]),
                )
            ).fetchall()
            found.update(r[0] for r in rows)
    return found


def delete_partition_events(instance: dg.DagsterInstance, asset_key: dg.AssetKey,
                            partition_keys: Sequence[str], event_types: Sequence[dg.DagsterEventType]) -> None:
    """Delete those partitions' events of ``event_types`` and their tags (``ftm drop-quarter``:
    ``wipe_asset_partitions`` is not implemented by the open-source SQL event logs)."""
    import sqlalchemy as db
    from dagster._core.storage.event_log.schema import AssetEventTagsTable as Tags
    from dagster._core.storage.event_log.schema import SqlEventLogStorageTable as Events

    storage = _sql_storage(instance)
    with storage.index_connection() as conn:
        for chunk in _chunks(list(partition_keys)):
            ids = db.select(Events.c.id).where(
                Events.c.asset_key == asset_key.to_string(),
                Events.c.partition.in_(list(chunk)),
                Events.c.dagster_event_type.in_([e.value for e in event_types]),
            )
            conn.execute(Tags.delete().where(Tags.c.event_id.in_(ids)))
            conn.execute(Events.delete().where(Events.c.id.in_(ids)))

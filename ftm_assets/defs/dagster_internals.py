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
"""

from __future__ import annotations

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
    "latest_check_evaluation",
    "new_event_batch_id",
    "new_run_id",
    "partition_status_cache",
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

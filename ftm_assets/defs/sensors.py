"""Sensors: launch ONE run per quarter that is behind its transcripts; rebuild themes after firm runs.

``transcript_discovery_sensor`` lists the calls in the configured transcript source
(``FTM_TRANSCRIPTS_URI``: a file, a folder or an S3 prefix), registers new firms as dynamic
partitions and, in the same tick, requests one run per quarter that has a *pending* firm (new, not
yet stored, changed input, or failed before on input that has changed since:
:mod:`ftm_assets.defs.quarter_status`) and no firm run queued or in progress. The request is a
range over the quarter's firms (never one run per firm, docs/design.md §5); the op skips the firms that
are current. Each quarter gets one log line saying why, e.g. ``2020Q3: 3 changed, 15 not yet
stored -> run requested``.

Cost: the source's fingerprint (a listing) every tick. Only when it changed, or while a quarter is
*open* (it had pending firms at the last tick: a run was requested, is running, or was cancelled),
are the calls read and fingerprinted, and only those quarters when just open ones are left. The
cursor keeps the source fingerprint, a digest per quarter, the open quarters and, per quarter, the
input each failed firm was attempted with, so a firm that fails on the same input never relaunches
its quarter (``retry_failed_firms`` is the way to retry it).

``themes_after_firm_runs`` requests the quarter's ``themes`` after a firm run or a
``retry_failed_firms`` run ends, whether it succeeded or failed (a partial quarter still gets themes,
with coverage metadata), and again after a retry completes the quarter.
"""


import dataclasses
import hashlib
import json

import dagster as dg
import psycopg

from ftm_assets.defs.asset_keys import FIRM_ASSET_KEYS
from ftm_assets.defs.dagster_internals import IN_PROGRESS_RUN_STATUSES
from ftm_assets.defs.partitions import (
    FIRM_DIM,
    firm_partitions,
    key_to_quarter,
    quarter_partitions,
    quarter_to_key,
    split_call_key,
)
from ftm_assets.defs.quarter_plan import plan_discovery
from ftm_assets.defs.quarter_status import QuarterStatus, assess_quarter
from ftm_assets.defs.resources import EmbeddingModelResource, TranscriptSourceResource, WarehouseResource
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.firm_status import stored_firms

FIRM_ASSETS = frozenset(FIRM_ASSET_KEYS)
#: run statuses during which a quarter counts as being worked on (no second request)
WAITING_OR_RUNNING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, *IN_PROGRESS_RUN_STATUSES]


@dataclasses.dataclass
class DiscoveryCursor:
    fingerprint: str | None = None
    digests: dict[str, str] = dataclasses.field(default_factory=dict)  # quarter -> digest of its inputs
    open: list[str] = dataclasses.field(default_factory=list)  # quarters pending at the last tick
    attempted: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)  # q -> firm -> short fp
    requests: dict[str, int] = dataclasses.field(default_factory=dict)  # q -> runs requested so far

    @classmethod
    def load(cls, raw: str | None) -> "DiscoveryCursor":
        try:
            data = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        return cls(data.get("fingerprint"), dict(data.get("digests", {})), list(data.get("open", [])),
                   {q: dict(v) for q, v in data.get("attempted", {}).items()}, dict(data.get("requests", {})))

    def dump(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def quarter_digest(status: QuarterStatus) -> str:
    items = sorted(status.fingerprints.items()) + sorted((f, "unreadable") for f in status.unreadable)
    return hashlib.sha256("\n".join(f"{f}:{fp}" for f, fp in items).encode()).hexdigest()


def quarters_in_flight(instance: dg.DagsterInstance, firm_job: str) -> dict[str, str]:
    """``{quarter: run_id}`` of firm or retry runs queued or in progress."""
    out: dict[str, str] = {}
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=WAITING_OR_RUNNING)):
        if not _is_firm_run(run, firm_job, "retry_failed_firms"):
            continue
        quarter = quarter_of_run(run)
        if quarter:
            out.setdefault(quarter, run.run_id)
    return out


def discovery_result(
    context: dg.SensorEvaluationContext,
    source,
    warehouse: WarehouseResource,
    model_id: str,
    settings_repr: str,
    job_name: str,
) -> dg.SensorResult:
    state = DiscoveryCursor.load(context.cursor)
    fingerprint = source.fingerprint()
    source_changed = fingerprint != state.fingerprint
    if not source_changed and not state.open:
        return dg.SensorResult(skip_reason=f"{source.describe()}: unchanged, every quarter up to date",
                               cursor=context.cursor)
    valid_quarters = {key_to_quarter(k) for k in quarter_partitions.get_partition_keys()}
    plan = plan_discovery(source.list_calls(), context.instance.get_dynamic_partitions(FIRM_DIM), {}, valid_quarters)
    for firm, reason in sorted(plan.invalid_firms.items()):
        context.log.warning(f"firm id {firm!r} cannot be a partition key: {reason}")
    to_assess = [launch for launch in plan.launches if source_changed or launch.quarter in state.open]
    in_flight = quarters_in_flight(context.instance, job_name) if to_assess else {}
    new_firms = set(plan.new_firms)
    requests, lines, still_open = [], [], []
    with connect(warehouse.url(), autocommit=True, vector=False) as conn:  # no vectors read; schema may not exist
        for launch in to_assess:
            q = launch.quarter
            status = assess_quarter(
                q, source.iter_calls(q, launch.firm_ids), stored_firms(conn, q), new_firms=new_firms,
                model_id=model_id, settings_repr=settings_repr, attempted=state.attempted.get(q, {}))
            digest = quarter_digest(status)
            if digest == state.digests.get(q) and q not in state.open:
                # same input as last seen: firms stored under other settings (a launchpad run) stay
                status = dataclasses.replace(status, changed=())
            state.digests[q] = digest
            attempted = {f: fp for f, fp in state.attempted.get(q, {}).items() if f in status.failed}
            attempted.update({f: status.fingerprints[f] for f in status.failed if f not in attempted})
            line = status.describe()
            if not status.pending:
                lines.append(line)
            elif q in in_flight:
                still_open.append(q)
                lines.append(f"{line} -> run {in_flight[q]} already queued or in progress, waiting")
            else:
                still_open.append(q)
                attempted.update({f: status.fingerprints[f] for f in status.pending})
                n = state.requests.get(q, 0) + 1
                state.requests[q] = n
                reason = line.split(": ", 1)[1]
                requests.append(dg.RunRequest(run_key=f"{q}:{digest[:12]}:{n}", job_name=job_name,
                                              tags={**launch.tags, "ftm/reason": reason[:200]}))
                lines.append(f"{line} -> run requested")
            if attempted:
                state.attempted[q] = attempted
            else:
                state.attempted.pop(q, None)
    state.fingerprint = fingerprint
    state.open = still_open + [q for q in state.open if q not in {x.quarter for x in to_assess}
                               and q in {x.quarter for x in plan.launches}]
    for line in lines:
        context.log.info(line)
    summary = "; ".join(lines) or "no quarter with calls"
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[firm_partitions.build_add_request(list(plan.new_firms))] if plan.new_firms else [],
        cursor=state.dump(),
        skip_reason=None if requests else summary[:1000],
    )


def build_discovery_sensor(job_name: str) -> dg.SensorDefinition:
    @dg.sensor(
        name="transcript_discovery_sensor",
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        job_name=job_name,
        description="Registers new firms and launches one firm run per quarter with new, changed or "
        "unstored calls (none while a run of that quarter is queued or in progress).",
    )
    def transcript_discovery_sensor(
        context: dg.SensorEvaluationContext, transcripts: TranscriptSourceResource, warehouse: WarehouseResource
    ):
        from ftm_assets.defs.firm_assets import FirmRunConfig

        # the fingerprint of a default run: default model and settings (the resource is not set up,
        # so no model is loaded by the sensor)
        model_id = EmbeddingModelResource().model_id
        try:
            source = transcripts.source()
            return discovery_result(context, source, warehouse, model_id,
                                    repr(FirmRunConfig().topic_settings()), job_name)
        except (FileNotFoundError, ValueError) as exc:
            return dg.SkipReason(f"transcript source unavailable: {exc}")
        except psycopg.OperationalError as exc:
            return dg.SkipReason(f"warehouse unavailable: {type(exc).__name__}")

    return transcript_discovery_sensor


def quarter_of_run(run: dg.DagsterRun) -> str | None:
    """The quarter a firm or retry run worked on, from its tags or its config."""
    if run.tags.get("ftm/quarter"):
        return run.tags["ftm/quarter"]
    start = run.tags.get("dagster/asset_partition_range_start") or run.tags.get("dagster/partition")
    if start and "|" in start:
        return split_call_key(start)[1]
    ops = (run.run_config or {}).get("ops", {})
    quarter = ops.get("retry_failed_firms_op", {}).get("config", {}).get("quarter")
    return quarter


def quarters_materialized_by(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Quarters of the firm partitions a run materialized (a ``retry_failed_firms`` run without a
    ``quarter`` works on every quarter that needed it)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    quarters = set()
    for record in records:
        mat = record.event_log_entry.asset_materialization
        if mat is not None and mat.asset_key in FIRM_ASSETS and mat.partition:
            quarters.add(split_call_key(mat.partition)[1])
    return sorted(quarters)


def _is_firm_run(run: dg.DagsterRun, firm_job: str, retry_job: str) -> bool:
    if run.job_name in (firm_job, retry_job):
        return True
    selection = run.asset_selection or set()
    return any(k in FIRM_ASSETS for k in selection)


def build_themes_sensors(firm_job: str, retry_job: str, themes_job) -> list[dg.SensorDefinition]:
    def request(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        if not _is_firm_run(run, firm_job, retry_job):
            return dg.SkipReason(f"run {run.run_id} is not a firm run")
        quarter = quarter_of_run(run)
        quarters = [quarter] if quarter else quarters_materialized_by(context.instance, run.run_id)
        if not quarters:
            return dg.SkipReason(f"run {run.run_id}: no quarter named and none materialized")
        return [dg.RunRequest(run_key=f"themes:{run.run_id}:{q}", partition_key=quarter_to_key(q),
                              tags={"ftm/quarter": q, "ftm/after_run": run.run_id}) for q in quarters]

    @dg.run_status_sensor(name="themes_after_firm_run_success", run_status=dg.DagsterRunStatus.SUCCESS,
                          request_job=themes_job, default_status=dg.DefaultSensorStatus.RUNNING,
                          description="Rebuild the quarter's themes after a firm or retry run succeeds.")
    def themes_after_success(context: dg.RunStatusSensorContext):
        return request(context)

    @dg.run_status_sensor(name="themes_after_firm_run_failure", run_status=dg.DagsterRunStatus.FAILURE,
                          request_job=themes_job, default_status=dg.DefaultSensorStatus.RUNNING,
                          description="Build the quarter's themes after a partly failed firm run (coverage recorded).")
    def themes_after_failure(context: dg.RunStatusSensorContext):
        return request(context)

    return [themes_after_success, themes_after_failure]

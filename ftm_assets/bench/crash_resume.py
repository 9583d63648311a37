"""Kill ``ftm demo`` in the middle of a quarter and resume it (shared by the tests and
``scripts/soak_crash_resume.py``).

A trial runs ``python -m ftm_assets.cli demo --transcripts CORPUS --quarter Q --json`` in its own
process group against a fresh database, polls ``firm_runs`` until ``k`` firms are committed, waits
a random fraction of the time the last firm took (so the signal lands while the next firm is
embedded, clustered or written with COPY), sends the signal, checks the database right away (no partial firm, no orphans),
then runs the same command again and compares every table with a clean run's.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from ftm_assets.warehouse.database import connect, ensure_database
from ftm_assets.warehouse.state import (
    QuarterState,
    committed_firms,
    integrity_problems,
    quarter_state,
    state_differences,
)

REPO = Path(__file__).resolve().parents[2]
PROCESS_LIMIT_S = 600.0
POLL_S = 0.02
#: Variables of the caller that must not leak into the demo process (it gets its own).
_ISOLATED_ENV = ("XAI_API_KEY", "DAGSTER_HOME", "DAGSTER_PG_URL", "FTM_TRANSCRIPTS_URI", "FTM_LLM_BASE_URL",
                 "FTM_LLM_PRIVACY", "FTM_FIRMS_PER_RUN")


def new_database(admin_url: str, prefix: str) -> str:
    """A new empty database on the server of ``admin_url`` (a URL of its ``postgres`` database)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    ensure_database(admin_url, name)
    return admin_url.replace("/postgres?", f"/{name}?")


def demo_command(corpus: Path, quarter: str) -> list[str]:
    return [sys.executable, "-m", "ftm_assets.cli", "demo", "--transcripts", str(corpus), "--quarter", quarter,
            "--json"]


def demo_env(home: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ISOLATED_ENV}
    env.update({"FTM_HOME": str(home), "FTM_DATABASE_URL": database_url, "HF_HUB_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false"})
    return env


@dataclass
class DemoRun:
    returncode: int
    report: dict | None
    stderr_tail: str


@dataclass
class InterruptedRun:
    """What a signalled run left behind."""

    signal: str
    wait_for_firms: int
    delay_fraction: float
    delay_s: float
    committed_at_signal: int
    committed_after_exit: dict[str, tuple]
    returncode: int
    report: dict | None
    stderr_tail: str
    integrity: list[str]


def run_demo(cmd: list[str], env: dict[str, str], logs: Path) -> DemoRun:
    """Run the demo to its end; its report is the JSON line on stdout."""
    out, err = logs.with_suffix(".out"), logs.with_suffix(".err")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.run(cmd, env=env, cwd=REPO, stdout=stdout, stderr=stderr, timeout=PROCESS_LIMIT_S,
                              start_new_session=True, check=False)
    return DemoRun(proc.returncode, _report(out), _tail(err))


def interrupt_demo(cmd: list[str], env: dict[str, str], logs: Path, database_url: str, quarter: str, *,
                   wait_for_firms: int, delay_fraction: float, sig: signal.Signals) -> InterruptedRun:
    """Start the demo, wait until ``wait_for_firms`` firms are committed, then ``delay_fraction`` of
    the time between the last two commits seen (none when only one was seen), then send ``sig``
    (SIGKILL to the whole process group; SIGTERM to the process, as Dagster's termination does) and
    wait for the process to end."""
    out, err = logs.with_suffix(".out"), logs.with_suffix(".err")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            interval = _wait_for_commits(proc, database_url, quarter, wait_for_firms, err)
            delay = delay_fraction * interval
            time.sleep(delay)
            with connect(database_url) as conn:
                at_signal = len(committed_firms(conn, quarter))
            if sig == signal.SIGKILL:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                os.kill(proc.pid, sig)
            returncode = proc.wait(timeout=PROCESS_LIMIT_S)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    with connect(database_url) as conn:
        committed = committed_firms(conn, quarter)
        integrity = integrity_problems(conn)
    return InterruptedRun(sig.name, wait_for_firms, round(delay_fraction, 3), round(delay, 3), at_signal,
                          committed, returncode, _report(out), _tail(err), integrity)


def _wait_for_commits(proc: subprocess.Popen, url: str, quarter: str, k: int, err: Path) -> float:
    """Poll until ``k`` firms are committed; returns the seconds between the last two commits seen."""
    deadline = time.monotonic() + PROCESS_LIMIT_S
    seen: list[tuple[int, float]] = []
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the demo ended (rc {proc.returncode}) before {k} firms were committed:\n"
                                   f"{_tail(err)}")
            try:
                n = conn.execute("SELECT count(*) FROM firm_runs WHERE quarter = %s AND status = 'succeeded'",
                                 (quarter,)).fetchone()[0]
            except psycopg.errors.UndefinedTable:
                n = 0  # the run has not created the schema yet
            if not seen or n > seen[-1][0]:
                seen.append((n, time.monotonic()))
            if n >= k:
                return seen[-1][1] - seen[-2][1] if len(seen) > 2 else 0.0  # seen[0] is the starting count
            time.sleep(POLL_S)
    raise TimeoutError(f"{k} firms were not committed within {PROCESS_LIMIT_S:.0f} s")


@dataclass
class TrialResult:
    trial: int
    interrupts: list[InterruptedRun]
    resume_returncode: int
    resume_failed_firms: list[str]
    recomputed_committed: list[str]
    differences: list[str]
    integrity: list[str]
    seconds: float
    committed_before_resume: int = 0
    database_url: str = ""
    resume_run_id: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.resume_returncode == 0 and not self.resume_failed_firms and not self.recomputed_committed
                and not self.differences and not self.integrity
                and not any(i.integrity for i in self.interrupts))

    def summary(self) -> dict:
        data = asdict(self)
        for run in data["interrupts"]:
            run["committed_after_exit"] = len(run["committed_after_exit"])
            run.pop("stderr_tail")
            run["report"] = None if run["report"] is None else {
                k: run["report"].get(k) for k in ("failed_firms", "failure_reasons", "firms_stored")}
        data["ok"] = self.ok
        data.pop("database_url")
        return data


def crash_resume_trial(trial: int, admin_url: str, corpus: Path, quarter: str, n_firms: int, clean: QuarterState,
                       workdir: Path, rng: random.Random,
                       signals: tuple[signal.Signals, ...] = (signal.SIGKILL,), first_after: int = 1) -> TrialResult:
    """One trial on a fresh database: interrupt the demo once per entry of ``signals`` (each
    after more committed firms than the last, the first after at least ``first_after``, chosen with
    ``rng``), resume, compare with ``clean``."""
    t0 = time.monotonic()
    url = new_database(admin_url, f"crash{trial}")
    home = workdir / f"trial{trial}"
    home.mkdir(parents=True, exist_ok=True)
    env, cmd = demo_env(home / "ftm_home", url), demo_command(corpus, quarter)
    interrupts: list[InterruptedRun] = []
    floor = first_after - 1
    for i, sig in enumerate(signals):
        # leave at least one firm for every later signal and for the final resume, plus one firm that
        # an earlier signal's run may still commit (finishing its current firm)
        last = i == len(signals) - 1
        top = n_firms - (len(signals) - i) - (0 if last else 1)
        if floor + 1 > top:
            break  # the previous interruption came too late to leave room for another
        k = rng.randint(floor + 1, top)
        # a random part of one firm's time lands the signal in embedding, clustering or a COPY; only
        # where one firm more may still be committed before the signal
        fraction = rng.random() if k < top else 0.0
        run = interrupt_demo(cmd, env, home / f"interrupted{i}", url, quarter, wait_for_firms=k,
                             delay_fraction=fraction, sig=sig)
        interrupts.append(run)
        floor = len(run.committed_after_exit)
    with connect(url) as conn:
        before = committed_firms(conn, quarter)
    resumed = run_demo(cmd, env, home / "resume")
    with connect(url) as conn:
        after = committed_firms(conn, quarter)
        integrity = integrity_problems(conn)
    recomputed = sorted(f for f, stamp in before.items() if after.get(f) != stamp)
    differences = state_differences(clean, quarter_state(url, quarter))
    failed = resumed.report["failed_firms"] if resumed.report else ["(no report)"]
    notes = [] if resumed.report else [resumed.stderr_tail]
    return TrialResult(trial, interrupts, resumed.returncode, failed, recomputed, differences, integrity,
                       round(time.monotonic() - t0, 1), len(before), url,
                       resumed.report.get("firm_run_id") if resumed.report else None, notes)


def clean_run(admin_url: str, corpus: Path, quarter: str, workdir: Path) -> tuple[str, QuarterState, DemoRun]:
    """The reference: one uninterrupted demo run into a fresh database."""
    url = new_database(admin_url, "clean")
    home = workdir / "clean"
    home.mkdir(parents=True, exist_ok=True)
    run = run_demo(demo_command(corpus, quarter), demo_env(home / "ftm_home", url), home / "run")
    if run.returncode != 0 or not run.report or run.report["failed_firms"]:
        raise RuntimeError(f"the clean run failed (rc {run.returncode}):\n{run.stderr_tail}")
    return url, quarter_state(url, quarter), run


def _report(out: Path) -> dict | None:
    for line in reversed(out.read_text(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def _tail(path: Path, n: int = 4000) -> str:
    text = path.read_text(errors="replace")
    return text[-n:]

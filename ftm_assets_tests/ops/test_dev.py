"""Smoke test of ``ftm dev``: the embedded Postgres, the Dagster webserver and daemon start in a
fresh FTM_HOME, GraphQL lists this project's assets, jobs, sensors and schedule, and Ctrl-C (SIGINT
to the process group, as a terminal sends it) stops everything, the embedded server included."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
#: Bounded waits, generous for a loaded 2-core machine (startup takes ~30 s when idle).
START_LIMIT_S = 240.0
LOAD_LIMIT_S = 120.0
STOP_LIMIT_S = 90.0
QUERY = """{
  assetNodes { assetKey { path } }
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name jobs { name } sensors { name } schedules { name } } }
    ... on PythonError { message }
  }
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _graphql(port: int) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": QUERY}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def _running(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for(predicate, limit_s: float, proc: subprocess.Popen | None = None, what: str = "") -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"ftm dev exited with {proc.returncode} while waiting for {what}")
        time.sleep(1.0)
    raise AssertionError(f"timed out after {limit_s:.0f} s waiting for {what}")


def _postmaster_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def _force_stop(proc: subprocess.Popen, postmaster: int | None) -> None:
    """Last resort so the test never leaves processes behind (runs after the assertions)."""
    for member in _group_members(proc.pid):
        member.kill()
    if proc.poll() is None:
        proc.kill()
        proc.wait(30)
    if _running(postmaster):
        os.kill(postmaster, signal.SIGINT)  # PostgreSQL's fast shutdown
        psutil.Process(postmaster).wait(30)


@pytest.mark.slow  # starts the embedded Postgres (and Dagster) in a subprocess, no fixture
def test_ftm_dev_serves_the_project_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    home = tmp_path / "ftm_home"
    env = {k: v for k, v in os.environ.items()
           if k not in ("DAGSTER_HOME", "DAGSTER_PG_URL", "FTM_DATABASE_URL", "FTM_TRANSCRIPTS_URI",
                        "DAGSTER_EVENT_BATCH_SIZE", "XAI_API_KEY")}
    env.update(FTM_HOME=str(home), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    log_path = tmp_path / "ftm_dev.log"
    postmaster = None
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ftm_assets.cli", "dev", "--port", str(port)], cwd=REPO,
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            _wait_for(lambda: _get(f"http://127.0.0.1:{port}/server_info"), START_LIMIT_S, proc, "the webserver")
            postmaster = _postmaster_pid(home / "pgdata")
            assert _running(postmaster), "the embedded PostgreSQL of FTM_HOME runs"

            answer: dict = {}

            def loaded() -> bool:
                answer.update(_graphql(port))
                return answer.get("data", {}).get("repositoriesOrError", {}).get("__typename") == "RepositoryConnection"

            _wait_for(loaded, LOAD_LIMIT_S, proc, "the code location")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- ftm dev log ---\n{log_path.read_text()[-4000:]}") from None

        data = answer["data"]
        assets = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
        assert {"sentence_embeddings", "firm_topics", "topic_summaries", "themes"} <= assets
        (repo,) = data["repositoriesOrError"]["nodes"]
        assert {"quarter_firms_job", "quarter_themes_job", "retry_failed_firms"} <= {j["name"] for j in repo["jobs"]}
        assert {"transcript_discovery_sensor", "themes_after_firm_run_success",
                "themes_after_firm_run_failure"} <= {s["name"] for s in repo["sensors"]}
        assert {s["name"] for s in repo["schedules"]} == {"quarterly_firm_run"}

        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal running `ftm dev`
        proc.wait(STOP_LIMIT_S)
        _wait_for(lambda: not _group_members(proc.pid) and not _running(postmaster), STOP_LIMIT_S,
                  what="the webserver, daemon, code server and embedded PostgreSQL to stop")
        assert not (home / "pgdata" / "postmaster.pid").exists(), "PostgreSQL shut down cleanly"
    finally:
        _force_stop(proc, postmaster)

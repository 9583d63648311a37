"""Secrets, SQL injection through search, and the LLM privacy switch, over a real quarter run.

A sentinel LLM key and a sentinel database password (a Postgres role with a password on the
embedded server, which authenticates local sockets by trust, so the password only has to travel in
the URL) are used by a quarter run (``run_quarter``, as ``ftm demo``) whose Dagster storage is the
same database, with a failing firm, LLM errors (401, 500, 429) and a run whose database does not
exist. Neither secret may appear in logs (caplog at DEBUG, captured stdout/stderr), the Dagster
event log and run records, materialization metadata, exceptions, the instance's files, or any
row of any table. ``FTM_LLM_PRIVACY=keywords`` is on: no transcript sentence may reach the LLM.
Then ``ftm search`` is run with quotes and SQL fragments in the query and the filters.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import dagster as dg
import pandas as pd
import psycopg
import pytest
from dagster._serdes import serialize_value

from ftm_assets import cli
from ftm_assets.defs.launch import run_quarter
from ftm_assets.llm.fake_server import FakeOpenAIServer
from ftm_assets.warehouse.database import connect, sqlalchemy_url
from ftm_assets.warehouse.quarter_rows import table_counts
from ftm_assets.warehouse.state import integrity_problems

from .conftest import QUARTER, record_figures, run_firm_job, small_corpus, step_failure_text

pytestmark = pytest.mark.reliability

SENTINEL_KEY = "sk-FTM-SENTINEL-KEY-4e1f9c2b7a"
SENTINEL_PASSWORD = "pw-FTM-SENTINEL-PASSWORD-8d3a6f"
ROLE = "ftm_sentinel_user"
SECRETS = (SENTINEL_KEY, SENTINEL_PASSWORD)


@pytest.fixture
def password_url(pg_admin_url) -> str:
    """A database owned by a role with a password; its URL carries the sentinel password."""
    name = f"secret_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
            conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{SENTINEL_PASSWORD}'")
        conn.execute(f"CREATE DATABASE {name} OWNER {ROLE}")
    with psycopg.connect(pg_admin_url.replace("/postgres?", f"/{name}?"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")  # needs a superuser; the pipeline's migration then skips it
    url = pg_admin_url.replace("postgres:@", f"{ROLE}:{SENTINEL_PASSWORD}@").replace("/postgres?", f"/{name}?")
    assert SENTINEL_PASSWORD in url and url.startswith(f"postgresql://{ROLE}:")
    return url


def corpus_with_a_broken_firm(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    frame = pd.read_parquet(small_corpus(tmp_path / "good.parquet", n_firms=4, seed=5))
    broken = frame[frame["firm_id"] == frame["firm_id"].iloc[0]].head(40).assign(firm_id="BROKEN")
    broken.loc[broken.index[5], "sentence_index"] = 4  # duplicate index: the firm fails
    frame = pd.concat([frame, broken], ignore_index=True)
    path = tmp_path / "calls.parquet"
    frame.to_parquet(path, index=False)
    return path, frame


def rows_containing(url: str, needle: str) -> dict[str, int]:
    """Rows of every table of the database (FTM's and Dagster's) whose text form contains ``needle``."""
    found = {}
    with connect(url, vector=False) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            " AND table_type = 'BASE TABLE'")]
        assert {"firms", "sentences", "topics", "themes", "event_logs", "runs"} <= set(tables)
        for table in tables:
            n = conn.execute(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s', (f"%{needle}%",)).fetchone()[0]
            if n:
                found[table] = n
    return found


def files_containing(root: Path, needle: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_secrets_never_leak_and_keywords_privacy_sends_no_sentence(
        ftm_env, tmp_path, monkeypatch, caplog, capfd, model_loads, password_url):
    caplog.set_level(logging.DEBUG)
    corpus, frame = corpus_with_a_broken_firm(tmp_path)
    monkeypatch.setenv("FTM_DATABASE_URL", password_url)
    monkeypatch.setenv("DAGSTER_PG_URL", sqlalchemy_url(password_url))
    monkeypatch.setenv("XAI_API_KEY", SENTINEL_KEY)
    monkeypatch.setenv("FTM_LLM_PRIVACY", "keywords")
    storage = {"storage": {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}}  # as dagster.yaml

    with FakeOpenAIServer(script=["401", "500", "429"]) as server:
        monkeypatch.setenv("FTM_LLM_BASE_URL", server.base_url)
        with dg.instance_for_test(overrides=storage) as instance:
            report = run_quarter(str(corpus), QUARTER, instance=instance)
            # a run that cannot open its database: the error is reported without the password
            monkeypatch.setenv("FTM_DATABASE_URL", password_url.replace("/secret_", "/missing_"))
            unreachable = run_firm_job(instance, str(corpus), QUARTER, [sorted(set(frame["firm_id"]))[0]])
            monkeypatch.setenv("FTM_DATABASE_URL", password_url)
            run_ids = [report["firm_run_id"], report["themes_run_id"], unreachable.run_id]
            records = [serialize_value(e) for run_id in run_ids for e in instance.all_logs(run_id)]
            records += [serialize_value(instance.get_run_by_id(run_id)) for run_id in run_ids]
            instance_root = Path(instance.root_directory)
            instance_files = {s: files_containing(instance_root, s) for s in SECRETS}
        requests = server.requests

    # the runs did what they should, so the checks below have something to look at
    assert report["failed_firms"] == ["BROKEN"] and report["firms_stored"] == 4
    assert "duplicate sentence_index 4" in report["failure_reasons"]["BROKEN"]
    assert not unreachable.success and 'database "missing_' in step_failure_text(unreachable)
    assert {r["headers"]["authorization"] for r in requests} == {f"Bearer {SENTINEL_KEY}"}  # the key went out
    assert {"401", "500", "429"} <= {r["outcome"] for r in requests}
    with connect(password_url, vector=False) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'sentences'").fetchone()[0]
    assert owner == ROLE  # the pipeline's tables were made through the URL with the password

    # privacy: keywords only, no transcript sentence in any request
    contents = [m["content"] for r in requests for m in r["body"]["messages"]]
    user_prompts = [m["content"] for r in requests for m in r["body"]["messages"] if m["role"] == "user"]
    assert all("Keywords:" in p for p in user_prompts)
    sentences = [t for t in frame["text"] if len(t) > 25]
    leaked = [t for t in sentences if any(t in c for c in contents)]
    assert leaked == []

    # search: quotes and SQL fragments are data, never SQL
    firm = sorted(set(frame["firm_id"]) - {"BROKEN"})[0]
    with connect(password_url) as conn:
        before = table_counts(conn)
    outputs: list[str] = []

    def output(stream: str = "out") -> str:
        """What the commands printed since the last call (all of it is also kept for the secret checks)."""
        captured = capfd.readouterr()
        outputs.extend([captured.out, captured.err])
        return getattr(captured, stream)

    output()  # the quarter run's console output
    injections = ["'; DROP TABLE sentences; --", "\" OR 1=1 --", "pricing'); DELETE FROM firms; --",
                  "$$; TRUNCATE themes CASCADE; $$", "%s %(firm)s {quarter} \\x27"]
    # every case runs before anything fails, so one broken case does not hide the others
    wrong: list[str] = []
    for query in injections:
        code = cli.main(["search", query, "--quarter", QUARTER, "--json"])
        hits = json.loads(output())["hits"] if code == 0 else []
        if code != 0 or not hits or any(h["quarter"] != QUARTER for h in hits):
            wrong.append(f"query {query!r}: exit {code}, {len(hits)} hits")
    for bad_firm in ("x' OR '1'='1", f"{firm}' --", f"{firm}'; DROP TABLE topics; --"):
        code = cli.main(["search", "pricing", "--firm", bad_firm, "--json"])
        hits = json.loads(output())["hits"] if code == 0 else None
        if code != 0 or hits != []:
            wrong.append(f"firm {bad_firm!r}: exit {code}, hits {hits}")
    assert wrong == []
    assert cli.main(["search", "pricing", "--firm", firm, "--levels", "topic,sentence", "--json"]) == 0
    hits = json.loads(output())["hits"]
    assert hits and {h["firm_id"] for h in hits} == {firm}
    assert cli.main(["search", "pricing", "--quarter", "2024Q1' OR '1'='1"]) == 2
    assert "malformed quarter" in output("err")
    assert cli.main(["search", "pricing", "--levels", "sentence; DROP TABLE firms"]) == 2
    assert "levels must be" in output("err")
    with connect(password_url) as conn:
        assert table_counts(conn) == before
        assert integrity_problems(conn) == []

    # neither secret anywhere
    output()
    places = {
        "log records": caplog.text + "\n".join(r.exc_text or "" for r in caplog.records),
        "stdout and stderr": "\n".join(outputs),
        "ftm demo report": json.dumps(report, default=str),
        "Dagster event log and run records": "\n".join(records),
        "step failure": step_failure_text(unreachable),
        "LLM request bodies": "\n".join(r["raw_body"] for r in requests),
    }
    # the searches below would find a secret: they find what is there
    assert caplog.records and records and "RUN_SUCCESS" in places["stdout and stderr"]
    assert {"firm_runs", "event_logs"} <= set(rows_containing(password_url, "BROKEN"))
    assert any("BROKEN" in text for text in places.values())
    leaks = [f"secret #{i} in {place}" for i, secret in enumerate(SECRETS)
             for place, text in places.items() if secret in text]
    leaks += [f"secret #{i} in files {instance_files[secret]}" for i, secret in enumerate(SECRETS)
              if instance_files[secret]]
    leaks += [f"secret #{i} in rows {rows}" for i, secret in enumerate(SECRETS)
              if (rows := rows_containing(password_url, secret))]
    assert leaks == []
    assert "***" in report["database_url"]
    record_figures("secrets", {"requests": len(requests), "log_records": len(caplog.records),
                               "dagster_records": len(records), "sentences_checked": len(sentences),
                               "tables_grepped": "all public tables (FTM + Dagster storage)"})


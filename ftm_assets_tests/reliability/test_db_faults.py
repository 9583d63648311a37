"""The database connection drops in the middle of a firm's write: that firm fails cleanly (no partial
rows, the other firms are stored) and the ``retry_failed_firms`` job completes it.

The fault is real: a trigger on ``sentences`` calls ``pg_terminate_backend(pg_backend_pid())`` when
the victim firm's 40th sentence row arrives through COPY, so the server kills the pipeline's own
connection after the firm's ``firms`` and ``topics`` rows and 39 sentences were sent in the same
transaction. A sequence (not rolled back with the transaction) makes the fault fire once only,
like a network blip: the retry meets the same trigger and passes.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.schema import migrate
from ftm_assets.warehouse.state import integrity_problems
from ftm_assets_tests.defs.helpers import partition_status

from .conftest import QUARTER, record_figures, run_firm_job, run_retry_job, small_corpus, step_failure_text

pytestmark = pytest.mark.reliability

FAULT_AT_ROW = 40


def drop_connection_once_during(url: str, firm: str, at_row: int = FAULT_AT_ROW) -> None:
    with connect(url, autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE ftm_fault_rows")
        conn.execute(
            "CREATE FUNCTION ftm_drop_connection() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF nextval('ftm_fault_rows') = {int(at_row)} THEN PERFORM pg_terminate_backend(pg_backend_pid()); "
            "END IF; RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER ftm_drop_connection BEFORE INSERT ON sentences FOR EACH ROW "
            "WHEN (NEW.firm_id = %s) EXECUTE FUNCTION ftm_drop_connection()".replace("%s", f"'{firm}'")
        )


def test_connection_dropped_mid_firm_fails_that_firm_only_and_retry_completes_it(ftm_env, tmp_path, model_loads):
    url = ftm_env["database_url"]
    corpus = small_corpus(tmp_path / "calls.parquet", n_firms=4, seed=7)
    sizes = pd.read_parquet(corpus).groupby("firm_id").size().to_dict()
    firms = sorted(sizes)
    victim = firms[1]  # firms after it must still be stored: the stage reconnects
    migrate(url, 384)
    drop_connection_once_during(url, victim)

    with dg.instance_for_test() as instance:
        first = run_firm_job(instance, str(corpus), QUARTER, firms)
        assert not first.success
        failure = step_failure_text(first)
        assert f"1 firm partition(s) failed: {victim}|" in failure
        with connect(url) as conn:
            fired = conn.execute("SELECT last_value FROM ftm_fault_rows").fetchone()[0]
            status = dict(conn.execute("SELECT firm_id, status FROM firm_runs").fetchall())
            error = conn.execute("SELECT error FROM firm_runs WHERE firm_id = %s", (victim,)).fetchone()[0]
            victim_rows = [conn.execute(f"SELECT count(*) FROM {t} WHERE firm_id = %s", (victim,)).fetchone()[0]
                           for t in ("firms", "topics", "sentences")]
            stored = dict(conn.execute("SELECT firm_id, n_sentences FROM firms").fetchall())
            assert integrity_problems(conn) == []
        assert fired == FAULT_AT_ROW  # the connection really was dropped mid-COPY, once
        assert victim_rows == [0, 0, 0]  # no partial firm
        assert status == {f: "failed" if f == victim else "succeeded" for f in firms}
        # psycopg names the drop as the server's AdminShutdown or, when the client notices first, as an
        # OperationalError ("server closed the connection unexpectedly"); both are OperationalError
        assert error.startswith(f"firm {victim} quarter {QUARTER}: ")
        assert "AdminShutdown" in error or "OperationalError" in error, error
        assert stored == {f: sizes[f] for f in firms if f != victim}
        for asset in ("sentence_embeddings", "firm_topics", "topic_summaries"):
            assert partition_status(instance, asset) == (set(firms) - {victim}, {victim}), asset

        retry = run_retry_job(instance, str(corpus), QUARTER)
        assert retry.success
        for asset in ("sentence_embeddings", "firm_topics", "topic_summaries"):
            assert partition_status(instance, asset) == (set(firms), set()), asset
        with connect(url) as conn:
            runs = dict(conn.execute("SELECT firm_id, run_id FROM firm_runs WHERE status = 'succeeded'").fetchall())
            stored = dict(conn.execute("SELECT firm_id, n_sentences FROM firms").fetchall())
            assert integrity_problems(conn) == []
    assert stored == sizes
    assert runs == {f: retry.run_id if f == victim else first.run_id for f in firms}  # only the victim redone
    record_figures("db_fault", {"firms": len(firms), "victim": victim, "fault_at_sentence_row": FAULT_AT_ROW,
                                "error": error})

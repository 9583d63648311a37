"""Idempotency property: any sequence of materialize, re-materialize, single-firm materialize, retry
and failed attempts over three small firms, once completed, leaves the database equal to one clean
run (counts, per-firm checksums of text and topic assignment, topics, themes, embeddings).

Each step is a real Dagster run (in process, the suite's loaded model) on a fresh database per
example. ``fail_one`` re-materializes every firm while a trigger rejects one firm's sentence rows
(a real database fault), so that firm's attempt fails after its previous rows were deleted inside
the rolled-back transaction. A sequence ends with ``materialize`` or ``retry`` (which must both
complete a quarter), then the themes job runs, as the sensor would launch it.
"""

from __future__ import annotations

import dagster as dg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftm_assets.bench.crash_resume import new_database
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.schema import migrate
from ftm_assets.warehouse.state import integrity_problems, quarter_state, state_differences

from .conftest import (
    QUARTER,
    record_figures,
    reuse_loaded_model,
    run_firm_job,
    run_retry_job,
    run_themes_job,
    tiny_calls,
)

pytestmark = pytest.mark.reliability

N_FIRMS = 3
STEPS = ("materialize", "rematerialize", "materialize_one", "retry", "fail_one")


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("idempotency") / "tiny.parquet"
    frame = tiny_calls(N_FIRMS, seed=41)
    frame.to_parquet(path, index=False)
    return str(path), sorted(frame["firm_id"].unique())


def _reject_sentences_of(url: str, firm: str, on: bool) -> None:
    with connect(url, autocommit=True) as conn:
        if on:
            conn.execute("CREATE OR REPLACE FUNCTION ftm_test_reject() RETURNS trigger LANGUAGE plpgsql AS "
                         "$$ BEGIN RAISE EXCEPTION 'injected fault for %', NEW.firm_id; END $$")
            conn.execute("CREATE TRIGGER ftm_test_reject BEFORE INSERT ON sentences FOR EACH ROW "
                         f"WHEN (NEW.firm_id = '{firm}') EXECUTE FUNCTION ftm_test_reject()")
        else:
            conn.execute("DROP TRIGGER ftm_test_reject ON sentences")


def apply_steps(steps: list[tuple[str, int]], uri: str, firms: list[str], url: str) -> list[bool]:
    """Run the steps, then the quarter's themes, on a new Dagster instance; returns each run's success."""
    migrate(url, 384)
    ok = []
    with dg.instance_for_test() as instance:
        for step, i in steps:
            if step == "materialize":
                result = run_firm_job(instance, uri, QUARTER, firms)
            elif step == "rematerialize":
                result = run_firm_job(instance, uri, QUARTER, firms, op_config={"recompute": True})
            elif step == "materialize_one":
                result = run_firm_job(instance, uri, QUARTER, [firms[i]])
            elif step == "retry":
                result = run_retry_job(instance, uri, QUARTER)
            else:  # fail_one
                _reject_sentences_of(url, firms[i], on=True)
                try:
                    result = run_firm_job(instance, uri, QUARTER, firms, op_config={"recompute": True})
                finally:
                    _reject_sentences_of(url, firms[i], on=False)
            ok.append(result.success)
        ok.append(run_themes_job(instance, uri, QUARTER).success)
    return ok


@pytest.fixture(scope="module")
def clean_state(pg_admin_url, tiny_corpus, sentence_transformer):
    uri, firms = tiny_corpus
    url = new_database(pg_admin_url, "idem_clean")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTM_DATABASE_URL", url)
        mp.delenv("XAI_API_KEY", raising=False)
        reuse_loaded_model(mp, sentence_transformer)
        assert apply_steps([("materialize", 0)], uri, firms, url) == [True, True]
    state = quarter_state(url, QUARTER)
    assert state.counts["firms"] == N_FIRMS and state.counts["topics"] >= N_FIRMS
    record_figures("idempotency_clean_run", state.counts)
    return state


@settings(max_examples=6, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    steps=st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, N_FIRMS - 1)), min_size=1, max_size=3),
    final=st.sampled_from(["materialize", "retry"]),
)
def test_any_sequence_then_completion_equals_one_clean_run(steps, final, pg_admin_url, tiny_corpus, clean_state,
                                                           model_loads, ftm_env, monkeypatch):
    uri, firms = tiny_corpus
    url = new_database(pg_admin_url, "idem")
    monkeypatch.setenv("FTM_DATABASE_URL", url)
    sequence = [*steps, (final, 0)]
    successes = apply_steps(sequence, uri, firms, url)

    for (step, _), ok in zip(sequence, successes, strict=False):
        assert ok == (step != "fail_one"), (sequence, successes)
    assert successes[-2:] == [True, True]  # the completing step and the themes
    with connect(url) as conn:
        assert integrity_problems(conn) == []
    assert state_differences(clean_state, quarter_state(url, QUARTER)) == [], sequence
    record_figures("idempotency", {"sequence": [f"{s}({firms[i]})" if s.endswith("_one") else s
                                                for s, i in sequence]})

"""The topic worker pool with real worker processes: results identical to in-process modelling,
a killed worker fails only its firm (and a rerun completes it), errors keep their type, and the
worker count is read from config or the environment."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import dataclass

import numpy as np
import pytest

from ftm_assets.llm.client import TopicSummarizer
from ftm_assets.llm.settings import LlmSettings
from ftm_assets.modeling.firm_topics import build_firm_topics
from ftm_assets.modeling.settings import FirmTopicSettings
from ftm_assets.modeling.types import FirmCall
from ftm_assets.sources.demo import write_demo_corpus
from ftm_assets.sources.open import open_source
from ftm_assets.stages.firms import FAILED, SKIPPED, SUCCEEDED, FirmStage, FirmStageSettings
from ftm_assets.stages.topic_workers import (
    WORKERS_ENV,
    TopicWorkerPool,
    WorkerDied,
    default_workers,
    resolve_workers,
)
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.schema import migrate

pytestmark = pytest.mark.slow
QUARTER = "2024Q1"
SETTINGS = FirmTopicSettings()


@dataclass(frozen=True)
class SlowInWorkerCall(FirmCall):
    """A call whose sentences take ``delay_s`` to read inside a worker process (instantly in the
    test process), so that the test can kill the worker while it holds this firm."""

    delay_s: float = 120.0

    @property
    def texts(self) -> list[str]:
        if multiprocessing.parent_process() is not None:
            time.sleep(self.delay_s)
        return [s.text for s in self.sentences]


def _slow(call: FirmCall) -> SlowInWorkerCall:
    return SlowInWorkerCall(call.firm_id, call.quarter, call.sentences, call.firm_name, call.call_date)


@pytest.fixture(scope="module")
def demo_calls(tmp_path_factory, encoder) -> list[tuple[FirmCall, np.ndarray]]:
    path = write_demo_corpus(tmp_path_factory.mktemp("demo") / "calls.parquet", n_firms=4, quarter=QUARTER,
                             seed=3, sentences_per_firm=(100, 130))
    calls = [c for c in open_source(str(path)).iter_calls(QUARTER) if isinstance(c, FirmCall)]
    return [(c, encoder.encode(c.texts)) for c in calls]


def _same_topics(a, b) -> bool:
    return a.topics == b.topics and np.array_equal(a.assignments, b.assignments) and a.outcome == b.outcome


def _kill_worker_holding(pool: TopicWorkerPool, firm_id: str, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid, label in pool.busy().items():
            if f"firm {firm_id} " in label:
                os.kill(pid, signal.SIGKILL)
                return pid
        time.sleep(0.05)
    raise AssertionError(f"no worker took firm {firm_id} within {timeout_s} s")


def test_two_workers_give_the_topics_of_one_process(demo_calls):
    inline = [build_firm_topics(c, e, SETTINGS) for c, e in demo_calls]
    with TopicWorkerPool(2, SETTINGS) as pool:
        futures = [pool.submit(c, e, SETTINGS) for c, e in demo_calls]
        pooled = [f.result(timeout=300) for f in futures]
        assert len(set(pool.pids())) == 2
    assert all(seconds > 0 for _, seconds in pooled)
    assert [len(t.topics) for t in inline] == [len(t.topics) for t, _ in pooled]
    assert all(len(t.topics) >= 2 for t in inline)
    for (call, _), expected, (got, _) in zip(demo_calls, inline, pooled, strict=True):
        assert _same_topics(expected, got), call.firm_id


def test_a_killed_worker_fails_only_its_firm_and_is_replaced(demo_calls):
    (a, ea), (b, eb), (c, ec), _ = demo_calls
    with TopicWorkerPool(2, SETTINGS) as pool:
        fa = pool.submit(a, ea, SETTINGS)
        fb = pool.submit(_slow(b), eb, SETTINGS)
        fc = pool.submit(c, ec, SETTINGS)
        killed = _kill_worker_holding(pool, b.firm_id)
        with pytest.raises(WorkerDied, match=rf"{killed} died \(signal SIGKILL\) while modelling firm {b.firm_id} "):
            fb.result(timeout=120)
        assert fa.result(timeout=300)[0].topics and fc.result(timeout=300)[0].topics
        assert pool.deaths == 1
        assert killed not in pool.pids() and len(pool.pids()) == 2  # replaced
        again, _ = pool.submit(b, eb, SETTINGS).result(timeout=300)  # the rerun of the firm completes
    assert _same_topics(again, build_firm_topics(b, eb, SETTINGS))


def test_a_modelling_error_keeps_its_type_and_message(demo_calls):
    call, emb = demo_calls[0]
    with TopicWorkerPool(1, None) as pool, pytest.raises(ValueError, match=rf"firm '{call.firm_id}' quarter"):
        pool.submit(call, emb[:-1], SETTINGS).result(timeout=300)


def test_worker_count_from_config_environment_or_cores(monkeypatch):
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert default_workers(16) == 15 and default_workers(1) == 1
    assert resolve_workers(-1) == default_workers()
    assert resolve_workers(3) == 3 and resolve_workers(0) == 0
    monkeypatch.setenv(WORKERS_ENV, "5")
    assert resolve_workers(-1) == 5 and resolve_workers(2) == 2
    for bad in ("many", "-2"):
        monkeypatch.setenv(WORKERS_ENV, bad)
        with pytest.raises(ValueError, match=WORKERS_ENV):
            resolve_workers(-1)
    with pytest.raises(ValueError, match="workers must be >= 0"):
        FirmStageSettings(workers=-1)


def _run_stage(encoder, url: str, calls, workers: int, on_start=None):
    with TopicSummarizer(LlmSettings(api_key=None)) as summarizer:
        stage = FirmStage(encoder, summarizer, url, FirmStageSettings(workers=workers), run_id="worker-test")
        try:
            if on_start is not None:
                on_start(stage)
            return {o.firm_id: o for o in stage.run(iter(calls))}
        finally:
            stage.close()


def test_stage_with_a_killed_worker_fails_that_firm_only_and_a_rerun_completes_it(
    demo_calls, encoder, database_url
):
    import threading

    calls = [c for c, _ in demo_calls]
    victim = calls[1]
    migrate(database_url, encoder.dim, encoder.model_id)

    def kill_when_busy(stage: FirmStage) -> None:
        pool = stage.topic_runner()
        threading.Thread(target=_kill_worker_holding, args=(pool, victim.firm_id), daemon=True).start()

    first = _run_stage(encoder, database_url, [_slow(victim) if c is victim else c for c in calls], 2,
                       kill_when_busy)
    assert first[victim.firm_id].status == FAILED
    assert "died (signal SIGKILL) while modelling firm" in first[victim.firm_id].error
    assert victim.firm_id in first[victim.firm_id].error and QUARTER in first[victim.firm_id].error
    assert {f: o.status for f, o in first.items() if f != victim.firm_id} == {
        c.firm_id: SUCCEEDED for c in calls if c is not victim}
    with connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM sentences WHERE firm_id = %s", (victim.firm_id,)).fetchone()[0] == 0
        assert conn.execute("SELECT status FROM firm_runs WHERE firm_id = %s",
                            (victim.firm_id,)).fetchone()[0] == "failed"

    rerun = _run_stage(encoder, database_url, calls, 2)
    assert rerun[victim.firm_id].status == SUCCEEDED
    assert {o.status for f, o in rerun.items() if f != victim.firm_id} == {SKIPPED}
    with connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM sentences WHERE firm_id = %s",
                            (victim.firm_id,)).fetchone()[0] == len(victim)
        assert conn.execute("SELECT count(DISTINCT firm_id) FROM firm_runs WHERE status = 'succeeded'"
                            ).fetchone()[0] == len(calls)

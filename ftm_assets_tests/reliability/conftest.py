"""Fixtures of the reliability suite: small demo corpora, the session's loaded model shared by the in-process
runs, and helpers that run the quarter's Dagster jobs the way ``ftm demo`` does."""

from __future__ import annotations

import json
import os
from itertools import combinations
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ftm_assets.definitions import RETRY_JOB, defs
from ftm_assets.defs.launch import execute_firm_run, execute_themes_run, firm_run_config
from ftm_assets.sources.demo import generate_demo_corpus, write_demo_corpus

QUARTER = "2024Q1"


def record_figures(test: str, figures: dict) -> None:
    """Append ``figures`` as one JSON line to the file named by ``FTM_RELIABILITY_LOG`` (if set): the
    numbers docs/reliability.md reports come from a run with it set."""
    path = os.environ.get("FTM_RELIABILITY_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"test": test, **figures}, default=str) + "\n")


def small_corpus(path: Path, n_firms: int, seed: int, quarter: str = QUARTER,
                 sentences: tuple[int, int] = (100, 130)) -> Path:
    """Demo calls (planted cross-firm topics), as small as the generator makes them."""
    return write_demo_corpus(path, n_firms=n_firms, quarter=quarter, seed=seed, sentences_per_firm=sentences)


def tiny_calls(n_firms: int, seed: int, quarter: str = QUARTER, per_topic: int = 19) -> pd.DataFrame:
    """``n_firms`` calls of ``2 * per_topic`` sentences: ``per_topic`` sentences of each of the two
    planted demo topics that the most firms share, renumbered. Enough for BERTopic to form two topics
    per firm and for the shared topics to form cross-firm themes."""
    frame = generate_demo_corpus(n_firms=4 * n_firms, quarter=quarter, seed=seed, sentences_per_firm=(220, 260))
    planted = frame[~frame["planted_topic"].isin(["boilerplate", "other"])]
    sizes = planted.groupby(["firm_id", "planted_topic"]).size()
    big = sizes[sizes >= per_topic].reset_index()
    topics_of = {f: set(g["planted_topic"]) for f, g in big.groupby("firm_id")}
    pairs = sorted({tuple(sorted(p)) for t in topics_of.values() for p in combinations(sorted(t), 2)})
    shared = max(pairs, key=lambda p: sum(set(p) <= t for t in topics_of.values()))
    firms = sorted(f for f, t in topics_of.items() if set(shared) <= t)[:n_firms]
    if len(firms) < n_firms:
        raise ValueError(f"seed {seed}: only {len(firms)} demo firms share the topics {shared}")
    parts = []
    for firm in firms:
        call = planted[planted["firm_id"] == firm]
        rows = pd.concat([call[call["planted_topic"] == t].head(per_topic) for t in shared])
        parts.append(rows.sort_values("sentence_index").assign(sentence_index=range(len(rows))))
    return pd.concat(parts, ignore_index=True).drop(columns=["planted_topic"])


def reuse_loaded_model(monkeypatch: pytest.MonkeyPatch, transformer) -> list[str | None]:
    """Make every run's model load return ``transformer`` (the bundled model, already loaded: same
    weights, so the same vectors) instead of reading it from disk again; the loads are still counted."""
    import ftm_assets.modeling.embedding as embedding

    loads: list[str | None] = []
    real = embedding.load_sentence_transformer

    def reuse(model, device):
        loads.append(model)
        return transformer if model is None else real(model, device)

    monkeypatch.setattr(embedding, "load_sentence_transformer", reuse)
    return loads


@pytest.fixture
def model_loads(sentence_transformer, monkeypatch) -> list[str | None]:
    return reuse_loaded_model(monkeypatch, sentence_transformer)


def run_firm_job(instance: dg.DagsterInstance, uri: str, quarter: str, firms: list[str], *,
                 op_config: dict | None = None, resources: dict | None = None) -> dg.ExecuteInProcessResult:
    """ONE ranged run of the firm assets over ``firms`` of ``quarter`` (as ``ftm demo`` launches it)."""
    return execute_firm_run(instance, quarter, firms,
                            run_config=firm_run_config(uri, op_config=op_config, resources=resources))


def run_retry_job(instance: dg.DagsterInstance, uri: str, quarter: str, *,
                  resources: dict | None = None) -> dg.ExecuteInProcessResult:
    return defs.get_job_def(RETRY_JOB).execute_in_process(
        instance=instance,
        run_config={"resources": {"transcripts": {"config": {"uri": uri}}, **(resources or {})},
                    "ops": {"retry_failed_firms_op": {"config": {"quarter": quarter}}}},
        raise_on_error=False,
    )


def run_themes_job(instance: dg.DagsterInstance, uri: str, quarter: str, *,
                   resources: dict | None = None) -> dg.ExecuteInProcessResult:
    return execute_themes_run(
        instance, quarter, run_config={"resources": {"transcripts": {"config": {"uri": uri}}, **(resources or {})}})


def step_failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Description and error message of the run's step failure(s)."""
    parts = []
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            if data.user_failure_data is not None:
                parts.append(data.user_failure_data.description or "")
            error = data.error
            while error is not None:  # the user error is the cause of Dagster's step error
                parts.append(error.message)
                error = error.cause
    return "\n".join(parts)

"""A quarter run (firm job + themes job, in process) against the fake LLM server failing 30 % of its
requests in every way it knows: 429 with Retry-After, 500, timeouts, dropped connections, empty
content, garbage and overlong answers."""

from __future__ import annotations

import re
from collections import Counter

import dagster as dg
import pandas as pd
import pytest

from ftm_assets.llm.fake_server import ALL_FAULTS, OUTCOMES_WITH_USAGE, FakeOpenAIServer
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.state import integrity_problems

from .conftest import QUARTER, record_figures, run_firm_job, run_themes_job, small_corpus

pytestmark = pytest.mark.reliability

FALLBACK_REASON = re.compile(
    r"^(llm_failed_after_retries: (RateLimitError|InternalServerError|APITimeoutError|APIConnectionError)"
    r"|empty_content|garbage_content)$"
)
MAX_RETRIES = 1  # low, so that some texts do run out of retries and fall back
MAX_CONCURRENCY = 4
SENTINEL_KEY = "sk-FTM-RELIABILITY-faults-0b7d"


def _metadata_sum(result: dg.ExecuteInProcessResult, asset: str, field: str) -> dict[str, int]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        if mat.asset_key.to_user_string() == asset and field in mat.metadata:
            out[str(mat.partition).split("|")[0]] = int(mat.metadata[field].value)
    return out


def _server_prompt_tokens(requests: list[dict]) -> int:
    """Prompt tokens the fake server reported, over the responses that carried usage."""
    return sum(
        sum(len(str(m.get("content", "")).split()) for m in r["body"]["messages"])
        for r in requests if r["outcome"] in OUTCOMES_WITH_USAGE
    )


def test_thirty_percent_llm_faults_during_a_quarter_run(ftm_env, tmp_path, monkeypatch, model_loads):
    corpus = small_corpus(tmp_path / "calls.parquet", n_firms=6, seed=5)
    frame = pd.read_parquet(corpus)
    firms = sorted(frame["firm_id"].unique())
    llm_config = {"llm": {"config": {"timeout_s": 1.5, "max_retries": MAX_RETRIES}}}

    with FakeOpenAIServer(fault_rate=0.3, faults=ALL_FAULTS, seed=2024, timeout_sleep_s=10.0) as server:
        monkeypatch.setenv("XAI_API_KEY", SENTINEL_KEY)
        monkeypatch.setenv("FTM_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("FTM_LLM_MAX_CONCURRENCY", str(MAX_CONCURRENCY))
        with dg.instance_for_test() as instance:
            firm_run = run_firm_job(instance, str(corpus), QUARTER, firms, resources=llm_config)
            themes_run = run_themes_job(instance, str(corpus), QUARTER, resources=llm_config)
        requests, outcomes, max_in_flight = server.requests, server.count_by_outcome, server.max_in_flight

    # The run finishes: every firm stored, no failed firm, the themes job succeeds. (Whether themes form
    # depends on the summaries' wording; theme naming under faults is also covered in tests/llm.)
    assert firm_run.success and themes_run.success
    with connect(ftm_env["database_url"]) as conn:
        assert integrity_problems(conn) == []
        assert conn.execute("SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') FROM firm_runs"
                            ).fetchone() == (len(firms), len(firms))
        topics = conn.execute("SELECT firm_id, summary_source, fallback_reason, summary, prompt_tokens,"
                              " completion_tokens FROM topics").fetchall()
        themes = conn.execute("SELECT source, fallback_reason, name, description FROM themes").fetchall()
        per_firm = {r[0]: r[1:] for r in conn.execute(
            "SELECT f.firm_id, f.prompt_tokens, f.completion_tokens, f.summary_source,"
            " coalesce(sum(t.prompt_tokens), 0), coalesce(sum(t.completion_tokens), 0),"
            " array_agg(DISTINCT t.summary_source) FROM firms f LEFT JOIN topics t USING (firm_id, quarter)"
            " GROUP BY f.firm_id, f.prompt_tokens, f.completion_tokens, f.summary_source")}
        quarter_tokens = conn.execute("SELECT prompt_tokens, completion_tokens FROM quarter_runs WHERE quarter = %s",
                                      (QUARTER,)).fetchone()
    assert topics
    record_figures("llm_faults", {
        "requests": len(requests), "outcomes": outcomes, "max_in_flight": max_in_flight,
        "topics": len(topics), "themes": len(themes),
        "topic_sources": Counter(t[1] for t in topics), "theme_sources": Counter(t[0] for t in themes),
        "fallback_reasons": Counter(t[2] for t in topics if t[2]) + Counter(t[1] for t in themes if t[1]),
    })

    # Faults did happen, and every text ends as an LLM text or an extractive one with its reason.
    assert sum(n for outcome, n in outcomes.items() if outcome != "ok") >= 3, outcomes
    for _, source, reason, summary, _, _ in topics:
        assert summary.strip()
        if source == "llm":
            assert reason is None
        else:
            assert source == "extractive" and FALLBACK_REASON.match(reason or ""), reason
    for source, reason, name, description in themes:
        assert name.strip() and description.strip()
        assert (source == "llm" and reason is None) or FALLBACK_REASON.match(reason or ""), reason
    assert any(t[1] == "llm" for t in topics)

    # Retries are bounded: at most 1 + max_retries requests per text, never more in flight than allowed.
    texts = len(topics) + len(themes)
    assert texts <= len(requests) <= texts * (MAX_RETRIES + 1)
    assert max_in_flight <= MAX_CONCURRENCY
    assert {r["headers"]["authorization"] for r in requests} == {f"Bearer {SENTINEL_KEY}"}

    # Token accounting: firm rows = sum of their topics = the firms' Dagster metadata; the quarter's
    # theme tokens = the themes' metadata; nothing recorded that the server did not send.
    firm_meta = _metadata_sum(firm_run, "topic_summaries", "prompt_tokens")
    for firm, (prompt, completion, source, topic_prompt, topic_completion, topic_sources) in per_firm.items():
        assert (prompt, completion) == (topic_prompt, topic_completion), firm
        assert firm_meta[firm] == prompt
        if topic_sources == [None]:  # a firm whose call formed no topic (LEFT JOIN row)
            assert source == "none"
        else:
            assert source == (topic_sources[0] if len(topic_sources) == 1 else "mixed")
    [themes_mat] = [e for e in themes_run.get_asset_materialization_events() if e.asset_key == dg.AssetKey("themes")]
    theme_meta = {k: v.value for k, v in themes_mat.step_materialization_data.materialization.metadata.items()}
    assert quarter_tokens == (theme_meta["theme_prompt_tokens"], theme_meta["theme_completion_tokens"])
    firm_prompt = sum(v[0] for v in per_firm.values())
    assert theme_meta["quarter_prompt_tokens"] == firm_prompt + quarter_tokens[0]
    recorded_prompt = firm_prompt + quarter_tokens[0]
    assert 0 < recorded_prompt <= _server_prompt_tokens(requests)

    # The default privacy mode sends transcript sentences (the privacy test checks the opposite).
    sent = "\n".join(m["content"] for r in requests for m in r["body"]["messages"])
    assert any(text in sent for text in frame["text"] if len(text) > 40)

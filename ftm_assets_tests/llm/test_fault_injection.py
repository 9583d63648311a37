"""Fault injection: 30 % of requests fail in every way the fake server knows; the run still completes."""

from __future__ import annotations

import re

import pytest

from ftm_assets.llm.client import TopicSummarizer
from ftm_assets.llm.fake_server import ALL_FAULTS, OUTCOMES_WITH_USAGE, FakeOpenAIServer
from ftm_assets.llm.prompts import ThemePromptInput
from ftm_assets.llm.text import rejection_reason
from ftm_assets.modeling.types import TokenUsage
from ftm_assets_tests.llm.conftest import fast_settings

FALLBACK_REASON = re.compile(
    r"^(llm_failed_after_retries: (RateLimitError|InternalServerError|APITimeoutError|APIConnectionError)"
    r"|empty_content|garbage_content)$"
)


@pytest.mark.reliability
def test_thirty_percent_faults_over_sixty_topics(firm_topics) -> None:
    max_retries = 4
    n_topics = sum(len(topics) for _, _, topics in firm_topics)
    assert n_topics == 60
    with FakeOpenAIServer(fault_rate=0.3, faults=ALL_FAULTS, seed=2021, timeout_sleep_s=3.0) as server:
        settings = fast_settings(
            server.base_url,
            max_retries=max_retries,
            max_concurrency=8,
            max_summary_chars=600,
            timeout_s=1.0,  # "timeout" faults cost this much; a little slack for a busy test machine
        )
        with TopicSummarizer(settings) as summarizer:
            futures = {
                firm_id: summarizer.submit_firm(firm_id, q, topics) for firm_id, q, topics in firm_topics
            }
            by_firm = {firm_id: future.result() for firm_id, future in futures.items()}
            themes = summarizer.name_themes(
                "2020Q2",
                [
                    ThemePromptInput(t.keywords, [s.summary for s in by_firm[f][:3]])
                    for f, _, [t, *_] in firm_topics
                ],
            )
            run_usage, stats = summarizer.usage, summarizer.call_stats
        outcomes = server.count_by_outcome
        request_count = server.request_count

    summaries = [s for firm_summaries in by_firm.values() for s in firm_summaries]
    texts = [*summaries, *themes]
    for firm_id, _, topics in firm_topics:
        assert [s.local_topic_id for s in by_firm[firm_id]] == [t.local_topic_id for t in topics]
    for summary in summaries:
        if summary.source == "llm":
            assert summary.fallback_reason is None
            assert rejection_reason(summary.summary) is None
            assert len(summary.summary) <= 600
        else:
            assert summary.source == "extractive"
            assert FALLBACK_REASON.match(summary.fallback_reason or ""), summary.fallback_reason
            assert summary.summary
    for theme in themes:
        assert theme.source == "llm" or FALLBACK_REASON.match(theme.fallback_reason or "")
        assert theme.name and theme.description

    # Faults did happen, of several kinds, and were mostly absorbed by retries.
    assert sum(n for o, n in outcomes.items() if o != "ok") >= 10
    assert len(set(outcomes) - {"ok"}) >= 4
    assert sum(s.source == "llm" for s in summaries) >= 50

    # Retries are bounded and every request is accounted for.
    n_calls = len(texts)
    assert request_count == stats.requests == n_calls + stats.retries
    assert stats.retries <= n_calls * max_retries
    assert stats.fallbacks == sum(t.source == "extractive" for t in texts)

    # Usage: per-text sums equal the run total, which counts every response that carried usage.
    assert sum((t.usage for t in texts), TokenUsage()) == run_usage
    assert run_usage.calls == sum(n for o, n in outcomes.items() if o in OUTCOMES_WITH_USAGE)
    for firm_summaries in by_firm.values():
        assert all(s.usage.calls <= max_retries + 1 for s in firm_summaries)

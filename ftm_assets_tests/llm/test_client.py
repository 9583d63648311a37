"""TopicSummarizer with the real openai client against the local fake endpoint."""

from __future__ import annotations

import json
import random

import openai
import pytest

from ftm_assets.llm.client import (
    TopicSummarizer,
    accept_summary,
    backoff_delay,
    classify_error,
    retry_after_seconds,
)
from ftm_assets.llm.fake_server import OUTCOMES_WITH_USAGE, FakeOpenAIServer
from ftm_assets.llm.prompts import ThemePromptInput
from ftm_assets.llm.settings import LlmSettings
from ftm_assets.llm.text import rejection_reason
from ftm_assets.modeling.types import TokenUsage
from ftm_assets_tests.llm.conftest import fast_settings

THEME = ThemePromptInput(
    keywords=["liquidity", "revolver", "covid"],
    summaries=[
        "The firm drew down its revolver to hold cash through the pandemic.",
        "Liquidity stayed ample.",
    ],
)


def total(usages: list[TokenUsage]) -> TokenUsage:
    return sum(usages, TokenUsage())


def responses_with_usage(server: FakeOpenAIServer) -> int:
    return sum(n for outcome, n in server.count_by_outcome.items() if outcome in OUTCOMES_WITH_USAGE)


def test_summaries_come_from_the_llm_with_usage(fake_server: FakeOpenAIServer, firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    with TopicSummarizer(fast_settings(fake_server.base_url, model="fake-model")) as summarizer:
        summaries = summarizer.summarize_firm(firm_id, quarter, topics)
        run_usage = summarizer.usage
    assert [s.local_topic_id for s in summaries] == [t.local_topic_id for t in topics]
    for summary, topic in zip(summaries, topics, strict=True):
        assert summary.source == "llm" and summary.fallback_reason is None
        assert f"The discussion centred on {topic.keywords[0]}, " in summary.summary
        assert summary.usage.calls == 1 and summary.usage.prompt_tokens > 0
    assert total([s.usage for s in summaries]) == run_usage
    assert run_usage.calls == fake_server.request_count == len(topics)
    bodies = [r["body"] for r in fake_server.requests]
    assert all(b["model"] == "fake-model" and b["max_tokens"] == 220 for b in bodies)
    assert all(f"Firm: {firm_id}\nQuarter: {quarter}" in b["messages"][1]["content"] for b in bodies)


def test_no_key_means_no_request_and_extractive_summaries(fake_server: FakeOpenAIServer, firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[1]
    settings = LlmSettings(base_url=fake_server.base_url, api_key=None)
    with TopicSummarizer(settings) as summarizer:
        assert summarizer.offline
        summaries = summarizer.submit_firm(firm_id, quarter, topics).result()
        themes = summarizer.name_themes(quarter, [THEME])
        assert summarizer.usage == TokenUsage()
    assert fake_server.request_count == 0
    assert all(s.source == "extractive" and s.fallback_reason == "no_api_key" for s in summaries)
    assert all(s.summary and s.usage == TokenUsage() for s in summaries)
    assert themes[0].source == "extractive" and themes[0].fallback_reason == "no_api_key"
    assert themes[0].name == "Liquidity and revolver"  # the words the summaries use (covid: no)


@pytest.mark.parametrize("fault", ["429", "500", "timeout", "drop", "empty", "garbage"])
def test_one_fault_is_retried_then_the_llm_answers(fault: str, firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    with FakeOpenAIServer(script=[fault], timeout_sleep_s=2.0) as server:
        with TopicSummarizer(fast_settings(server.base_url, max_concurrency=1)) as summarizer:
            [summary] = summarizer.summarize_firm(firm_id, quarter, topics[:1])
            stats = summarizer.call_stats
        assert summary.source == "llm" and summary.fallback_reason is None
        assert server.request_count == 2 == stats.requests
        assert stats.retries == 1 and stats.fallbacks == 0
        assert summary.usage.calls == responses_with_usage(server)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("429", "llm_failed_after_retries: RateLimitError"),
        ("500", "llm_failed_after_retries: InternalServerError"),
        ("timeout", "llm_failed_after_retries: APITimeoutError"),
        ("drop", "llm_failed_after_retries: APIConnectionError"),
        ("empty", "empty_content"),
        ("garbage", "garbage_content"),
    ],
)
def test_retries_are_bounded_then_extractive(fault: str, reason: str, firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    max_retries = 2
    with FakeOpenAIServer(script=[fault] * 10, timeout_sleep_s=2.0) as server:
        settings = fast_settings(server.base_url, max_retries=max_retries, max_concurrency=1)
        with TopicSummarizer(settings) as summarizer:
            [summary] = summarizer.summarize_firm(firm_id, quarter, topics[:1])
        assert server.request_count == max_retries + 1
    assert summary.source == "extractive"
    assert summary.fallback_reason == reason
    assert summary.summary.startswith("Key terms: ")
    assert summary.usage.calls == (max_retries + 1 if fault in OUTCOMES_WITH_USAGE else 0)


def test_authentication_error_is_not_retried(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    with FakeOpenAIServer(script=["401"] * 3) as server:
        with TopicSummarizer(fast_settings(server.base_url, max_concurrency=1)) as summarizer:
            summaries = summarizer.summarize_firm(firm_id, quarter, topics[:2])
        assert server.request_count == 2  # one per topic, none retried
    assert {s.fallback_reason for s in summaries} == {"llm_error: AuthenticationError (HTTP 401)"}
    assert {s.source for s in summaries} == {"extractive"}


def test_unreachable_endpoint_falls_back(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    with FakeOpenAIServer() as server:
        base_url = server.base_url  # the port is free again once the server is closed
    with TopicSummarizer(fast_settings(base_url, max_retries=1)) as summarizer:
        [summary] = summarizer.summarize_firm(firm_id, quarter, topics[:1])
    assert summary.source == "extractive"
    assert summary.fallback_reason == "llm_failed_after_retries: APIConnectionError"


def test_overlong_answer_is_cut_at_a_sentence_boundary(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    with FakeOpenAIServer(script=["overlong"]) as server:
        settings = fast_settings(server.base_url, max_summary_chars=500)
        with TopicSummarizer(settings) as summarizer:
            [summary] = summarizer.summarize_firm(firm_id, quarter, topics[:1])
        assert server.request_count == 1
    assert summary.source == "llm"
    assert 250 < len(summary.summary) <= 500
    assert summary.summary.endswith("results.")


def test_answer_cut_by_the_token_limit_loses_its_unfinished_sentence() -> None:
    summary, reason = accept_summary("Margins rose in the quarter. Management expects the", "length", 1200)
    assert (summary, reason) == ("Margins rose in the quarter.", None)
    assert accept_summary("", "stop", 1200) == (None, "empty_content")


def test_concurrency_never_exceeds_the_limit(firm_topics) -> None:
    with FakeOpenAIServer(latency_s=0.01) as server:
        with TopicSummarizer(fast_settings(server.base_url, max_concurrency=3)) as summarizer:
            server.pause()
            futures = [summarizer.submit_firm(f, q, topics[:4]) for f, q, topics in firm_topics]
            assert server.wait_for_in_flight(3)
            server.resume()
            results = [future.result() for future in futures]
        assert server.max_in_flight == 3
        assert server.request_count == 4 * len(firm_topics)
    assert all(s.source == "llm" for summaries in results for s in summaries)


def test_submit_returns_at_once_and_overlaps_with_caller_work(firm_topics) -> None:
    (firm_a, quarter_a, topics_a), (firm_b, quarter_b, topics_b) = firm_topics[:2]
    with FakeOpenAIServer() as server, TopicSummarizer(fast_settings(server.base_url)) as summarizer:
        server.pause()
        future_a = summarizer.submit_firm(firm_a, quarter_a, topics_a[:3])
        assert server.wait_for_in_flight(3)
        assert not future_a.done()  # held by the paused server, yet the caller goes on
        future_b = summarizer.submit_firm(firm_b, quarter_b, topics_b[:3])
        server.resume()
        assert [s.source for s in future_a.result() + future_b.result()] == ["llm"] * 6


def test_close_waits_for_work_in_flight(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    with FakeOpenAIServer(latency_s=0.05) as server:
        summarizer = TopicSummarizer(fast_settings(server.base_url)).start()
        future = summarizer.submit_firm(firm_id, quarter, topics[:3])
        summarizer.close()
        assert future.done() and not future.cancelled()
        assert [s.source for s in future.result()] == ["llm"] * 3
        with pytest.raises(RuntimeError, match="closed"):
            summarizer.submit_firm(firm_id, quarter, topics[:1])
        summarizer.close()  # idempotent


def test_leaving_the_block_on_an_error_cancels_pending_work(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    with FakeOpenAIServer() as server:
        server.pause()
        with pytest.raises(KeyError), TopicSummarizer(fast_settings(server.base_url)) as summarizer:
            future = summarizer.submit_firm(firm_id, quarter, topics[:2])
            assert server.wait_for_in_flight(2)
            raise KeyError("caller failed")
        assert future.cancelled()


def test_use_before_start_is_refused(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    for settings in (fast_settings("http://127.0.0.1:9/v1"), LlmSettings()):
        with pytest.raises(RuntimeError, match="not started"):
            TopicSummarizer(settings).submit_firm(firm_id, quarter, topics)


def test_themes_are_named_by_the_llm_and_fall_back_on_failure() -> None:
    themes = [THEME, ThemePromptInput(keywords=["tariffs", "china"], summaries=["Tariffs raised costs."])]
    with FakeOpenAIServer(script=["garbage", None, "garbage", "garbage"]) as server:
        settings = fast_settings(server.base_url, max_concurrency=1, max_retries=1)
        with TopicSummarizer(settings) as summarizer:
            # One theme at a time, so the scripted faults meet them in a known order.
            named = [summarizer.name_themes("2020Q2", [theme])[0] for theme in themes]
            assert total([t.usage for t in named]) == summarizer.usage
        assert server.request_count == 4
    assert named[0].source == "llm" and named[0].name == "Liquidity Revolver Covid"
    assert named[0].description.startswith("Several firms discussed liquidity, revolver and covid")
    assert named[1].source == "extractive" and named[1].fallback_reason == "garbage_content"
    assert named[1].name == "Tariffs"  # extractive: "china" is not in the summary


def test_keywords_privacy_keeps_sentences_off_the_wire(fake_server: FakeOpenAIServer, firm_topics) -> None:
    settings = fast_settings(fake_server.base_url, privacy="keywords")
    with TopicSummarizer(settings) as summarizer:
        futures = [summarizer.submit_firm(f, q, topics[:5]) for f, q, topics in firm_topics[:3]]
        summaries = [s for future in futures for s in future.result()]
        summarizer.name_themes("2020Q2", [ThemePromptInput(["covid"], [s.summary for s in summaries])])
    wire = "\n".join(r["raw_body"] for r in fake_server.requests)
    assert fake_server.request_count == 16
    for _, _, topics in firm_topics[:3]:
        for topic in topics[:5]:
            assert all(k in wire for k in topic.keywords)
            for sentence in topic.sentences:
                assert json.dumps(" ".join(sentence.split()))[1:40] not in wire


def test_rate_limit_error_carries_retry_after(fake_server: FakeOpenAIServer) -> None:
    with FakeOpenAIServer(script=["429"]) as server:
        client = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        with pytest.raises(openai.RateLimitError) as err:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        client.close()
    verdict = classify_error(err.value)
    assert verdict.retryable and verdict.label == "RateLimitError"
    assert verdict.retry_after_s in (0.0, 1.0)


def test_retry_after_parsing() -> None:
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({"Retry-After": "-5"}) == 0.0
    assert retry_after_seconds({}) is None


def test_backoff_is_exponential_jittered_and_capped() -> None:
    settings = LlmSettings(backoff_base_s=0.5, backoff_max_s=20.0)
    rng = random.Random(0)
    for retry in range(8):
        ceiling = min(20.0, 0.5 * 2**retry)
        for _ in range(20):
            assert ceiling / 2 <= backoff_delay(retry, settings, rng) <= ceiling
    assert backoff_delay(100, settings, rng) <= 20.0
    # Retry-After is honoured, but never above backoff_max_s.
    assert backoff_delay(0, settings, rng, retry_after_s=7.0) == 7.0
    assert backoff_delay(0, settings, rng, retry_after_s=600.0) == 20.0
    assert backoff_delay(0, LlmSettings(backoff_max_s=0.01), rng, retry_after_s=1.0) == 0.01


def test_llm_summaries_are_plausible_and_bounded(fake_server: FakeOpenAIServer, firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[2]
    with TopicSummarizer(fast_settings(fake_server.base_url, max_summary_chars=100)) as summarizer:
        summaries = summarizer.summarize_firm(firm_id, quarter, topics)
    for summary in summaries:
        assert len(summary.summary) <= 100
        assert rejection_reason(summary.summary) is None

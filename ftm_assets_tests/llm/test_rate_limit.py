"""The fake endpoint's emulated provider rate limit, and the summarizer adapting to it."""

from __future__ import annotations

import concurrent.futures

import pytest

from ftm_assets.llm.client import TopicSummarizer
from ftm_assets.llm.fake_server import FakeOpenAIServer
from ftm_assets_tests.llm.conftest import fast_settings
from ftm_assets_tests.llm.test_fake_server import fake_server_command, post


def test_requests_beyond_the_rpm_budget_get_429_with_retry_after() -> None:
    # 6 per minute = one token every 10 s: after the burst of 2 the bucket stays empty for the test.
    with FakeOpenAIServer(rate_limit_rpm=6, rate_limit_burst=2) as server:
        results = [post(server.base_url) for _ in range(3)]
        assert [status for status, _, _ in results] == [200, 200, 429]
        _, headers, payload = results[2]
        lowered = {k.lower(): v for k, v in headers.items()}
        assert lowered["retry-after"] == "10"
        assert 0 < int(lowered["retry-after-ms"]) <= 10000
        assert payload["error"]["code"] == "rate_limit_exceeded"
        assert server.count_by_outcome == {"ok": 2, "rate_limited_rpm": 1}
        assert server.rate_limited_count == 1 and server.in_flight == 0


def test_requests_beyond_the_concurrency_cap_get_429_at_once() -> None:
    with FakeOpenAIServer(max_concurrent=2, rate_limit_retry_after_s=0.25) as server:
        server.pause()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            held = [pool.submit(post, server.base_url) for _ in range(2)]
            assert server.wait_for_in_flight(2)
            status, headers, _ = post(server.base_url)  # answered while the two are held
            server.resume()
            assert [f.result()[0] for f in held] == [200, 200]
        assert status == 429
        assert {k.lower(): v for k, v in headers.items()}["retry-after-ms"] == "250"
        assert server.max_in_flight == 2
        assert server.count_by_outcome == {"ok": 2, "rate_limited_concurrency": 1}


def test_rate_limit_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="rate_limit_rpm"):
        FakeOpenAIServer(rate_limit_rpm=0)
    with pytest.raises(ValueError, match="max_concurrent"):
        FakeOpenAIServer(max_concurrent=0)
    with pytest.raises(ValueError, match="batch_fault_rate"):
        FakeOpenAIServer(batch_fault_rate=2.0)
    with pytest.raises(ValueError, match="unknown fault"):
        FakeOpenAIServer(batch_faults=["500"])
    with pytest.raises(ValueError, match="latency_jitter_s"):
        FakeOpenAIServer(latency_jitter_s=-1.0)


def test_summarizer_halves_its_window_on_429s_and_every_topic_is_summarised(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    with FakeOpenAIServer(max_concurrent=4, rate_limit_retry_after_s=0.05) as server:
        settings = fast_settings(server.base_url, max_concurrency=8, initial_concurrency=8, max_retries=4)
        with TopicSummarizer(settings) as summarizer:
            assert summarizer.concurrency_limit == 8
            server.pause()
            future = summarizer.submit_firm(firm_id, quarter, topics[:8])
            # Four are held in flight; the other four were refused at once.
            assert server.wait_for_requests(8)
            assert server.wait_for_in_flight(4)
            server.resume()
            summaries = future.result()
            limit, stats = summarizer.concurrency_limit, summarizer.call_stats
        assert server.rate_limited_count == 4 == stats.rate_limited
        assert server.max_in_flight == 4
    assert [s.source for s in summaries] == ["llm"] * 8
    # One cut for the burst (8 -> 4), at most one step of growth since.
    assert limit in (4, 5)


def test_fixed_concurrency_does_not_adapt(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    with FakeOpenAIServer(max_concurrent=4, rate_limit_retry_after_s=0.01) as server:
        settings = fast_settings(
            server.base_url, max_concurrency=8, adaptive_concurrency=False, max_retries=6
        )
        with TopicSummarizer(settings) as summarizer:
            server.pause()
            future = summarizer.submit_firm(firm_id, quarter, topics[:8])
            assert server.wait_for_requests(8)
            server.resume()
            future.result()
            assert summarizer.concurrency_limit == 8
            assert summarizer.call_stats.rate_limited >= 4


def test_adaptive_summarizer_gets_every_topic_through_an_rpm_limit(firm_topics) -> None:
    # 1200 per minute = a token every 50 ms, burst 3: most of the 30 topics meet a 429 first.
    with FakeOpenAIServer(rate_limit_rpm=1200, rate_limit_burst=3) as server:
        settings = fast_settings(
            server.base_url, max_retries=8, backoff_base_s=0.01, backoff_max_s=1.0, timeout_s=5.0
        )
        with TopicSummarizer(settings) as summarizer:
            futures = [summarizer.submit_firm(f, q, topics[:6]) for f, q, topics in firm_topics[:5]]
            summaries = [s for future in futures for s in future.result()]
            stats, limit = summarizer.call_stats, summarizer.concurrency_limit
        assert stats.rate_limited == server.rate_limited_count > 0
        assert server.count_by_outcome["ok"] == 30
    assert [s.source for s in summaries] == ["llm"] * 30
    assert limit < 8


def test_command_line_takes_rate_limit_options() -> None:
    args = [
        "--port",
        "0",
        "--rpm",
        "6",
        "--rpm-burst",
        "1",
        "--max-concurrent",
        "2",
        "--batch-fault-rate",
        "0.5",
    ]
    with fake_server_command(*args) as (_line, base_url, stop):
        assert [post(base_url)[0] for _ in range(2)] == [200, 429]
        code, out = stop()
        assert code == 0
        assert "'rate_limited_rpm': 1" in out

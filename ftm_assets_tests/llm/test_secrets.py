"""The API key reaches the server's Authorization header and nowhere else we control."""

from __future__ import annotations

import logging

import pytest

from ftm_assets.llm.client import TopicSummarizer
from ftm_assets.llm.fake_server import FakeOpenAIServer
from ftm_assets.llm.prompts import ThemePromptInput
from ftm_assets_tests.llm.conftest import fast_settings

SENTINEL_KEY = "sk-FTM-SENTINEL-7c1e9a4b2d"


@pytest.mark.reliability
def test_key_never_logged_nor_returned(caplog: pytest.LogCaptureFixture, firm_topics) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger, so openai, httpx2 and httpcore2 debug records count
    firm_id, quarter, topics = firm_topics[0]
    script = ["429", "500", "timeout", "drop", "empty", "garbage", "overlong", "401", "401"]
    with FakeOpenAIServer(script=script, timeout_sleep_s=2.0) as server:
        settings = fast_settings(server.base_url, api_key=SENTINEL_KEY, max_concurrency=2, max_retries=3)
        with TopicSummarizer(settings) as summarizer:
            summaries = summarizer.summarize_firm(firm_id, quarter, topics)
            themes = summarizer.name_themes(quarter, [ThemePromptInput(["covid"], ["Demand fell."])])
            shown = [repr(summarizer), repr(settings), str(settings), repr(summarizer.usage)]
            with pytest.raises(RuntimeError) as refused:
                summarizer.close()
                summarizer.submit_firm(firm_id, quarter, topics)
        requests = server.requests

    # The key did go out, in the header only: the test would prove nothing otherwise.
    assert {r["headers"]["authorization"] for r in requests} == {f"Bearer {SENTINEL_KEY}"}
    assert all(SENTINEL_KEY not in r["raw_body"] for r in requests)
    assert any(s.fallback_reason and "AuthenticationError" in s.fallback_reason for s in summaries)

    records = caplog.records
    assert any(r.name.startswith("openai") for r in records)
    assert any(r.name.startswith("httpcore") or r.name.startswith("httpx") for r in records)
    assert any(r.name == "ftm_assets.llm.client" for r in records)
    for record in records:
        assert SENTINEL_KEY not in record.getMessage()
        assert SENTINEL_KEY not in (record.exc_text or "")
        assert "authorization" not in record.getMessage().lower()
    assert SENTINEL_KEY not in caplog.text
    for text in [*shown, str(refused.value), repr(summaries), repr(themes)]:
        assert SENTINEL_KEY not in text

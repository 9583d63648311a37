"""Per-firm mode: one JSON request per firm, strict parsing, per-topic fallback, usage that adds up."""

from __future__ import annotations

import json

import pytest

from ftm_assets.llm.batch import (
    DUPLICATE,
    ENTRY_DUPLICATE,
    ENTRY_MALFORMED,
    ENTRY_MISSING,
    MALFORMED_JSON,
    batches,
    entry_reason,
    parse_firm_answer,
    split_usage,
)
from ftm_assets.llm.client import TopicSummarizer
from ftm_assets.llm.fake_server import FakeOpenAIServer, fake_answer, firm_prompt_topics
from ftm_assets.llm.prompts import FIRM_SYSTEM_PROMPT, TopicPromptInput, firm_messages
from ftm_assets.llm.settings import LlmSettings
from ftm_assets.modeling.types import TokenUsage
from ftm_assets_tests.llm.conftest import fast_settings


def total(usages) -> TokenUsage:
    return sum(usages, TokenUsage())


# -- pure helpers ------------------------------------------------------------------------------
def test_parse_accepts_the_json_shape_and_one_code_fence() -> None:
    answer = {
        "topics": [{"id": 2, "summary": "Margins rose. Costs fell."}, {"id": 0, "summary": "Demand held up."}]
    }
    entries, reason = parse_firm_answer(json.dumps(answer))
    assert reason is None and entries == {2: "Margins rose. Costs fell.", 0: "Demand held up."}
    fenced, reason = parse_firm_answer("```json\n" + json.dumps(answer) + "\n```")
    assert reason is None and fenced == entries


@pytest.mark.parametrize(
    "content",
    [
        '{"topics": [{"id": 1, "summary": "Cut off',
        "Here are the summaries: " + json.dumps({"topics": []}),
        json.dumps([{"id": 1, "summary": "A list, not an object."}]),
        json.dumps({"summaries": [{"id": 1, "summary": "Wrong key."}]}),
        json.dumps({"topics": {"1": "Not a list."}}),
    ],
)
def test_parse_rejects_anything_else(content: str) -> None:
    assert parse_firm_answer(content) == (None, MALFORMED_JSON)


def test_parse_marks_unusable_entries() -> None:
    content = json.dumps(
        {
            "topics": [
                {"id": 1, "summary": "Fine prose here."},
                {"id": 2, "summary": "First."},
                {"id": 2, "summary": "Second."},
                {"id": 3, "summary": 42},
                {"id": True, "summary": "A bool is not an id."},
                {"id": "4", "summary": "A string is not an id."},
                "not an object",
            ]
        }
    )
    entries, reason = parse_firm_answer(content)
    assert reason is None and entries == {1: "Fine prose here.", 2: DUPLICATE, 3: 42}
    assert [entry_reason(entries, i) for i in (1, 2, 3, 4)] == [
        None,
        ENTRY_DUPLICATE,
        ENTRY_MALFORMED,
        ENTRY_MISSING,
    ]
    assert parse_firm_answer("  ") == (None, "empty_content")


def test_split_usage_adds_up_and_is_deterministic() -> None:
    usage = TokenUsage(prompt_tokens=1003, completion_tokens=121, calls=1)
    parts = split_usage(usage, 6)
    assert total(parts) == usage
    assert [p.prompt_tokens for p in parts] == [168, 167, 167, 167, 167, 167]
    assert [p.calls for p in parts] == [1, 0, 0, 0, 0, 0]
    assert split_usage(usage, 6) == parts
    with pytest.raises(ValueError):
        split_usage(usage, 0)


def test_batches_are_few_and_even() -> None:
    assert [len(b) for b in batches(list(range(25)), 20)] == [13, 12]
    assert [len(b) for b in batches(list(range(6)), 20)] == [6]
    assert batches([], 5) == []
    assert sum(batches(list(range(41)), 20), []) == list(range(41))


def test_firm_prompt_lists_topics_by_id_and_respects_privacy(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    shuffled = [topics[3], topics[0], topics[7]]
    messages = firm_messages(firm_id, quarter, shuffled, LlmSettings())
    user = messages[1]["content"]
    assert messages[0]["content"] == FIRM_SYSTEM_PROMPT
    assert user.index("--- Topic 0 ---") < user.index("--- Topic 3 ---") < user.index("--- Topic 7 ---")
    assert " ".join(topics[3].sentences[0].split())[:60] in user
    keywords_only = firm_messages(firm_id, quarter, shuffled, LlmSettings(privacy="keywords"))[1]["content"]
    assert "Representative sentences" not in keywords_only
    assert all(k in keywords_only for t in shuffled for k in t.keywords[:3])
    # The fake endpoint reads the same prompt back.
    body = {"messages": messages}
    assert [topic_id for topic_id, _ in firm_prompt_topics(body)] == [0, 3, 7]
    answer = json.loads(fake_answer(body))
    assert [e["id"] for e in answer["topics"]] == [0, 3, 7]


# -- against the fake endpoint -------------------------------------------------------------------
def test_per_firm_mode_sends_one_json_request_per_firm(fake_server: FakeOpenAIServer, firm_topics) -> None:
    settings = fast_settings(fake_server.base_url, mode="per_firm")
    with TopicSummarizer(settings) as summarizer:
        futures = [summarizer.submit_firm(f, q, topics) for f, q, topics in firm_topics[:3]]
        results = [future.result() for future in futures]
        run_usage, stats = summarizer.usage, summarizer.call_stats
    assert fake_server.request_count == 3 == stats.requests == stats.batch_calls
    assert stats.batch_topic_fallbacks == 0 and stats.fallbacks == 0
    for (_, _, topics), summaries in zip(firm_topics[:3], results, strict=True):
        assert [s.local_topic_id for s in summaries] == [t.local_topic_id for t in topics]
        for summary, topic in zip(summaries, topics, strict=True):
            assert summary.source == "llm" and summary.fallback_reason is None
            assert f"The discussion centred on {topic.keywords[0]}, " in summary.summary
    assert total([s.usage for summaries in results for s in summaries]) == run_usage
    assert run_usage.calls == 3
    body = fake_server.requests[0]["body"]
    assert body["response_format"] == {"type": "json_object"}
    assert body["max_tokens"] == 220 * len(firm_topics[0][2]) + 64


def test_per_firm_results_do_not_depend_on_the_topics_order(
    fake_server: FakeOpenAIServer, firm_topics
) -> None:
    firm_id, quarter, topics = firm_topics[1]
    reordered = topics[::-1]
    with TopicSummarizer(fast_settings(fake_server.base_url, mode="per_firm")) as summarizer:
        forward = summarizer.summarize_firm(firm_id, quarter, topics)
        backward = summarizer.summarize_firm(firm_id, quarter, reordered)
    assert [s.local_topic_id for s in backward] == [t.local_topic_id for t in reordered]
    assert {s.local_topic_id: s for s in forward} == {s.local_topic_id: s for s in backward}
    bodies = [r["body"] for r in fake_server.requests]
    assert bodies[0]["messages"] == bodies[1]["messages"]


def test_malformed_json_falls_back_to_one_request_per_topic(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[0]
    with FakeOpenAIServer(script=["bad_json"]) as server:
        with TopicSummarizer(fast_settings(server.base_url, mode="per_firm")) as summarizer:
            summaries = summarizer.summarize_firm(firm_id, quarter, topics)
            run_usage, stats = summarizer.usage, summarizer.call_stats
        assert server.request_count == 1 + len(topics)
        assert server.count_by_outcome == {"bad_json": 1, "ok": len(topics)}
        per_topic_prompts = [r["body"]["messages"][1]["content"] for r in server.requests[1:]]
    assert stats.batch_calls == 1 and stats.batch_topic_fallbacks == len(topics) and stats.retries == 0
    assert all(s.source == "llm" and s.fallback_reason is None for s in summaries)
    assert sorted(int(p.split("Topic: ")[1].split("\n")[0]) for p in per_topic_prompts) == sorted(
        t.local_topic_id for t in topics
    )
    # The broken batch's usage is split over the topics, each also paying its own request.
    assert total([s.usage for s in summaries]) == run_usage
    assert run_usage.calls == 1 + len(topics)
    assert [s.usage.calls for s in summaries] == [2] + [1] * (len(topics) - 1)


def test_missing_and_empty_entries_are_fetched_per_topic(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[2]
    with FakeOpenAIServer(script=["partial_json"]) as server:
        with TopicSummarizer(fast_settings(server.base_url, mode="per_firm")) as summarizer:
            summaries = summarizer.summarize_firm(firm_id, quarter, topics)
            stats = summarizer.call_stats
        # The first topic's summary came back empty and the last one's entry is missing.
        refetched = [
            int(r["body"]["messages"][1]["content"].split("Topic: ")[1].split("\n")[0])
            for r in server.requests[1:]
        ]
    ids = sorted(t.local_topic_id for t in topics)
    assert sorted(refetched) == [ids[0], ids[-1]]
    assert stats.batch_topic_fallbacks == 2 and server.request_count == 3
    assert all(s.source == "llm" for s in summaries)


def test_a_failing_batch_and_failing_topics_end_extractive(firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[3]
    with FakeOpenAIServer(script=["500"] * 3 + ["garbage"] * 30) as server:
        settings = fast_settings(server.base_url, mode="per_firm", max_retries=2)
        with TopicSummarizer(settings) as summarizer:
            summaries = summarizer.summarize_firm(firm_id, quarter, topics[:4])
            stats = summarizer.call_stats
        assert server.request_count == 3 + 4 * 3
    assert [s.source for s in summaries] == ["extractive"] * 4
    assert {s.fallback_reason for s in summaries} == {"garbage_content"}
    assert stats.fallbacks == 4 and stats.batch_topic_fallbacks == 4
    assert all(s.summary for s in summaries)


def test_one_topic_or_duplicate_ids_use_per_topic_requests(
    fake_server: FakeOpenAIServer, firm_topics
) -> None:
    firm_id, quarter, topics = firm_topics[0]
    twins = [topics[0], TopicPromptInput(topics[0].local_topic_id, topics[1].keywords, topics[1].sentences)]
    with TopicSummarizer(fast_settings(fake_server.base_url, mode="per_firm")) as summarizer:
        [single] = summarizer.summarize_firm(firm_id, quarter, topics[:1])
        pair = summarizer.summarize_firm(firm_id, quarter, twins)
        assert summarizer.call_stats.batch_calls == 0
    assert single.source == "llm" and [s.source for s in pair] == ["llm", "llm"]
    assert all("response_format" not in r["body"] for r in fake_server.requests)


def test_large_firms_are_split_into_even_batches(fake_server: FakeOpenAIServer, firm_topics) -> None:
    firm_id, quarter, topics = firm_topics[4]
    settings = fast_settings(
        fake_server.base_url, mode="per_firm", batch_max_topics=4, json_response_format=False
    )
    with TopicSummarizer(settings) as summarizer:
        summaries = summarizer.summarize_firm(firm_id, quarter, topics)
        assert summarizer.call_stats.batch_calls == 3
    sizes = sorted(len(firm_prompt_topics(r["body"])) for r in fake_server.requests)
    assert sizes == [3, 3, 4]
    assert all("response_format" not in r["body"] for r in fake_server.requests)
    assert [s.local_topic_id for s in summaries] == [t.local_topic_id for t in topics]


def test_batch_fault_rate_only_hits_per_firm_requests(firm_topics) -> None:
    with FakeOpenAIServer(batch_fault_rate=1.0, batch_faults=["bad_json"]) as server:
        with TopicSummarizer(fast_settings(server.base_url, mode="per_firm")) as summarizer:
            futures = [summarizer.submit_firm(f, q, topics[:3]) for f, q, topics in firm_topics]
            results = [s for future in futures for s in future.result()]
        assert server.count_by_outcome == {"bad_json": len(firm_topics), "ok": 3 * len(firm_topics)}
    assert all(s.source == "llm" for s in results)


def test_invalid_mode_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        LlmSettings(mode="per_quarter")
    with pytest.raises(ValueError, match="batch_max_topics"):
        LlmSettings(batch_max_topics=0)
    with pytest.raises(ValueError, match="initial_concurrency"):
        LlmSettings(initial_concurrency=0)

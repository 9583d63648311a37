from __future__ import annotations

import pytest

from ftm_assets.llm.fake_server import FakeOpenAIServer
from ftm_assets.llm.settings import LlmSettings
from ftm_assets.search.answer import answer, cited_ids
from ftm_assets.search.context import citable_sentences, format_context
from ftm_assets.search.retrieval import search
from ftm_assets.warehouse.database import connect

QUESTION = "What did firms say about supply chain disruption?"


@pytest.fixture(scope="module")
def hits(warehouse, encoder):
    with connect(warehouse.url, autocommit=True) as conn:
        return search(conn, encoder, QUESTION, quarter="2020Q3", k=8)


def test_context_block_shows_the_hierarchy_of_every_hit(hits):
    context = format_context(hits, QUESTION)
    blocks = context.split("\n\n")
    assert blocks[0] == f"Search results for: {QUESTION}"
    assert len(blocks) == len(hits) + 1
    for block, hit in zip(blocks[1:], hits, strict=True):
        head = block.splitlines()[0]
        assert hit.level.upper() in head and f"score {hit.score:.3f}" in head
        assert f"quarter: {hit.quarter}" in block
        if hit.level == "sentence":
            assert f"[S{hit.id}]" in head and f"firm: {hit.firm_id} ({hit.firm_name})" in block
            assert "excerpt" in block
        if hit.theme is not None:
            assert hit.theme.name in block
        if hit.topic is not None and hit.level != "theme":
            assert f"topic {hit.topic.id}: {hit.topic.label}" in block
        for e in hit.evidence:
            assert f"evidence [S{e.sentence_id}]" in block
    assert "(no matching" in format_context([])


def test_offline_answer_cites_sentences_from_the_context(hits):
    result = answer(QUESTION, hits, LlmSettings(api_key=None))
    assert result.source == "extractive" and result.fallback_reason == "no_api_key"
    shown = [c[0] for c in citable_sentences(hits)]
    assert list(result.cited_sentence_ids) == shown[:5]
    assert cited_ids(result.text) == shown[:5]
    assert result.context == format_context(hits, QUESTION)
    assert "supply chain" in result.text.lower()
    as_dict = result.to_dict()
    assert as_dict["cited_sentence_ids"] == shown[:5] and as_dict["source"] == "extractive"


def test_keywords_privacy_keeps_transcript_text_on_the_machine(hits):
    result = answer(QUESTION, hits, LlmSettings(base_url="http://127.0.0.1:9/v1", api_key="k", privacy="keywords"))
    assert result.source == "extractive" and result.fallback_reason == "privacy_keywords"


def test_llm_answer_is_one_request_carrying_the_context(hits):
    with FakeOpenAIServer() as server:
        settings = LlmSettings(base_url=server.base_url, api_key="test-key", model="fake-model", timeout_s=5)
        result = answer(QUESTION, hits, settings)
        assert server.request_count == 1
        body = server.requests[0]["body"]
    assert body["model"] == "fake-model"
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    assert QUESTION in user and format_context(hits, QUESTION) in user
    assert result.source == "llm" and result.fallback_reason is None and result.usage.calls == 1
    assert result.text


def test_failed_llm_call_falls_back_to_the_extractive_answer(hits):
    with FakeOpenAIServer(script=["401"]) as server:
        result = answer(QUESTION, hits, LlmSettings(base_url=server.base_url, api_key="bad", timeout_s=5))
    assert result.source == "extractive" and result.fallback_reason == "llm_error: AuthenticationError"
    assert result.cited_sentence_ids


def test_citation_parsing_and_empty_inputs():
    assert cited_ids("Margins rose [S12], [S7, S12] and [s9] (S3) [S40]") == [12, 7, 40]
    no_hits = answer("anything", [], LlmSettings(api_key="k"))
    assert no_hits.fallback_reason == "no_hits" and no_hits.cited_sentence_ids == ()
    with pytest.raises(ValueError, match="empty"):
        answer("  ", [], LlmSettings())

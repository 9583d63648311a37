"""Fixtures of the LLM tests: topics built from real transcript sentences, a fake endpoint, fast settings."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from ftm_assets.llm.fake_server import FakeOpenAIServer
from ftm_assets.llm.prompts import TopicPromptInput
from ftm_assets.llm.settings import LlmSettings

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "earnings21" / "corpus.parquet"
SENTENCES_PER_TOPIC = 12
_STOPWORD_TEXT = (
    "about after again also because been before being could does doing during every first going have "
    "into just know like look looking more much other over really right said same should some still "
    "than that their them then there these they thing things think this those through very want well "
    "were what when where which while will with would year years quarter your"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _keywords(texts: list[str], n: int = 6) -> list[str]:
    words = Counter(w for t in texts for w in re.findall(r"[a-z]{5,}", t.lower()) if w not in _STOPWORDS)
    return [w for w, _ in words.most_common(n)]


@pytest.fixture(scope="session")
def corpus() -> pd.DataFrame:
    return pd.read_parquet(CORPUS, columns=["firm_id", "quarter", "sentence_index", "text"])


@pytest.fixture(scope="session")
def firm_topics(corpus: pd.DataFrame) -> list[tuple[str, str, list[TopicPromptInput]]]:
    """For six real calls: ``(firm_id, quarter, topics)``, ten topics each. A topic here is a run
    of consecutive sentences with its most frequent content words as keywords (a stand-in for a
    BERTopic topic: the LLM layer only sees keywords and sentences)."""
    calls = []
    for (firm_id, quarter), call in list(corpus.groupby(["firm_id", "quarter"], sort=True))[:6]:
        texts = call.sort_values("sentence_index")["text"].astype(str).tolist()
        topics = [
            TopicPromptInput(
                local_topic_id=i,
                keywords=_keywords(texts[i * SENTENCES_PER_TOPIC : (i + 1) * SENTENCES_PER_TOPIC]),
                sentences=texts[i * SENTENCES_PER_TOPIC : (i + 1) * SENTENCES_PER_TOPIC],
            )
            for i in range(10)
        ]
        calls.append((str(firm_id), str(quarter), topics))
    return calls


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def fast_settings(base_url: str, **overrides: object) -> LlmSettings:
    """Settings with a test key and tiny timeouts and backoff, so fault tests stay fast."""
    values: dict[str, object] = {
        "base_url": base_url,
        "api_key": "sk-test-key",
        "timeout_s": 0.5,
        "backoff_base_s": 0.001,
        "backoff_max_s": 0.01,
        "max_retries": 2,
    }
    values.update(overrides)
    return LlmSettings(**values)  # type: ignore[arg-type]

"""The LLM layer: prompts, an OpenAI-compatible client with retries, adaptive concurrency
(``limiter``) and a per-firm JSON mode (``batch``), and extractive fallbacks.

``TopicSummarizer`` writes topic summaries and theme names; ``FakeOpenAIServer``
(``ftm_assets.llm.fake_server``) stands in for the endpoint in tests and benchmarks.
"""

from ftm_assets.llm.client import LlmCallStats, ThemeText, TopicSummarizer
from ftm_assets.llm.extractive import extractive_theme_text, extractive_topic_summary
from ftm_assets.llm.prompts import ThemePromptInput, TopicPromptInput, theme_messages, topic_messages
from ftm_assets.llm.settings import LlmSettings

__all__ = [
    "LlmCallStats",
    "LlmSettings",
    "ThemePromptInput",
    "ThemeText",
    "TopicPromptInput",
    "TopicSummarizer",
    "extractive_theme_text",
    "extractive_topic_summary",
    "theme_messages",
    "topic_messages",
]

"""LLM concurrency and mode settings from the environment (FTM_LLM_*) and the Dagster resource."""

from __future__ import annotations

import pytest

from ftm_assets.config import load_settings
from ftm_assets.defs.resources import LlmResource

VARS = (
    "FTM_LLM_MAX_CONCURRENCY",
    "FTM_LLM_INITIAL_CONCURRENCY",
    "FTM_LLM_ADAPTIVE_CONCURRENCY",
    "FTM_LLM_MODE",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_are_adaptive_per_topic_with_ceiling_64(clean_env) -> None:
    settings = LlmResource().llm_settings()
    assert (settings.max_concurrency, settings.initial_concurrency) == (64, 8)
    assert settings.adaptive_concurrency is True and settings.mode == "per_topic"


def test_environment_and_resource_config(clean_env) -> None:
    clean_env.setenv("FTM_LLM_MAX_CONCURRENCY", "8")
    clean_env.setenv("FTM_LLM_INITIAL_CONCURRENCY", "2")
    clean_env.setenv("FTM_LLM_ADAPTIVE_CONCURRENCY", "false")
    clean_env.setenv("FTM_LLM_MODE", "per_firm")
    settings = LlmResource().llm_settings()
    assert (settings.max_concurrency, settings.initial_concurrency) == (8, 2)
    assert settings.adaptive_concurrency is False and settings.mode == "per_firm"
    # Resource config wins over the environment.
    settings = LlmResource(adaptive_concurrency=True, mode="per_topic", initial_concurrency=4).llm_settings()
    assert settings.adaptive_concurrency is True and settings.mode == "per_topic"
    assert settings.initial_concurrency == 4


def test_bad_values_are_refused(clean_env) -> None:
    clean_env.setenv("FTM_LLM_ADAPTIVE_CONCURRENCY", "maybe")
    with pytest.raises(ValueError, match="FTM_LLM_ADAPTIVE_CONCURRENCY"):
        load_settings()
    clean_env.setenv("FTM_LLM_ADAPTIVE_CONCURRENCY", "1")
    clean_env.setenv("FTM_LLM_MODE", "per_quarter")
    with pytest.raises(ValueError, match="mode must be one of"):
        LlmResource().llm_settings()

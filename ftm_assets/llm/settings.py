"""Settings of the LLM layer: endpoint, model, limits, retries and privacy.

One frozen object, passed in; nothing here reads the environment. The Dagster layer builds it
from its resource config (the key through ``EnvVar``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PRIVACY_MODES = ("sentences", "keywords")


@dataclass(frozen=True)
class LlmSettings:
    """How topic summaries and theme names are written.

    ``api_key`` ``None`` or ``""`` means offline: no HTTP request is made and every text is
    extractive. The key is kept out of ``repr`` and must never be logged.

    ``privacy="sentences"`` sends keywords plus up to ``max_prompt_sentences`` transcript
    sentences (each cut to ``max_sentence_chars``); ``privacy="keywords"`` sends keywords only,
    for topics and for themes alike.

    ``reasoning_effort`` is passed to the endpoint only when set (xAI's grok-3-mini accepts
    ``"low"``/``"high"``; other models may reject the parameter).
    """

    base_url: str = "https://api.x.ai/v1"
    model: str = "grok-3-mini"
    api_key: str | None = field(default=None, repr=False)
    max_concurrency: int = 8
    max_retries: int = 4
    timeout_s: float = 30.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    max_tokens: int = 220
    temperature: float = 0.2
    max_prompt_sentences: int = 8
    max_sentence_chars: int = 400
    max_summary_chars: int = 1200
    privacy: str = "sentences"
    reasoning_effort: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.max_concurrency < 1:
            problems.append(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.max_retries < 0:
            problems.append(f"max_retries must be >= 0, got {self.max_retries}")
        if self.timeout_s <= 0:
            problems.append(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0:
            problems.append("backoff_base_s and backoff_max_s must be >= 0")
        if self.max_tokens < 1:
            problems.append(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.max_prompt_sentences < 0:
            problems.append(f"max_prompt_sentences must be >= 0, got {self.max_prompt_sentences}")
        if self.max_sentence_chars < 20:
            problems.append(f"max_sentence_chars must be >= 20, got {self.max_sentence_chars}")
        if self.max_summary_chars < 80:
            problems.append(f"max_summary_chars must be >= 80, got {self.max_summary_chars}")
        if self.privacy not in PRIVACY_MODES:
            problems.append(f"privacy must be one of {PRIVACY_MODES}, got {self.privacy!r}")
        if problems:
            raise ValueError("invalid LlmSettings: " + "; ".join(problems))

    @property
    def offline(self) -> bool:
        """True when no API key is configured (extractive texts only, no HTTP)."""
        return not self.api_key

"""Settings of the LLM layer: endpoint, model, concurrency, request mode, retries and privacy.

One frozen object, passed in; nothing here reads the environment. The Dagster layer builds it
from its resource config (the key through ``EnvVar``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PRIVACY_MODES = ("sentences", "keywords")
#: ``per_topic``: one request per topic; ``per_firm``: one JSON request per firm (see ``LlmSettings``).
LLM_MODES = ("per_topic", "per_firm")


@dataclass(frozen=True)
class LlmSettings:
    """How topic summaries and theme names are written.

    ``api_key`` ``None`` or ``""`` means offline: no HTTP request is made and every text is
    extractive. The key is kept out of ``repr`` and must never be logged.

    ``privacy="sentences"`` sends keywords plus up to ``max_prompt_sentences`` transcript
    sentences (each cut to ``max_sentence_chars``); ``privacy="keywords"`` sends keywords only,
    for topics and for themes alike.

    Concurrency: with ``adaptive_concurrency`` (default) the number of requests in flight
    starts at ``initial_concurrency`` (at most ``max_concurrency``) and adapts AIMD-style
    (``ftm_assets.llm.limiter``): each burst of 429s halves it (floor 1) and holds new requests
    for the server's ``Retry-After`` (at most ``backoff_max_s``); a run of clean answers at full
    load adds 1, up to ``max_concurrency`` (the ceiling). Without it, at most ``max_concurrency``
    requests are in flight, always (a fixed semaphore).

    ``mode="per_topic"`` (default) sends one request per topic. ``mode="per_firm"`` sends one
    request per firm (per ``batch_max_topics`` topics) asking for a JSON object
    ``{"topics": [{"id": ..., "summary": ...}]}`` (with ``response_format`` ``json_object`` when
    ``json_response_format``); every topic whose entry is missing or unusable gets its own
    per-topic request.

    ``reasoning_effort`` is passed to the endpoint only when set (xAI's grok-3-mini accepts
    ``"low"``/``"high"``; other models may reject the parameter).
    """

    base_url: str = "https://api.x.ai/v1"
    model: str = "grok-3-mini"
    api_key: str | None = field(default=None, repr=False)
    max_concurrency: int = 64
    initial_concurrency: int = 8
    adaptive_concurrency: bool = True
    mode: str = "per_topic"
    batch_max_topics: int = 20
    json_response_format: bool = True
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
        if self.initial_concurrency < 1:
            problems.append(f"initial_concurrency must be >= 1, got {self.initial_concurrency}")
        if self.mode not in LLM_MODES:
            problems.append(f"mode must be one of {LLM_MODES}, got {self.mode!r}")
        if self.batch_max_topics < 1:
            problems.append(f"batch_max_topics must be >= 1, got {self.batch_max_topics}")
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

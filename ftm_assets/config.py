"""Settings read from the environment, in one place.

Nothing here runs at import time: call :func:`load_settings` where settings are needed.
Every variable is listed in the README's settings table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_LLM_BASE_URL = "https://api.x.ai/v1"
DEFAULT_LLM_MODEL = "grok-3-mini"
DEFAULT_API_KEY_ENV = "XAI_API_KEY"


@dataclass(frozen=True)
class FtmSettings:
    home: Path
    database_url: str | None = field(default=None, repr=False)  # may hold a password
    embedding_model: str | None = None  # None -> the bundled all-MiniLM-L6-v2
    device: str = "auto"
    embed_batch_size: int | None = None  # None: 256 on CUDA, 32 on CPU (measured, docs/performance.md)
    transcripts_uri: str | None = None
    llm_base_url: str = DEFAULT_LLM_BASE_URL
    llm_model: str = DEFAULT_LLM_MODEL
    llm_api_key_env: str = DEFAULT_API_KEY_ENV
    llm_max_concurrency: int = 64  # ceiling of requests in flight (adaptive) or the fixed cap
    llm_initial_concurrency: int = 8
    llm_adaptive_concurrency: bool = True
    llm_mode: str = "per_topic"  # "per_topic" | "per_firm"
    llm_privacy: str = "sentences"

    @property
    def dagster_home(self) -> Path:
        return Path(os.environ.get("DAGSTER_HOME") or self.home / "dagster")

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    def llm_api_key(self, variable: str | None = None) -> str | None:
        """The LLM key from the environment (``variable``, default ``llm_api_key_env``), or None
        (offline extractive mode)."""
        return os.environ.get(variable or self.llm_api_key_env) or None


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def _bool_env(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"environment variable {name} must be a boolean (1/0, true/false), got {raw!r}")


def firms_per_run() -> int:
    """``FTM_FIRMS_PER_RUN``: firms per run of a backfill (0: one run per quarter). Read when the
    code location loads: a backfill policy is part of the definitions."""
    return _int_env("FTM_FIRMS_PER_RUN", 0)


def dagster_event_batch_size() -> int:
    """``DAGSTER_EVENT_BATCH_SIZE`` (Dagster's own variable, read by the instance for each event):
    > 0 means Dagster writes events that carry batch metadata in one insert."""
    return _int_env("DAGSTER_EVENT_BATCH_SIZE", 0)


def load_settings() -> FtmSettings:
    home = Path(os.environ.get("FTM_HOME") or Path.home() / ".ftm").expanduser().resolve()
    return FtmSettings(
        home=home,
        database_url=os.environ.get("FTM_DATABASE_URL") or None,
        embedding_model=os.environ.get("FTM_EMBEDDING_MODEL") or None,
        device=os.environ.get("FTM_DEVICE", "auto"),
        embed_batch_size=_int_env("FTM_EMBED_BATCH_SIZE", 0) or None,
        transcripts_uri=os.environ.get("FTM_TRANSCRIPTS_URI") or None,
        llm_base_url=os.environ.get("FTM_LLM_BASE_URL", DEFAULT_LLM_BASE_URL),
        llm_model=os.environ.get("FTM_LLM_MODEL", DEFAULT_LLM_MODEL),
        llm_api_key_env=os.environ.get("FTM_LLM_API_KEY_ENV", DEFAULT_API_KEY_ENV),
        llm_max_concurrency=_int_env("FTM_LLM_MAX_CONCURRENCY", 64),
        llm_initial_concurrency=_int_env("FTM_LLM_INITIAL_CONCURRENCY", 8),
        llm_adaptive_concurrency=_bool_env("FTM_LLM_ADAPTIVE_CONCURRENCY", True),
        llm_mode=os.environ.get("FTM_LLM_MODE") or "per_topic",
        llm_privacy=os.environ.get("FTM_LLM_PRIVACY", "sentences"),
    )

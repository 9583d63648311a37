"""What the search commands need at run time, resolved from the environment like the pipeline does.

The database is ``FTM_DATABASE_URL`` or the embedded server under ``$FTM_HOME/pgdata`` (as
``WarehouseResource.url()``); the encoder is the pipeline's model (``FTM_EMBEDDING_MODEL``,
``FTM_DEVICE``); the LLM settings follow ``LlmResource.llm_settings()`` with its defaults (the key
from ``XAI_API_KEY`` or the variable named by ``FTM_LLM_API_KEY_ENV``). No Dagster import.
"""

from __future__ import annotations

from ftm_assets.config import FtmSettings, load_settings
from ftm_assets.llm.settings import LlmSettings
from ftm_assets.modeling.embedding import SentenceEncoder
from ftm_assets.warehouse.database import connect, resolve_database_url
from ftm_assets.warehouse.schema import migrate, stored_embedding_dim


def database_url(settings: FtmSettings | None = None) -> str:
    settings = settings or load_settings()
    return resolve_database_url(settings.database_url, settings.pgdata)


def load_encoder(settings: FtmSettings | None = None) -> SentenceEncoder:
    """The pipeline's embedding model, loaded once per command."""
    settings = settings or load_settings()
    return SentenceEncoder.load(settings.embedding_model, settings.device, settings.embed_batch_size)


def prepare_database(url: str, embedding_dim: int | None = None, model_id: str = "") -> None:
    """Apply pending migrations (the search views of an older database) to an existing FTM database.

    ``embedding_dim`` defaults to the stored width; a database without the FTM schema is an error
    (search needs the pipeline's rows), as is a model of another width.
    """
    with connect(url, autocommit=True, vector=False) as conn:
        stored = stored_embedding_dim(conn)
    if stored is None:
        raise ValueError("the database has no FTM schema yet: run `ftm demo` (or materialize a quarter) first")
    migrate(url, embedding_dim if embedding_dim is not None else stored, model_id)


def llm_settings(settings: FtmSettings | None = None) -> LlmSettings:
    """LLM settings from the environment, with the same defaults as the pipeline's LLM resource."""
    settings = settings or load_settings()
    return LlmSettings(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key(),
        max_concurrency=settings.llm_max_concurrency,
        privacy=settings.llm_privacy,
    )

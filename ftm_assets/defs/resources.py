"""Dagster resources: the embedding model, the warehouse, the LLM and the transcript source.

Each is a thin ``ConfigurableResource`` over the framework-free code. Heavy state (the model, the
LLM event loop) is created in ``setup_for_execution``, which the in-process executor calls once per
run (docs/design.md §2): one model load per run, never one per firm.

**Settings through Dagster.** :func:`build_resources` declares every environment-backed field whose
variable is set when the code location loads as ``dg.EnvVar`` (``ENV_FIELDS``), as Dagster's own
example projects do: the value is read when a run starts and the UI shows only the variable's
name, so the database URL and the LLM key never appear as config values. A field left unset
(None) takes the documented default when the run starts: for the warehouse, the one small piece
:func:`default_database_url` (``FTM_DATABASE_URL`` if set by then, else the embedded server under
``$FTM_HOME/pgdata``); for the other resources, the environment read by
:func:`ftm_assets.config.load_settings`, so a bare ``LlmResource()`` in the CLI or a test follows
the environment too.
"""


from collections.abc import Mapping
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from ftm_assets.config import DEFAULT_API_KEY_ENV, load_settings
from ftm_assets.llm.client import TopicSummarizer
from ftm_assets.llm.settings import LlmSettings
from ftm_assets.modeling.embedding import BUNDLED_MODEL_ID, SentenceEncoder
from ftm_assets.warehouse.database import connect, resolve_database_url
from ftm_assets.warehouse.schema import HnswSettings, migrate


class EmbeddingModelResource(dg.ConfigurableResource):
    """A SentenceTransformer loaded once per run; ``model`` empty = bundled all-MiniLM-L6-v2."""

    model: str | None = None  # FTM_EMBEDDING_MODEL
    device: str | None = None  # FTM_DEVICE; None -> auto
    batch_size: int | None = None  # FTM_EMBED_BATCH_SIZE; None or 0 -> 256 on CUDA and 32 on CPU

    _encoder: SentenceEncoder | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        settings = load_settings()
        model = self.model or settings.embedding_model
        self._encoder = SentenceEncoder.load(model, self.device or settings.device,
                                             self.batch_size or settings.embed_batch_size)
        if context.log:
            context.log.info(f"embedding model {self._encoder.model_id} loaded on {self._encoder.device}")

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._encoder is not None and self._encoder.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
        self._encoder = None

    @property
    def model_id(self) -> str:
        """The id the loaded encoder will carry (``SentenceEncoder.load``), known without loading it;
        part of each firm's input fingerprint."""
        return self.model or load_settings().embedding_model or BUNDLED_MODEL_ID

    @property
    def encoder(self) -> SentenceEncoder:
        if self._encoder is None:
            raise RuntimeError("embedding model not loaded: the resource was not set up for this run")
        return self._encoder


class WarehouseResource(dg.ConfigurableResource):
    """The FTM PostgreSQL + pgvector database.

    ``database_url`` is normally left empty: the URL comes from ``FTM_DATABASE_URL`` at run time, or
    the embedded server under ``$FTM_HOME/pgdata`` is started.
    """

    database_url: str | None = None  # FTM_DATABASE_URL (an EnvVar: never shown); None -> default_database_url()
    hnsw_m: int = 16
    hnsw_ef_construction: int = 64
    maintenance_work_mem: str = "1GB"

    _url: str | None = PrivateAttr(default=None)

    def url(self) -> str:
        if self._url is None:
            self._url = self.database_url or default_database_url()
        return self._url

    def ensure_schema(self, embedding_dim: int, model_id: str = "") -> None:
        migrate(self.url(), embedding_dim, model_id)

    def connect(self, autocommit: bool = True):
        return connect(self.url(), autocommit=autocommit)

    @property
    def hnsw(self) -> HnswSettings:
        return HnswSettings(m=self.hnsw_m, ef_construction=self.hnsw_ef_construction,
                            maintenance_work_mem=self.maintenance_work_mem)


class LlmResource(dg.ConfigurableResource):
    """OpenAI-compatible chat endpoint (xAI by default). No key in the environment -> offline
    extractive summaries, flagged ``summary_source = extractive`` with reason ``no_api_key``."""

    base_url: str | None = None  # None -> FTM_LLM_BASE_URL, else https://api.x.ai/v1
    model: str | None = None  # None -> FTM_LLM_MODEL, else the default model
    api_key_env: str | None = None  # name of the variable holding the key; None -> XAI_API_KEY
    api_key: str | None = None  # only ever an EnvVar (build_resources); None -> the variable api_key_env names
    max_concurrency: int | None = None  # ceiling in flight; None -> FTM_LLM_MAX_CONCURRENCY, else 64
    initial_concurrency: int | None = None  # None -> FTM_LLM_INITIAL_CONCURRENCY, else 8
    adaptive_concurrency: bool | None = None  # AIMD on 429s; None -> FTM_LLM_ADAPTIVE_CONCURRENCY, else on
    mode: str | None = None  # "per_topic" | "per_firm"; None -> FTM_LLM_MODE, else per_topic
    max_retries: int = 4
    timeout_s: float = 30.0
    max_tokens: int = 220
    temperature: float = 0.2
    privacy: str | None = None  # "sentences" | "keywords": what leaves the box; None -> FTM_LLM_PRIVACY

    _summarizer: TopicSummarizer | None = PrivateAttr(default=None)

    def llm_settings(self) -> LlmSettings:
        env = load_settings()
        key_env = self.api_key_env or env.llm_api_key_env
        return LlmSettings(
            base_url=self.base_url or env.llm_base_url,
            model=self.model or env.llm_model,
            api_key=self.api_key or env.llm_api_key(key_env),
            max_concurrency=self.max_concurrency or env.llm_max_concurrency,
            initial_concurrency=self.initial_concurrency or env.llm_initial_concurrency,
            adaptive_concurrency=(
                env.llm_adaptive_concurrency
                if self.adaptive_concurrency is None
                else self.adaptive_concurrency
            ),
            mode=self.mode or env.llm_mode,
            max_retries=self.max_retries,
            timeout_s=self.timeout_s,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            privacy=self.privacy or env.llm_privacy,
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._summarizer = TopicSummarizer(self.llm_settings())
        self._summarizer.start()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._summarizer is not None:
            self._summarizer.close()
        self._summarizer = None

    @property
    def summarizer(self) -> TopicSummarizer:
        if self._summarizer is None:
            raise RuntimeError("LLM resource not set up for this run")
        return self._summarizer


class TranscriptSourceResource(dg.ConfigurableResource):
    """Where calls are read: a Parquet/CSV file, a folder of them, or ``s3://bucket/prefix`` (read
    with dagster-aws's ``S3Resource``). Empty ``uri`` -> ``FTM_TRANSCRIPTS_URI``, else the demo
    calls under ``$FTM_HOME/demo``."""

    uri: str | None = None  # FTM_TRANSCRIPTS_URI
    s3_endpoint_url: str | None = None
    s3_region: str | None = None

    def resolved_uri(self) -> str:
        settings = load_settings()
        uri = self.uri or settings.transcripts_uri
        if uri:
            return uri
        return str(demo_corpus_path(settings.home))

    def source(self):
        from ftm_assets.sources.open import open_source

        uri = self.resolved_uri()
        client = None
        if uri.startswith("s3://"):
            from dagster_aws.s3 import S3Resource

            client = S3Resource(endpoint_url=self.s3_endpoint_url, region_name=self.s3_region).get_client()
        return open_source(uri, s3_client=client)


def demo_corpus_path(home: Path) -> Path:
    return Path(home) / "demo" / "demo_calls.parquet"


def default_database_url() -> str:
    """The database when none is configured: ``FTM_DATABASE_URL`` if set when the run starts, else
    the embedded PostgreSQL + pgvector server under ``$FTM_HOME/pgdata`` (started on first use)."""
    settings = load_settings()
    return resolve_database_url(settings.database_url, settings.pgdata)


#: Environment-backed resource fields: resource -> field -> (variable, Dagster type). Declared as
#: ``dg.EnvVar`` by :func:`build_resources` (``EnvVar`` fills ``str`` and ``int`` fields only, so the
#: boolean ``FTM_LLM_ADAPTIVE_CONCURRENCY`` is read through ``load_settings`` when the run starts).
ENV_FIELDS: dict[str, dict[str, tuple[str, type]]] = {
    "embedding_model": {"model": ("FTM_EMBEDDING_MODEL", str), "device": ("FTM_DEVICE", str),
                        "batch_size": ("FTM_EMBED_BATCH_SIZE", int)},
    "warehouse": {"database_url": ("FTM_DATABASE_URL", str)},
    "llm": {"base_url": ("FTM_LLM_BASE_URL", str), "model": ("FTM_LLM_MODEL", str),
            "max_concurrency": ("FTM_LLM_MAX_CONCURRENCY", int),
            "initial_concurrency": ("FTM_LLM_INITIAL_CONCURRENCY", int),
            "mode": ("FTM_LLM_MODE", str), "privacy": ("FTM_LLM_PRIVACY", str)},
    "transcripts": {"uri": ("FTM_TRANSCRIPTS_URI", str)},
}


def env_fields(resource: str, environ: Mapping[str, str]) -> dict[str, dg.EnvVar]:
    """``dg.EnvVar`` for each environment-backed field of ``resource`` whose variable is set (not
    empty) in ``environ``; the LLM key under the name ``FTM_LLM_API_KEY_ENV`` gives (``XAI_API_KEY``)."""
    fields = dict(ENV_FIELDS.get(resource, {}))
    if resource == "llm":
        fields["api_key"] = (environ.get("FTM_LLM_API_KEY_ENV") or DEFAULT_API_KEY_ENV, str)
    return {field: dg.EnvVar.int(var) if kind is int else dg.EnvVar(var)
            for field, (var, kind) in fields.items() if environ.get(var, "").strip()}


def build_resources(environ: Mapping[str, str] | None = None) -> dict[str, dg.ConfigurableResource]:
    """The project's resources, environment-backed fields declared as ``dg.EnvVar`` (``environ``:
    the environment when the code location loads, default ``os.environ``)."""
    import os

    from ftm_assets.defs.io_manager import WarehouseIOManager

    env = os.environ if environ is None else environ
    warehouse = WarehouseResource(**env_fields("warehouse", env))
    return {
        "embedding_model": EmbeddingModelResource(**env_fields("embedding_model", env)),
        "warehouse": warehouse,
        "warehouse_io_manager": WarehouseIOManager(warehouse=warehouse),
        "llm": LlmResource(**env_fields("llm", env)),
        "transcripts": TranscriptSourceResource(**env_fields("transcripts", env)),
    }

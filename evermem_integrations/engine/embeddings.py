"""Embedding models behind one small protocol.

The default, :class:`StaticEmbedder`, is a model2vec static model distilled from
all-MiniLM-L6-v2 by ``scripts/build_embedding_model.py`` and shipped inside this package:
it needs numpy only, downloads nothing, and embeds thousands of sentences per second on two
CPU cores. Any other model plugs in through :class:`Embedder` (an OpenAI-compatible
endpoint, sentence-transformers, or a plain callable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, cached_property
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

DEFAULT_MODEL_DIR = Path(str(files("evermem_integrations") / "models" / "minilm_static"))


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (one row per text)."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; returns an array of shape ``(len(texts), dimensions)``."""
        ...


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def embed_distinct(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """``embedder.embed(texts)``, each distinct text embedded once.

    Texts repeat within a write: a one-sentence message is also its fact, indexed with the
    same context, so both units would cost an embedding (a call to a paid endpoint, maybe).
    """
    distinct = list(dict.fromkeys(texts))
    if len(distinct) == len(texts):
        return embedder.embed(list(texts))
    row = {text: n for n, text in enumerate(distinct)}
    return embedder.embed(distinct)[[row[text] for text in texts]]


class StaticEmbedder:
    """The bundled offline model (model2vec static embeddings, numpy only)."""

    def __init__(self, model_dir: str | Path | None = None) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        self.name = f"model2vec:{self.model_dir.name}"

    @cached_property
    def _model(self) -> Any:
        if not (self.model_dir / "config.json").exists():
            raise FileNotFoundError(
                f"no model2vec model in {self.model_dir}; run scripts/build_embedding_model.py "
                "or pass embedder= to EverMem"
            )
        return _static_model(self.model_dir.resolve())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` with the static model."""
        if not texts:
            return np.zeros((0, self._model.dim), dtype=np.float32)
        return normalize(self._model.encode(list(texts), show_progress_bar=False))


@cache
def _static_model(model_dir: Path) -> Any:
    """One loaded copy of a static model per process (about 0.13 s to load), shared by its engines.

    A service opening a store per tenant, or a benchmark one per conversation, loads it once;
    the model is only read while embedding.
    """
    from model2vec import StaticModel

    return StaticModel.from_pretrained(str(model_dir))


class CallableEmbedder:
    """Wraps any ``callable(list[str]) -> array-like`` (e.g. a LangChain ``embed_documents``)."""

    def __init__(self, function: Callable[[list[str]], Any], name: str = "callable") -> None:
        self.function = function
        self.name = name

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Call the wrapped function and normalise its output."""
        return normalize(np.asarray(self.function(list(texts)), dtype=np.float32))


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Ollama, vLLM)."""

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int = 256,
        client: Any = None,
    ) -> None:
        from openai import OpenAI

        self.client = client or OpenAI(base_url=base_url, api_key=api_key or "not-needed")
        self.model = model
        self.batch_size = batch_size
        self.name = f"openai:{model}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed in batches of ``batch_size``."""
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            response = self.client.embeddings.create(
                model=self.model, input=list(texts[start : start + self.batch_size])
            )
            rows.extend(item.embedding for item in sorted(response.data, key=lambda item: item.index))
        return normalize(np.asarray(rows, dtype=np.float32))


class SentenceTransformerEmbedder:
    """A sentence-transformers model (install ``sentence-transformers`` yourself)."""

    def __init__(self, model_name_or_path: str, **kwargs: Any) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(model_name_or_path, **kwargs)
        self.name = f"sentence-transformers:{model_name_or_path}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed with the sentence-transformers model."""
        return normalize(self.model.encode(list(texts), convert_to_numpy=True))

"""Opening an :class:`EverMem` from the CLI's settings (store, embedder, optional LLM)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from evermem_integrations.cli.config import Settings
from evermem_integrations.errors import ConfigurationError

if TYPE_CHECKING:
    from evermem_integrations.memory import EverMem

EMBEDDER_HELP = "static | static:DIR | DIR | openai:MODEL | sentence-transformers:NAME"


def make_embedder(spec: str | None, settings: Settings) -> Any:
    """The embedder named by ``spec``; ``None`` means the bundled static model.

    Raises:
        ConfigurationError: the spec names no known kind of embedder.

    """
    if spec is None or spec in ("", "static", "default"):
        return None
    from evermem_integrations.engine.embeddings import OpenAIEmbedder, SentenceTransformerEmbedder, StaticEmbedder

    kind, _, name = spec.partition(":")
    if kind == "static" and name:
        return StaticEmbedder(Path(name).expanduser())
    if kind == "openai" and name:
        return OpenAIEmbedder(name, base_url=settings.get("llm_base_url"), api_key=settings.get("llm_api_key"))
    if kind == "sentence-transformers" and name:
        try:
            return SentenceTransformerEmbedder(name)
        except ImportError as exc:
            raise ConfigurationError(
                "embedder 'sentence-transformers:...' needs `pip install sentence-transformers`"
            ) from exc
    if Path(spec).expanduser().is_dir():
        return StaticEmbedder(Path(spec).expanduser())
    raise ConfigurationError(f"unknown embedder {spec!r}; use {EMBEDDER_HELP}")


def make_llm(settings: Settings) -> Any:
    """An ``LLMConfig`` when an LLM is configured, else ``None`` (fully offline)."""
    if not settings.llm_configured:
        return None
    model = settings.get("llm_model")
    if not model:
        raise ConfigurationError("an LLM endpoint is set but no model: set EVERMEM_LLM_MODEL or --llm-model")
    try:
        from evermem_integrations.engine.llm import LLMConfig
    except ImportError as exc:
        raise ConfigurationError(f"LLM support is not available in this installation ({exc})") from exc
    # Unset values are left out so LLMConfig's own defaults (e.g. $OPENAI_API_KEY) still apply.
    options: dict[str, Any] = {"model": model}
    if settings.get("llm_base_url"):
        options["base_url"] = settings.get("llm_base_url")
    if settings.get("llm_api_key"):
        options["api_key"] = settings.get("llm_api_key")
    return LLMConfig(**options)


def make_database(settings: Settings) -> Any:
    """A ``DatabaseConfig`` from the settings that were given, else ``None`` (its defaults)."""
    options = {key: value for key in ("schema", "pool_size") if (value := settings.get(f"database_{key}")) is not None}
    if not options:
        return None
    from evermem_integrations.engine.database import DatabaseConfig

    return DatabaseConfig.model_validate(options)


def open_memory(settings: Settings, *, use_llm: bool = False) -> EverMem:
    """Open the store the settings point at.

    Args:
        settings: the effective CLI settings.
        use_llm: build the LLM components when an LLM is configured (ingest, agentic search);
            browsing commands leave it off so they never need the endpoint.

    """
    from evermem_integrations.memory import EverMem

    embedder = make_embedder(settings.get("embedder"), settings)
    llm = make_llm(settings) if use_llm else None
    # An unreachable Chroma server raises StoreUnavailableError naming the fix (the core maps it).
    return EverMem(
        path=settings.get("path"),
        chroma_url=settings.get("chroma_url"),
        database_url=settings.get("database_url"),
        database=make_database(settings),
        embedder=embedder,
        llm=llm,
    )

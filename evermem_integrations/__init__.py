"""evermem-integrations: long-term memory for LLM applications (EverMemOS design, offline by default).

Every name the README offers is importable from here. All but the errors are loaded on first
use, so ``import evermem_integrations`` (and the ``evermem`` command's start) imports neither
the engine nor numpy, Chroma or the OpenAI client until a name needs them.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from evermem_integrations.errors import (
    ConfigurationError,
    EverMemError,
    ExtractionError,
    InputError,
    InvalidFilterError,
    InvalidMessageError,
    InvalidQueryError,
    InvalidTimestampError,
    LLMError,
    LLMPausedError,
    LLMRefusedError,
    LLMUnavailableError,
    NotFoundError,
    ScopeError,
    StoreBusyError,
    StoreError,
    StoreUnavailableError,
    StoreVersionError,
)

if TYPE_CHECKING:
    from evermem_integrations.engine.consolidation import ProfileConfig, SceneConfig
    from evermem_integrations.engine.database import DatabaseConfig
    from evermem_integrations.engine.embeddings import (
        CallableEmbedder,
        Embedder,
        OpenAIEmbedder,
        SentenceTransformerEmbedder,
        StaticEmbedder,
    )
    from evermem_integrations.engine.llm import LLMConfig
    from evermem_integrations.engine.models import (
        ConversationMeta,
        Fact,
        Foresight,
        MemCell,
        MemScene,
        Message,
        Profile,
        ProfileItem,
        Scope,
        SearchItem,
        SearchResult,
    )
    from evermem_integrations.engine.recollection import RecollectionConfig
    from evermem_integrations.engine.segmentation import SegmentationConfig
    from evermem_integrations.memory import AddResult, EverMem, ScopeStats

_HOMES = {
    "AddResult": "evermem_integrations.memory",
    "CallableEmbedder": "evermem_integrations.engine.embeddings",
    "ConversationMeta": "evermem_integrations.engine.models",
    "DatabaseConfig": "evermem_integrations.engine.database",
    "Embedder": "evermem_integrations.engine.embeddings",
    "EverMem": "evermem_integrations.memory",
    "Fact": "evermem_integrations.engine.models",
    "Foresight": "evermem_integrations.engine.models",
    "LLMConfig": "evermem_integrations.engine.llm",
    "MemCell": "evermem_integrations.engine.models",
    "MemScene": "evermem_integrations.engine.models",
    "Message": "evermem_integrations.engine.models",
    "OpenAIEmbedder": "evermem_integrations.engine.embeddings",
    "Profile": "evermem_integrations.engine.models",
    "ProfileConfig": "evermem_integrations.engine.consolidation",
    "ProfileItem": "evermem_integrations.engine.models",
    "RecollectionConfig": "evermem_integrations.engine.recollection",
    "SceneConfig": "evermem_integrations.engine.consolidation",
    "Scope": "evermem_integrations.engine.models",
    "ScopeStats": "evermem_integrations.memory",
    "SearchItem": "evermem_integrations.engine.models",
    "SearchResult": "evermem_integrations.engine.models",
    "SegmentationConfig": "evermem_integrations.engine.segmentation",
    "SentenceTransformerEmbedder": "evermem_integrations.engine.embeddings",
    "StaticEmbedder": "evermem_integrations.engine.embeddings",
}
"""Where each public name lives; its module is imported on first use (PEP 562)."""

__all__ = [
    "AddResult",
    "CallableEmbedder",
    "ConfigurationError",
    "ConversationMeta",
    "DatabaseConfig",
    "Embedder",
    "EverMem",
    "EverMemError",
    "ExtractionError",
    "Fact",
    "Foresight",
    "InputError",
    "InvalidFilterError",
    "InvalidMessageError",
    "InvalidQueryError",
    "InvalidTimestampError",
    "LLMConfig",
    "LLMError",
    "LLMPausedError",
    "LLMRefusedError",
    "LLMUnavailableError",
    "MemCell",
    "MemScene",
    "Message",
    "NotFoundError",
    "OpenAIEmbedder",
    "Profile",
    "ProfileConfig",
    "ProfileItem",
    "RecollectionConfig",
    "SceneConfig",
    "Scope",
    "ScopeError",
    "ScopeStats",
    "SearchItem",
    "SearchResult",
    "SegmentationConfig",
    "SentenceTransformerEmbedder",
    "StaticEmbedder",
    "StoreBusyError",
    "StoreError",
    "StoreUnavailableError",
    "StoreVersionError",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value  # later lookups skip this hook
    return value

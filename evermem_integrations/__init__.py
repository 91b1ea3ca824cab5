"""evermem-integrations: long-term memory for LLM applications (EverMemOS design, offline by default).

Every name the README offers is importable from here. ``LLMConfig`` is loaded on first use, so
``import evermem_integrations`` does not import the OpenAI client.
"""

from typing import TYPE_CHECKING, Any

from evermem_integrations.engine.consolidation import ProfileConfig, SceneConfig
from evermem_integrations.engine.embeddings import (
    CallableEmbedder,
    Embedder,
    OpenAIEmbedder,
    SentenceTransformerEmbedder,
    StaticEmbedder,
)
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
from evermem_integrations.memory import AddResult, EverMem, ScopeStats

if TYPE_CHECKING:
    from evermem_integrations.engine.llm import LLMConfig

__all__ = [
    "AddResult",
    "CallableEmbedder",
    "ConfigurationError",
    "ConversationMeta",
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
    if name == "LLMConfig":
        from evermem_integrations.engine.llm import LLMConfig

        return LLMConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

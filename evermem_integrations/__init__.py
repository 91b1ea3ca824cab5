"""evermem-integrations: long-term memory for LLM applications (EverMemOS design, offline by default)."""

from evermem_integrations.engine.embeddings import Embedder, OpenAIEmbedder, StaticEmbedder
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
from evermem_integrations.errors import (
    ConfigurationError,
    EverMemError,
    ExtractionError,
    InvalidFilterError,
    InvalidMessageError,
    InvalidTimestampError,
    LLMUnavailableError,
    NotFoundError,
    ScopeError,
    StoreVersionError,
)
from evermem_integrations.memory import AddResult, EverMem, ScopeStats

__all__ = [
    "AddResult",
    "ConfigurationError",
    "ConversationMeta",
    "Embedder",
    "EverMem",
    "EverMemError",
    "ExtractionError",
    "Fact",
    "Foresight",
    "InvalidFilterError",
    "InvalidMessageError",
    "InvalidTimestampError",
    "LLMUnavailableError",
    "MemCell",
    "MemScene",
    "Message",
    "NotFoundError",
    "OpenAIEmbedder",
    "Profile",
    "ProfileItem",
    "Scope",
    "ScopeError",
    "ScopeStats",
    "SearchItem",
    "SearchResult",
    "StaticEmbedder",
    "StoreVersionError",
]

"""The engine's vocabulary: messages, MemCells, MemScenes, profiles and search results.

Everything that crosses the public API is a pydantic model, so it validates on the way in
and serialises (``model_dump``/``model_dump_json``) on the way out.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evermem_integrations.engine import validation
from evermem_integrations.engine.timeparse import parse_timestamp
from evermem_integrations.errors import InvalidMessageError, ScopeError

MAX_MESSAGE_CHARS = 2_000_000
"""A longer message is rejected (split it before adding). A long message is stored whole and
searched in pieces (a pasted document or log); this bound, about 500,000 tokens, only keeps a
runaway paste from filling the store."""

MemoryKind = Literal["episode", "fact", "foresight", "profile", "message", "raw"]
SearchMethod = Literal["keyword", "vector", "hybrid", "scene", "agentic"]
ConversationScene = Literal["assistant", "group_chat"]

# Episode narratives are indexed apart from everything else: a search ranks either the items
# or the episodes, and keeping them apart spares every common query a kind filter.
EPISODE_KINDS: frozenset[str] = frozenset({"episode"})
ITEM_KINDS: frozenset[str] = frozenset({"fact", "message", "raw", "foresight", "profile"})
KIND_GROUPS: tuple[tuple[str, frozenset[str]], ...] = (("episodes", EPISODE_KINDS), ("items", ITEM_KINDS))


def kind_group(kind: str) -> str:
    """The name of the group of :data:`KIND_GROUPS` a kind is indexed in."""
    return "episodes" if kind in EPISODE_KINDS else "items"


def stable_id(*parts: object, prefix: str = "") -> str:
    """A short deterministic id, so re-adding the same content is a no-op."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:24]
    return f"{prefix}{digest}"


_KEY_ESCAPES = {"%": "%25", "|": "%7C", "=": "%3D"}


def check_scope_ids(*ids: object) -> None:
    """Raise :class:`ScopeError` unless at least one id is given and every given one is a usable id.

    A usable id is what :func:`validation.identifier` accepts: a string, not blank, at most
    :data:`validation.MAX_ID_CHARS` characters, with no control characters and no lone surrogates.
    """
    for value in ids:
        if value is not None:
            validation.identifier(value, "scope id", ScopeError)
    if all(v is None for v in ids):
        raise ScopeError(
            "no scope given: pass user_id=, group_id= or agent_id= "
            "(memories are partitioned by scope and a call without one is refused)"
        )


def _escape_key_part(value: str) -> str:
    return "".join(_KEY_ESCAPES.get(ch, ch) for ch in value)


class Scope(BaseModel):
    """Which tenant a memory belongs to. Scopes are hard partitions.

    A scope is the exact combination of the ids given; memories added with
    ``user_id="u1"`` are never visible to a search with ``user_id="u2"`` nor to one with
    ``user_id="u1", group_id="g1"``.
    """

    model_config = ConfigDict(frozen=True)

    user_id: str | None = None
    group_id: str | None = None
    agent_id: str | None = None

    @model_validator(mode="after")
    def _one_id_at_least(self) -> Scope:
        check_scope_ids(self.user_id, self.group_id, self.agent_id)
        return self

    @property
    def key(self) -> str:
        """Canonical string form, used as the partition key in every index.

        ``%``, ``|`` and ``=`` inside an id are percent-escaped, so no id can pass for another
        combination of ids (``group_id="g|user=u"`` is not ``group_id="g", user_id="u"``).
        """
        return "|".join(
            f"{name}={_escape_key_part(value)}"
            for name, value in (("agent", self.agent_id), ("group", self.group_id), ("user", self.user_id))
            if value is not None
        )

    @classmethod
    def of(cls, user_id: str | None = None, group_id: str | None = None, agent_id: str | None = None) -> Scope:
        """Build a scope from keyword ids; raises :class:`ScopeError` when none is given."""
        check_scope_ids(user_id, group_id, agent_id)  # before pydantic, which would wrap the error
        return cls(user_id=user_id, group_id=group_id, agent_id=agent_id)

    @classmethod
    def from_key(cls, key: str) -> Scope:
        """Inverse of :attr:`key`."""
        fields = {name: unquote(value) for name, value in (part.split("=", 1) for part in key.split("|"))}
        return cls(user_id=fields.get("user"), group_id=fields.get("group"), agent_id=fields.get("agent"))


Role = Literal["user", "assistant", "system", "tool"]
"""What a message's author is to the application (OpenAI's chat roles)."""


class Message(BaseModel):
    """One chat message. ``id`` defaults to a hash of sender, content and time."""

    id: str = ""
    sender: str
    role: Role | None = None
    content: str
    timestamp: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("content", mode="before")
    @classmethod
    def _content_is_text(cls, value: object) -> str:
        if not isinstance(value, str):
            raise InvalidMessageError(
                f"message content must be a string, got {type(value).__name__}; "
                "render structured content (e.g. a list of parts) to text first"
            )
        if not value.strip():
            raise InvalidMessageError("message content is empty; drop the message or give it text")
        if len(value) > MAX_MESSAGE_CHARS:
            raise InvalidMessageError(
                f"message content has {len(value):,} characters, more than {MAX_MESSAGE_CHARS:,}; "
                "split it into several messages"
            )
        return validation.content(value)

    @field_validator("sender", mode="before")
    @classmethod
    def _sender_is_text(cls, value: object) -> str:
        return validation.identifier(value, "message sender").strip()

    @field_validator("id", mode="before")
    @classmethod
    def _id_is_text(cls, value: object) -> str:
        if value is None or value == "":
            return ""  # derived from the content below
        return validation.identifier(
            str(value) if isinstance(value, int) and not isinstance(value, bool) else value, "message id"
        )

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_is_json(cls, value: object) -> dict[str, Any]:
        return validation.metadata(value)

    @field_validator("timestamp", mode="before")
    @classmethod
    def _parse_timestamp(cls, value: object) -> datetime:
        return parse_timestamp(value)

    @model_validator(mode="after")
    def _default_id(self) -> Message:
        if not self.id:
            self.id = stable_id(self.sender, self.content, self.timestamp.isoformat(), prefix="msg_")
        return self

    @property
    def content_key(self) -> str:
        """Identity of what was said, independent of the id (detects re-added content)."""
        return stable_id(self.sender, self.content.strip(), self.timestamp.isoformat())


class Fact(BaseModel):
    """One atomic statement: who did what, with absolute dates.

    ``attribute``/``value`` are set for keyed facts ("residence" = "Denver"); a later keyed
    fact with the same subject and attribute supersedes this one (``superseded_by`` and
    ``valid_until`` are set, the fact is kept as history).
    """

    id: str
    cell_id: str
    subject: str
    text: str
    timestamp: datetime
    attribute: str | None = None
    value: str | None = None
    valid_until: datetime | None = None
    superseded_by: str | None = None
    source_message_ids: list[str] = Field(default_factory=list)
    role: Role | None = None
    """The role of the messages it was drawn from (``assistant`` for what the assistant said);
    ``None`` when they differ or were not given."""


class Foresight(BaseModel):
    """A plan or temporary state, valid from ``start`` to ``end`` (open-ended if None)."""

    id: str
    cell_id: str
    subject: str
    text: str
    start: datetime
    end: datetime | None = None
    source_message_ids: list[str] = Field(default_factory=list)

    def is_valid_at(self, moment: datetime) -> bool:
        """Whether the foresight still holds at ``moment``."""
        return self.start <= moment and (self.end is None or moment <= self.end)


class MemCell(BaseModel):
    """A coherent episode cut from the message stream."""

    id: str
    scope: str
    title: str
    episode: str
    facts: list[Fact] = Field(default_factory=list)
    foresight: list[Foresight] = Field(default_factory=list)
    participants: list[str] = Field(default_factory=list)
    start_time: datetime
    end_time: datetime
    messages: list[Message] = Field(default_factory=list)
    scene_id: str | None = None

    @property
    def source_message_ids(self) -> list[str]:
        """Ids of the messages the MemCell was cut from, in order."""
        return [m.id for m in self.messages]


class MemScene(BaseModel):
    """A theme: MemCells grouped online by embedding similarity and time proximity."""

    id: str
    scope: str
    title: str
    keywords: list[str] = Field(default_factory=list)
    cell_ids: list[str] = Field(default_factory=list)
    start_time: datetime
    end_time: datetime
    terms: dict[str, int] = Field(default_factory=dict)
    """The members' salient terms (stemmed), each with how many members hold it: what a new
    MemCell's words are matched against."""


class ProfileItem(BaseModel):
    """A profile entry: a stable ``trait`` or a temporary ``state`` of one person."""

    id: str
    scope: str
    subject: str
    category: Literal["trait", "state"]
    attribute: str
    value: str
    text: str
    evidence: list[str] = Field(default_factory=list)
    valid_from: datetime
    valid_until: datetime | None = None
    status: Literal["current", "superseded"] = "current"
    origin: Literal["message", "metadata"] = "message"
    """``metadata`` for an entry seeded from the conversation metadata's ``user_details``."""


class Profile(BaseModel):
    """What is known about one person, stable traits kept apart from temporary states."""

    subject: str
    traits: list[ProfileItem] = Field(default_factory=list)
    states: list[ProfileItem] = Field(default_factory=list)


class ConversationMeta(BaseModel):
    """Conversation-level settings: scene type, participants' details, timezone, tags."""

    scene: ConversationScene = "assistant"
    user_details: dict[str, Any] = Field(default_factory=dict)
    timezone: str = "UTC"
    tags: list[str] = Field(default_factory=list)
    description: str | None = None


class SearchItem(BaseModel):
    """One ranked memory with its provenance."""

    id: str
    kind: MemoryKind
    text: str
    score: float
    timestamp: datetime | None = None
    source_message_ids: list[str] = Field(default_factory=list)
    cell_id: str | None = None
    scene_id: str | None = None
    subject: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    """What the engine adds about the memory (``valid_until``, ``superseded_by``)."""
    source_metadata: dict[str, list[str | int | float | bool]] = Field(default_factory=dict)
    """The source messages' metadata, each key with its distinct values (what filters match)."""


class SearchResult(BaseModel):
    """What :meth:`EverMem.search` returns: ranked items and the context rendered from them."""

    query: str
    method: SearchMethod
    items: list[SearchItem]
    context: str
    context_tokens: int
    rounds: int = 1
    queries: list[str] = Field(default_factory=list)

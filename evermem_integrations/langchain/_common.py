"""Helpers shared by the LangChain adapters: scopes, message conversion, prompt text.

Kept private: the public surface is the adapter classes re-exported by the package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from evermem_integrations.errors import ScopeError

SCOPE_FIELDS = ("user_id", "group_id", "agent_id")


class ScopeIds(TypedDict, total=False):
    """The scope ids of an EverMem call (``EverMem.search(query, **ids)``); at least one is set."""

    user_id: str
    group_id: str
    agent_id: str


DEFAULT_MEMORY_PROMPT = (
    "Long-term memory: what you know about this user from earlier conversations "
    "(use it when relevant; it may be incomplete):\n{context}"
)
"""How retrieved memories are introduced to the model; ``{context}`` is the rendered memories."""


def scope_ids(user_id: str | None = None, group_id: str | None = None, agent_id: str | None = None) -> ScopeIds:
    """Return the scope ids that are set, as keyword arguments for the engine."""
    ids: ScopeIds = {}
    if user_id is not None:
        ids["user_id"] = str(user_id)
    if group_id is not None:
        ids["group_id"] = str(group_id)
    if agent_id is not None:
        ids["agent_id"] = str(agent_id)
    return ids


def ids_from(source: Any) -> ScopeIds:
    """Read ``user_id``/``group_id``/``agent_id`` from a dict, dataclass or object (e.g. a run context)."""
    if source is None:
        return {}
    if is_dataclass(source) and not isinstance(source, type):
        source = asdict(source)
    values = [source.get(n) if isinstance(source, Mapping) else getattr(source, n, None) for n in SCOPE_FIELDS]
    return scope_ids(*values)


def field_from(source: Any, name: str) -> Any:
    """One field of a dict, dataclass or object (e.g. a run context), ``None`` when absent."""
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(name)
    return getattr(source, name, None)


def resolve_scope(defaults: ScopeIds, *sources: Any, where: str) -> ScopeIds:
    """Merge the first source that names a scope over the adapter's fixed ids.

    Sources are tried in order (e.g. the run context, then ``configurable``); the first one
    holding any scope id wins as a whole, so ids of different runs are never mixed. Fixed ids
    from the constructor fill the fields the run leaves open (e.g. a fixed ``agent_id``).

    Raises:
        ScopeError: when neither the run nor the constructor names a scope.

    """
    for source in sources:
        ids = ids_from(source)
        if ids:
            merged: ScopeIds = {**defaults, **ids}  # run ids override fixed ones
            return merged
    if defaults:
        return ScopeIds(**defaults)
    raise ScopeError(
        f"{where} has no memory scope: pass user_id= (or group_id=/agent_id=) to the constructor, "
        "or per run as context=..., or config={'configurable': {'user_id': ...}}"
    )


def message_text(message: BaseMessage) -> str:
    """Return the plain text of a message (text blocks joined; tool calls and images left out)."""
    return str(message.text).strip()


def to_engine_message(message: BaseMessage, *, metadata: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """Convert a LangChain message to an EverMem message dict (``None`` for what memory should not keep).

    Human and AI messages with text are kept; system and tool messages, and AI messages that
    only call tools, are not conversation content.
    """
    if isinstance(message, HumanMessage):
        role = "user"
    elif isinstance(message, AIMessage):
        role = "assistant"
    else:
        return None
    text = message_text(message)
    if not text:
        return None
    data: dict[str, Any] = {"role": role, "content": text, "timestamp": datetime.now(UTC)}
    if message.id:
        data["id"] = str(message.id)
    if message.name:
        data["sender"] = message.name
    if metadata:
        data["metadata"] = dict(metadata)
    return data


def last_turn(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """Return the latest user message and everything after it (the turn a run just completed)."""
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return list(messages[index:])
    return []


def latest_user_text(messages: Sequence[BaseMessage]) -> str | None:
    """Text of the most recent human message, if any."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message_text(message) or None
    return None


def with_memory_prompt(system: SystemMessage | None, memory_text: str) -> SystemMessage:
    """Append the memory text to the system message (or make a system message holding only it)."""
    if system is None:
        return SystemMessage(content=memory_text)
    if isinstance(system.content, str):
        content: str | list[Any] = f"{system.content}\n\n{memory_text}" if system.content else memory_text
    else:
        content = [*system.content, {"type": "text", "text": memory_text}]
    return system.model_copy(update={"content": content})


def output_text(output: Any, output_key: str | None = None) -> str | None:
    """Find the answer text of a chain's output: a message, a string, or a dict field."""
    if isinstance(output, BaseMessage):
        return message_text(output) or None
    if isinstance(output, str):
        return output.strip() or None
    if isinstance(output, Mapping):
        keys = [output_key] if output_key else ["output", "answer", "text", "result", "content"]
        for key in keys:
            if key in output:
                return output_text(output[key])
        if len(output) == 1:
            return output_text(next(iter(output.values())))
    return None

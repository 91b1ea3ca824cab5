"""Helpers shared by the LlamaIndex adapters: chat messages in, rendered context out.

Kept private: the public surface is :class:`EverMemMemory`, :class:`EverMemBlock` and
:class:`EverMemRetriever`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock
from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters

from evermem_integrations.engine.models import check_scope_ids
from evermem_integrations.errors import InvalidFilterError

DEFAULT_STORE_ROLES: tuple[str, ...] = ("user", "assistant")
"""Roles kept in long-term memory: tool results and system prompts are not the user's history."""

DEFAULT_CONTEXT_TEMPLATE = (
    "Long-term memory: what you know about the user from earlier conversations "
    "(use it when relevant; the chat history below is more recent):\n{context}"
)

# ReActAgent stores its whole reasoning ("Thought: ... Answer: ...") as one assistant message;
# only the answer is something the user was told.
_REACT_ANSWER = re.compile(r"^\s*Thought:.*?\bAnswer:\s*(?P<answer>.+)$", re.DOTALL)


def scope_ids(user_id: str | None, group_id: str | None, agent_id: str | None) -> dict[str, str]:
    """Return the scope keyword arguments for the engine; raise ``ScopeError`` when none is given."""
    check_scope_ids(user_id, group_id, agent_id)
    return {
        name: value
        for name, value in (("user_id", user_id), ("group_id", group_id), ("agent_id", agent_id))
        if value is not None
    }


def message_text(message: ChatMessage | str | None) -> str:
    """Return the text of a chat message (text blocks only; images, tool calls and thinking are skipped)."""
    if message is None:
        return ""
    if isinstance(message, str):
        return message.strip()
    return "\n".join(b.text for b in message.blocks if isinstance(b, TextBlock)).strip()


def role_of(message: ChatMessage) -> str:
    """Return the role as a plain string (``MessageRole`` is a ``str`` enum)."""
    return message.role.value if isinstance(message.role, MessageRole) else str(message.role)


def latest_user_text(messages: Sequence[ChatMessage]) -> str:
    """Return the text of the most recent user message, or ``""``."""
    for message in reversed(messages):
        if role_of(message) == "user":
            text = message_text(message)
            if text:
                return text
    return ""


def storable_text(message: ChatMessage, roles: Iterable[str]) -> str | None:
    """Return what of ``message`` belongs in long-term memory, or ``None`` to skip it."""
    role = role_of(message)
    if role not in roles:
        return None
    text = message_text(message)
    if role == "assistant":
        react = _REACT_ANSWER.match(text)
        if react:
            text = react.group("answer").strip()
    return text or None


def message_id(*parts: object) -> str:
    """Build a deterministic message id, so storing the same turn twice is a no-op in the engine."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:24]
    return f"li_{digest}"


def engine_message(
    message: ChatMessage,
    text: str,
    msg_id: str,
    *,
    user_name: str | None,
    assistant_name: str | None,
) -> dict[str, Any]:
    """Convert a chat message to the engine's input shape.

    The user's sender name defaults to the engine's choice (the conversation's
    ``user_details['name']``, else the ``user_id``). A ``timestamp`` in the message's
    ``additional_kwargs`` is kept (imports of old chats); otherwise it is now.
    """
    role = role_of(message)
    record: dict[str, Any] = {
        "id": msg_id,
        "role": role,
        "content": text,
        "timestamp": message.additional_kwargs.get("timestamp") or datetime.now(UTC),
    }
    if role == "user" and user_name:
        record["sender"] = user_name
    elif role == "assistant" and assistant_name:
        record["sender"] = assistant_name
    return record


EngineFilters = dict[str, Any] | MetadataFilters
"""What the adapters take as ``filters``: EverMem's own dict or LlamaIndex ``MetadataFilters``."""

_OPERATORS = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
    FilterOperator.CONTAINS: "$contains",
    # A memory's values of a key are a list: "any of these" is $in, "all of these" one $contains each.
    FilterOperator.ANY: "$in",
}


def engine_filters(filters: EngineFilters | None) -> dict[str, Any] | None:
    """EverMem's filter for ``filters``; ``MetadataFilters`` are translated (nested ones too).

    Raises:
        InvalidFilterError: for an operator or condition with no EverMem equivalent
            (``TEXT_MATCH``, ``TEXT_MATCH_INSENSITIVE``, ``IS_EMPTY``, ``NOT``).

    """
    if filters is None or isinstance(filters, dict):
        return filters
    if not isinstance(filters, MetadataFilters):
        raise InvalidFilterError(f"filters must be a dict or LlamaIndex MetadataFilters, got {type(filters).__name__}")
    return _translate(filters)


def _translate(filters: MetadataFilters) -> dict[str, Any]:
    condition = filters.condition or FilterCondition.AND
    if condition not in (FilterCondition.AND, FilterCondition.OR):
        raise InvalidFilterError(
            f"FilterCondition.{condition.name} has no EverMem equivalent; use NE or NIN inside AND/OR instead"
        )
    parts = [_translate(f) if isinstance(f, MetadataFilters) else _one(f) for f in filters.filters]
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and" if condition == FilterCondition.AND else "$or": parts}


def _one(flt: MetadataFilter) -> dict[str, Any]:
    if flt.operator == FilterOperator.ALL:
        values = flt.value if isinstance(flt.value, list) else [flt.value]
        return {"$and": [{flt.key: {"$contains": v}} for v in values]}
    if flt.operator not in _OPERATORS:
        raise InvalidFilterError(
            f"FilterOperator.{flt.operator.name} on {flt.key!r} has no EverMem equivalent; use one of "
            f"{', '.join(op.name for op in [*_OPERATORS, FilterOperator.ALL])}"
        )
    return {flt.key: {_OPERATORS[flt.operator]: flt.value}}

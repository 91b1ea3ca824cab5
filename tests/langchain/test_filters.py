"""Filters through the LangChain retriever, the LangGraph store and the agent middleware."""

from dataclasses import dataclass
from typing import Any

import pytest
from langchain.agents import create_agent

from evermem_integrations import EverMem, InvalidFilterError
from evermem_integrations.langchain import EverMemMiddleware, EverMemRetriever, EverMemStore
from tests import filtered_chat

QUESTION = "What is Leo's goal for the half marathon?"


@pytest.fixture
def chat(mem: EverMem) -> EverMem:
    mem.add(filtered_chat.messages(), user_id="maya")
    mem.flush(user_id="maya")
    return mem


def sources(docs: Any) -> set[str]:
    return {i for d in docs for i in d.metadata["source_message_ids"]}


def test_the_retriever_takes_filter_like_langchains_vector_stores(chat: EverMem) -> None:
    email = filtered_chat.ids_where(lambda m: m["channel"] == "email")
    retriever = EverMemRetriever(memory=chat, user_id="maya", k=5, filter={"channel": "email"})
    docs = retriever.invoke(QUESTION)
    assert docs and sources(docs) <= email and any("under two hours" in d.page_content for d in docs)
    assert all(d.metadata["source_metadata"]["channel"] == ["email"] for d in docs)
    sms = retriever.invoke(QUESTION, filter={"channel": "sms", "thread": "running"})
    assert sms and sources(sms) <= filtered_chat.ids_where(lambda m: m["channel"] == "sms" and m["thread"] == "running")
    with pytest.raises(InvalidFilterError, match="use one of"):
        retriever.invoke(QUESTION, filter={"channel": {"$like": "e%"}})
    with pytest.raises(TypeError, match="both filter= and filters="):
        retriever.invoke(QUESTION, filter={"channel": "sms"}, filters={"channel": "sms"})


def test_the_store_filters_values_with_the_engine_language(mem: EverMem) -> None:
    store = EverMemStore(memory=mem)
    ns = ("u1", "notes")
    store.put(ns, "a", {"text": "Book the dentist", "tags": ["health", "todo"], "priority": 2})
    store.put(ns, "b", {"text": "Call the bank", "tags": ["money"], "priority": 5})
    store.put(ns, "c", {"text": "Buy running shoes", "tags": ["health"], "priority": 1, "kind": "errand"})
    keys = lambda flt, q=None: sorted(i.key for i in store.search(ns, filter=flt, query=q))  # noqa: E731
    assert keys({"tags": {"$contains": "health"}}) == ["a", "c"]
    assert keys({"priority": {"$in": [1, 5]}}) == ["b", "c"]
    assert keys({"$or": [{"tags": "money"}, {"priority": {"$lt": 2}}]}) == ["b", "c"]
    assert keys({"kind": "errand"}) == ["c"]  # the value's own field, not the memory kind
    assert keys({"tags": {"$nin": ["todo"]}}, "shoes or bank") == ["b", "c"]
    with pytest.raises(InvalidFilterError, match="takes a number"):
        store.search(ns, filter={"priority": {"$gt": "2"}})


def test_the_middleware_filters_with_the_runs_context(chat: EverMem, model) -> None:
    @dataclass
    class Context:
        user_id: str
        filters: dict[str, Any] | None = None

    agent = create_agent(
        model, tools=[], middleware=[EverMemMiddleware(chat, store_turns=False)], context_schema=Context
    )
    question = {"messages": [{"role": "user", "content": "Where did Maya move, and how is Leo's knee?"}]}
    agent.invoke(question, context=Context(user_id="maya", filters={"thread": "knee"}))
    recalled = model.system_text()
    assert "knee" in recalled and "Capitol Hill" not in recalled and "Alpine" not in recalled
    agent.invoke(question, context=Context(user_id="maya"))
    assert "Denver" in model.system_text()
    fixed = create_agent(
        model,
        tools=[],
        middleware=[EverMemMiddleware(chat, store_turns=False, filters={"channel": "slack"})],
        context_schema=Context,
    )
    fixed.invoke(question, context=Context(user_id="maya", filters={"thread": "knee"}))
    assert "knee" not in model.system_text()  # slack and the knee thread: nothing passes both

"""LlamaIndex MetadataFilters reach EverMem's filters in the retriever, the memory and the block."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters

from evermem_integrations import EverMem, InvalidFilterError
from evermem_integrations.llama_index import EverMemMemory, EverMemRetriever
from evermem_integrations.llama_index._shared import engine_filters
from tests import filtered_chat
from tests.llama_index.li_helpers import RecordingLLM, system_text

QUESTION = "What is Leo's goal for the half marathon?"


@pytest.fixture
def chat(engine: EverMem) -> EverMem:
    engine.add(filtered_chat.messages(), user_id="maya")
    engine.flush(user_id="maya")
    return engine


def sources(nodes) -> set[str]:
    return {i for n in nodes for i in n.node.metadata["source_message_ids"]}


def test_every_operator_that_maps_is_translated() -> None:
    nested = MetadataFilters(
        filters=[
            MetadataFilter(key="channel", value=["sms", "email"], operator=FilterOperator.IN),
            MetadataFilters(
                filters=[
                    MetadataFilter(key="n", value=10, operator=FilterOperator.GTE),
                    MetadataFilter(key="tags", value=["work", "milestone"], operator=FilterOperator.ALL),
                ],
                condition=FilterCondition.OR,
            ),
        ]
    )
    assert engine_filters(nested) == {
        "$and": [
            {"channel": {"$in": ["sms", "email"]}},
            {
                "$or": [
                    {"n": {"$gte": 10}},
                    {"$and": [{"tags": {"$contains": "work"}}, {"tags": {"$contains": "milestone"}}]},
                ]
            },
        ]
    }
    for operator, op in [
        ("==", "$eq"),
        ("!=", "$ne"),
        (">", "$gt"),
        ("<", "$lt"),
        ("<=", "$lte"),
        ("nin", "$nin"),
        ("contains", "$contains"),
        ("any", "$in"),
    ]:
        flt = MetadataFilters(
            filters=[
                MetadataFilter(key="k", value=["v"] if op in ("$nin", "$in") else 1, operator=FilterOperator(operator))
            ]
        )
        assert list(engine_filters(flt)["k"]) == [op]  # type: ignore[index]


@pytest.mark.parametrize(
    "operator", [FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE, FilterOperator.IS_EMPTY]
)
def test_an_operator_without_an_equivalent_is_a_clear_error(chat: EverMem, operator: FilterOperator) -> None:
    flt = MetadataFilters(filters=[MetadataFilter(key="channel", value="sl", operator=operator)])
    with pytest.raises(InvalidFilterError, match=f"FilterOperator.{operator.name}.*no EverMem equivalent"):
        EverMemRetriever(chat, user_id="maya", filters=flt)
    with pytest.raises(InvalidFilterError, match="NOT has no EverMem equivalent"):
        EverMemRetriever(
            chat,
            user_id="maya",
            filters=MetadataFilters(filters=[MetadataFilter(key="a", value=1)], condition=FilterCondition.NOT),
        )


def test_the_retriever_returns_only_nodes_that_pass(chat: EverMem) -> None:
    email = filtered_chat.ids_where(lambda m: m["channel"] == "email")
    flt = MetadataFilters(filters=[MetadataFilter(key="channel", value="email")])
    nodes = EverMemRetriever(chat, user_id="maya", filters=flt, top_k=5).retrieve(QUESTION)
    assert nodes and sources(nodes) <= email
    assert any("under two hours" in n.node.get_content() for n in nodes)
    assert all(n.node.metadata["source_metadata"]["channel"] == ["email"] for n in nodes)
    slack = MetadataFilters(
        filters=[MetadataFilter(key="channel", value="slack"), MetadataFilter(key="kind", value="fact")]
    )
    nodes = EverMemRetriever(chat, user_id="maya", filters=slack, top_k=5).retrieve(QUESTION)
    assert nodes and sources(nodes) <= filtered_chat.ids_where(lambda m: m["channel"] == "slack")
    assert {n.node.metadata["kind"] for n in nodes} == {"fact"}


def test_the_memory_recalls_only_what_passes(chat: EverMem) -> None:
    flt = MetadataFilters(filters=[MetadataFilter(key="thread", value="knee")])
    memory = EverMemMemory.from_defaults(memory=chat, user_id="maya", filters=flt, token_budget=400)
    llm = RecordingLLM()
    SimpleChatEngine.from_defaults(llm=llm, memory=memory).chat("How is Leo's knee, and where did Maya move?")
    recalled = system_text(llm.calls[-1])
    assert "knee" in recalled and "Capitol Hill" not in recalled and "Alpine" not in recalled
    unfiltered = EverMemMemory.from_defaults(memory=chat, user_id="maya", token_budget=400)
    unfiltered.put(ChatMessage(role="user", content="How is Leo's knee, and where did Maya move?"))
    assert "Denver" in system_text(unfiltered.get())

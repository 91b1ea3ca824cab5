"""EverMemRetriever: memories as scored nodes with provenance, in query and chat engines."""

from __future__ import annotations

from llama_index.core.chat_engine import ContextChatEngine
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import MetadataMode

from evermem_integrations import EverMem
from evermem_integrations.llama_index import EverMemRetriever
from tests.llama_index.li_helpers import RecordingLLM, system_text, text_of

CONVERSATION = [
    {"id": "m1", "role": "user", "content": "My sister Ingrid lives in Reykjavik.", "timestamp": "2024-03-01T10:00Z"},
    {"id": "m2", "role": "assistant", "content": "Reykjavik is lovely in spring.", "timestamp": "2024-03-01T10:01Z"},
    {
        "id": "m3",
        "role": "user",
        "content": "She keeps goats called Hekla, Katla and Askja.",
        "timestamp": "2024-03-01T10:02Z",
    },
]


def test_nodes_carry_provenance(engine: EverMem) -> None:
    engine.add(CONVERSATION, user_id="u1")
    nodes = EverMemRetriever(engine, user_id="u1").retrieve("What are the goats called?")

    assert nodes
    assert nodes == sorted(nodes, key=lambda n: n.score, reverse=True)
    top = next(n for n in nodes if "Hekla" in n.node.get_content())
    meta = top.node.metadata
    assert meta["kind"] == "raw"
    assert meta["source_message_ids"] == ["m3"]
    assert meta["timestamp"].startswith("2024-03-01T10:02")
    assert meta["id"] == top.node.node_id
    assert meta["cell_id"] is None
    # The LLM sees the text, kind and time, not the ids.
    llm_view = top.node.get_content(metadata_mode=MetadataMode.LLM)
    assert "kind: raw" in llm_view
    assert "m3" not in llm_view


def test_flushed_memories_point_to_their_memcell(engine: EverMem) -> None:
    engine.add(CONVERSATION, user_id="u1")
    [cell] = engine.flush(user_id="u1")
    nodes = EverMemRetriever(engine, user_id="u1", kinds=["fact", "episode"]).retrieve("Ingrid goats")
    assert nodes
    assert {n.node.metadata["kind"] for n in nodes} <= {"fact", "episode"}
    assert all(n.node.metadata["cell_id"] == cell.id for n in nodes)
    assert all(set(n.node.metadata["source_message_ids"]) <= {"m1", "m2", "m3"} for n in nodes)


def test_top_k_and_scope(engine: EverMem) -> None:
    engine.add(CONVERSATION, user_id="u1")
    assert len(EverMemRetriever(engine, user_id="u1", top_k=1).retrieve("Reykjavik")) == 1
    assert EverMemRetriever(engine, user_id="u2").retrieve("Reykjavik") == []
    assert EverMemRetriever(engine, user_id="u1").retrieve("   ") == []


def test_filters_are_passed_to_the_engine(engine: EverMem) -> None:
    engine.add(CONVERSATION, user_id="u1")
    retriever = EverMemRetriever(engine, user_id="u1", filters={"after": "2024-03-01T10:01:30Z"})
    nodes = retriever.retrieve("Reykjavik goats")
    assert [n.node.metadata["source_message_ids"] for n in nodes] == [["m3"]]


async def test_async_retrieve(engine: EverMem) -> None:
    await engine.aadd(CONVERSATION, user_id="u1")
    nodes = await EverMemRetriever(engine, user_id="u1").aretrieve("Where does Ingrid live?")
    assert any("Reykjavik" in n.node.get_content() for n in nodes)


def test_query_engine_prompt_contains_memories(engine: EverMem) -> None:
    engine.add(CONVERSATION, user_id="u1")
    llm = RecordingLLM("Hekla, Katla and Askja")
    query_engine = RetrieverQueryEngine.from_args(EverMemRetriever(engine, user_id="u1"), llm=llm)
    response = query_engine.query("What are the goats called?")
    assert "Hekla" in text_of(llm.calls[-1])
    assert any(n.node.metadata["source_message_ids"] == ["m3"] for n in response.source_nodes)


async def test_context_chat_engine_with_retriever(engine: EverMem) -> None:
    engine.add(CONVERSATION, user_id="u1")
    llm = RecordingLLM("Reykjavik")
    chat = ContextChatEngine.from_defaults(retriever=EverMemRetriever(engine, user_id="u1"), llm=llm)
    await chat.achat("Where does Ingrid live?")
    assert "Ingrid lives in Reykjavik" in system_text(llm.calls[-1])


def test_bad_arguments() -> None:
    import pytest

    from evermem_integrations import ScopeError

    with pytest.raises(TypeError, match="memory=EverMem"):
        EverMemRetriever(object(), user_id="u1")  # type: ignore[arg-type]
    mem = EverMem.__new__(EverMem)  # never used: argument checks come first
    with pytest.raises(ScopeError, match="user_id="):
        EverMemRetriever(mem)
    with pytest.raises(ValueError, match="top_k"):
        EverMemRetriever(mem, user_id="u1", top_k=0)

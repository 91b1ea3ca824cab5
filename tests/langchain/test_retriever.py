from functools import cache

import pytest
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_tests.integration_tests import RetrieversIntegrationTests

from evermem_integrations import EverMem, ScopeError
from evermem_integrations.langchain import EverMemRetriever
from tests.langchain.lc_support import fresh_mem

HIKES = [
    "Caroline: I went hiking in the Rockies last weekend.",
    "Melanie: I love hiking with my kids near the lake.",
    "Caroline: My next hiking trip is to Yosemite in June.",
    "Melanie: We bought new hiking boots yesterday.",
    "Caroline: The hiking club meets every Thursday.",
]


@cache
def shared_memory() -> EverMem:
    memory = fresh_mem()
    memory.add([{"sender": line.split(":")[0], "content": line.split(": ", 1)[1]} for line in HIKES], group_id="club")
    return memory


class TestEverMemRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[EverMemRetriever]:
        return EverMemRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"memory": shared_memory(), "group_id": "club", "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "hiking trips"


def test_documents_carry_provenance(mem) -> None:
    added = mem.add(
        {
            "id": "m1",
            "sender": "Caroline",
            "content": "I moved to Denver in May 2023.",
            "timestamp": "2023-05-08T10:00:00Z",
        },
        user_id="u1",
    )
    assert added.added == 1
    retriever = EverMemRetriever(memory=mem, user_id="u1", k=4)

    docs = retriever.invoke("Where does Caroline live?")

    assert docs[0].page_content == "Caroline: I moved to Denver in May 2023."
    meta = docs[0].metadata
    assert meta["kind"] == "raw"
    assert meta["source_message_ids"] == ["m1"]
    assert meta["timestamp"].startswith("2023-05-08T10:00:00")
    assert meta["score"] > 0
    assert docs[0].id == meta["id"]


def test_k_and_filters_per_call(mem) -> None:
    mem.add(
        [
            {"sender": "Caroline", "content": "I adopted a cat called Luna."},
            {"sender": "Melanie", "content": "I adopted a dog called Bolt."},
        ],
        user_id="u1",
    )
    retriever = EverMemRetriever(memory=mem, user_id="u1", k=4)

    assert len(retriever.invoke("adopted pet")) == 2
    only = retriever.invoke("adopted pet", k=5, filters={"subject": "Melanie"})
    assert [d.page_content for d in only] == ["Melanie: I adopted a dog called Bolt."]
    assert len(retriever.invoke("adopted pet", k=1)) == 1


async def test_async_retrieval_is_native(mem, monkeypatch) -> None:
    mem.add({"sender": "Caroline", "content": "My favourite colour is teal."}, user_id="u1")
    calls = []
    original = mem.asearch

    async def spy(query, **kwargs):
        calls.append(query)
        return await original(query, **kwargs)

    monkeypatch.setattr(mem, "asearch", spy)
    docs = await EverMemRetriever(memory=mem, user_id="u1").ainvoke("favourite colour")
    assert calls == ["favourite colour"]  # the engine's async API, not the executor fallback
    assert docs[0].page_content == "Caroline: My favourite colour is teal."


def test_scopes_never_leak(mem) -> None:
    mem.add({"sender": "Caroline", "content": "My favourite colour is teal."}, user_id="u1")
    assert EverMemRetriever(memory=mem, user_id="u2").invoke("favourite colour") == []
    assert EverMemRetriever(memory=mem, user_id="u1", group_id="g1").invoke("favourite colour") == []
    with pytest.raises(ScopeError):
        EverMemRetriever(memory=mem).invoke("favourite colour")


@pytest.mark.parametrize("use_async", [False, True])
async def test_lcel_chain_answers_from_an_earlier_session(mem, model, use_async) -> None:
    # session 1: the user told us something; session 2: a chain built with | recalls it
    mem.add(
        [{"role": "user", "content": "My sister Ana lives in Lisbon."}, {"role": "assistant", "content": "Noted!"}],
        user_id="u1",
    )
    retriever = EverMemRetriever(memory=mem, user_id="u1", k=3)

    def render(docs: list[Document]) -> str:
        return "\n".join(f"- {d.page_content}" for d in docs)

    prompt = ChatPromptTemplate.from_messages([("system", "Memories:\n{memories}"), ("human", "{question}")])
    chain = {"memories": retriever | render, "question": RunnablePassthrough()} | prompt | model | StrOutputParser()
    answer = (
        await chain.ainvoke("Where does my sister live?") if use_async else chain.invoke("Where does my sister live?")
    )

    assert answer == "From memory: u1: My sister Ana lives in Lisbon."
    assert "Lisbon" in model.system_text()

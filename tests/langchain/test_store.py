import pytest
from langchain.agents import create_agent
from langchain.tools import ToolRuntime, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.store.base import BaseStore, GetOp, ListNamespacesOp, PutOp, SearchOp

from evermem_integrations import ScopeError
from evermem_integrations.langchain import EverMemMiddleware, EverMemStore
from tests.langchain.lc_support import RecallingChatModel, ToolCallingModel

NS = ("u1", "memories")


@pytest.fixture
def store(mem) -> EverMemStore:
    return EverMemStore(memory=mem)


def test_put_get_update_delete(store, mem) -> None:
    store.put(NS, "food", {"text": "Loves spicy ramen", "tags": ["food"]})
    first = store.get(NS, "food")
    assert first.value == {"text": "Loves spicy ramen", "tags": ["food"]}
    assert first.namespace == NS
    assert first.key == "food"

    store.put(NS, "food", {"text": "Now vegetarian, avoids meat"})
    updated = store.get(NS, "food")
    assert updated.value == {"text": "Now vegetarian, avoids meat"}
    assert updated.created_at == first.created_at
    assert updated.updated_at > first.updated_at
    # the engine holds exactly one message for the item: the old version is gone
    assert [m["content"] for m in mem.export_scope(user_id="u1")["messages"]] == ["Now vegetarian, avoids meat"]

    store.delete(NS, "food")
    assert store.get(NS, "food") is None
    assert mem.stats(user_id="u1").messages == 0


def test_mixed_batch_runs_in_order(store) -> None:
    results = store.batch(
        [
            PutOp(NS, "a", {"text": "first draft"}),
            PutOp(NS, "a", {"text": "final text"}),  # a later put of the same key wins
            GetOp(NS, "a"),
            PutOp(NS, "gone", None),  # deleting a missing key is a no-op
            SearchOp(("u1",), query="final"),
            ListNamespacesOp(),
            GetOp(("u1", "other"), "a"),
        ]
    )
    assert results[0] is None
    assert results[1] is None
    assert results[2].value == {"text": "final text"}
    assert results[3] is None
    assert [(h.key, h.value) for h in results[4]] == [("a", {"text": "final text"})]
    assert results[5] == [NS]
    assert results[6] is None
    assert len(store.search(NS)) == 1


def test_items_are_searched_semantically_by_the_engine(store) -> None:
    store.put(NS, "a", {"text": "Works as a nurse at the city hospital"})
    store.put(NS, "b", {"text": "Plays the violin in a string quartet"})
    store.put(NS, "c", {"text": "Allergic to peanuts and shellfish"})

    hits = store.search(("u1",), query="which instrument does the user play? violin")

    assert hits[0].key == "b"
    assert hits[0].score is not None
    assert hits[0].score > 0
    assert {h.key for h in hits} == {"a", "b", "c"}  # unranked items follow, like InMemoryStore


def test_items_stay_exact_and_searchable_after_memcells_are_cut(store, mem) -> None:
    for i, hobby in enumerate(["pottery classes on Mondays", "rock climbing at the gym", "baking sourdough bread"]):
        store.put(NS, f"h{i}", {"text": f"The user enjoys {hobby}."})
    cells = mem.flush(user_id="u1")
    assert cells
    assert mem.stats(user_id="u1").buffered == 0

    assert store.get(NS, "h1").value == {"text": "The user enjoys rock climbing at the gym."}
    assert store.search(NS, query="climbing")[0].key == "h1"

    store.put(NS, "h1", {"text": "The user gave up climbing and took up chess."})
    facts = [f.text for f in mem.get(user_id="u1", kind="fact", limit=100)]
    assert not any("gym" in text for text in facts)  # facts of the replaced version were deleted
    assert store.search(NS, query="chess")[0].key == "h1"


def test_filters_offset_and_listing_without_query(store) -> None:
    for i in range(5):
        store.put(NS, f"k{i}", {"text": f"note {i}", "priority": i, "kind": "todo" if i % 2 else "idea"})

    todo = store.search(NS, filter={"kind": "todo"})
    assert sorted(h.key for h in todo) == ["k1", "k3"]
    high = store.search(NS, filter={"priority": {"$gte": 3}})
    assert sorted(h.key for h in high) == ["k3", "k4"]
    assert [h.key for h in store.search(NS, filter={"priority": {"$ne": 0}, "kind": "idea"})] == ["k4", "k2"]
    newest_first = store.search(NS, limit=2, offset=1)
    assert [h.key for h in newest_first] == ["k3", "k2"]
    assert all(h.score is None for h in newest_first)


def test_list_namespaces(store) -> None:
    store.put(("u1", "memories"), "a", {"text": "x one"})
    store.put(("u1", "prefs", "ui"), "b", {"text": "x two"})
    store.put(("u2", "memories"), "c", {"text": "x three"})

    assert store.list_namespaces() == [("u1", "memories"), ("u1", "prefs", "ui"), ("u2", "memories")]
    assert store.list_namespaces(prefix=("u1",)) == [("u1", "memories"), ("u1", "prefs", "ui")]
    assert store.list_namespaces(suffix=("memories",)) == [("u1", "memories"), ("u2", "memories")]
    assert store.list_namespaces(prefix=("*", "memories")) == [("u1", "memories"), ("u2", "memories")]
    assert store.list_namespaces(max_depth=1) == [("u1",), ("u2",)]
    assert store.list_namespaces(limit=1, offset=1) == [("u1", "prefs", "ui")]


def test_namespaces_map_to_scopes_that_never_leak(store, mem) -> None:
    store.put(("u1", "memories"), "secret", {"text": "The safe code is 4321"})
    store.put(("u2", "memories"), "other", {"text": "Likes jazz"})

    assert {s.user_id for s in mem.scopes()} == {"u1", "u2"}
    assert store.get(("u2", "memories"), "secret") is None
    assert [h.key for h in store.search(("u2",), query="safe code")] == ["other"]
    assert {h.key for h in store.search((), query="safe code")} == {"secret", "other"}


def test_custom_namespace_mapping(mem) -> None:
    store = EverMemStore(memory=mem, scope_label=1)
    store.put(("memories", "alice"), "k", {"text": "Prefers tea"})
    assert [s.user_id for s in mem.scopes()] == ["alice"]
    with pytest.raises(ScopeError, match="scope_label"):
        store.put(("memories",), "k", {"text": "no user here"})


async def test_async_api(store) -> None:
    await store.aput(NS, "pet", {"text": "Has a parrot named Kiwi"})
    assert (await store.aget(NS, "pet")).value == {"text": "Has a parrot named Kiwi"}
    assert (await store.asearch(NS, query="parrot"))[0].key == "pet"
    assert await store.alist_namespaces() == [NS]
    await store.adelete(NS, "pet")
    assert await store.aget(NS, "pet") is None


def test_index_fields_choose_the_indexed_text(store, mem) -> None:
    store.put(NS, "k", {"text": "Runs marathons", "internal": "zz-ignore"}, index=["text"])
    assert mem.export_scope(user_id="u1")["messages"][0]["content"] == "Runs marathons"


@tool
def save_memory(text: str, runtime: ToolRuntime) -> str:
    """Save a fact about the user."""
    user = runtime.config["configurable"]["user_id"]
    runtime.store.put((user, "memories"), f"m{len(runtime.store.search((user,))) + 1}", {"text": text})
    return "saved"


@tool
def recall(query: str, runtime: ToolRuntime) -> str:
    """Search saved facts about the user."""
    user = runtime.config["configurable"]["user_id"]
    hits = runtime.store.search((user, "memories"), query=query, limit=1)
    return hits[0].value["text"] if hits else "nothing saved"


def cfg(thread: str, user: str) -> dict:
    return {"configurable": {"thread_id": thread, "user_id": user}}


@pytest.mark.parametrize("use_async", [False, True])
async def test_create_agent_persists_through_the_store(mem, use_async) -> None:
    store = EverMemStore(memory=mem)
    model = ToolCallingModel(
        script=[("save_memory", {"text": "Favourite colour is teal"}), ("recall", {"query": "favourite colour"})]
    )
    agent = create_agent(model, tools=[save_memory, recall], store=store, checkpointer=InMemorySaver())

    async def run(text: str, config: dict) -> str:
        payload = {"messages": [{"role": "user", "content": text}]}
        out = await agent.ainvoke(payload, config) if use_async else agent.invoke(payload, config)
        return out["messages"][-1].content

    await run("Remember that my favourite colour is teal.", cfg("t1", "u1"))
    answer = await run("What's my favourite colour?", cfg("t2", "u1"))

    assert answer == "Tool said: Favourite colour is teal"
    assert store.get(("u1", "memories"), "m1").value == {"text": "Favourite colour is teal"}


def test_store_items_are_recalled_by_the_middleware(mem) -> None:
    EverMemStore(memory=mem).put(("u1", "memories"), "m1", {"text": "Favourite colour is teal"})
    model = RecallingChatModel()
    agent = create_agent(model, tools=[], middleware=[EverMemMiddleware(mem)])
    out = agent.invoke({"messages": [{"role": "user", "content": "What is my favourite colour?"}]}, cfg("t9", "u1"))
    assert out["messages"][-1].content == "From memory: memory: Favourite colour is teal"


def test_plain_langgraph_graph_uses_the_store(mem) -> None:
    store = EverMemStore(memory=mem)

    def node(state: MessagesState, *, store: BaseStore) -> dict:
        store.put(("u1", "log"), "last", {"text": state["messages"][-1].content})
        return {}

    graph = StateGraph(MessagesState).add_node("remember", node).add_edge(START, "remember").compile(store=store)
    graph.invoke({"messages": [{"role": "user", "content": "hello graph"}]})
    assert store.get(("u1", "log"), "last").value == {"text": "hello graph"}

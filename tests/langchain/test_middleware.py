from dataclasses import dataclass

import pytest
from langchain.agents import create_agent
from langgraph.checkpoint.memory import InMemorySaver

from evermem_integrations import ScopeError
from evermem_integrations.engine.tokens import count_tokens
from evermem_integrations.langchain import EverMemMiddleware

FACT = "My dog is called Rex and he loves the beach."
QUESTION = "What is my dog called?"


def ask(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


def cfg(thread: str, user: str | None = None) -> dict:
    configurable = {"thread_id": thread}
    if user is not None:
        configurable["user_id"] = user
    return {"configurable": configurable}


@pytest.fixture
def agent(mem, model):
    return create_agent(
        model,
        tools=[],
        system_prompt="You are helpful.",
        middleware=[EverMemMiddleware(mem)],
        checkpointer=InMemorySaver(),
    )


def test_fact_from_one_thread_is_answered_in_a_new_thread(agent, model, mem) -> None:
    agent.invoke(ask(FACT), cfg("t1", "u1"))
    answer = agent.invoke(ask(QUESTION), cfg("t2", "u1"))["messages"][-1]

    assert "Rex" in answer.content
    system = model.system_text()
    assert system.startswith("You are helpful.")  # the agent's own prompt is kept, memories appended
    assert FACT in system
    # the new thread's state holds only its own messages: memories never enter the checkpoint
    assert [m.type for m in agent.get_state(cfg("t2")).values["messages"]] == ["human", "ai"]


async def test_async_fact_from_one_thread_is_answered_in_a_new_thread(agent, model) -> None:
    await agent.ainvoke(ask(FACT), cfg("t1", "u1"))
    answer = (await agent.ainvoke(ask(QUESTION), cfg("t2", "u1")))["messages"][-1]

    assert "Rex" in answer.content
    assert FACT in model.system_text()


async def test_scopes_never_leak_between_users(agent, model, mem) -> None:
    agent.invoke(ask(FACT), cfg("t1", "u1"))
    answer = (await agent.ainvoke(ask(QUESTION), cfg("t2", "u2")))["messages"][-1]

    assert answer.content == "I don't know."
    assert "Rex" not in model.system_text()
    assert mem.stats(user_id="u2").messages == 2  # u2's own question and answer only


def test_scope_from_run_context(mem, model) -> None:
    @dataclass
    class Context:
        user_id: str

    agent = create_agent(model, tools=[], middleware=[EverMemMiddleware(mem)], context_schema=Context)
    agent.invoke(ask(FACT), context=Context(user_id="alice"))
    answer = agent.invoke(ask(QUESTION), context=Context(user_id="alice"))["messages"][-1]

    assert "Rex" in answer.content
    assert mem.stats(user_id="alice").messages == 4
    assert [s.user_id for s in mem.scopes()] == ["alice"]


def test_fixed_agent_id_combines_with_the_run_user(mem, model) -> None:
    agent = create_agent(model, tools=[], middleware=[EverMemMiddleware(mem, agent_id="helper")])
    agent.invoke(ask(FACT), cfg("t1", "u1"))

    assert [(s.user_id, s.agent_id) for s in mem.scopes()] == [("u1", "helper")]


def test_no_scope_is_a_clear_error(mem, model) -> None:
    agent = create_agent(model, tools=[], middleware=[EverMemMiddleware(mem)])
    with pytest.raises(ScopeError, match="configurable"):
        agent.invoke(ask(FACT), {"configurable": {"thread_id": "t1"}})


def test_each_turn_is_stored_once(agent, mem) -> None:
    agent.invoke(ask(FACT), cfg("t1", "u1"))
    agent.invoke(ask("I also have a cat named Tom."), cfg("t1", "u1"))

    stored = mem.export_scope(user_id="u1")["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant", "user", "assistant"]
    assert stored[0]["content"] == FACT


def test_memories_fit_the_token_budget(mem, model) -> None:
    mem.add(
        [{"role": "user", "content": f"Fact number {i}: my dog Rex likes toy number {i}."} for i in range(60)],
        user_id="u1",
    )
    agent = create_agent(model, tools=[], middleware=[EverMemMiddleware(mem, token_budget=80, store_turns=False)])
    agent.invoke(ask("Which toys does my dog Rex like?"), cfg("t1", "u1"))

    memory_part = model.system_text()
    assert "Rex" in memory_part
    assert count_tokens(memory_part) <= 80 + 40  # the budget plus the prompt's header line
    assert mem.stats(user_id="u1").messages == 60  # store_turns=False stored nothing


def test_prompt_template_must_hold_context(mem) -> None:
    with pytest.raises(ValueError, match="context"):
        EverMemMiddleware(mem, prompt_template="no placeholder")


def test_run_scope_overrides_the_constructor_scope(mem, model) -> None:
    @dataclass
    class Context:
        user_id: str | None = None

    middleware = EverMemMiddleware(mem, user_id="fallback")
    agent = create_agent(model, tools=[], middleware=[middleware], context_schema=Context)
    agent.invoke(ask("note one"), cfg("t1", "from-config"))
    agent.invoke(ask("note two"), cfg("t2", "from-config"), context=Context(user_id="from-context"))
    agent.invoke(ask("note three"), {"configurable": {"thread_id": "t3"}})

    stored = {s.user_id: mem.export_scope(user_id=s.user_id)["messages"][0]["content"] for s in mem.scopes()}
    assert stored == {"from-config": "note one", "from-context": "note two", "fallback": "note three"}


def test_messages_the_thread_already_shows_are_not_recalled_again(agent, model) -> None:
    agent.invoke(ask("My dog is called Rex."), cfg("t1", "u1"))
    agent.invoke(ask("My cat is called Tom."), cfg("t2", "u1"))
    agent.invoke(ask("What are my dog and cat called?"), cfg("t1", "u1"))

    system = model.system_text()
    assert "My cat is called Tom." in system  # from the other thread
    assert "My dog is called Rex." not in system  # already in this thread's messages
    assert "My dog is called Rex." in [m.text for m in model.seen[-1]]


def test_tool_loop_recalls_on_every_model_call_and_stores_only_conversation(mem) -> None:
    from langchain.tools import tool

    from tests.langchain.lc_support import ToolCallingModel

    @tool
    def weather(city: str) -> str:
        """Weather in a city."""
        return f"sunny in {city}"

    mem.add({"role": "user", "content": "I live in Lisbon and hate the rain."}, user_id="u1")
    model = ToolCallingModel(script=[("weather", {"city": "Lisbon"})])
    agent = create_agent(model, tools=[weather], middleware=[EverMemMiddleware(mem)])
    agent.invoke(ask("What's the weather where I live?"), cfg("t1", "u1"))

    assert len(model.seen) == 2  # the call that asks for the tool, and the one that answers
    for prompt in model.seen:
        assert "I live in Lisbon and hate the rain." in prompt[0].text
    stored = [(m["role"], m["content"]) for m in mem.export_scope(user_id="u1")["messages"]][1:]
    assert stored == [("user", "What's the weather where I live?"), ("assistant", "Tool said: sunny in Lisbon")]

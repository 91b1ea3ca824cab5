"""EverMemMemory passed to agent runs (``run(..., memory=...)``): FunctionAgent, ReActAgent, AgentWorkflow."""

from __future__ import annotations

from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent, ReActAgent
from llama_index.core.tools import FunctionTool

from evermem_integrations import EverMem
from evermem_integrations.llama_index import EverMemMemory
from tests.llama_index.li_helpers import RecordingLLM, RecordingToolLLM, system_text, text_of

FACT = "My sister Ingrid lives in Reykjavik and keeps three goats."
QUESTION = "Where does my sister Ingrid live?"


def clock() -> str:
    """Tell the current time."""
    return "It is 10:00."


CLOCK = FunctionTool.from_defaults(fn=clock)


def session(engine: EverMem, user_id: str = "u1", **kwargs) -> EverMemMemory:
    return EverMemMemory.from_defaults(memory=engine, user_id=user_id, **kwargs)


async def test_function_agent_recalls_fact_in_new_session(engine: EverMem) -> None:
    first = FunctionAgent(tools=[CLOCK], llm=RecordingToolLLM("clock", reply="Noted, three goats!"))
    memory = session(engine)
    await first.run(FACT, memory=memory)
    # The agent stored its turn with aput_messages: tool call and tool result stay short-term only.
    stored = engine.get(user_id="u1", kind="raw")
    assert [m.content for m in stored] == [FACT, "Noted, three goats!"]

    llm = RecordingToolLLM("clock", reply="Reykjavik")
    agent = FunctionAgent(tools=[CLOCK], llm=llm, system_prompt="You are a helpful assistant.")
    response = await agent.run(QUESTION, memory=session(engine))

    assert str(response) == "Reykjavik"
    first_call, after_tool = llm.calls[0], llm.calls[-1]
    # Before the tool call (memory.aget() with no input) and after it (aget(input=user_msg)).
    assert "Reykjavik" in system_text(first_call)
    assert "Reykjavik" in system_text(after_tool)
    assert first_call[0].content == "You are a helpful assistant."
    assert any(m.role == "tool" for m in after_tool)


async def test_function_agent_scopes_do_not_leak(engine: EverMem) -> None:
    await FunctionAgent(tools=[CLOCK], llm=RecordingToolLLM("clock")).run(FACT, memory=session(engine, "alice"))
    llm = RecordingToolLLM("clock")
    await FunctionAgent(tools=[CLOCK], llm=llm).run(QUESTION, memory=session(engine, "bob"))
    assert all("Reykjavik" not in text_of(call) for call in llm.calls)


async def test_react_agent_with_system_prompt(engine: EverMem) -> None:
    await ReActAgent(tools=[CLOCK], llm=RecordingLLM("Thought: I can answer.\nAnswer: Noted!")).run(
        FACT, memory=session(engine)
    )
    # ReActAgent stores its reasoning as one assistant message; only the answer is kept long-term.
    assert [m.content for m in engine.get(user_id="u1", kind="raw")] == [FACT, "Noted!"]

    llm = RecordingLLM("Thought: I remember this.\nAnswer: Reykjavik")
    agent = ReActAgent(tools=[CLOCK], llm=llm, system_prompt="You are a helpful assistant.")
    response = await agent.run(QUESTION, memory=session(engine))
    assert "Reykjavik" in str(response)
    assert "Reykjavik" in text_of(llm.calls[-1][1:])  # after ReAct's own header


async def test_react_agent_without_system_prompt_needs_user_insertion(engine: EverMem) -> None:
    await ReActAgent(tools=[CLOCK], llm=RecordingLLM("Thought: ok.\nAnswer: Noted!")).run(FACT, memory=session(engine))

    # ReActAgent drops a leading system message; insert_method="user" puts the context in the user turn.
    llm = RecordingLLM("Thought: ok.\nAnswer: Reykjavik")
    await ReActAgent(tools=[CLOCK], llm=llm).run(QUESTION, memory=session(engine, insert_method="user"))
    user_turn = [m for m in llm.calls[-1] if m.role == "user"][-1]
    assert "Reykjavik" in user_turn.content
    assert user_turn.content.endswith(QUESTION)

    # The documented trap: with the default system insertion and no system_prompt, the context is dropped.
    llm = RecordingLLM("Thought: ok.\nAnswer: ?")
    await ReActAgent(tools=[CLOCK], llm=llm).run(QUESTION, memory=session(engine))
    assert "Reykjavik" not in text_of(llm.calls[-1])


async def test_agent_workflow_run_with_memory(engine: EverMem) -> None:
    def workflow(llm: RecordingToolLLM) -> AgentWorkflow:
        agent = FunctionAgent(
            name="helper", description="Answers questions.", tools=[CLOCK], llm=llm, system_prompt="Be helpful."
        )
        return AgentWorkflow(agents=[agent], root_agent="helper")

    await workflow(RecordingToolLLM("clock", reply="Noted!")).run(user_msg=FACT, memory=session(engine))
    llm = RecordingToolLLM("clock", reply="Reykjavik")
    memory = session(engine)
    await workflow(llm).run(user_msg=QUESTION, memory=memory)

    assert "Reykjavik" in system_text(llm.calls[0])
    assert "Reykjavik" in system_text(llm.calls[-1])
    # The short-term buffer holds this run's full turn, tool messages included.
    roles = [m.role.value for m in memory.get_all()]
    assert roles == ["user", "assistant", "tool", "assistant"]


async def test_agent_run_with_chat_history_stores_it_once(engine: EverMem) -> None:
    from llama_index.core.llms import ChatMessage

    history = [ChatMessage(role="user", content=FACT), ChatMessage(role="assistant", content="Noted!")]
    memory = session(engine, session_id="s1")
    agent = FunctionAgent(tools=[CLOCK], llm=RecordingToolLLM("clock", reply="Reykjavik"))
    await agent.run(QUESTION, chat_history=history, memory=memory)
    await agent.run("Thanks!", chat_history=history, memory=memory)
    contents = [m.content for m in engine.get(user_id="u1", kind="raw", limit=50)]
    assert contents.count(FACT) == 1
    assert contents.count(QUESTION) == 1

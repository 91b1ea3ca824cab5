import warnings

import pytest
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from evermem_integrations import ScopeError
from evermem_integrations.langchain import EverMemChatMessageHistory, EverMemMemory

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langchain_classic.chains import LLMChain

PROMPT = ChatPromptTemplate.from_messages([("system", "Memories:\n{history}"), ("human", "{input}")])


def chain(mem, model, user: str) -> LLMChain:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LLMChain(llm=model, prompt=PROMPT, memory=EverMemMemory(memory=mem, user_id=user))


@pytest.mark.parametrize("use_async", [False, True])
async def test_llmchain_recalls_a_fact_from_an_earlier_chain(mem, model, use_async) -> None:
    async def run(user: str, text: str) -> str:
        c = chain(mem, model, user)
        out = await c.ainvoke({"input": text}) if use_async else c.invoke({"input": text})
        return out["text"]

    await run("u1", "My daughter's name is Zoe.")
    answer = await run("u1", "What is my daughter's name?")  # a new chain object: nothing but EverMem carries it

    assert answer == "From memory: u1: My daughter's name is Zoe."
    assert "Memories:\nRecent messages:\n- u1: My daughter's name is Zoe." in model.system_text()
    assert mem.stats(user_id="u1").messages == 4
    assert await run("u2", "What is my daughter's name?") == "I don't know."
    assert "Zoe" not in model.system_text()


def test_memory_variables_messages_and_clear(mem) -> None:
    memory = EverMemMemory(memory=mem, user_id="u1", return_messages=True)
    assert memory.memory_variables == ["history"]
    memory.save_context({"input": "I drive a red Volvo."}, {"text": "Nice car!"})
    loaded = memory.load_memory_variables({"input": "What car do I drive?"})["history"]
    assert len(loaded) == 1
    assert "red Volvo" in loaded[0].text
    memory.clear()
    assert mem.scopes() == []
    with pytest.raises(ScopeError):
        EverMemMemory(memory=mem).load_memory_variables({"input": "x"})


def history_chain(mem, model):
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{input}")])
    return RunnableWithMessageHistory(
        prompt | model,
        lambda session_id: EverMemChatMessageHistory(mem, user_id="u1", session_id=session_id),
        input_messages_key="input",
        history_messages_key="history",
    )


@pytest.mark.parametrize("use_async", [False, True])
async def test_chat_history_recalls_across_sessions(mem, model, use_async) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runnable = history_chain(mem, model)

    async def say(session: str, text: str) -> str:
        config = {"configurable": {"session_id": session}}
        out = await runnable.ainvoke({"input": text}, config) if use_async else runnable.invoke({"input": text}, config)
        return out.content

    await say("s1", "My locker number is 417.")
    answer = await say("s2", "What is my locker number?")

    assert answer == "From memory: u1: My locker number is 417."
    session2 = EverMemChatMessageHistory(mem, user_id="u1", session_id="s2")
    assert [m.type for m in session2.session_messages()] == ["human", "ai"]
    assert session2.messages[0].type == "system"  # later turns of s2 still see s1's memories
    assert "417" in session2.messages[0].text
    # s1's own history is its messages only (it saw nothing from other sessions on its first turn)
    assert [m.text for m in EverMemChatMessageHistory(mem, user_id="u1", session_id="s1", recall=False).messages] == [
        "My locker number is 417.",
        "I don't know.",
    ]


async def test_chat_history_clear_and_isolation(mem) -> None:
    history = EverMemChatMessageHistory(mem, user_id="u1", session_id="s1")
    await history.aadd_messages([])
    history.add_user_message("I was born in Porto.")
    other = EverMemChatMessageHistory(mem, user_id="u2", session_id="s1")
    assert await other.aget_messages() == []
    await history.aclear()
    assert history.session_messages() == []
    with pytest.raises(ScopeError):
        EverMemChatMessageHistory(mem, session_id="s1")

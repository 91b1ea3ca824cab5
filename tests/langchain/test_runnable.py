import re

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from evermem_integrations import ScopeError
from evermem_integrations.langchain import with_memory

PROMPT = ChatPromptTemplate.from_messages([("system", "You are helpful.\n{memories}"), ("human", "{input}")])


def cfg(user: str) -> dict:
    return {"configurable": {"user_id": user}}


@pytest.mark.parametrize("use_async", [False, True])
async def test_fact_from_one_session_is_answered_in_the_next(mem, model, use_async) -> None:
    chain = with_memory(PROMPT | model | StrOutputParser(), mem)

    async def ask(text: str, user: str) -> str:
        payload = {"input": text}
        return await chain.ainvoke(payload, cfg(user)) if use_async else chain.invoke(payload, cfg(user))

    await ask("I work as a marine biologist in Monterey.", "u1")
    answer = await ask("What do I work as? marine", "u1")

    assert answer == "From memory: u1: I work as a marine biologist in Monterey."
    assert "marine biologist" in model.system_text()
    stored = mem.export_scope(user_id="u1")["messages"]
    assert [(m["role"], m["content"]) for m in stored][:2] == [
        ("user", "I work as a marine biologist in Monterey."),
        ("assistant", "I don't know."),
    ]
    assert len(stored) == 4

    assert await ask("What do I work as? marine", "u2") == "I don't know."  # no leak to another user
    assert "marine" not in model.system_text()


async def test_wrapping_a_chat_model_with_message_input(mem, model) -> None:
    chat = with_memory(model, mem, user_id="u1")
    chat.invoke([HumanMessage("My flight to Oslo leaves on Friday.")])
    reply = await chat.ainvoke([SystemMessage("Be brief."), HumanMessage("When does my flight to Oslo leave?")])

    # the remembered message is shown as said, its weekday made a date
    assert re.fullmatch(r"From memory: u1: My flight to Oslo leaves on Friday \(\d+ \w+ \d{4}\)\.", reply.content)
    seen = model.seen[-1]
    assert len([m for m in seen if isinstance(m, SystemMessage)]) == 1  # memories merged into the one system message
    assert seen[0].text.startswith("Be brief.")


def test_string_input_and_missing_scope(mem, model) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "{memories}"), ("human", "{question}")])
    chain = with_memory(prompt | model, mem, input_key="question", user_id="u1")
    chain.invoke("I keep bees on my roof.")
    assert chain.invoke("Where do I keep bees?").content == "From memory: u1: I keep bees on my roof."

    with pytest.raises(ScopeError, match="configurable"):
        with_memory(PROMPT | model, mem).invoke({"input": "hi"})
    with pytest.raises(KeyError, match="input_key"):
        with_memory(PROMPT | model, mem, user_id="u1").invoke({"question": "hi"})


def test_read_only_and_batch(mem, model) -> None:
    mem.add({"role": "user", "content": "I am allergic to cats."}, user_id="u1")
    chain = with_memory(PROMPT | model | StrOutputParser(), mem, user_id="u1", store_turns=False)
    answers = chain.batch([{"input": "Am I allergic to cats?"}, {"input": "Anything about cats?"}])
    assert answers == ["From memory: u1: I am allergic to cats."] * 2
    assert mem.stats(user_id="u1").messages == 1

"""Export / import between an embedded store and the server pair (PostgreSQL + `chroma run`), both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from evermem_integrations import EverMem
from evermem_integrations.datasets import LocomoConversation
from evermem_integrations.langchain import EverMemChatMessageHistory
from evermem_integrations.llama_index import EverMemMemory

pytestmark = pytest.mark.integration

QUESTIONS = ["When did Caroline go to the LGBTQ support group?", "What does Melanie paint?", "Caroline's plans"]


def _answers(mem: EverMem) -> list[list[str]]:
    return [[item.text for item in mem.search(q, group_id="c0").items] for q in QUESTIONS]


def _same_answers(found: list[list[str]], expected: list[list[str]]) -> None:
    # The same memories answer, in an order that may differ further down: BM25 statistics are
    # per scope on PostgreSQL and store-wide in FTS5, and an HNSW index built in another order
    # finds slightly different near neighbours.
    for got, wanted in zip(found, expected, strict=True):
        assert got[0] == wanted[0]
        assert len(set(got) & set(wanted)) >= 0.8 * len(wanted)


def test_a_scope_moves_embedded_to_server_and_back_with_nothing_lost(
    database_url: str, chroma_url: str, locomo: list[LocomoConversation], tmp_path: Path
) -> None:
    with EverMem(path=tmp_path / "embedded") as embedded:
        embedded.add(locomo[0].messages[:90], group_id="c0")
        embedded.flush(group_id="c0")
        embedded.add(locomo[0].messages[90:95], group_id="c0")  # a buffered tail moves too
        document = embedded.export_scope(group_id="c0")
        answers = _answers(embedded)
    with EverMem(path=None, database_url=database_url, chroma_url=chroma_url, collection_name="moved") as server:
        server.import_scope(document)
        assert server.export_scope(group_id="c0") == document
        _same_answers(_answers(server), answers)
        back = server.export_scope(group_id="c0")
    with EverMem(path=tmp_path / "back") as embedded_again:
        embedded_again.import_scope(back)
        assert embedded_again.export_scope(group_id="c0") == document
        _same_answers(_answers(embedded_again), answers)


def test_the_framework_adapters_run_on_the_server_pair(database_url: str, chroma_url: str) -> None:
    with EverMem(path=None, database_url=database_url, chroma_url=chroma_url, collection_name="adapters") as mem:
        history = EverMemChatMessageHistory(memory=mem, session_id="s1", user_id="ana")
        history.add_messages([HumanMessage("My sister Lucía lives in Porto."), AIMessage("Noted!")])
        memory = EverMemMemory.from_defaults(memory=mem, user_id="ana")
        assert "Porto" in memory.get(input="Where does my sister live?")[0].content
    # Another replica (a new engine on the same servers) sees what this one learned.
    with EverMem(path=None, database_url=database_url, chroma_url=chroma_url, collection_name="adapters") as replica:
        assert [
            m.content for m in EverMemChatMessageHistory(memory=replica, session_id="s1", user_id="ana").messages
        ] == [
            "My sister Lucía lives in Porto.",
            "Noted!",
        ]
        assert "Porto" in replica.search("Where does Ana's sister live?", user_id="ana").context

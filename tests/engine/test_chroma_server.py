"""Server mode: vectors in a real `chroma run` on 127.0.0.1, records in the local side index."""

from pathlib import Path

import pytest

from evermem_integrations import EverMem
from evermem_integrations.datasets import LocomoConversation
from evermem_integrations.engine.models import Scope
from evermem_integrations.engine.recollection import Recollector
from evermem_integrations.engine.vectors import chroma_client, is_served
from evermem_integrations.errors import ConfigurationError

pytestmark = pytest.mark.integration


def test_server_mode_ingests_searches_isolates_and_deletes(
    chroma_url: str, tmp_path: Path, locomo: list[LocomoConversation]
) -> None:
    conversation = locomo[0]
    messages = conversation.messages[:120]
    with EverMem(path=tmp_path / "a", chroma_url=chroma_url) as mem:
        mem.add(messages, group_id="server-g1")
        mem.flush(group_id="server-g1")
        mem.add(
            [{"sender": "Bo", "content": "I keep bees in my garden in Oslo.", "timestamp": 1_700_000_000}], user_id="bo"
        )
        result = mem.search("When did Caroline go to the LGBTQ support group?", group_id="server-g1")
        assert "7 May 2023" in result.context
        assert "D1:3" in {s for item in result.items for s in item.source_message_ids}
        assert "bees" not in result.context
        # a second process-like client on the same server and side index sees the same memory
        with EverMem(path=tmp_path / "a", chroma_url=chroma_url) as other:
            again = other.search("When did Caroline go to the LGBTQ support group?", group_id="server-g1")
            assert [i.id for i in again.items] == [i.id for i in result.items]
        assert mem.delete(group_id="server-g1") == 1
        assert mem.search("support group", group_id="server-g1").items == []
        assert mem.search("bees", user_id="bo").items


def test_bad_server_url_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="chroma_url must look like"):
        EverMem(path=tmp_path, chroma_url="localhost:8000")


def test_a_served_store_overlaps_its_lookups_and_answers_as_in_order(
    chroma_url: str, tmp_path: Path, locomo: list[LocomoConversation]
) -> None:
    with EverMem(path=tmp_path / "served", chroma_url=chroma_url) as mem:
        mem.add(locomo[0].messages[:80], group_id="served-order")
        mem.flush(group_id="served-order")
        assert is_served(mem.vectors.index.client)  # type: ignore[attr-defined]
        in_order = Recollector(mem.records, mem.vectors, mem.embedder)
        try:
            for question in ("When did Caroline go to the LGBTQ support group?", "What does Melanie paint?"):
                overlapped = mem.search(question, group_id="served-order")
                ordered = in_order.search(question, Scope.of(None, "served-order", None).key)
                assert [(i.id, i.score) for i in overlapped.items] == [(i.id, i.score) for i in ordered.items]
                assert overlapped.context == ordered.context
        finally:
            in_order.close()


def test_only_a_client_of_a_server_is_served(chroma_url: str, tmp_path: Path) -> None:
    assert is_served(chroma_client(url=chroma_url))
    assert not is_served(chroma_client(path=tmp_path / "embedded"))
    assert not is_served(chroma_client())

"""Shared fixtures: an in-memory engine, a persistent one, and the LoCoMo dev subset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evermem_integrations import EverMem
from evermem_integrations.datasets import LocomoConversation, load_locomo

REPO = Path(__file__).resolve().parents[1]
LOCOMO_PATH = REPO.parent / "shared" / "data" / "locomo" / "locomo-dev.json"


@pytest.fixture
def mem() -> Iterator[EverMem]:
    """An in-memory engine on the default offline stack (bundled embeddings, offline extractor)."""
    engine = EverMem(path=None)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def locomo() -> list[LocomoConversation]:
    """The LoCoMo development subset from ../shared (never copied into the repo: CC BY-NC)."""
    if not LOCOMO_PATH.exists():
        pytest.skip(f"LoCoMo dev subset not found at {LOCOMO_PATH}")
    return load_locomo(LOCOMO_PATH)


@pytest.fixture(scope="session")
def locomo_mem(locomo: list[LocomoConversation], tmp_path_factory: pytest.TempPathFactory) -> Iterator[EverMem]:
    """One persistent engine holding the first LoCoMo conversation, ingested and flushed once."""
    engine = EverMem(path=tmp_path_factory.mktemp("locomo"))
    conversation = locomo[0]
    engine.add(conversation.messages, group_id=conversation.sample_id)
    engine.flush(group_id=conversation.sample_id)
    yield engine
    engine.close()

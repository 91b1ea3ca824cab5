"""Fixtures for the LangChain adapter tests (helpers live in lc_support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from evermem_integrations import EverMem
from tests.langchain.lc_support import RecallingChatModel, fresh_mem


@pytest.fixture
def model() -> RecallingChatModel:
    return RecallingChatModel()


@pytest.fixture
def mem() -> Iterator[EverMem]:
    memory = fresh_mem()
    yield memory
    memory.close()


@pytest.fixture
def make_mem() -> Iterator[Callable[..., EverMem]]:
    made: list[EverMem] = []

    def factory(**kwargs: Any) -> EverMem:
        memory = fresh_mem(**kwargs)
        made.append(memory)
        return memory

    yield factory
    for memory in made:
        memory.close()

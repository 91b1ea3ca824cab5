"""Fixtures for the LlamaIndex adapter tests: an isolated engine per test."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from evermem_integrations import EverMem


@pytest.fixture
def engine() -> Generator[EverMem, None, None]:
    """A fresh in-memory EverMem per test, with the default offline embedder."""
    mem = EverMem(path=None)
    yield mem
    mem.close()

"""Fixtures for the LLM backend: vcrpy cassettes of an OpenAI-compatible endpoint.

By default the cassettes replay (record mode ``none``): no request leaves the process and a
request no cassette answers fails the test. ``EVERMEM_LLM_RECORD=once|all`` records against
a real endpoint instead (see ``cassettes/README.md``).

Interactions are matched on method, path and the name of the response schema the request
asks for (``ExtractionOutput``, ``BoundaryOutput``, ...), so a cassette answers each kind of
call in the order it was recorded, independent of the host and of prompt wording. What the
code actually sent is captured by :class:`Replay` so tests assert on what reached the model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from vcr.request import Request

from evermem_integrations.engine.llm import LLMConfig
from tests import cassettes
from tests.cassettes import REPLAY_BASE_URL, recorder
from tests.llm.fake_openai import schema_of

CASSETTES = Path(__file__).parent / "cassettes"
RECORD_MODE = os.environ.get("EVERMEM_LLM_RECORD", "none")
REPLAY_MODEL = "gpt-4.1-mini"

authored_only = pytest.mark.skipif(
    RECORD_MODE != "none", reason="replays a deliberately broken answer that a real model cannot be asked for"
)


def schema_name(request: Request) -> str | None:
    """The response schema a chat-completions request asks for (None for other requests)."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return schema_of(body) or None


def _same_schema(r1: Request, r2: Request) -> None:
    assert schema_name(r1) == schema_name(r2), f"{schema_name(r1)} != {schema_name(r2)}"


RECORDER = recorder(CASSETTES, RECORD_MODE, _same_schema)


@dataclass
class Replay(cassettes.Replay):
    """A cassette in use, and the JSON bodies of the requests the code sent through it."""

    def sent_for(self, schema: str) -> list[dict[str, Any]]:
        """Bodies of the requests that asked for ``schema``."""
        return [b for b in self.sent if schema_of(b) == schema]

    @staticmethod
    def prompt(body: dict[str, Any]) -> str:
        """The user message of a request (the rendered prompt)."""
        return next(m["content"] for m in body["messages"] if m["role"] == "user")


def replay(name: str) -> AbstractContextManager[Replay]:
    """Use cassette ``name``; capture every request sent; require all interactions played."""
    return cassettes.replaying(RECORDER, name, RECORD_MODE, Replay)


@pytest.fixture
def llm_config() -> Callable[..., LLMConfig]:
    """``LLMConfig`` for the replay endpoint (or, when recording, the real one from the environment)."""

    def make(**overrides: Any) -> LLMConfig:
        if RECORD_MODE == "none":
            settings: dict[str, Any] = {"base_url": REPLAY_BASE_URL, "model": REPLAY_MODEL, "api_key": "test"}
        else:
            settings = {
                "base_url": os.environ.get("EVERMEM_LLM_BASE_URL"),
                "model": os.environ.get("EVERMEM_LLM_MODEL", REPLAY_MODEL),
            }
        settings.update(overrides)
        return LLMConfig(**settings)

    return make

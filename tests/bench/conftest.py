"""Fixtures of the benchmark tests: the tiny LongMemEval file, LoCoMo, and the QA cassettes.

The QA cassettes replay (record mode ``none``): no request leaves the process and a request no
cassette answers fails the test. ``EVERMEM_BENCH_RECORD=all`` records against a real endpoint
instead (see ``cassettes/README.md``). Interactions are matched on method, path, model, kind
of call (``answer`` or ``judge``) and the question, so prompt wording and the retrieved
context may change without re-recording; what the code actually sent is captured in
:class:`Replay` so the tests assert on what reached the model. The kind is told by the
messages' shape, which both judge protocols share: an answer call opens with the answer
model's system message, a judge call is a single user message.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from vcr.request import Request

from evermem_integrations.bench.qa import QAConfig
from tests import cassettes
from tests.cassettes import REPLAY_BASE_URL, recorder

HERE = Path(__file__).parent
TINY = HERE / "data" / "longmemeval_tiny.json"
CASSETTES = HERE / "cassettes"
LOCOMO_PATH = HERE.parents[1].parent / "shared" / "data" / "locomo" / "locomo-dev.json"

RECORD_MODE = os.environ.get("EVERMEM_BENCH_RECORD", "none")
ANSWER_MODEL = os.environ.get("EVERMEM_BENCH_ANSWER_MODEL", "gpt-4.1-mini")
JUDGE_MODEL = os.environ.get("EVERMEM_BENCH_JUDGE_MODEL", "gpt-4o-mini")

_QUESTION = re.compile(r"^Question: (.*)$", re.MULTILINE)


def call_kind(body: dict[str, Any]) -> str:
    """``answer`` or ``judge``: whether a request body opens with the answer model's system message."""
    return "answer" if body["messages"][0]["role"] == "system" else "judge"


def qa_key(request: Request) -> tuple[str, str, str]:
    """(model, ``answer`` or ``judge``, question) of a chat-completions request."""
    body = json.loads(request.body or b"{}")
    found = _QUESTION.search(body["messages"][-1]["content"])
    return body.get("model", ""), call_kind(body), found.group(1).strip() if found else ""


def _same_call(r1: Request, r2: Request) -> None:
    assert qa_key(r1) == qa_key(r2), f"{qa_key(r1)} != {qa_key(r2)}"


RECORDER = recorder(CASSETTES, RECORD_MODE, _same_call)


@dataclass
class Replay(cassettes.Replay):
    """A cassette in use, and the JSON bodies of the requests the code sent through it."""

    def calls(self, kind: str) -> list[dict[str, Any]]:
        """Bodies of the ``answer`` or ``judge`` requests, in the order sent."""
        return [b for b in self.sent if call_kind(b) == kind]


def replay(name: str) -> AbstractContextManager[Replay]:
    """Use cassette ``name``; capture every request sent; require all interactions played."""
    return cassettes.replaying(RECORDER, name, RECORD_MODE, Replay)


@pytest.fixture
def qa_config() -> QAConfig:
    """The QA settings: the replay address, or the real endpoint from the environment when recording."""
    if RECORD_MODE == "none":
        return QAConfig(ANSWER_MODEL, JUDGE_MODEL, base_url=REPLAY_BASE_URL, api_key="test")
    return QAConfig(
        ANSWER_MODEL,
        JUDGE_MODEL,
        base_url=os.environ.get("EVERMEM_BENCH_BASE_URL"),
        api_key=os.environ.get("OPENAI_API_KEY"),
    )


def authored(name: str) -> bool:
    """Whether cassette ``name`` replays as authored here (its exact figures can then be asserted)."""
    return RECORD_MODE == "none" and "Authored by hand" in (CASSETTES / f"{name}.yaml").read_text()


@pytest.fixture(scope="session")
def locomo_path() -> Path:
    """The LoCoMo dev subset in ../shared (never copied into the repo: CC BY-NC)."""
    if not LOCOMO_PATH.exists():
        pytest.skip(f"LoCoMo dev subset not found at {LOCOMO_PATH}")
    return LOCOMO_PATH


@pytest.fixture
def tiny_path() -> Path:
    """The hand-written LongMemEval-format file of these tests."""
    return TINY


@pytest.fixture
def qa_cassette() -> Any:
    """The :func:`replay` context manager (tests call ``with qa_cassette("name") as used:``)."""
    return replay

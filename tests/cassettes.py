"""Shared vcrpy machinery for the suites that replay OpenAI-compatible cassettes (LLM, bench QA).

Cassettes replay by default (record mode ``none``): no request leaves the process and a request
no cassette answers fails the test. Each suite chooses its own matcher (what makes two calls
"the same") and environment variable for recording.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import vcr
from vcr.cassette import Cassette
from vcr.request import Request

REPLAY_BASE_URL = "http://127.0.0.1:9/v1"  # the discard port: nothing answers there, vcr does


def _drop_server_headers(response: dict[str, Any]) -> dict[str, Any]:
    # Organisation, project and cookies identify the recording account: never commit them.
    for name in list(response.get("headers", {})):
        if name.lower().startswith(("openai-", "set-cookie", "x-request-id", "cf-")):
            response["headers"].pop(name)
    return response


def recorder(cassettes: Path, record_mode: str, matcher: Callable[[Request, Request], None]) -> vcr.VCR:
    """A VCR matching on method, path and ``matcher``, with credentials filtered out."""
    configured = vcr.VCR(
        cassette_library_dir=str(cassettes),
        record_mode=record_mode,
        match_on=("method", "path", "call"),
        filter_headers=["authorization", "openai-organization", "openai-project", "cookie"],
        before_record_response=_drop_server_headers,
        decode_compressed_response=True,
    )
    configured.register_matcher("call", matcher)
    return configured


@dataclass
class Replay:
    """A cassette in use, and the JSON bodies of the requests the code sent through it."""

    cassette: Cassette
    sent: list[dict[str, Any]] = field(default_factory=list)


R = TypeVar("R", bound=Replay)


@contextmanager
def replaying(configured: vcr.VCR, name: str, record_mode: str, kind: type[R]) -> Iterator[R]:
    """Use cassette ``name``; capture every request sent; in replay, require all interactions played."""
    with configured.use_cassette(f"{name}.yaml") as cassette:
        used = kind(cassette)
        play, append = cassette.play_response, cassette.append

        def spy_play(request: Request) -> Any:
            used.sent.append(json.loads(request.body))
            return play(request)

        def spy_append(request: Request, response: Any) -> None:
            used.sent.append(json.loads(request.body))
            append(request, response)

        cassette.play_response = spy_play  # type: ignore[method-assign]
        cassette.append = spy_append  # type: ignore[method-assign]
        yield used
        if record_mode == "none":
            assert cassette.all_played, (
                f"cassette {name}: {len(cassette.data) - cassette.play_count} interaction(s) never requested"
            )

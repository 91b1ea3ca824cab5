"""A fake OpenAI-compatible chat-completions server on 127.0.0.1 that misbehaves on request.

Stdlib only (``http.server`` in a daemon thread, port 0). The fault mode is part of the URL,
so one server serves every test: ``FakeOpenAI.base_url("html_200")`` is
``http://127.0.0.1:PORT/html_200/v1``. In mode ``ok`` the server answers every structured
request the package sends (``ExtractionOutput``, ``BoundaryOutput``, ``SufficiencyOutput``,
``RewriteOutput``, named in ``response_format.json_schema.name``) with valid JSON built from
the prompt; every other mode breaks the answer in one way (see :data:`FAULT_MODES`).
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOW_SECONDS = 1.0
"""How long ``slow_past_timeout`` waits before answering (tests use a shorter client timeout)."""

_TRANSCRIPT_LINE = re.compile(r"^\[(?P<id>[^\]]+)\] \| [^|]+ \| (?P<sender>[^:]+): (?P<text>.+)$", re.MULTILINE)
_NUMBERED_LINE = re.compile(r"^(?P<n>\d+) \| ", re.MULTILINE)


# -- valid answers, per response schema -------------------------------------------------------------
def _prompt(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user")


_SCHEMA_TITLE = re.compile(r'"title":"(?P<title>\w+Output)","type":"object"\}\s*$')


def schema_of(body: dict[str, Any]) -> str:
    """The response schema a request asks for, in any of the three shapes the package sends."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return str((response_format.get("json_schema") or {}).get("name", ""))
    if response_format.get("type") == "json_object" and "schema" in response_format:
        return str(response_format["schema"].get("title", ""))
    system = next((str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "system"), "")
    found = _SCHEMA_TITLE.search(system)  # the schema in the prompt ends with the top-level title
    return found["title"] if found else ""


def _extraction(prompt: str, *, id_of: Callable[[str], str] = lambda i: i) -> dict[str, Any]:
    lines = list(_TRANSCRIPT_LINE.finditer(prompt))
    facts = [
        {
            "subject": m["sender"].strip(),
            "text": f"{m['sender'].strip()} said: {m['text'].strip()}",
            "source_message_ids": [id_of(m["id"])],
            "attribute": None,
            "value": None,
        }
        for m in lines[::3]
    ]
    first = lines[0]["sender"].strip() if lines else "someone"
    return {
        "title": f"A conversation with {first}",
        "episode": f"{first} talked about {len(lines)} things.",
        "facts": facts,
        "foresight": [],
        "profile": [],
    }


def _boundary(prompt: str) -> dict[str, Any]:
    count = len(_NUMBERED_LINE.findall(prompt))
    return {"new_episode_starts": [count // 2] if count >= 16 else []}


def valid_answer(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON object a well-behaved model answers to ``body``."""
    schema, prompt = schema_of(body), _prompt(body)
    if schema == "ExtractionOutput":
        return _extraction(prompt)
    if schema == "BoundaryOutput":
        return _boundary(prompt)
    if schema == "SufficiencyOutput":
        return {"sufficient": False, "missing": "more detail", "queries": ["what else was said", "plans"]}
    if schema == "RewriteOutput":
        return {"queries": ["what else was said"]}
    return {}


def completion(content: Any, *, finish_reason: str = "stop", model: str = "fake-model", **extra: Any) -> dict[str, Any]:
    """A chat.completion object whose only choice carries ``content``."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        **extra,
    }


# -- the fault modes -------------------------------------------------------------------------------------
Reply = tuple[int, str, bytes]
"""HTTP status, Content-Type, body."""


def _json(status: int, data: Any) -> Reply:
    return status, "application/json", json.dumps(data).encode()


def _ok(body: dict[str, Any], _: int) -> Reply:
    return _json(200, completion(json.dumps(valid_answer(body))))


def _content(content: Any, **kwargs: Any) -> Callable[[dict[str, Any], int], Reply]:
    return lambda body, n: _json(200, completion(content, **kwargs))


def _error(status: int, message: str) -> Callable[[dict[str, Any], int], Reply]:
    return lambda body, n: _json(status, {"error": {"message": message, "type": "fake", "code": status}})


def _then_ok(fault: Callable[[dict[str, Any], int], Reply]) -> Callable[[dict[str, Any], int], Reply]:
    # Odd-numbered requests fail, even ones succeed: each call's first attempt fails, its retry works.
    return lambda body, n: fault(body, n) if n % 2 == 1 else _ok(body, n)


def _unknown_ids(body: dict[str, Any], n: int) -> Reply:
    if schema_of(body) != "ExtractionOutput":
        return _ok(body, n)
    return _json(200, completion(json.dumps(_extraction(_prompt(body), id_of=lambda i: f"msg_{i}_999"))))


def _some_unknown_ids(body: dict[str, Any], n: int) -> Reply:
    if schema_of(body) != "ExtractionOutput":
        return _ok(body, n)
    answer = _extraction(_prompt(body))
    for index, fact in enumerate(answer["facts"]):
        if index % 2:
            fact["source_message_ids"] = ["msg_invented"]
    return _json(200, completion(json.dumps(answer)))


def _no_facts(body: dict[str, Any], n: int) -> Reply:
    if schema_of(body) != "ExtractionOutput":
        return _ok(body, n)
    return _json(200, completion(json.dumps({**_extraction(_prompt(body)), "facts": []})))


def _wild_values(body: dict[str, Any], n: int) -> Reply:
    """Valid JSON of the right schema holding values at or past the edge of sense."""
    schema, prompt = schema_of(body), _prompt(body)
    if schema == "BoundaryOutput":
        answer: dict[str, Any] = {"new_episode_starts": [-3, 0, 1, 1, 2, 10**12]}
    elif schema == "SufficiencyOutput":
        answer = {"sufficient": False, "missing": "", "queries": ["", "   ", "plans"]}
    elif schema == "ExtractionOutput":
        answer = _extraction(prompt)
        ids = [m["id"] for m in _TRANSCRIPT_LINE.finditer(prompt)][:1]
        answer["foresight"] = [
            {
                "subject": "",
                "text": "A plan at the end of time.",
                "start": "9999-12-31",
                "end": None,
                "source_message_ids": ids,
            },
            {
                "subject": "Jon",
                "text": "A plan ending before it starts.",
                "start": "2023-06-01",
                "end": "0001-01-01T00:00:00+05:00",
                "source_message_ids": ids,
            },
        ]
        answer["profile"] = [
            {
                "subject": "Jon",
                "category": "state",
                "attribute": "mood",
                "value": "tired",
                "text": "",
                "source_message_ids": ids,
                "valid_until": "not a date",
                "multi_valued": False,
            },
            {
                "subject": "Jon",
                "category": "trait",
                "attribute": "  ",
                "value": "x",
                "text": "x",
                "source_message_ids": ids,
                "valid_until": None,
                "multi_valued": True,
            },
        ]
    else:
        answer = valid_answer(body)
    return _json(200, completion(json.dumps(answer)))


def _fenced(body: dict[str, Any], n: int) -> Reply:
    text = "Here is the JSON you asked for:\n```json\n" + json.dumps(valid_answer(body), indent=2) + "\n```"
    return _json(200, completion(text))


def _truncated_content(body: dict[str, Any], n: int) -> Reply:
    text = json.dumps(valid_answer(body))
    return _json(200, completion(text[: len(text) // 2]))


def _truncated_body(body: dict[str, Any], n: int) -> Reply:
    raw = json.dumps(completion(json.dumps(valid_answer(body)))).encode()
    return 200, "application/json", raw[: len(raw) // 2]


def _without(key: str, value: Any = ...) -> Callable[[dict[str, Any], int], Reply]:
    def reply(body: dict[str, Any], n: int) -> Reply:
        data = completion(json.dumps(valid_answer(body)))
        if value is ...:
            data.pop(key)
        else:
            data[key] = value
        return _json(200, data)

    return reply


def _message_missing(body: dict[str, Any], n: int) -> Reply:
    data = completion(json.dumps(valid_answer(body)))
    data["choices"][0].pop("message")
    return _json(200, data)


def _json_object_only(body: dict[str, Any], n: int) -> Reply:
    """llama-cpp-python's server: json_schema refused with HTTP 500, json_object with a schema taken."""
    kind = (body.get("response_format") or {}).get("type", "text")
    if kind not in ("text", "json_object"):
        message = (
            "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
            f"'msg': \"Input should be 'text' or 'json_object'\", 'input': '{kind}'}}"
        )
        return _json(500, {"error": {"message": message, "type": "internal_server_error"}})
    return _ok(body, n)


def _text_only(body: dict[str, Any], n: int) -> Reply:
    """A server that takes no response_format at all (answers from the schema in the prompt)."""
    if body.get("response_format"):
        return _json(400, {"error": {"message": "Unrecognized request argument supplied: response_format"}})
    return _ok(body, n)


FAULT_MODES: dict[str, Callable[[dict[str, Any], int], Reply] | str] = {
    "ok": _ok,
    # request shapes
    "json_object_only": _json_object_only,
    "text_only": _text_only,
    # HTTP errors
    "http_500": _error(500, "internal error"),
    "http_503_then_ok": _then_ok(_error(503, "overloaded")),
    "http_429": _error(429, "rate limited"),
    "http_400": _error(400, "response_format json_schema is not supported"),
    "http_404_html": lambda body, n: (404, "text/html", b"<html><body><h1>404 Not Found</h1></body></html>"),
    # a 200 that is no chat.completion
    "non_json_200": lambda body, n: (200, "application/json", b"Internal proxy hiccup, please retry"),
    "html_200": lambda body, n: (200, "text/html; charset=utf-8", b"<!doctype html><html><body>Login</body></html>"),
    "plain_text_200": lambda body, n: (200, "text/plain", b"OK"),
    "empty_body_200": lambda body, n: (200, "application/json", b""),
    "no_content_type_200": lambda body, n: (200, "", b"not json at all"),
    "garbage_bytes_200": lambda body, n: (200, "application/json", b"\xff\xfe\x00\x81{\xc3\x28 garbage"),
    "truncated_json_body": _truncated_body,
    "json_list_200": lambda body, n: _json(200, [1, 2, 3]),
    "json_string_200": lambda body, n: _json(200, "hello"),
    "error_object_200": lambda body, n: _json(200, {"error": {"message": "model overloaded"}}),
    "sse_stream_200": lambda body, n: (
        200,
        "text/event-stream",
        b'data: {"choices":[{"delta":{"content":"{"}}]}\n\ndata: [DONE]\n\n',
    ),
    # a chat.completion of the wrong shape
    "choices_empty": _without("choices", []),
    "choices_null": _without("choices", None),
    "choices_missing": _without("choices"),
    "choices_string": _without("choices", "oops"),
    "message_missing": _message_missing,
    "usage_garbage": _without("usage", {"prompt_tokens": "many", "completion_tokens": None}),
    # the content is not the requested object
    "content_null": _content(None),
    "content_empty": _content(""),
    "content_object": lambda body, n: _json(200, completion(valid_answer(body))),
    "wrong_schema_json": _content(json.dumps({"answer": "I am a helpful assistant", "facts": "none"})),
    "json_array_content": _content("[]"),
    "html_content": _content("<html><body>Sorry, I can't help with that.</body></html>"),
    "truncated_json_content": _truncated_content,
    "finish_length": lambda body, n: _json(
        200, completion(json.dumps(valid_answer(body))[:20], finish_reason="length")
    ),
    "content_filter": _content(None, finish_reason="content_filter"),
    "refusal": lambda body, n: _json(
        200,
        {
            **completion(None),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": None, "refusal": "I can't do that."},
                    "finish_reason": "stop",
                }
            ],
        },
    ),
    "json_in_markdown_fence": _fenced,
    # ids the episode does not have
    "unknown_message_ids": _unknown_ids,
    "some_unknown_message_ids": _some_unknown_ids,
    "no_facts": _no_facts,
    "wild_values": _wild_values,
    # the transport
    "slow_past_timeout": "slow",
    "connection_reset": "reset",
    "closed_mid_body": "mid_body",
    "closed_before_answer": "close",
}


class FakeOpenAI:
    """The server: ``base_url(mode)`` to use it, ``requests`` to see what arrived per mode."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def base_url(self, mode: str) -> str:
        if mode not in FAULT_MODES:
            raise KeyError(f"unknown fault mode {mode!r}")
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _count(self, mode: str, body: dict[str, Any]) -> int:
        with self._lock:
            self.requests[mode] += 1
            self.bodies.append((mode, body))
            return self.requests[mode]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and the
                # client's delayed ACK add 40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                parts = self.path.strip("/").split("/")
                mode = parts[0] if parts else ""
                if parts[1:] != ["v1", "chat", "completions"] or mode not in FAULT_MODES:
                    self._send(404, "application/json", b'{"error": {"message": "no such route"}}')
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                number = fake._count(mode, body)
                fault = FAULT_MODES[mode]
                if isinstance(fault, str):
                    self._transport_fault(fault, body, number)
                    return
                self._send(*fault(body, number))

            def _send(self, status: int, content_type: str, payload: bytes, *, length: int | None = None) -> None:
                try:
                    self.send_response(status)
                    if content_type:
                        self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload) if length is None else length))
                    self.end_headers()
                    self.wfile.write(payload)
                    self.wfile.flush()
                except OSError:  # the client gave up (timeout): nothing to answer
                    self.close_connection = True

            def _transport_fault(self, fault: str, body: dict[str, Any], number: int) -> None:
                if fault == "slow":
                    fake._stopping.wait(SLOW_SECONDS)
                    self._send(*_ok(body, number))
                    return
                self.close_connection = True
                if fault == "reset":
                    # SO_LINGER 0: close() sends a TCP RST instead of a FIN.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                elif fault == "mid_body":
                    payload = json.dumps(completion(json.dumps(valid_answer(body)))).encode()
                    self._send(200, "application/json", payload[:40], length=len(payload))
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif fault == "close":
                    self.connection.shutdown(socket.SHUT_RDWR)

        return Handler

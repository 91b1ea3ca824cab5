"""The transport: one OpenAI-compatible endpoint, asked for a validated pydantic object.

Endpoints differ in what they accept. :class:`OpenAIChatLLM` negotiates per endpoint: it asks
for ``response_format`` ``json_schema`` (OpenAI, vLLM, Ollama), falls back to ``json_object``
with the schema beside it (llama.cpp's servers, vLLM) and then to the schema in the prompt,
and remembers what the endpoint took. Every answer is validated by the pydantic model; an
invalid one is asked for again once, with the validation error in the prompt. A circuit
breaker (pybreaker) stops asking an endpoint that keeps failing, so a dead or broken server
costs a few requests, not several per message.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import openai
import pybreaker
from openai.lib._pydantic import to_strict_json_schema  # the schema ``chat.completions.parse`` sends
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from evermem_integrations.engine import prompts
from evermem_integrations.engine.prompts import ChatMessage
from evermem_integrations.errors import (
    ConfigurationError,
    ExtractionError,
    LLMPausedError,
    LLMRefusedError,
    LLMUnavailableError,
)

logger = logging.getLogger(__name__)

ResponseT = TypeVar("ResponseT", bound=BaseModel)
Mode = Literal["json_schema", "json_object", "prompt"]
MODES: tuple[Mode, ...] = ("json_schema", "json_object", "prompt")
DEFAULT_ANSWER_TOKENS = 1024
"""Answer cap of a call whose response model names none (``answer_tokens``): a looping model stops here."""


def _api_key_from_env() -> SecretStr | None:
    key = os.environ.get("OPENAI_API_KEY")
    return SecretStr(key) if key else None


class LLMConfig(BaseModel):
    """How to reach an OpenAI-compatible chat model, and how much to ask of it.

    Example:
        ``LLMConfig(model="gpt-4.1-mini")`` (key from ``OPENAI_API_KEY``), or
        ``LLMConfig(base_url="http://localhost:11434/v1", model="qwen2.5:7b")`` for Ollama.

    """

    model_config = ConfigDict(frozen=True)

    model: str = Field(min_length=1, description="model name as the endpoint knows it")
    base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint; None = api.openai.com")
    api_key: SecretStr | None = Field(default_factory=_api_key_from_env, description="default: $OPENAI_API_KEY")
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_retries: int = Field(default=2, ge=0, description="retries after a transport or server error")
    retry_wait: float = Field(default=1.0, ge=0, description="seconds before the first retry; doubles each time")
    retry_max_wait: float = Field(default=30.0, ge=0, description="longest wait between two retries")
    timeout: float = Field(default=120.0, gt=0, description="seconds per request")
    max_completion_tokens: int | None = Field(
        default=None, ge=1, description="answer length cap for every call (None: a cap per kind of call)"
    )
    answer_cap_field: Literal["auto", "max_tokens", "max_completion_tokens"] = Field(
        default="auto",
        description="request field of the cap; auto: max_completion_tokens for api.openai.com, max_tokens "
        "elsewhere (llama.cpp and older vLLM or Ollama ignore max_completion_tokens)",
    )
    response_format: Literal["auto", "json_schema", "json_object", "prompt"] = Field(
        default="auto",
        description="how the answer's schema is sent; auto: json_schema, then json_object with the schema, "
        "then the schema in the prompt, as far as the endpoint refuses each (remembered per endpoint)",
    )
    repairs: int = Field(default=1, ge=0, description="re-asks after an invalid answer, with the error in the prompt")
    repair_temperature: float = Field(default=0.3, ge=0, le=1, description="temperature added for a re-ask")
    breaker_failures: int = Field(
        default=4, ge=1, description="failed requests in a row after which the LLM is left alone for a while"
    )
    breaker_cooldown: float = Field(
        default=60.0, gt=0, description="seconds the offline backend stands in before the LLM is tried again"
    )
    extra_body: dict[str, Any] = Field(default_factory=dict, description="extra request fields (e.g. vLLM options)")
    boundary_batch: int = Field(
        default=10, ge=2, description="new buffered messages that trigger one boundary-detection call"
    )
    boundary_window: int = Field(default=60, ge=4, description="most messages shown in one boundary-detection call")


@runtime_checkable
class ChatLLM(Protocol):
    """A chat model that answers a prompt with a validated pydantic object.

    Implementations raise :class:`~evermem_integrations.errors.ExtractionError` when the
    answer stays malformed after retries and
    :class:`~evermem_integrations.errors.LLMUnavailableError` when the endpoint cannot be
    used (unreachable, refused, wrong model).
    """

    def complete(self, messages: Sequence[ChatMessage], response_model: type[ResponseT]) -> ResponseT:
        """Send ``messages``; return the answer parsed and validated as ``response_model``."""
        ...


class _MalformedAnswer(Exception):
    """The model answered, but not with a valid ``response_model``.

    ``content`` is the model's text when there was one: it can be shown back to the model
    with the error (a repair). Without it the body was no completion at all.
    """

    def __init__(self, reason: str, content: str | None = None, *, repairable: bool = True) -> None:
        super().__init__(reason)
        self.content = content
        self.repairable = repairable


class _TransientFailure(Exception):
    """Connection error, timeout, rate limit or server error (retryable)."""


class _ShapeRefused(Exception):
    """The server refused a request field (``response_format`` or the token cap): try another shape."""

    def __init__(self, field: Literal["response_format", "token_cap"], reason: str) -> None:
        super().__init__(reason)
        self.field = field


_TRANSIENT_STATUS = {408, 409, 429}
_CONFIG_STATUS = {401, 403, 404}
_SHAPE_WORDS = ("response_format", "json_schema", "json_object")
_CAP_WORDS = ("max_tokens", "max_completion_tokens")


class _BreakerLog(pybreaker.CircuitBreakerListener):
    """One warning when the breaker opens, one note when the endpoint answers again."""

    def __init__(self, endpoint: str, cooldown: float) -> None:
        self.endpoint = endpoint
        self.cooldown = cooldown

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        name = getattr(new_state, "name", str(new_state))
        if name == pybreaker.STATE_OPEN:
            logger.warning(
                "the LLM at %s failed %d requests in a row; extraction, boundary detection and query planning "
                "use the offline backend for %.0f s, then the LLM is tried again",
                self.endpoint,
                cb.fail_counter,
                self.cooldown,
            )
        elif name == pybreaker.STATE_CLOSED and getattr(old_state, "name", "") != pybreaker.STATE_CLOSED:
            logger.info("the LLM at %s answers again", self.endpoint)


class OpenAIChatLLM:
    """:class:`ChatLLM` over the ``openai`` client's ``chat.completions.create``.

    The client's own retries are off (``max_retries=0``): transport and server errors are
    retried here with exponential backoff, an invalid answer is re-asked with its error
    (``repairs``), and every request passes the circuit breaker.

    Attributes:
        calls: requests sent to the endpoint, retries, repairs and refused shapes included.
        prompt_tokens, completion_tokens: token usage the endpoint reported, for every
            answered request (invalid answers included).
        accepted, refused: requests per response-format mode the endpoint answered or refused.
        mode: the response-format mode in use (what the endpoint was found to accept).

    """

    def __init__(self, config: LLMConfig, client: openai.OpenAI | None = None) -> None:
        self.config = config
        self._owns_client = client is None  # a client passed in is the caller's to close
        self.client = client if client is not None else self._client_for(config)
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.accepted: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.mode: Mode = "json_schema" if config.response_format == "auto" else config.response_format
        self._cap_field = _cap_field(config)
        self._lock = threading.Lock()
        self.endpoint = config.base_url or "api.openai.com"
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=config.breaker_failures,
            reset_timeout=config.breaker_cooldown,
            listeners=[_BreakerLog(self.endpoint, config.breaker_cooldown)],
            throw_new_error_on_trip=False,
        )

    @staticmethod
    def _client_for(config: LLMConfig) -> openai.OpenAI:
        key = config.api_key.get_secret_value() if config.api_key is not None else None
        if key is None and config.base_url is None:
            raise ConfigurationError(
                "no API key for api.openai.com: set OPENAI_API_KEY or LLMConfig(api_key=...), "
                "or give base_url= for a local endpoint (Ollama, vLLM)"
            )
        # Local servers (Ollama, vLLM) ignore the key, but the client insists on one.
        return openai.OpenAI(
            base_url=config.base_url, api_key=key or "not-needed", timeout=config.timeout, max_retries=0
        )

    def close(self) -> None:
        """Close the HTTP client this instance created."""
        if self._owns_client:
            self.client.close()

    def complete(self, messages: Sequence[ChatMessage], response_model: type[ResponseT]) -> ResponseT:
        """See :class:`ChatLLM`."""
        config = self.config
        request = list(messages)
        temperature = config.temperature
        retries, repairs = config.max_retries, config.repairs
        while True:
            try:
                return self.breaker.call(self._attempt, request, response_model, temperature)
            except pybreaker.CircuitBreakerError as exc:
                raise LLMPausedError(
                    f"the LLM at {self.endpoint} failed {config.breaker_failures} requests in a row and is left "
                    f"alone for {config.breaker_cooldown:.0f} s; the offline backend stands in"
                ) from exc
            except _MalformedAnswer as exc:
                if exc.content is not None and exc.repairable and repairs > 0:
                    repairs -= 1
                    # The same request at the same temperature mostly returns the same answer:
                    # show the model its answer and what is wrong with it, and loosen it a little.
                    request = [
                        *messages,
                        {"role": "assistant", "content": exc.content},
                        {"role": "user", "content": prompts.REPAIR.format(error=exc)},
                    ]
                    temperature = min(temperature + config.repair_temperature, 2.0)
                    logger.info("invalid %s answer (%s); asking once more with the error", response_model.__name__, exc)
                    continue
                if exc.content is None and retries > 0:
                    retries -= 1
                    self._back_off(config.max_retries - retries, exc)
                    continue
                raise ExtractionError(
                    f"{config.model} returned no valid {response_model.__name__} ({exc}); "
                    "a larger model or one with structured-output support may help"
                ) from exc
            except _TransientFailure as exc:
                if retries > 0:
                    retries -= 1
                    self._back_off(config.max_retries - retries, exc)
                    continue
                raise LLMUnavailableError(
                    f"{config.model} at {self.endpoint} could not be reached or failed {config.max_retries + 1} "
                    f"times ({exc}); check that the endpoint is up and reachable"
                ) from exc

    def _back_off(self, attempt: int, reason: Exception) -> None:
        wait = min(self.config.retry_wait * 2 ** (attempt - 1), self.config.retry_max_wait)
        logger.warning("LLM call attempt %d failed (%s); retrying in %.1f s", attempt, reason, wait)
        time.sleep(wait)

    def _attempt(self, messages: list[ChatMessage], response_model: type[ResponseT], temperature: float) -> ResponseT:
        """One request, in the first shape the endpoint accepts (refused shapes are tried no more)."""
        config = self.config
        while True:
            mode = self.mode
            try:
                completion = self._send(messages, response_model, temperature, mode)
            except _ShapeRefused as exc:
                with self._lock:
                    self.refused[mode] += 1
                if exc.field == "token_cap" and config.answer_cap_field == "auto":
                    other = "max_completion_tokens" if self._cap_field == "max_tokens" else "max_tokens"
                    logger.warning("%s refused %s (%s); sending %s", self.endpoint, self._cap_field, exc, other)
                    self._cap_field = other
                    continue
                later = MODES[MODES.index(mode) + 1 :] if config.response_format == "auto" else ()
                if exc.field == "token_cap" or not later:
                    raise LLMRefusedError(
                        f"{self.endpoint} refused the request shape (response_format {mode}, {self._cap_field}): "
                        f"{exc}; set LLMConfig(response_format=..., answer_cap_field=...) to what the server takes"
                    ) from exc
                logger.warning(
                    "%s does not take response_format %s (%s); asking with %s from now on",
                    self.endpoint,
                    mode,
                    exc,
                    later[0],
                )
                with self._lock:
                    self.mode = later[0]
                continue
            with self._lock:
                self.accepted[mode] += 1
            return self._read(completion, response_model)

    def _send(
        self, messages: list[ChatMessage], response_model: type[BaseModel], temperature: float, mode: Mode
    ) -> Any:
        config = self.config
        options: dict[str, Any] = {self._cap_field: config.max_completion_tokens or _answer_tokens(response_model)}
        if config.extra_body:
            options["extra_body"] = config.extra_body
        if mode == "json_schema":
            options["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": response_model.__name__,
                    "schema": to_strict_json_schema(response_model),
                    "strict": True,
                },
            }
        else:
            schema = response_model.model_json_schema()
            if mode == "json_object":
                options["response_format"] = {"type": "json_object", "schema": schema}
            messages = _with_schema(messages, schema)
        with self._lock:
            self.calls += 1
        try:
            return self.client.chat.completions.create(
                model=config.model,
                messages=messages,  # type: ignore[arg-type]
                temperature=temperature,
                **options,
            )
        except (openai.APIConnectionError, openai.RateLimitError) as exc:  # timeouts included
            raise _TransientFailure(f"{type(exc).__name__}: {exc}") from exc
        except openai.APIStatusError as exc:
            raise _status_failure(exc, self.endpoint, config.model) from exc
        except openai.OpenAIError as exc:  # e.g. APIResponseValidationError: a body that is no completion
            raise _MalformedAnswer(f"{type(exc).__name__}: {exc}") from exc
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            # What the client raises on an HTTP 200 whose body is no chat.completion: a JSON
            # content type over text, HTML or invalid UTF-8 (JSONDecodeError, UnicodeDecodeError),
            # or a body it hands on unparsed (an HTML page, a list, an object without choices).
            raise _MalformedAnswer(f"the answer is not a chat completion ({type(exc).__name__}: {exc})") from exc

    def _read(self, completion: Any, response_model: type[ResponseT]) -> ResponseT:
        """The validated object in a completion, whatever shape the completion has."""
        self._count_usage(getattr(completion, "usage", None))
        try:
            choices = completion.choices
            if not choices:
                raise _MalformedAnswer("no choices in the answer")
            choice = choices[0]
            content, refusal = choice.message.content, getattr(choice.message, "refusal", None)
            finish = choice.finish_reason
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            raise _MalformedAnswer(f"the answer is not a chat completion ({type(exc).__name__}: {exc})") from exc
        if finish == "content_filter":
            raise _MalformedAnswer("the answer was withheld by a content filter")
        if not isinstance(content, str) or not content.strip():
            raise _MalformedAnswer(f"refused: {refusal}" if refusal else "empty answer")
        if finish == "length":
            # Asked again under the same cap, a model that ran out of room runs out again.
            raise _MalformedAnswer("the answer was cut at the token cap", content, repairable=False)
        try:
            return response_model.model_validate_json(content)
        except ValidationError as exc:
            salvaged = _salvage(content, response_model)
            if salvaged is None:
                raise _MalformedAnswer(f"it does not match the schema: {_first_error(exc)}", content) from exc
            return salvaged

    def _count_usage(self, usage: Any) -> None:
        if usage is None:
            return
        try:
            prompt_tokens = int(usage.prompt_tokens or 0)
            completion_tokens = int(usage.completion_tokens or 0)
        except (AttributeError, TypeError, ValueError):
            logger.debug("unreadable token usage in the answer: %r", usage)
            return
        with self._lock:
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens


def fallback_level(exc: Exception) -> int:
    """Log level of a fallback to the offline backend: the breaker already warned once when it opened."""
    return logging.DEBUG if isinstance(exc, LLMPausedError) else logging.WARNING


def _cap_field(config: LLMConfig) -> str:
    if config.answer_cap_field != "auto":
        return config.answer_cap_field
    # OpenAI's reasoning models refuse max_tokens; llama.cpp's server ignores max_completion_tokens.
    official = config.base_url is None or "api.openai.com" in config.base_url
    return "max_completion_tokens" if official else "max_tokens"


def _answer_tokens(response_model: type[BaseModel]) -> int:
    return int(getattr(response_model, "answer_tokens", DEFAULT_ANSWER_TOKENS))


def _with_schema(messages: list[ChatMessage], schema: dict[str, Any]) -> list[ChatMessage]:
    """The messages with the schema appended to the system text (or as one, if there is none)."""
    instruction = prompts.SCHEMA_INSTRUCTION.format(schema=json.dumps(schema, separators=(",", ":")))
    if messages and messages[0]["role"] == "system":
        first: ChatMessage = {"role": "system", "content": f"{messages[0]['content']}\n\n{instruction}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def _status_failure(exc: openai.APIStatusError, endpoint: str, model: str) -> Exception:
    """What an HTTP error means: a refused request shape, a configuration to fix, or a passing failure."""
    status, text = exc.status_code, f"HTTP {exc.status_code}: {exc.message}"
    lowered = str(exc.message).lower()
    # llama-cpp-python answers an unknown response_format with HTTP 500, others with 400 or 422.
    if status in (400, 422, 500) and any(word in lowered for word in _SHAPE_WORDS):
        return _ShapeRefused("response_format", text)
    if status in (400, 422) and any(word in lowered for word in _CAP_WORDS):
        return _ShapeRefused("token_cap", text)
    if status in _TRANSIENT_STATUS or status >= 500:
        return _TransientFailure(text)
    if status in _CONFIG_STATUS:
        return LLMUnavailableError(
            f"{model} at {endpoint} refused the request with {text}; check base_url, model and api_key"
        )
    return LLMRefusedError(f"{endpoint} refused the request with {text}; the server does not take this request")


def _salvage(content: str, response_model: type[ResponseT]) -> ResponseT | None:
    """Read an answer that is valid JSON once unwrapped from Markdown fences or prose.

    Servers without constrained decoding (some Ollama and vLLM set-ups) may answer
    "```json {...} ```"; the object inside still has to pass the model's validation.
    """
    start, end = content.find("{"), content.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        return response_model.model_validate_json(content[start : end + 1])
    except ValidationError:
        return None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(p) for p in error.get("loc", ()))
    return f"{location}: {error.get('msg')}" if location else str(error.get("msg"))

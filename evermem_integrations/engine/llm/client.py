"""The transport: one OpenAI-compatible endpoint, asked for a validated pydantic object."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import openai
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from evermem_integrations.engine.prompts import ChatMessage
from evermem_integrations.errors import ConfigurationError, ExtractionError, LLMUnavailableError

logger = logging.getLogger(__name__)


ResponseT = TypeVar("ResponseT", bound=BaseModel)


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
    max_retries: int = Field(default=3, ge=0, description="retries after a transport error or a malformed answer")
    retry_wait: float = Field(default=1.0, ge=0, description="seconds before the first retry; doubles each time")
    retry_max_wait: float = Field(default=30.0, ge=0, description="longest wait between two retries")
    timeout: float = Field(default=120.0, gt=0, description="seconds per request")
    max_completion_tokens: int | None = Field(
        default=None, ge=1, description="answer length cap (None: server default)"
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
    """The model answered, but not with a valid ``response_model`` (retryable)."""


class _TransientFailure(Exception):
    """Connection error, timeout, rate limit or server error (retryable)."""


_TRANSIENT_STATUS = {408, 409, 429}


class OpenAIChatLLM:
    """:class:`ChatLLM` over the ``openai`` client's ``chat.completions.parse``.

    The client's own retries are off (``max_retries=0``) so one policy, tenacity's
    exponential backoff, covers both transport errors and malformed answers.

    Attributes:
        calls: requests sent to the endpoint, retries included (for cost accounting).
        prompt_tokens, completion_tokens: token usage the endpoint reported.

    """

    def __init__(self, config: LLMConfig, client: openai.OpenAI | None = None) -> None:
        self.config = config
        self._owns_client = client is None  # a client passed in is the caller's to close
        self.client = client if client is not None else self._client_for(config)
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._lock = threading.Lock()

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
        retrying = Retrying(
            stop=stop_after_attempt(config.max_retries + 1),
            wait=wait_exponential(multiplier=config.retry_wait, max=config.retry_max_wait),
            retry=retry_if_exception_type((_MalformedAnswer, _TransientFailure)),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(messages, response_model)
        except _MalformedAnswer as exc:
            raise ExtractionError(
                f"{config.model} returned no valid {response_model.__name__} in {config.max_retries + 1} attempts "
                f"({exc}); a larger model or one with structured-output support may help"
            ) from exc
        except _TransientFailure as exc:
            raise LLMUnavailableError(
                f"{config.model} at {config.base_url or 'api.openai.com'} failed {config.max_retries + 1} times "
                f"({exc}); check that the endpoint is up and reachable"
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    def _attempt(self, messages: Sequence[ChatMessage], response_model: type[ResponseT]) -> ResponseT:
        config = self.config
        options: dict[str, Any] = {}
        if config.max_completion_tokens is not None:
            options["max_completion_tokens"] = config.max_completion_tokens
        if config.extra_body:
            options["extra_body"] = config.extra_body
        with self._lock:
            self.calls += 1
        try:
            completion = self.client.chat.completions.parse(
                model=config.model,
                messages=list(messages),  # type: ignore[arg-type]
                response_format=response_model,
                temperature=config.temperature,
                **options,
            )
        except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
            raise _TransientFailure(f"{type(exc).__name__}: {exc}") from exc
        except openai.APIStatusError as exc:
            if exc.status_code in _TRANSIENT_STATUS or exc.status_code >= 500:
                raise _TransientFailure(f"HTTP {exc.status_code}: {exc.message}") from exc
            raise LLMUnavailableError(
                f"{config.model} at {config.base_url or 'api.openai.com'} refused the request with HTTP "
                f"{exc.status_code} ({exc.message}); check base_url, model, api_key and that the server "
                "supports response_format json_schema"
            ) from exc
        except ValidationError as exc:
            salvaged = _salvage(exc, response_model)
            if salvaged is None:
                raise _MalformedAnswer(f"answer does not match the schema: {_first_error(exc)}") from exc
            return salvaged
        except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
            raise _MalformedAnswer(type(exc).__name__) from exc
        except openai.OpenAIError as exc:  # e.g. APIResponseValidationError: a body that is no completion
            raise _MalformedAnswer(f"{type(exc).__name__}: {exc}") from exc
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            # What the client raises on an HTTP 200 whose body is no chat.completion: a JSON
            # content type over text, HTML or invalid UTF-8 (JSONDecodeError, UnicodeDecodeError),
            # or a body it hands on unparsed (an HTML page, a list, an object without choices).
            raise _MalformedAnswer(f"the answer is not a chat completion ({type(exc).__name__}: {exc})") from exc
        return self._read(completion, response_model)

    def _read(self, completion: Any, response_model: type[ResponseT]) -> ResponseT:
        """The validated object in a completion, whatever shape the completion has."""
        self._count_usage(getattr(completion, "usage", None))
        try:
            choices = completion.choices
            if not choices:
                raise _MalformedAnswer("no choices in the answer")
            message = choices[0].message
            parsed, refusal = message.parsed, message.refusal
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            raise _MalformedAnswer(f"the answer is not a chat completion ({type(exc).__name__}: {exc})") from exc
        if isinstance(parsed, response_model):
            return parsed
        if parsed is None:
            raise _MalformedAnswer(f"refused: {refusal}" if refusal else "empty answer")
        raise _MalformedAnswer(f"the answer is a {type(parsed).__name__}, not a {response_model.__name__}")

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


def _salvage(exc: ValidationError, response_model: type[ResponseT]) -> ResponseT | None:
    """Read an answer that is valid JSON once unwrapped from Markdown fences or prose.

    Servers without constrained decoding (some Ollama and vLLM set-ups) may answer
    "```json {...} ```"; the object inside still has to pass the model's validation.
    """
    error = exc.errors()[0]
    raw = error.get("input")
    if error.get("type") != "json_invalid" or not isinstance(raw, str):
        return None
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        return response_model.model_validate_json(raw[start : end + 1])
    except ValidationError:
        return None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(p) for p in error.get("loc", ()))
    return f"{location}: {error.get('msg')}" if location else str(error.get("msg"))


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    reason = outcome.exception() if outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    logger.warning("LLM call attempt %d failed (%s); retrying in %.1f s", state.attempt_number, reason, wait)

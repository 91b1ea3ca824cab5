"""The LLM backend: extraction, batch boundary detection and agentic query planning.

Any OpenAI-compatible chat-completions endpoint works (OpenAI, Ollama, vLLM, ...): the
``openai`` client sends each prompt of :mod:`evermem_integrations.engine.prompts` with a
pydantic response model as a strict JSON schema (structured outputs), and the answer is
validated by that model. Transport failures and malformed answers (anything but the
requested object: an HTTP 200 carrying HTML, text, truncated JSON or a completion of the
wrong shape included) are retried with exponential backoff (tenacity); what still fails
after the retries raises a typed error, which the components turn into a logged fallback
to the offline backend, so an episode is never lost because a model misbehaved.

Cost is bounded by design: boundary detection runs one call over a batch of buffered
messages (not one per message) and only once enough new messages have arrived, and
extraction runs one call per MemCell, which keeps ingestion at about 0.2-0.3 LLM calls per
message (:attr:`OpenAIChatLLM.calls` counts them).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Protocol, TypeVar, runtime_checkable

import openai
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from evermem_integrations.engine import prompts
from evermem_integrations.engine.extraction import (
    Extraction,
    Extractor,
    FactDraft,
    ForesightDraft,
    ProfileDraft,
    message_text,
)
from evermem_integrations.engine.models import Message
from evermem_integrations.engine.prompts import ChatMessage
from evermem_integrations.engine.recollection import Sufficiency
from evermem_integrations.engine.segmentation import BoundaryDetector, OfflineBoundaryDetector, SegmentationConfig
from evermem_integrations.engine.text import words
from evermem_integrations.engine.timeparse import format_day, parse_timestamp
from evermem_integrations.errors import ConfigurationError, ExtractionError, InvalidTimestampError, LLMUnavailableError

logger = logging.getLogger(__name__)

ResponseT = TypeVar("ResponseT", bound=BaseModel)

_PLAN_DAYS = 30
"""A plan without an end date stays relevant this long (as in the offline backend)."""
_STATE_DAYS = 7
"""A temporary state without an end date holds this long (as in the offline backend)."""
_BOUNDARY_CHARS = 400
"""Boundary detection sees at most this much of each message: the topic, not every word."""


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


# -- response models: what each prompt must answer (sent as strict JSON schemas) -----------------
class LLMFact(BaseModel):
    """One atomic fact as the model states it."""

    subject: str = Field(description="the person the fact is about, by name")
    text: str = Field(description="one self-contained statement, third person, absolute dates")
    source_message_ids: list[str] = Field(description="ids of the messages that state it")
    attribute: str | None = Field(description="key of a single-valued property (residence, occupation), else null")
    value: str | None = Field(description="the property's value, else null")


class LLMForesight(BaseModel):
    """A plan or temporary situation with its validity."""

    subject: str
    text: str
    start: str = Field(description="ISO date from which it holds")
    end: str | None = Field(description="ISO date until which it holds, or null")
    source_message_ids: list[str]


class LLMProfileStatement(BaseModel):
    """Something the episode reveals about a participant."""

    subject: str
    category: str = Field(description="'trait' (stable) or 'state' (temporary)")
    attribute: str
    value: str
    text: str
    source_message_ids: list[str]
    valid_until: str | None = Field(description="for a state: ISO date until which it holds, or null")
    multi_valued: bool

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        category = value.strip().lower()
        if category not in ("trait", "state"):
            raise ValueError("category must be 'trait' or 'state'")
        return category


class ExtractionOutput(BaseModel):
    """The memory of one episode."""

    title: str
    episode: str
    facts: list[LLMFact]
    foresight: list[LLMForesight]
    profile: list[LLMProfileStatement]

    @field_validator("title", "episode")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


class BoundaryOutput(BaseModel):
    """Where new episodes start in a numbered list of messages."""

    new_episode_starts: list[int] = Field(description="numbers of the messages that start a new episode")


class SufficiencyOutput(BaseModel):
    """Whether retrieved memories answer a question, and what to search for if not."""

    sufficient: bool
    missing: str
    queries: list[str]


class RewriteOutput(BaseModel):
    """New search queries for what is missing."""

    queries: list[str]

    @field_validator("queries")
    @classmethod
    def _some_queries(cls, value: list[str]) -> list[str]:
        queries = list(dict.fromkeys(q.strip() for q in value if q.strip()))
        if not queries:
            raise ValueError("give at least one query")
        return queries


# -- rendering messages for prompts ------------------------------------------------------------------
def _moment(timestamp: datetime) -> str:
    return f"{timestamp.strftime('%a')} {format_day(timestamp)} {timestamp.strftime('%H:%M')}"


def transcript(messages: Sequence[Message]) -> str:
    """``[id] | Mon 8 May 2023 13:56 | Caroline: text`` lines, one per message."""
    return "\n".join(f"[{m.id}] | {_moment(m.timestamp)} | {m.sender}: {message_text(m)}" for m in messages)


def numbered_transcript(messages: Sequence[Message]) -> str:
    """``3 | Mon 8 May 2023 13:56 | Caroline: text`` lines, numbered from 0, texts shortened."""
    lines = []
    for number, m in enumerate(messages):
        text = " ".join(message_text(m).split())
        if len(text) > _BOUNDARY_CHARS:
            text = text[:_BOUNDARY_CHARS] + " ..."
        lines.append(f"{number} | {_moment(m.timestamp)} | {m.sender}: {text}")
    return "\n".join(lines)


# -- extraction ---------------------------------------------------------------------------------------
class LLMExtractor:
    """:class:`Extractor` asking the model for a MemCell's title, narrative, facts, foresight and profile.

    One call per MemCell. Source ids the model returns are checked against the episode's real
    message ids: invented ids are dropped, and a statement left without any real source is
    dropped too (every stored fact is supported by a message). When the model fails
    (malformed answers after retries, endpoint unavailable), or none of the facts it states
    survives that check, the episode is extracted by ``fallback`` (the offline extractor)
    and a warning is logged: nothing is lost.
    """

    def __init__(self, llm: ChatLLM, fallback: Extractor | None = None) -> None:
        self.llm = llm
        self.fallback = fallback

    def extract(self, messages: Sequence[Message], participants: Sequence[str]) -> Extraction:
        """See :class:`~evermem_integrations.engine.extraction.Extractor`."""
        prompt = prompts.EXTRACTION.render(
            participants=", ".join(participants),
            time_range=f"{_moment(messages[0].timestamp)} to {_moment(messages[-1].timestamp)}",
            transcript=transcript(messages),
        )
        try:
            output = self.llm.complete(prompt, ExtractionOutput)
            extraction = to_extraction(output, messages)
        except (ExtractionError, LLMUnavailableError, ValueError, TypeError, OverflowError) as exc:
            # ValueError, TypeError, OverflowError: a valid answer holding something unusable
            # (a date beyond the calendar, say) that building the drafts tripped over.
            if self.fallback is None:
                raise
            logger.warning(
                "LLM extraction failed for the episode of %d messages %s..%s (%s); "
                "extracting it with the offline backend instead",
                len(messages),
                messages[0].id,
                messages[-1].id,
                exc,
            )
            return self.fallback.extract(messages, participants)
        if extraction.facts or self.fallback is None:
            return extraction
        # Nothing the model stated cites a message of the episode (or it stated nothing):
        # rather than a MemCell without facts, take what the offline backend finds in it.
        offline = self.fallback.extract(messages, participants)
        if not offline.facts:
            return extraction
        logger.warning(
            "LLM extraction kept no fact for the episode of %d messages %s..%s (%d stated, none citing a message "
            "of the episode); using the offline backend's %d facts instead",
            len(messages),
            messages[0].id,
            messages[-1].id,
            len(output.facts),
            len(offline.facts),
        )
        return offline


def to_extraction(output: ExtractionOutput, messages: Sequence[Message]) -> Extraction:
    """Turn the model's answer into drafts, keeping only what real messages support."""
    by_id = {m.id: m for m in messages}
    invented: list[str] = []
    unsupported: list[str] = []

    def sources(ids: Sequence[str], text: str) -> list[Message]:
        wanted = list(dict.fromkeys(_clean_id(i) for i in ids))
        invented.extend(i for i in wanted if i not in by_id)
        found = [by_id[i] for i in wanted if i in by_id]
        if not found:
            unsupported.append(text)
        return found

    facts: list[FactDraft] = []
    for fact in output.facts:
        support = sources(fact.source_message_ids, fact.text)
        if not support or not fact.text.strip():
            continue
        attribute = (fact.attribute or "").strip().lower() or None
        value = (fact.value or "").strip() or None
        keyed = attribute is not None and value is not None
        facts.append(
            FactDraft(
                subject=fact.subject.strip() or support[0].sender,
                text=fact.text.strip(),
                timestamp=max(m.timestamp for m in support),
                source_message_ids=[m.id for m in support],
                attribute=attribute if keyed else None,
                value=value if keyed else None,
            )
        )
    foresight: list[ForesightDraft] = []
    for plan in output.foresight:
        support = sources(plan.source_message_ids, plan.text)
        if not support or not plan.text.strip():
            continue
        said = max(m.timestamp for m in support)
        start = _date(plan.start) or said
        end = _date(plan.end, end_of_day=True)
        if end is None or end < start:
            end = _plus(start, timedelta(days=_PLAN_DAYS))
        foresight.append(
            ForesightDraft(
                subject=plan.subject.strip() or support[0].sender,
                text=plan.text.strip(),
                start=start,
                end=end,
                source_message_ids=[m.id for m in support],
            )
        )
    profile: list[ProfileDraft] = []
    for statement in output.profile:
        support = sources(statement.source_message_ids, statement.text)
        if not support or not statement.value.strip() or not statement.attribute.strip():
            continue
        said = max(m.timestamp for m in support)
        until = None
        if statement.category == "state":
            until = _date(statement.valid_until, end_of_day=True)
            if until is None or until < said:
                until = _plus(said, timedelta(days=_STATE_DAYS))
        profile.append(
            ProfileDraft(
                subject=statement.subject.strip() or support[0].sender,
                category=statement.category,  # type: ignore[arg-type]  # validated above
                attribute=statement.attribute.strip().lower(),
                value=statement.value.strip(),
                text=statement.text.strip() or f"{statement.attribute}: {statement.value}",
                evidence=[m.id for m in support],
                timestamp=said,
                valid_until=until,
                multi_valued=statement.multi_valued,
            )
        )
    if invented:
        logger.info("ignored source id(s) the model invented (not messages of this episode): %s", invented)
    if unsupported:
        # Not a loss of user data: the messages stay stored and searchable; only the model's
        # statements that cite no real message are left out.
        logger.warning("left out %d statement(s) citing no message of the episode: %s", len(unsupported), unsupported)
    return Extraction(title=output.title, episode=output.episode, facts=facts, foresight=foresight, profile=profile)


def _clean_id(value: str) -> str:
    # Models sometimes copy the brackets of the transcript along with the id.
    return value.strip().strip("[]").strip()


def _date(value: str | None, *, end_of_day: bool = False) -> datetime | None:
    """Read a date the model wrote; None when it wrote none or an unreadable one.

    With ``end_of_day`` a bare date ("2023-05-14") means the end of that day, so a plan
    "until 14 May" still holds on the afternoon of 14 May.
    """
    if value is None or not value.strip():
        return None
    try:
        moment = parse_timestamp(value.strip())
    except (InvalidTimestampError, OverflowError, ValueError):  # OverflowError: "0001-01-01T00:00+05:00"
        return None
    if end_of_day and ":" not in value and moment.time() == time(0):
        moment = _plus(moment, timedelta(days=1, microseconds=-1)) or moment
    return moment


def _plus(moment: datetime, delta: timedelta) -> datetime | None:
    """``moment + delta``, or None past the calendar's end (a model may write year 9999)."""
    try:
        return moment + delta
    except OverflowError:
        return None


# -- boundary detection ---------------------------------------------------------------------------------
class LLMBoundaryDetector:
    """:class:`BoundaryDetector` with one LLM call over a batch of buffered messages.

    Hard rules come first and come from the offline detector's configuration: a long
    silence or a new day always cuts (no call needed), and after the model's topic cuts the
    message and token caps are applied to every episode. Inside a sitting, the model sees up
    to ``window`` messages at once and names where new episodes start; cuts leaving an
    episode shorter than ``min_messages`` are ignored. To keep the cost at a fraction of a
    call per message, the open tail of the buffer is only sent once ``batch`` messages have
    arrived since it was last examined, and a closed stretch only if a new episode could fit
    in what the model has not seen yet. If the model fails, the whole decision falls back to
    the offline detector (logged).

    Args:
        llm: the chat model.
        fallback: the offline detector: its configuration supplies the hard rules, and it
            decides alone when the model fails.
        batch: new messages that trigger a call on the open tail.
        window: most messages shown in one call.

    """

    _MEMO_SIZE = 10_000

    def __init__(self, llm: ChatLLM, fallback: BoundaryDetector, *, batch: int = 10, window: int = 60) -> None:
        self.llm = llm
        self.fallback = fallback
        self.batch = batch
        self.window = window
        config = fallback.config if isinstance(fallback, OfflineBoundaryDetector) else SegmentationConfig()
        self.min_messages = config.min_messages
        # The offline rules without their topic rule ("no topic cut leaves an episode shorter
        # than min_messages", so an unreachable minimum switches it off): one copy cuts on
        # time only, the other applies the caps inside each episode.
        no_topic = {"min_messages": 10**9}
        self._time_rules = OfflineBoundaryDetector(
            _no_embedding, config.model_copy(update={**no_topic, "max_messages": 10**9, "max_tokens": 10**12})
        )
        self._cap_rules = OfflineBoundaryDetector(
            _no_embedding, config.model_copy(update={**no_topic, "max_gap": timedelta.max, "cut_on_new_day": False})
        )
        self._examined: OrderedDict[tuple[str, datetime], int] = OrderedDict()
        self._lock = threading.Lock()

    def cuts(self, messages: Sequence[Message], *, final: bool) -> list[int]:
        """See :class:`~evermem_integrations.engine.segmentation.BoundaryDetector`."""
        if len(messages) < 2:
            return []
        try:
            topic = self._topic_cuts_all(messages, final)
        except (ExtractionError, LLMUnavailableError) as exc:
            logger.warning(
                "LLM boundary detection failed over %d buffered messages (%s); using the offline detector",
                len(messages),
                exc,
            )
            return self.fallback.cuts(messages, final=final)
        bounds = sorted(topic)
        capped = set(bounds)
        for start, end in zip([0, *bounds], [*bounds, len(messages)], strict=True):
            capped.update(start + cut for cut in self._cap_rules.cuts(messages[start:end], final=True))
        return sorted(capped)

    def _topic_cuts_all(self, messages: Sequence[Message], final: bool) -> set[int]:
        gaps = self._time_rules.cuts(messages, final=final)
        found = set(gaps)
        for start, end in zip([0, *gaps], [*gaps, len(messages)], strict=True):
            found.update(self._segment_cuts(messages, start, end, open_tail=end == len(messages) and not final))
        return found

    def _segment_cuts(self, messages: Sequence[Message], start: int, end: int, *, open_tail: bool) -> list[int]:
        """Topic cuts in ``messages[start:end]`` (a stretch without time gaps)."""
        found: list[int] = []
        head = start
        while True:
            unseen = end - head - self._seen(messages[head])
            worth_asking = (
                unseen >= self.batch
                if open_tail
                else (unseen >= self.min_messages and end - head >= 2 * self.min_messages)
            )
            if not worth_asking:
                return found
            stop = min(head + self.window, end)
            more_follows = open_tail or stop < end
            local = self._ask(messages[head:stop], more_follows=more_follows)
            accepted = self._plausible(local, stop - head, closed=not more_follows)
            found.extend(head + cut for cut in accepted)
            new_head = head + accepted[-1] if accepted else head
            self._remember(messages[new_head], stop - new_head)
            if stop == end:
                return found
            # Continue after the last cut; without one the window moves on by itself.
            head = new_head if accepted else stop

    def _plausible(self, cuts: Sequence[int], length: int, *, closed: bool) -> list[int]:
        accepted: list[int] = []
        last = 0
        for cut in sorted(set(cuts)):
            if cut <= 0 or cut >= length or cut - last < self.min_messages:
                continue
            accepted.append(cut)
            last = cut
        if closed and accepted and length - accepted[-1] < self.min_messages:
            accepted.pop()  # the short last piece stays with the episode before it
        return accepted

    def _ask(self, messages: Sequence[Message], *, more_follows: bool) -> list[int]:
        note = prompts.BOUNDARY_OPEN_TAIL_NOTE if more_follows else prompts.BOUNDARY_CLOSED_NOTE
        prompt = prompts.BOUNDARY.render(tail_note=note, transcript=numbered_transcript(messages))
        return self.llm.complete(prompt, BoundaryOutput).new_episode_starts

    def _seen(self, message: Message) -> int:
        with self._lock:
            return self._examined.get((message.id, message.timestamp), 0)

    def _remember(self, head: Message, examined: int) -> None:
        with self._lock:
            key = (head.id, head.timestamp)
            self._examined[key] = max(examined, self._examined.get(key, 0))
            self._examined.move_to_end(key)
            while len(self._examined) > self._MEMO_SIZE:
                self._examined.popitem(last=False)


def _no_embedding(texts: Sequence[str]) -> Any:
    raise AssertionError("the rule-only detectors never embed (their topic rule is off)")  # pragma: no cover


# -- agentic query planning -----------------------------------------------------------------------------------
class LLMQueryPlanner:
    """:class:`QueryPlanner`: a sufficiency check that also drafts the rewritten queries.

    :meth:`check` asks for the verdict and, when the context falls short, 2-3 new queries in
    the same call (a rephrased question, a hypothetical answer, a time-bounded variant);
    :meth:`rewrite` returns those without a second call, or asks the model itself when
    called on its own. If the model fails, the search keeps its first round (logged).
    """

    _MEMO_SIZE = 64

    def __init__(self, llm: ChatLLM, max_queries: int = 3) -> None:
        self.llm = llm
        self.max_queries = max_queries
        self._drafts: OrderedDict[tuple[str, str], list[str]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, query: str, context: str) -> Sufficiency:
        """See :class:`~evermem_integrations.engine.recollection.QueryPlanner`."""
        prompt = prompts.SUFFICIENCY.render(query=query, context=context.strip() or prompts.EMPTY_CONTEXT)
        try:
            output = self.llm.complete(prompt, SufficiencyOutput)
        except (ExtractionError, LLMUnavailableError) as exc:
            logger.warning("LLM sufficiency check failed (%s); answering with the first retrieval round", exc)
            return Sufficiency(sufficient=True, missing="")
        queries = _distinct(output.queries, query)
        if not output.sufficient and queries:
            with self._lock:
                self._drafts[(query, context)] = queries
                while len(self._drafts) > self._MEMO_SIZE:
                    self._drafts.popitem(last=False)
        return Sufficiency(sufficient=output.sufficient, missing=output.missing.strip())

    def rewrite(self, query: str, context: str, missing: str) -> list[str]:
        """See :class:`~evermem_integrations.engine.recollection.QueryPlanner`."""
        with self._lock:
            drafted = self._drafts.pop((query, context), None)
        if drafted:
            return drafted[: self.max_queries]
        prompt = prompts.REWRITE.render(
            query=query, missing=missing or "unknown", context=context.strip() or prompts.EMPTY_CONTEXT
        )
        try:
            output = self.llm.complete(prompt, RewriteOutput)
        except (ExtractionError, LLMUnavailableError) as exc:
            logger.warning("LLM query rewriting failed (%s); answering with the first retrieval round", exc)
            return []
        return _distinct(output.queries, query)[: self.max_queries]


def _distinct(queries: Sequence[str], original: str) -> list[str]:
    """Drop empty queries, the original question and repeats (case and punctuation ignored)."""
    seen = {" ".join(words(original))}
    kept = []
    for query in queries:
        key = " ".join(words(query))
        if key and key not in seen:
            seen.add(key)
            kept.append(query.strip())
    return kept


# -- wiring ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LLMComponents:
    """The three LLM-backed components :class:`~evermem_integrations.EverMem` plugs in."""

    llm: ChatLLM
    extractor: LLMExtractor
    boundary_detector: LLMBoundaryDetector
    planner: LLMQueryPlanner


def llm_components(
    llm: LLMConfig | ChatLLM, *, offline_extractor: Extractor, offline_detector: BoundaryDetector
) -> LLMComponents:
    """Build the LLM extractor, boundary detector and planner, with offline fallbacks.

    Args:
        llm: an :class:`LLMConfig` (an :class:`OpenAIChatLLM` is created from it) or any
            ready :class:`ChatLLM`.
        offline_extractor: extracts an episode when the model fails on it.
        offline_detector: supplies the hard segmentation rules and decides when the model fails.

    """
    if isinstance(llm, LLMConfig):
        config = llm
        chat: ChatLLM = OpenAIChatLLM(config)
    elif isinstance(llm, ChatLLM):
        config = None
        chat = llm
    else:
        raise ConfigurationError(
            f"llm must be an LLMConfig or a ChatLLM (an object with complete(messages, response_model)), "
            f"got {type(llm).__name__}"
        )
    batch = config.boundary_batch if config is not None else LLMConfig.model_fields["boundary_batch"].default
    window = config.boundary_window if config is not None else LLMConfig.model_fields["boundary_window"].default
    return LLMComponents(
        llm=chat,
        extractor=LLMExtractor(chat, offline_extractor),
        boundary_detector=LLMBoundaryDetector(chat, offline_detector, batch=batch, window=window),
        planner=LLMQueryPlanner(chat),
    )

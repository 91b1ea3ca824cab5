"""Extraction of one MemCell's memory by the model, checked against the episode's messages."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, time, timedelta

from evermem_integrations.engine import prompts
from evermem_integrations.engine.extraction import (
    Extraction,
    Extractor,
    FactDraft,
    ForesightDraft,
    ProfileDraft,
)
from evermem_integrations.engine.llm.client import ChatLLM, fallback_level
from evermem_integrations.engine.llm.schemas import ExtractionOutput, moment_label, transcript
from evermem_integrations.engine.models import Message
from evermem_integrations.engine.timeparse import parse_timestamp
from evermem_integrations.errors import ExtractionError, InvalidTimestampError, LLMUnavailableError

logger = logging.getLogger(__name__)


_PLAN_DAYS = 30
"""A plan without an end date stays relevant this long (as in the offline backend)."""
_STATE_DAYS = 7
"""A temporary state without an end date holds this long (as in the offline backend)."""


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
            time_range=f"{moment_label(messages[0].timestamp)} to {moment_label(messages[-1].timestamp)}",
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
            logger.log(
                fallback_level(exc),
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

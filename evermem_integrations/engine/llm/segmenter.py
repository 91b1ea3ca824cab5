"""Episode boundaries found by the model over a batch of buffered messages."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from evermem_integrations.engine import prompts
from evermem_integrations.engine.llm.client import ChatLLM, fallback_level
from evermem_integrations.engine.llm.schemas import BoundaryOutput, numbered_transcript
from evermem_integrations.engine.models import Message
from evermem_integrations.engine.segmentation import BoundaryDetector, OfflineBoundaryDetector, SegmentationConfig
from evermem_integrations.errors import ExtractionError, LLMUnavailableError

logger = logging.getLogger(__name__)


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
            logger.log(
                fallback_level(exc),
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
            try:
                local = self._ask(messages[head:stop], more_follows=more_follows)
            except (ExtractionError, LLMUnavailableError):
                # A failed look counts as a look: the same window is not asked about again at
                # every add, only once a new batch has arrived (the offline detector decides meanwhile).
                self._remember(messages[head], stop - head)
                raise
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

"""Agentic query planning: a sufficiency check that also drafts rewritten queries."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence

from evermem_integrations.engine import prompts
from evermem_integrations.engine.llm.client import ChatLLM, fallback_level
from evermem_integrations.engine.llm.schemas import RewriteOutput, SufficiencyOutput
from evermem_integrations.engine.recollection import Sufficiency
from evermem_integrations.engine.text import words
from evermem_integrations.errors import ExtractionError, LLMUnavailableError

logger = logging.getLogger(__name__)


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
            logger.log(
                fallback_level(exc), "LLM sufficiency check failed (%s); answering with the first retrieval round", exc
            )
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
            logger.log(
                fallback_level(exc), "LLM query rewriting failed (%s); answering with the first retrieval round", exc
            )
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

"""The LLM backend: extraction, batch boundary detection and agentic query planning.

Any OpenAI-compatible chat-completions endpoint works (OpenAI, Ollama, vLLM, llama.cpp):
:class:`OpenAIChatLLM` (:mod:`.client`) sends each prompt of
:mod:`evermem_integrations.engine.prompts` with its pydantic response model in the request
shape the endpoint takes (negotiated once: ``json_schema``, ``json_object`` with the schema,
or the schema in the prompt), and the answer is validated by that model. Server and
transport errors are retried with backoff, an invalid answer (anything but the requested
object: an HTTP 200 carrying HTML, text, truncated JSON or a completion of the wrong shape
included) is re-asked once with its error, and a circuit breaker leaves a failing endpoint
alone for a while; what still fails raises a typed error, which the components turn into a
logged fallback to the offline backend, so an episode is never lost because a model misbehaved.

Cost is bounded by design: boundary detection runs one call over a batch of buffered
messages (not one per message) and only once enough new messages have arrived, and
extraction runs one call per MemCell, which keeps ingestion at about 0.2-0.3 LLM calls per
message (:attr:`OpenAIChatLLM.calls` counts them).
"""

from __future__ import annotations

from dataclasses import dataclass

from evermem_integrations.engine.extraction import Extractor
from evermem_integrations.engine.llm.client import ChatLLM, LLMConfig, OpenAIChatLLM
from evermem_integrations.engine.llm.extractor import LLMExtractor, to_extraction
from evermem_integrations.engine.llm.planner import LLMQueryPlanner
from evermem_integrations.engine.llm.schemas import (
    BoundaryOutput,
    ExtractionOutput,
    LLMFact,
    LLMForesight,
    LLMProfileStatement,
    RewriteOutput,
    SufficiencyOutput,
    numbered_transcript,
    transcript,
)
from evermem_integrations.engine.llm.segmenter import LLMBoundaryDetector
from evermem_integrations.engine.segmentation import BoundaryDetector
from evermem_integrations.errors import ConfigurationError

__all__ = [
    "BoundaryOutput",
    "ChatLLM",
    "ExtractionOutput",
    "LLMBoundaryDetector",
    "LLMComponents",
    "LLMConfig",
    "LLMExtractor",
    "LLMFact",
    "LLMForesight",
    "LLMProfileStatement",
    "LLMQueryPlanner",
    "OpenAIChatLLM",
    "RewriteOutput",
    "SufficiencyOutput",
    "llm_components",
    "numbered_transcript",
    "to_extraction",
    "transcript",
]


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

"""LLMConfig and the wiring of the LLM components."""

from __future__ import annotations

import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine.extraction import OfflineExtractor
from evermem_integrations.engine.llm import (
    LLMBoundaryDetector,
    LLMConfig,
    LLMExtractor,
    LLMQueryPlanner,
    OpenAIChatLLM,
    llm_components,
)
from evermem_integrations.engine.segmentation import OfflineBoundaryDetector
from evermem_integrations.errors import ConfigurationError


def test_the_key_comes_from_the_environment_and_stays_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    config = LLMConfig(model="gpt-4.1-mini")
    assert config.api_key is not None
    assert config.api_key.get_secret_value() == "sk-from-env"
    assert "sk-from-env" not in repr(config)
    assert "sk-from-env" not in config.model_dump_json()


def test_openai_without_a_key_is_refused_with_a_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="set OPENAI_API_KEY"):
        OpenAIChatLLM(LLMConfig(model="gpt-4.1-mini"))
    # A local server (Ollama, vLLM) needs no key.
    local = OpenAIChatLLM(LLMConfig(model="qwen2.5:7b", base_url="http://127.0.0.1:11434/v1"))
    assert str(local.client.base_url) == "http://127.0.0.1:11434/v1/"
    assert local.client.max_retries == 0  # OpenAIChatLLM alone retries, past the breaker


def test_components_share_one_model_and_keep_the_offline_fallbacks() -> None:
    config = LLMConfig(model="m", base_url="http://127.0.0.1:9/v1", api_key="k", boundary_batch=16)
    offline_detector = OfflineBoundaryDetector(lambda texts: pytest.fail("not used"))
    offline_extractor = OfflineExtractor()
    parts = llm_components(config, offline_extractor=offline_extractor, offline_detector=offline_detector)
    assert isinstance(parts.llm, OpenAIChatLLM)
    assert isinstance(parts.extractor, LLMExtractor)
    assert isinstance(parts.boundary_detector, LLMBoundaryDetector)
    assert isinstance(parts.planner, LLMQueryPlanner)
    assert parts.extractor.llm is parts.boundary_detector.llm is parts.planner.llm is parts.llm
    assert parts.extractor.fallback is offline_extractor
    assert parts.boundary_detector.fallback is offline_detector
    assert parts.boundary_detector.batch == 16


def test_anything_else_as_llm_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="LLMConfig or a ChatLLM"):
        EverMem(path=None, llm="gpt-4.1-mini")

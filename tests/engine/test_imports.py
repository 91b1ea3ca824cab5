import importlib
import re
import subprocess
import sys

import pytest

import evermem_integrations

# Every public name and the module that defines it: the top-level name must be that very object.
HOMES = {
    "AddResult": "evermem_integrations.memory",
    "CallableEmbedder": "evermem_integrations.engine.embeddings",
    "ConfigurationError": "evermem_integrations.errors",
    "ConversationMeta": "evermem_integrations.engine.models",
    "DatabaseConfig": "evermem_integrations.engine.database",
    "Embedder": "evermem_integrations.engine.embeddings",
    "EverMem": "evermem_integrations.memory",
    "EverMemError": "evermem_integrations.errors",
    "ExtractionError": "evermem_integrations.errors",
    "Fact": "evermem_integrations.engine.models",
    "Foresight": "evermem_integrations.engine.models",
    "InputError": "evermem_integrations.errors",
    "InvalidFilterError": "evermem_integrations.errors",
    "InvalidMessageError": "evermem_integrations.errors",
    "InvalidQueryError": "evermem_integrations.errors",
    "InvalidTimestampError": "evermem_integrations.errors",
    "LLMConfig": "evermem_integrations.engine.llm.client",
    "LLMError": "evermem_integrations.errors",
    "LLMPausedError": "evermem_integrations.errors",
    "LLMRefusedError": "evermem_integrations.errors",
    "LLMUnavailableError": "evermem_integrations.errors",
    "MemCell": "evermem_integrations.engine.models",
    "MemScene": "evermem_integrations.engine.models",
    "Message": "evermem_integrations.engine.models",
    "NotFoundError": "evermem_integrations.errors",
    "OpenAIEmbedder": "evermem_integrations.engine.embeddings",
    "Profile": "evermem_integrations.engine.models",
    "ProfileConfig": "evermem_integrations.engine.consolidation",
    "ProfileItem": "evermem_integrations.engine.models",
    "RecollectionConfig": "evermem_integrations.engine.recollection",
    "SceneConfig": "evermem_integrations.engine.consolidation",
    "Scope": "evermem_integrations.engine.models",
    "ScopeError": "evermem_integrations.errors",
    "ScopeStats": "evermem_integrations.memory",
    "SearchItem": "evermem_integrations.engine.models",
    "SearchResult": "evermem_integrations.engine.models",
    "SegmentationConfig": "evermem_integrations.engine.segmentation",
    "SentenceTransformerEmbedder": "evermem_integrations.engine.embeddings",
    "StaticEmbedder": "evermem_integrations.engine.embeddings",
    "StoreBusyError": "evermem_integrations.errors",
    "StoreError": "evermem_integrations.errors",
    "StoreUnavailableError": "evermem_integrations.errors",
    "StoreVersionError": "evermem_integrations.errors",
}
EXPECTED_ALL = sorted(HOMES)

# The error families as the README describes them (name -> its direct base).
ERROR_BASES = {
    "InputError": ("EverMemError", ValueError),
    "InvalidMessageError": ("InputError",),
    "InvalidTimestampError": ("InputError",),
    "ScopeError": ("InputError",),
    "InvalidFilterError": ("InputError",),
    "InvalidQueryError": ("InputError",),
    "ConfigurationError": ("InputError",),
    "StoreError": ("EverMemError",),
    "StoreVersionError": ("StoreError",),
    "StoreBusyError": ("StoreError",),
    "StoreUnavailableError": ("StoreError",),
    "LLMError": ("EverMemError",),
    "LLMPausedError": ("LLMUnavailableError",),
    "LLMRefusedError": ("LLMUnavailableError",),
    "LLMUnavailableError": ("LLMError",),
    "ExtractionError": ("LLMError",),
    "NotFoundError": ("EverMemError", KeyError),
}


def test_public_surface_is_pinned() -> None:
    assert sorted(evermem_integrations.__all__) == EXPECTED_ALL


@pytest.mark.parametrize("name", EXPECTED_ALL)
def test_each_public_name_is_the_object_of_its_home_module(name: str) -> None:
    home = importlib.import_module(HOMES[name])
    assert getattr(evermem_integrations, name) is getattr(home, name)
    assert getattr(evermem_integrations, name).__name__ == name


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from evermem_integrations import *", namespace)
    assert set(EXPECTED_ALL) <= set(namespace)


@pytest.mark.parametrize("name", sorted(ERROR_BASES))
def test_error_families(name: str) -> None:
    error = getattr(evermem_integrations, name)
    for base in ERROR_BASES[name]:
        assert issubclass(error, getattr(evermem_integrations, base) if isinstance(base, str) else base)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        evermem_integrations.NoSuchThing  # noqa: B018


def test_core_import_pulls_in_no_framework() -> None:
    code = (
        "import sys, evermem_integrations; "
        "bad = [m for m in ('langchain_core', 'llama_index', 'langgraph', 'openai', 'matplotlib')"
        " if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


ADAPTER_NAMES = {
    # Adapters live in their optional subpackages (each needs its extra), not at the top level.
    "EverMemMiddleware": "evermem_integrations.langchain",
    "EverMemStore": "evermem_integrations.langchain",
    "EverMemRetriever": "evermem_integrations.langchain",
    "EverMemMemory": "evermem_integrations.langchain",
    "EverMemChatMessageHistory": "evermem_integrations.langchain",
    "EverMemBlock": "evermem_integrations.llama_index",
}


def test_every_name_the_readme_offers_is_importable() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    offered = set(re.findall(r"\b(?:EverMem\w*|\w+(?:Error|Embedder|Config|Result|Stats))\b", readme))
    offered -= {"EverMemOS", "KeyError", "ValueError", "ImportError"}  # the design's name; Python's own errors
    assert {"LLMConfig", "CallableEmbedder", "SentenceTransformerEmbedder", "StoreBusyError"} <= offered
    for name in sorted(offered):
        if name in ADAPTER_NAMES:
            module = pytest.importorskip(ADAPTER_NAMES[name])
            assert hasattr(module, name), f"README offers {name}, which {ADAPTER_NAMES[name]} does not export"
        else:
            assert name in evermem_integrations.__all__, f"README offers {name}: export it from evermem_integrations"


def test_remembering_an_english_chat_loads_no_chinese_segmenter(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # jieba's dictionary takes 0.5-1 s to load: a chat without Chinese must not pay for it, profile entries
    # (indexed with Chinese question words) included.
    code = (
        "import sys; from datetime import datetime, timezone; from evermem_integrations import EverMem; "
        f"mem = EverMem(path={str(tmp_path)!r}); "
        "t = datetime(2024, 5, 8, tzinfo=timezone.utc); "
        "said = ['I live in Lisbon.', 'I love hiking and I hate olives.', 'I work as a nurse.', 'My dog is Rex.']; "
        "mem.add([{'role': 'user', 'content': s, 'timestamp': t} for s in said], user_id='ana'); "
        "mem.flush(user_id='ana'); "
        "assert any(p.traits for p in mem.get_profile(user_id='ana')), 'no profile entry was written'; "
        "mem.search('Where does Ana live?', user_id='ana'); "
        "assert 'jieba' not in sys.modules, 'jieba was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

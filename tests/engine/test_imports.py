import evermem_integrations

EXPECTED_ALL = [
    "AddResult",
    "ConfigurationError",
    "ConversationMeta",
    "Embedder",
    "EverMem",
    "EverMemError",
    "ExtractionError",
    "Fact",
    "Foresight",
    "InputError",
    "InvalidFilterError",
    "InvalidMessageError",
    "InvalidQueryError",
    "InvalidTimestampError",
    "LLMError",
    "LLMUnavailableError",
    "MemCell",
    "MemScene",
    "Message",
    "NotFoundError",
    "OpenAIEmbedder",
    "Profile",
    "ProfileItem",
    "Scope",
    "ScopeError",
    "ScopeStats",
    "SearchItem",
    "SearchResult",
    "StaticEmbedder",
    "StoreBusyError",
    "StoreError",
    "StoreUnavailableError",
    "StoreVersionError",
]


def test_public_surface_is_pinned() -> None:
    assert sorted(evermem_integrations.__all__) == EXPECTED_ALL
    for name in EXPECTED_ALL:
        assert getattr(evermem_integrations, name) is not None


def test_core_import_pulls_in_no_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, evermem_integrations; "
        "bad = [m for m in ('langchain_core', 'llama_index', 'langgraph') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

import evermem_integrations.langchain as adapters

EXPECTED = [
    "EverMemChatMessageHistory",
    "EverMemMemory",
    "EverMemMiddleware",
    "EverMemRetriever",
    "EverMemRunnable",
    "EverMemStore",
    "with_memory",
]


def test_public_surface_is_pinned() -> None:
    assert sorted(adapters.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(adapters, name) is not None

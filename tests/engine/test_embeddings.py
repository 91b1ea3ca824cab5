"""The bundled static model: loaded once per process, whatever the number of engines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine.embeddings import StaticEmbedder


def test_engines_of_one_process_share_the_loaded_model() -> None:
    with EverMem(path=None) as first, EverMem(path=None) as second:
        assert isinstance(first.embedder, StaticEmbedder) and isinstance(second.embedder, StaticEmbedder)
        a, b = first.embedder.embed(["a grey cat"]), second.embedder.embed(["a grey cat"])
        assert first.embedder._model is second.embedder._model
        np.testing.assert_array_equal(a, b)


def test_a_folder_without_a_model_is_refused_every_time(tmp_path: Path) -> None:
    for _ in range(2):
        with pytest.raises(FileNotFoundError, match="no model2vec model"):
            StaticEmbedder(tmp_path).embed(["text"])


class _Recording(StaticEmbedder):
    """The bundled model, keeping every batch of texts it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return super().embed(texts)


def test_a_text_that_repeats_within_a_write_is_embedded_once() -> None:
    """A one-sentence message is also its fact: both units index the same text, which costs one embedding."""
    embedder = _Recording()
    lines = ["I adopted a cat named Miso.", "Nice! How old is she?", "She is two years old.", "Lovely."]
    chat = [
        {"sender": "Ana" if n % 2 == 0 else "Bo", "content": text, "timestamp": 1_700_000_000 + 60 * n}
        for n, text in enumerate(lines)
    ]
    with EverMem(path=None, embedder=embedder) as mem:
        mem.add(chat, user_id="ana")
        mem.flush(user_id="ana")
        assert all(len(batch) == len(set(batch)) for batch in embedder.batches)
        held = mem.records.exact_vectors("user=ana")
        units = mem.records.units("user=ana", held.ids)
        miso = [n for n, i in enumerate(held.ids) if units[i].text == "Ana: I adopted a cat named Miso."]
        assert sorted(units[held.ids[n]].kind for n in miso) == ["fact", "message"]
        np.testing.assert_array_equal(held.matrix[miso[0]], held.matrix[miso[1]])

"""The bundled static model: loaded once per process, whatever the number of engines."""

from __future__ import annotations

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

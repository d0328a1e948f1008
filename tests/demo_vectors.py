"""The demo's embedding vectors, shipped so that a fresh clone's tests need not compute them.

`tests/data/demo_vectors.npz` holds the fp32 vectors the default model (all-MiniLM-L6-v2)
gives the distinct "combined" representation texts of the committed demo (`data/demo`, 6,000
conversations, 1,974 distinct texts), keyed by each text's sha256 (the vector cache's key).
`seed_cache()` writes them into the session's embedding cache under the model's identity, so
the demo analysis of test_pipeline.py and the embeddings of test_map_scale.py find every text
there, as on a machine that has run the suite once. Computing them costs 1.5-3 minutes on two
cores, half of the suite's budget on a cold clone.

Nothing depends on the file for correctness: a text it lacks is embedded as usual, only more
slowly. test_demo_vectors.py checks that it still covers the demo's texts and that it holds
what the model gives today; when either fails, regenerate it with
`PYTHONPATH=. python tests/demo_vectors.py`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from simgap_core.demo import DEMO_SOURCES, generate_demo
from simgap_core.embed import CachedEmbedder, SentenceTransformerEmbedder, text_hash
from simgap_core.model import Conversation, Corpus
from simgap_core.represent import represent

VECTORS = Path(__file__).resolve().parent / "data" / "demo_vectors.npz"
PER_SOURCE = 1500  # the committed demo's size (data/demo)


@functools.cache
def demo_texts() -> tuple[list[str], np.ndarray]:
    """The "combined" text of each demo conversation (sources in DEMO_SOURCES order) and the
    conversation's planted archetype; the texts the demo analysis embeds."""
    data = generate_demo(seed=0, per_source=PER_SOURCE)
    corpus = Corpus.from_conversations(
        Conversation(r["id"], source, [(m["role"], m["content"]) for m in r["messages"]])
        for source in DEMO_SOURCES
        for r in data.records[source]
    )
    texts = represent(corpus, "combined")["text"].tolist()
    truth = np.array([a for source in DEMO_SOURCES for a in data.archetypes[source]])
    return texts, truth


def demo_embedder() -> SentenceTransformerEmbedder:
    """The embedder the demo analysis uses: the default model in fp32 (the model loads lazily)."""
    return SentenceTransformerEmbedder(precision="fp32")


def shipped() -> tuple[list[str], np.ndarray]:
    """The shipped (text sha256, vector) pairs, in the file's order."""
    with np.load(VECTORS) as stored:
        hashes = [bytes(row).hex() for row in stored["hashes"]]
        return hashes, stored["vectors"]


def seed_cache() -> int:
    """Write the shipped vectors into the embedding cache ($SIMGAP_CACHE_DIR); returns how many.

    Entries already there are kept (the store inserts or ignores), so a warm cache is unchanged.
    """
    hashes, vectors = shipped()
    with CachedEmbedder(demo_embedder()).store() as store:
        store.put(hashes, vectors)
    return len(hashes)


def main() -> None:
    """Embed every distinct demo text with the model itself (no cache) and save the file."""
    unique = list(dict.fromkeys(demo_texts()[0]))
    vectors = demo_embedder().encode(unique).astype(np.float32)
    VECTORS.parent.mkdir(exist_ok=True)
    # Raw digests as rows of 32 bytes (numpy's bytes strings would drop trailing zero bytes).
    hashes = np.array([list(bytes.fromhex(text_hash(text))) for text in unique], dtype=np.uint8)
    np.savez_compressed(VECTORS, hashes=hashes, vectors=vectors)
    print(f"{VECTORS}: {len(unique):,} vectors of {vectors.shape[1]} dimensions")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()

"""The on-disk vector cache that wraps any embedder: each text is embedded once across runs.

`CachedEmbedder(embedder)` looks every text up by (the embedder's `identity()`, sha256 of the
text) in one SQLite file per identity and sends only the texts it has never seen to the
embedder. Keying by the full identity (model files, precision, truncation dimension, ...)
means two configurations of one class never share an entry.

Rows are keyed by (text hash, vector length) too, and each store records the length its
identity gives. A model that changes length under the same identity (another model behind
the same name, a server upgrade) would otherwise mix lengths in one matrix; instead the batch
is refused with `EmbeddingDimensionError` naming both lengths, before anything of the new
length is stored, and rows of another length are never served. Stores written before rows
carried their length are migrated in place (the length is the blob's size) on first open.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from simgap_core import cache_root
from simgap_core.errors import SimgapError
from simgap_core.parts import identity_key

_LOOKUP_CHUNK = 900  # below SQLite's oldest limit on bound variables per statement (999)


class EmbeddingDimensionError(SimgapError):
    """An embedder returned vectors of another length than its identity gave before."""


def default_cache_dir() -> Path:
    """`$SIMGAP_CACHE_DIR/embeddings`, else `~/.cache/simgap/embeddings`."""
    return cache_root() / "embeddings"


class CachedEmbedder:
    """Any embedder, with every vector it makes kept on disk under its identity.

    It has the wrapped embedder's `kind`, `name`, `params()` and `identity()` (the cache adds
    nothing to what the vectors are). `.embedded_count` counts texts sent to the embedder and
    `.cache_hits` distinct texts found on disk, both cumulative over this object's life.

    Unseen texts go to the embedder longest first, `chunk_size` at a time, and each chunk is
    stored as soon as it is back: an interrupted run keeps every finished chunk. (Longest
    first is also the order the local embedder batches in, so its batches, and the padding
    that moves bf16's last digits, are the same with and without the cache.)
    """

    def __init__(
        self,
        embedder: Any,
        *,
        cache_dir: Path | None = None,
        chunk_size: int = 2048,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if not callable(getattr(embedder, "encode", None)):
            raise TypeError(f"{type(embedder).__name__} has no encode(texts) method")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self.embedder = embedder
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.chunk_size = chunk_size
        self.progress = progress
        self.embedded_count = 0
        self.cache_hits = 0

    @property
    def kind(self) -> str:
        return "embedder"

    @property
    def name(self) -> str:
        return getattr(self.embedder, "name", type(self.embedder).__name__)

    def params(self) -> dict[str, Any]:
        return self.embedder.params() if hasattr(self.embedder, "params") else {}

    def identity(self) -> dict[str, Any]:
        """The wrapped embedder's identity; for objects that are not parts, their class."""
        if hasattr(self.embedder, "identity") and callable(self.embedder.identity):
            return self.embedder.identity()
        cls = type(self.embedder)
        return {"kind": "embedder", "name": f"{cls.__module__}.{cls.__qualname__}"}

    def facts(self) -> dict[str, Any]:
        inner = self.embedder.facts() if hasattr(self.embedder, "facts") else {}
        return {**inner, "embedded_texts": self.embedded_count, "cache_hits": self.cache_hits}

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.embedder!r}, cache_dir={str(self.cache_dir)!r})"

    def store(self) -> VectorStore:
        """The vector store of the wrapped embedder's identity (open it with `with`)."""
        return VectorStore(self.cache_dir, self.identity())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for `texts`, float32, in input order; only unseen texts are embedded."""
        from simgap_core.embed import check_texts, text_hash

        texts = check_texts(texts)
        if not texts:
            return np.asarray(self.embedder.encode([]), dtype=np.float32)
        hashes = [text_hash(text) for text in texts]
        unique = dict(zip(hashes, texts, strict=True))
        with self.store() as store:
            dimension = store.dimension()  # what this identity gave before; None when new
            earlier = f"the cache ({store.path}) holds"
            vectors = store.get(list(unique), dimension) if dimension is not None else {}
            self.cache_hits += len(vectors)
            missing = [h for h in unique if h not in vectors]
            missing.sort(key=lambda h: -len(unique[h]))  # stable: ties keep first appearance
            if self.progress is not None and missing:
                self.progress(0, len(missing))
            for start in range(0, len(missing), self.chunk_size):
                chunk = missing[start : start + self.chunk_size]
                fresh = self._embed([unique[h] for h in chunk])
                if dimension is None:
                    dimension, earlier = fresh.shape[1], "an earlier batch of this run had"
                elif fresh.shape[1] != dimension:
                    raise EmbeddingDimensionError(
                        f"embedding model {self._model_label()} returned {fresh.shape[1]}-d "
                        f"vectors, but {earlier} {dimension}-d vectors for it; if another "
                        "model now answers to this name, give it its own name (or delete "
                        f"{store.path})"
                    )
                store.put(chunk, fresh)
                vectors.update(zip(chunk, fresh, strict=True))
                self.embedded_count += len(chunk)
                if self.progress is not None:
                    self.progress(start + len(chunk), len(missing))
        return np.stack([vectors[h] for h in hashes]).astype(np.float32, copy=False)

    def _embed(self, texts: list[str]) -> np.ndarray:
        """The wrapped embedder's rows for `texts`, checked to be one row per text."""
        fresh = np.asarray(self.embedder.encode(texts), dtype=np.float32)
        if fresh.ndim != 2 or fresh.shape[0] != len(texts):
            raise ValueError(
                f"{self.name} returned an array of shape {fresh.shape} for {len(texts)} texts"
            )
        return fresh

    def _model_label(self) -> str:
        identity = self.identity()
        return repr(str(identity.get("model") or identity.get("name") or self.name))


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """A write transaction taken at once (BEGIN IMMEDIATE), committed on success."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


class VectorStore:
    """One SQLite file per embedder identity: rows (hash, dim, vector BLOB float32) keyed by
    (hash, dim), and `meta` holding the identity and the vector length it gives.

    SQLite's locking (with a generous busy timeout) makes concurrent writers from several
    processes safe; INSERT OR IGNORE makes a text embedded twice by racing processes harmless.
    """

    def __init__(self, cache_dir: Path, identity: dict[str, Any]) -> None:
        label = f"{identity.get('name', '')}-{identity.get('model', '')}".split("@")[0]
        slug = re.sub(r"[^A-Za-z0-9.-]+", "-", label)[-40:].strip("-")
        self.key = identity_key(identity)
        self.path = cache_dir / f"{slug}-{self.key}.sqlite"
        self.identity = json.dumps(identity, sort_keys=True, default=str)

    def __enter__(self) -> VectorStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: every transaction below is explicit, so the migration cannot interleave.
        self.connection = sqlite3.connect(self.path, timeout=120, isolation_level=None)
        with _transaction(self.connection):
            self.connection.execute(
                "CREATE TABLE IF NOT EXISTS rows (hash TEXT NOT NULL, dim INTEGER NOT NULL, "
                "vector BLOB NOT NULL, PRIMARY KEY (hash, dim))"
            )
            self.connection.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            self.connection.execute(
                "INSERT OR IGNORE INTO meta VALUES ('identity', ?)", (self.identity,)
            )
            self._migrate()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()

    def _migrate(self) -> None:
        """Move the rows of a store written before rows carried their length (table `vectors`,
        keyed by hash alone) into `rows`; lengths the old code mixed stay apart."""
        old = self.connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vectors'"
        ).fetchone()
        if old:
            self.connection.execute(
                "INSERT OR IGNORE INTO rows SELECT hash, length(vector) / 4, vector FROM vectors "
                "WHERE length(vector) > 0 AND length(vector) % 4 = 0"
            )
            self.connection.execute("DROP TABLE vectors")

    def dimension(self) -> int | None:
        """The vector length this store's identity gave when it was first written; None before."""
        row = self.connection.execute("SELECT value FROM meta WHERE key = 'dimension'").fetchone()
        return int(row[0]) if row else None

    def get(self, hashes: list[str], dim: int) -> dict[str, np.ndarray]:
        """The stored `dim`-long vectors of `hashes` (those found)."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), _LOOKUP_CHUNK):
            chunk = hashes[start : start + _LOOKUP_CHUNK]
            rows = self.connection.execute(
                "SELECT hash, vector FROM rows WHERE dim = ? AND length(vector) = ? "
                f"AND hash IN ({','.join('?' * len(chunk))})",
                [dim, 4 * dim, *chunk],
            )
            for key, blob in rows:
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, hashes: list[str], vectors: np.ndarray) -> None:
        """Store one batch (rows of one length) in one transaction: an interrupted run keeps
        every finished batch. The first batch ever stored sets the store's length."""
        dim = int(vectors.shape[1])
        with _transaction(self.connection):
            self.connection.execute(
                "INSERT OR IGNORE INTO meta VALUES ('dimension', ?)", (str(dim),)
            )
            self.connection.executemany(
                "INSERT OR IGNORE INTO rows VALUES (?, ?, ?)",
                [
                    (h, dim, v.astype(np.float32).tobytes())
                    for h, v in zip(hashes, vectors, strict=True)
                ],
            )

"""simgap: how far are simulated users from real ones?

Stages, one module each: `loaders` (files -> `model.Corpus`), `demo` (the embedded demo data),
`represent` (behaviour texts per facet), `embed`, `mapping` (UMAP + HDBSCAN), `quantize`
(the paper's PCA + k-means), `divergence` (JS / KL), `uncertainty`, `mixture`, `interpret`,
`run` (the run directory), `report`, `cli`.
"""

import os
from pathlib import Path

__version__ = "0.1.0"


def cache_root() -> Path:
    """Where simgap caches embeddings, LLM answers and numba kernels: `$SIMGAP_CACHE_DIR`,
    else `~/.cache/simgap`. Read on each call, so tests and users can redirect it."""
    root = os.environ.get("SIMGAP_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "simgap"

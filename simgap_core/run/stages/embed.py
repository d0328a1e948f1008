"""Stage `embed`: a vector per representation text, stored as the later stages read it."""

from __future__ import annotations

from typing import Any

import numpy as np

from simgap_core.run.directory import ArtifactError, storage_precision, write_npy
from simgap_core.run.stages.base import Context, Stage


class EmbedStage(Stage):
    name = "embed"
    inputs = ("represent",)
    artifacts = ("embeddings.npy",)

    def parts(self, context: Context) -> dict[str, Any]:
        return {"embedder": context.parts.embedder}

    def compute(self, context: Context) -> dict[str, Any]:
        embedder = context.parts.embedder
        vectors = np.asarray(
            embedder.encode(context.representations["text"].tolist()), dtype=np.float32
        )
        stored = storage_precision(vectors)
        write_npy(context.artifact("embeddings.npy"), stored)
        # What was stored is what every later stage uses, so a rerun that reads the file back
        # measures exactly what this run measured.
        context.embeddings = stored.astype(np.float32)
        facts = embedder.facts() if callable(getattr(embedder, "facts", None)) else {}
        if "embedded_texts" not in facts and hasattr(embedder, "embedded_count"):
            facts["embedded_texts"] = embedder.embedded_count
        return {**facts, "dimension": int(vectors.shape[1])}

    def load(self, context: Context) -> None:
        vectors = np.asarray(context.run.embeddings(), dtype=np.float32)
        if len(vectors) != len(context.representations):
            raise ArtifactError(
                f"{context.artifact('embeddings.npy')} has {len(vectors)} rows for "
                f"{len(context.representations)} representations"
            )
        context.embeddings = vectors

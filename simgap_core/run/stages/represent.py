"""Stage `represent`: one text per conversation, in the facet the analysis measures."""

from __future__ import annotations

from typing import Any

from simgap_core.run.directory import write_parquet
from simgap_core.run.stages.base import Context, Stage


class RepresentStage(Stage):
    name = "represent"
    inputs = ("corpus", "describe")
    artifacts = ("representations.parquet",)

    def params(self, context: Context) -> dict[str, Any]:
        return {"facet": context.params.facet}

    def compute(self, context: Context) -> dict[str, Any]:
        from simgap_core.represent import represent

        corpus, descriptions = context.corpus, context.descriptions
        context.report("represent", 0, len(corpus))
        if descriptions is not None:  # conversations the annotator failed on are left out
            annotated = set(descriptions["conversation_id"])
            corpus = corpus.subset(
                cid for cid in corpus.conversations["conversation_id"] if cid in annotated
            )
        frame = represent(
            corpus,
            context.params.facet,
            annotator=context.parts.annotator,
            descriptions=descriptions,
        )
        write_parquet(context.artifact("representations.parquet"), frame)
        context.report("represent", len(corpus), len(corpus))
        context.representations = frame
        return {"texts": len(frame), "distinct_texts": int(frame["text"].nunique())}

    def load(self, context: Context) -> None:
        context.representations = context.run.representations()

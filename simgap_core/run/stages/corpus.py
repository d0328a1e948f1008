"""Stage `corpus`: load the inputs into the canonical tables, with every skipped record."""

from __future__ import annotations

from typing import Any

from simgap_core.errors import EmptySourceError
from simgap_core.io.inputs import load_inputs
from simgap_core.run.directory import write_corpus, write_json
from simgap_core.run.stages.base import Context, Stage


class CorpusStage(Stage):
    name = "corpus"
    artifacts = (
        "corpus/conversations.parquet",
        "corpus/turns.parquet",
        "skipped.json",
        "repairs.json",
    )

    def params(self, context: Context) -> dict[str, Any]:
        return {"inputs": context.input_records}

    def compute(self, context: Context) -> dict[str, Any]:
        total = len(context.inputs)
        context.report("load", 0, total)
        corpus = load_inputs(context.inputs)
        write_corpus(context.artifact("corpus"), corpus)
        write_json(context.artifact("skipped.json"), [s.to_dict() for s in corpus.skipped])
        write_json(context.artifact("repairs.json"), [str(repair) for repair in corpus.repairs])
        context.report("load", total, total)
        context.corpus = corpus
        return {
            "conversations": len(corpus),
            "skipped": len(corpus.skipped),
            "repaired": len(corpus.repairs),
            "sampling": corpus.sampling,
        }

    def load(self, context: Context) -> None:
        context.corpus = context.run.corpus()
        context.run.skipped()

    def check(self, context: Context) -> None:
        """The reference and at least one simulator have conversations; k fits the data."""
        params, corpus = context.params, context.corpus
        sources = corpus.sources
        if params.reference not in sources:
            raise EmptySourceError(
                f"the reference source {params.reference!r} has no conversations "
                f"(sources loaded: {', '.join(sources)})"
            )
        if len(sources) < 2:
            raise EmptySourceError("only one source loaded: give at least one simulator to compare")
        conversations = corpus.conversations
        params.validate(n_reference=int((conversations["source"] == params.reference).sum()))

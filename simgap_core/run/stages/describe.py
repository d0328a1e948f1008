"""Stage `describe`: the annotator's behaviour texts (behaviour facets only)."""

from __future__ import annotations

from typing import Any

from simgap_core.run.directory import remove_artifact, write_json, write_parquet
from simgap_core.run.stages.base import Context, Stage

FAILURES = "annotation_failures.json"


class DescribeStage(Stage):
    name = "describe"
    inputs = ("corpus",)
    artifacts = ("descriptions.parquet",)

    def active(self, context: Context) -> bool:
        return context.parts.annotator is not None

    def parts(self, context: Context) -> dict[str, Any]:
        return {"annotator": context.parts.annotator}

    def compute(self, context: Context) -> dict[str, Any]:
        annotator = context.parts.annotator
        descriptions = annotator.describe(
            context.corpus, progress=lambda done, total: context.report("describe", done, total)
        )
        write_parquet(context.artifact("descriptions.parquet"), descriptions)
        failures = getattr(annotator, "failures", None) or []
        if failures:
            write_json(context.artifact(FAILURES), [list(map(str, f)) for f in failures])
        else:
            remove_artifact(context.artifact(FAILURES))
        context.descriptions = descriptions
        return {"described": len(descriptions), "failures": len(failures)}

    def load(self, context: Context) -> None:
        context.descriptions = context.run.descriptions()

"""Stage `features`: behaviour features per conversation and their gap per simulator.

They read only the corpus, so a new clustering reuses them.
"""

from __future__ import annotations

from typing import Any

from simgap_core.run.directory import write_csv, write_parquet
from simgap_core.run.stages.base import Context, Stage

BEHAVIOUR_MIN_RESAMPLES = 200
"""Feature-gap intervals and p-values draw at least this many resamples, whatever a fast test
run asks of the divergence bootstrap: 95% percentile bounds from fewer are too noisy to print."""


class FeaturesStage(Stage):
    name = "features"
    inputs = ("corpus",)
    artifacts = ("features.parquet", "feature_gaps.csv")

    def params(self, context: Context) -> dict[str, Any]:
        from simgap_core.behaviour import BEHAVIOUR_VERSION

        params = context.params
        return {
            "version": BEHAVIOUR_VERSION,
            "reference": params.reference,
            "seed": params.seed,
            "bootstrap": max(params.bootstrap, BEHAVIOUR_MIN_RESAMPLES),
            "permutations": max(params.permutations, BEHAVIOUR_MIN_RESAMPLES),
        }

    def compute(self, context: Context) -> dict[str, Any]:
        from simgap_core.behaviour import compute_features, feature_gaps
        from simgap_core.behaviour.gaps import SIGNIFICANCE

        settings = self.params(context)
        context.report("features", 0, 2)
        features = compute_features(context.corpus)
        context.report("features", 1, 2)
        gaps = feature_gaps(
            features,
            reference=settings["reference"],
            seed=settings["seed"],
            bootstrap=settings["bootstrap"],
            permutations=settings["permutations"],
        )
        write_parquet(context.artifact("features.parquet"), features)
        write_csv(context.artifact("feature_gaps.csv"), gaps)
        context.report("features", 2, 2)
        context.features = features
        return {
            "conversations": len(features),
            "gaps": len(gaps),
            "significant_gaps": int((gaps["q_value"] <= SIGNIFICANCE).sum()),
        }

    def load(self, context: Context) -> None:
        context.features = context.run.features()
        context.run.feature_gaps()

"""Stage `behaviour`: a name and a description per cluster, offline or by the LLM namer
(`cluster_names.csv`, joined into the clusters summary by `Run.clusters_summary`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from simgap_core.run.directory import write_csv
from simgap_core.run.stages.base import Context, Stage
from simgap_core.run.stages.project import cluster_space

NAME_MIN_Z = 0.5  # see `simgap_core.behaviour.name_clusters`


class BehaviourStage(Stage):
    name = "behaviour"
    inputs = ("features", "represent", "cluster")
    artifacts = ("cluster_names.csv",)

    def params(self, context: Context) -> dict[str, Any]:
        from simgap_core.behaviour import BEHAVIOUR_VERSION

        return {"version": BEHAVIOUR_VERSION, "min_z": NAME_MIN_Z}

    def parts(self, context: Context) -> dict[str, Any]:
        # The offline namer's record is as it was before namers were parts: older runs stay fresh.
        namer = context.parts.namer
        return {} if namer.name == "offline" else {"namer": namer}

    def compute(self, context: Context) -> dict[str, Any]:
        from simgap_core.behaviour import name_clusters

        context.report("behaviour", 0, 1)
        offline = name_clusters(
            context.features, context.clusters, context.representations, min_z=NAME_MIN_Z
        )
        namer = context.parts.namer
        names = namer.name_clusters(
            offline,
            context.features,
            context.clusters,
            context.representations,
            coordinates=pd.DataFrame(
                cluster_space(context.projection), index=context.projection["conversation_id"]
            ),
        )
        facts = namer.facts()
        fallbacks = getattr(namer, "fallbacks", None) or []
        if fallbacks:
            context.tell(
                f"behaviour: {len(fallbacks)} cluster(s) kept their offline name: "
                + "; ".join(map(str, fallbacks[:3]))
            )
        write_csv(context.artifact("cluster_names.csv"), names)
        context.report("behaviour", 1, 1)
        return {"named_clusters": int((names["cluster"] >= 0).sum()), **facts}

    def load(self, context: Context) -> None:
        context.run.cluster_names()

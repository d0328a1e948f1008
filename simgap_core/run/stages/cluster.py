"""Stage `cluster`: the clusterer's labels in the clustering space (-1 = noise)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simgap_core.run.directory import write_csv, write_parquet
from simgap_core.run.stages.base import Context, Stage
from simgap_core.run.stages.project import cluster_space


def cluster_mass(clusters: pd.DataFrame) -> pd.DataFrame:
    """Per (cluster, source): count and share of that source's total (noise included as -1)."""
    counts = clusters.groupby(["cluster", "source"]).size().rename("count").reset_index()
    totals = clusters.groupby("source").size()
    counts["share"] = counts["count"] / counts["source"].map(totals).astype(float)
    return counts.sort_values(["cluster", "source"]).reset_index(drop=True)


class ClusterStage(Stage):
    name = "cluster"
    inputs = ("project",)
    artifacts = ("clusters.parquet", "cluster_mass.csv")

    def parts(self, context: Context) -> dict[str, Any]:
        return {"clusterer": context.parts.clusterer}

    def compute(self, context: Context) -> dict[str, Any]:
        projection, clusterer = context.projection, context.parts.clusterer
        context.report("cluster", 0, 1)
        labels = np.asarray(
            clusterer.fit_predict(
                cluster_space(projection), projection["source"].astype(str).to_numpy()
            )
        )
        clusters = pd.DataFrame(
            {
                "conversation_id": projection["conversation_id"],
                "source": projection["source"],
                "cluster": labels.astype(np.int32),
            }
        )
        write_parquet(context.artifact("clusters.parquet"), clusters)
        write_csv(context.artifact("cluster_mass.csv"), cluster_mass(clusters))
        context.report("cluster", 1, 1)
        context.clusters = clusters
        facts = clusterer.facts() if callable(getattr(clusterer, "facts", None)) else {}
        found = labels[labels >= 0]
        return {
            **facts,
            "clusters": int(len(np.unique(found))),
            "noise_share": float(np.mean(labels < 0)) if len(labels) else 0.0,
        }

    def load(self, context: Context) -> None:
        context.clusters = context.run.clusters()
        context.run.cluster_mass()

"""Stage `project`: the reducer's 2-d display map and clustering space of every point."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simgap_core.run.directory import write_parquet
from simgap_core.run.stages.base import Context, Stage


def cluster_space(projection: pd.DataFrame) -> np.ndarray:
    """The clustering coordinates (c0, c1, ...) of the projection, as float32."""
    columns = [c for c in projection.columns if c.startswith("c") and c[1:].isdigit()]
    return projection[columns].to_numpy(dtype=np.float32)


class ProjectStage(Stage):
    name = "project"
    inputs = ("embed",)
    artifacts = ("projection.parquet",)

    def parts(self, context: Context) -> dict[str, Any]:
        return {"reducer": context.parts.reducer}

    def compute(self, context: Context) -> dict[str, Any]:
        representations = context.representations
        context.report("project", 0, 2)
        sources = representations["source"].to_numpy()
        reduced = context.parts.reducer.reduce(context.embeddings, sources)
        context.report("project", 2, 2)
        projection = pd.DataFrame(
            {
                "conversation_id": representations["conversation_id"].to_numpy(),
                "source": sources,
                "x": reduced.xy[:, 0],
                "y": reduced.xy[:, 1],
            }
        )
        for dim in range(reduced.cluster_coords.shape[1]):
            projection[f"c{dim}"] = reduced.cluster_coords[:, dim]
        write_parquet(context.artifact("projection.parquet"), projection)
        context.projection = projection
        return dict(reduced.facts)

    def load(self, context: Context) -> None:
        context.projection = context.run.projection()

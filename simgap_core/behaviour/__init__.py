"""Behaviour findings: features per conversation, their gaps per simulator, cluster names.

The integration point is `behaviour_artifacts`: one call after the map stage, given the run's
corpus, clusters and representations, returns the three tables a run stores:

- `features`      -> `features.parquet` (conversation_id, source, language, one column per
                     feature of `FEATURES`);
- `feature_gaps`  -> `feature_gaps.csv` (feature, simulator, label, unit, effect_kind, real, sim,
                     effect, ci_low, ci_high, p_value, q_value, n_real, n_sim);
- `cluster_names` -> merged into `clusters_summary.csv` on `cluster` (name, description).

`BehaviourArtifacts.save(directory)` writes the first two and `cluster_names.csv`; the stage's
identity for caching is `BEHAVIOUR_VERSION` plus the keyword arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from simgap_core.behaviour.features import (
    FEATURE_NAMES,
    FEATURES,
    Feature,
    compute_features,
    feature_table_markdown,
)
from simgap_core.behaviour.gaps import GAP_COLUMNS, feature_gaps, gap_sentence
from simgap_core.behaviour.names import name_clusters
from simgap_core.model import Corpus
from simgap_core.untrusted import csv_text

BEHAVIOUR_VERSION = "3"
"""Bump when a feature definition, the gap statistics or the naming rules change (2: rate
ratios smooth only zero counts; names contrastive and distinct in content)."""

__all__ = [
    "BEHAVIOUR_VERSION",
    "FEATURES",
    "FEATURE_NAMES",
    "GAP_COLUMNS",
    "BehaviourArtifacts",
    "Feature",
    "behaviour_artifacts",
    "compute_features",
    "feature_gaps",
    "feature_table_markdown",
    "gap_sentence",
    "name_clusters",
]


@dataclass(frozen=True)
class BehaviourArtifacts:
    """The behaviour tables of one run (see the module docstring for their columns)."""

    features: pd.DataFrame
    feature_gaps: pd.DataFrame
    cluster_names: pd.DataFrame

    def save(self, directory: str | Path) -> None:
        """Write features.parquet, feature_gaps.csv and cluster_names.csv into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.features.to_parquet(directory / "features.parquet", index=False)
        # As a run writes them: formula-like text cells escaped (`untrusted.csv_text`).
        for name, frame in (
            ("feature_gaps.csv", self.feature_gaps),
            ("cluster_names.csv", self.cluster_names),
        ):
            (directory / name).write_text(csv_text(frame), encoding="utf-8")


def behaviour_artifacts(
    corpus: Corpus,
    clusters: pd.DataFrame,
    representations: pd.DataFrame | None = None,
    *,
    reference: str = "real",
    seed: int = 0,
    bootstrap: int = 1000,
    permutations: int = 2000,
    min_z: float = 0.5,
) -> BehaviourArtifacts:
    """Features, feature gaps and cluster names of one run.

    `clusters`: conversation_id, source, cluster (-1 = noise), as in clusters.parquet.
    `representations`: conversation_id, text (representations.parquet); its texts give each
    cluster's c-TF-IDF terms in the description (None: descriptions without terms).
    `reference`, `seed`, `bootstrap`, `permutations`: see `feature_gaps`; `min_z`: see
    `name_clusters`. With only the reference source in the corpus the gaps table is empty.
    """
    features = compute_features(corpus)
    if len(set(features["source"])) > 1:
        gaps = feature_gaps(
            features,
            reference=reference,
            seed=seed,
            bootstrap=bootstrap,
            permutations=permutations,
        )
    else:
        gaps = pd.DataFrame(columns=list(GAP_COLUMNS))
    names = name_clusters(features, clusters, representations, min_z=min_z)
    return BehaviourArtifacts(features, gaps, names)

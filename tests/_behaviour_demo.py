"""The behaviour artifacts of the committed demo run, computed once per test session.

Shared by test_feature_gaps.py and test_cluster_names.py: the features of 6,000 conversations
take tens of seconds on two cores, too long to pay twice.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from simgap_core.behaviour import BehaviourArtifacts, behaviour_artifacts
from simgap_core.run import Run

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_RUN = PROJECT_ROOT / "data" / "demo_run"
DEMO_TRUTH = PROJECT_ROOT / "data" / "demo" / "ground_truth.csv"

# Words a name must hold to describe each planted archetype. The demo's polite users open with a
# greeting and close with thanks (simgap_core/demo/writing.py), so a cluster of them named by its
# greetings names them too.
ARCHETYPE_KEYWORDS = {
    "terse": ("terse", "short", "one-line"),
    "error_log": ("error", "log"),
    "frustrated": ("frustrat", "angry"),
    "topic_switch": ("topic", "switch"),
    "non_english": ("non-english", "language"),
    "thanks_leave": ("thank",),
    "polite_verbose": ("polite", "courteous", "greet"),
    "context_dump": ("background", "personal"),
}


@cache
def demo_artifacts() -> BehaviourArtifacts:
    run = Run(DEMO_RUN)
    return behaviour_artifacts(
        run.corpus(),
        run.clusters(),
        run.representations(),
        reference="real",
        seed=42,
        bootstrap=300,
        permutations=1000,
    )


@cache
def demo_clusters_with_archetypes() -> pd.DataFrame:
    """clusters.parquet of the demo run joined with each conversation's planted archetype."""
    truth = pd.read_csv(DEMO_TRUTH)[["conversation_id", "archetype"]]
    return Run(DEMO_RUN).clusters().merge(truth, on="conversation_id", validate="one_to_one")

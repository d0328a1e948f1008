"""Which representation reveals the gap? ARI and JS per facet on the demo data.

The paper's ablation on data with a known answer: for each facet, analyze the demo dataset
and print the adjusted Rand index of the HDBSCAN clusters against the planted archetypes
(noise as its own label, and without noise), the number of clusters, and each simulator's
bias-corrected paper JS next to its true JS.

    python bench/facets.py [--facets combined user_turns ...] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd
from sklearn.metrics import adjusted_rand_score

from simgap_core.demo import DEMO_SOURCES, SIMULATORS
from simgap_core.present.leaderboard import leaderboard
from simgap_core.represent import FACETS
from simgap_core.run import AnalysisParams, InputSpec, analyze
from simgap_core.schema import read_metrics

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facets", nargs="+", default=list(FACETS), choices=FACETS)
    parser.add_argument("--out", type=Path, help="keep the run directories here")
    args = parser.parse_args()

    inputs = [InputSpec(DEMO / f"{name}.jsonl", name, "openai") for name in DEMO_SOURCES]
    ground = pd.read_csv(DEMO / "ground_truth.csv")[["conversation_id", "archetype"]]
    truth = json.loads((DEMO / "truth.json").read_text())["true_js"]
    print(
        f"{'facet':>14} {'clusters':>8} {'noise':>6} {'ARI':>6} {'ARI*':>6}  corrected JS "
        + " ".join(f"{name}" for name in SIMULATORS)
    )
    print(
        f"{'truth':>14} {'':>8} {'':>6} {'':>6} {'':>6}  "
        + " ".join(f"{truth[name]:.4f}" for name in SIMULATORS)
    )
    with tempfile.TemporaryDirectory() as scratch:
        root = args.out or Path(scratch)
        for facet in args.facets:
            run = analyze(inputs, root / facet, AnalysisParams(facet=facet))
            labelled = run.clusters().merge(ground, on="conversation_id")
            clustered = labelled[labelled["cluster"] >= 0]
            board = leaderboard(read_metrics(run.path)).set_index("simulator")
            print(
                f"{facet:>14} {labelled['cluster'].max() + 1:>8} "
                f"{(labelled['cluster'] < 0).mean():>6.1%} "
                f"{adjusted_rand_score(labelled['archetype'], labelled['cluster']):>6.3f} "
                f"{adjusted_rand_score(clustered['archetype'], clustered['cluster']):>6.3f}  "
                + " ".join(f"{board.loc[name, 'js']:.4f}" for name in SIMULATORS),
                flush=True,
            )
    print("ARI: noise counted as its own label; ARI*: noise left out.")


if __name__ == "__main__":
    main()

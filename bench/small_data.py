"""Clustering defaults on small runs: `python bench/small_data.py` prints one table.

Why: at 74 conversations (54 real email-writing dialogues and 20 tutoring ones) the default
min_cluster_size (2% of the points, at least 10) gave two clusters plus noise, one of them
holding 49 conversations: nothing to compare per cluster. This bench measures candidate rules
for HDBSCAN's min_cluster_size and min_samples on real public conversations at 50-500
conversations. Every candidate is capped at the old default, so runs of 500 and more (the
demo's 6,000) keep it; `default (this tree)` is what `simgap analyze` uses now. Options:
`--runs 0,1` (row numbers of RUNS), `--rules "NAME;NAME"`, `--seed S` (the subsets' seed).

Data (../shared/corpora, read in place, never copied): real users from WildChat, OpenAssistant
and SimulatorArena (document creation, math tutoring), simulated users from tau-bench
(gpt-4o airline), in seeded random subsets; each run pools its sources as `simgap analyze`
does (the issue's shape pools two real sets). About 10 minutes on 2 loaded cores, the
embeddings cached after the first run. Every conversation is represented with the default facet
(`combined`, heuristic annotator), embedded with the default model through its cache, and
mapped with the default map (UMAP 5-d, seeds 42, 43, 44: small maps move with the seed);
the rules then cluster the same 5-d coordinates. Columns: conversations, rule, the
(min_cluster_size, min_samples) it gives, clusters, the largest cluster's share of all
conversations and the noise share (means over the map seeds; clusters as min-max), and
`stable`: the mean adjusted Rand index between the clusterings of the three maps (noise one
label), a check that the clusters are structure in the data, not splits one map happens to
make. (The behaviour facet is topic-free by design, so clusters are not expected to recover
which corpus a conversation came from.)
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from machine import load, machine  # bench/ is on sys.path when a bench runs as a script

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

CORPORA = PROJECT_ROOT.parent / "shared" / "corpora"
SOURCES = {
    "wildchat": "real/wildchat/wildchat.jsonl",
    "oasst": "real/oasst/oasst.jsonl",
    "sa_docs": "real/simulatorarena/document_creation_annotations_for_benchmarking.json",
    "sa_math": "real/simulatorarena/math_tutoring_annotations_redacted_for_benchmarking.json",
    "taubench": "simulated/taubench/gpt-4o-airline.json",
}
# (name, {corpus: conversations}); the first corpus is the real side, the rest pooled as sim.
RUNS = (
    ("wildchat 25 + taubench 25", {"wildchat": 25, "taubench": 25}),
    ("sa_docs 51 + sa_math 20 (the issue's shape)", {"sa_docs": 51, "sa_math": 20}),
    ("wildchat 50 + taubench 50", {"wildchat": 50, "taubench": 50}),
    ("oasst 50 + taubench 50", {"oasst": 50, "taubench": 50}),
    ("oasst 50 + sa_docs 25 + taubench 50", {"oasst": 50, "sa_docs": 25, "taubench": 50}),
    ("wildchat 100 + taubench 100", {"wildchat": 100, "taubench": 100}),
    ("wildchat 150 + taubench 150", {"wildchat": 150, "taubench": 150}),
    ("wildchat 300 + taubench 200", {"wildchat": 300, "taubench": 200}),
)
MAP_SEEDS = (42, 43, 44)
Rule = Callable[[int], tuple[int, int]]


def rules() -> dict[str, Rule]:
    """The candidate rules: n -> (min_cluster_size, min_samples)."""
    from simgap_core.map.layout import default_min_cluster_size, default_min_samples

    def capped(share: float, floor: int) -> Rule:
        def rule(n: int) -> tuple[int, int]:
            old = _old_min_cluster_size(n)
            size = max(2, min(old, max(floor, round(share * n)), n // 2))
            return size, min(25, size, n - 1)

        return rule

    return {
        "old: 2% n, floor 10": lambda n: (
            _old_min_cluster_size(n),
            min(25, _old_min_cluster_size(n), n - 1),
        ),
        "n/40, floor 3, cap old": capped(1 / 40, 3),
        "n/40, floor 5, cap old": capped(1 / 40, 5),
        "n/30, floor 3, cap old": capped(1 / 30, 3),
        "n/25, floor 3, cap old": capped(1 / 25, 3),
        "n/60, floor 3, cap old": capped(1 / 60, 3),
        "default (this tree)": lambda n: (
            default_min_cluster_size(n, n_sources=2),
            default_min_samples(n, default_min_cluster_size(n, n_sources=2)),
        ),
    }


def _old_min_cluster_size(n: int) -> int:
    """The default before this bench: 2% of n, at least 10, at most n // 2 (two sources)."""
    return max(2, min(max(10, round(0.02 * n)), n // 2))


def prepared(spec: dict[str, int], *, seed: int = 0) -> np.ndarray:
    """The embeddings of a seeded subset of the corpora (default facet and model)."""
    from simgap_core.embed import CachedEmbedder, SentenceTransformerEmbedder
    from simgap_core.io.loaders import load_paths
    from simgap_core.model import Corpus
    from simgap_core.represent import represent

    parts = []
    rng = np.random.default_rng(seed)
    for name, count in spec.items():
        corpus = load_paths([CORPORA / SOURCES[name]], source=name)
        ids = corpus.conversations["conversation_id"].to_numpy()
        chosen = rng.choice(ids, size=min(count, len(ids)), replace=False)
        parts.append(corpus.subset(chosen))
    frame = represent(Corpus.concat(parts), "combined")
    embeddings = CachedEmbedder(SentenceTransformerEmbedder()).encode(frame["text"].tolist())
    return np.asarray(embeddings)


def measure(name: str, spec: dict[str, int], chosen: dict[str, Rule], *, seed: int) -> None:
    from simgap_core.map.layout import build_map, cluster

    embeddings = prepared(spec, seed=seed)
    n = len(embeddings)
    coords = []
    for seed in MAP_SEEDS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            coords.append(build_map(embeddings, seed=seed).cluster_coords)
    print(f"\n{name}: {n} conversations")
    for rule_name, rule in chosen.items():
        size, samples = rule(n)
        found, largest, noise, labelings = [], [], [], []
        for points in coords:
            labels = cluster(points, min_cluster_size=size, min_samples=samples)
            counts = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.array([0])
            found.append(int((counts > 0).sum()))
            largest.append(counts.max() / n)
            noise.append(float(np.mean(labels < 0)))
            labelings.append(labels)
        print(
            f"{n:>6} {rule_name:<24} {size:>4} {samples:>3} "
            f"{f'{min(found)}-{max(found)}':>8} {np.mean(largest):>8.0%} "
            f"{np.mean(noise):>6.0%} {_stability(labelings):>6.2f}"
        )


def _stability(labelings: list[np.ndarray]) -> float:
    """Mean adjusted Rand index over every two labelings of the same points."""
    from sklearn.metrics import adjusted_rand_score

    return float(
        np.mean(
            [adjusted_rand_score(a, b) for i, a in enumerate(labelings) for b in labelings[i + 1 :]]
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default="", help="rule names separated by ';' (default: all)")
    parser.add_argument("--runs", default="", help="comma-separated run numbers (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the conversation subsets")
    args = parser.parse_args()
    if not CORPORA.is_dir():
        sys.exit(f"error: {CORPORA} is absent: this bench reads the shared public corpora")
    chosen = rules()
    if args.rules:
        chosen = {k: v for k, v in chosen.items() if k in args.rules.split(";")}
    runs = [run for i, run in enumerate(RUNS) if not args.runs or str(i) in args.runs.split(",")]
    print("## Clustering defaults on small runs (real public corpora, default map)")
    print(f"machine: {machine()}; {load()}")
    print(
        f"subset seed {args.seed}; map seeds {', '.join(map(str, MAP_SEEDS))}; "
        "clusters min-max, other columns means"
    )
    print(
        f"{'convs':>6} {'rule':<24} {'mcs':>4} {'ms':>3} {'clusters':>8} {'largest':>8} "
        f"{'noise':>6} {'stable':>6}"
    )
    for name, spec in runs:
        measure(name, spec, chosen, seed=args.seed)


if __name__ == "__main__":
    main()

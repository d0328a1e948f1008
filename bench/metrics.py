"""Cost of the measurement stage (`measure.compare.measure`) per stage, on synthetic data.

    .venv/bin/python bench/metrics.py [--sizes 5000 20000] [--simulators 2] [--bootstrap 200]

Synthetic 384-d L2-normalized embeddings with cluster structure (a decaying spectrum, so PCA
keeps a realistic ~100-200 components for 90% of the variance), one real source and
`--simulators` simulators that miss or over-produce some clusters, HDBSCAN-like map labels
(the true cluster, 10% noise), 5-d map coordinates and short texts per conversation.
Prints seconds per stage for each size. Target: under 30 s at 20k per source with B=200.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simgap_core.measure.compare import STAGES, measure

DIMS = 384
CLUSTERS = 40
WORDS_PER_CLUSTER = 6


def synthetic_run(
    n_per_source: int, n_simulators: int, *, seed: int = 0
) -> dict[str, np.ndarray | list[str]]:
    """Rows of a run with one real source and `n_simulators` distorted simulators."""
    rng = np.random.default_rng(seed)
    spectrum = 1.0 / np.sqrt(1.0 + np.arange(DIMS) / 8.0)
    centers = rng.standard_normal((CLUSTERS, DIMS)) * spectrum
    map_centers = rng.standard_normal((CLUSTERS, 5)) * 4
    base = rng.dirichlet(np.full(CLUSTERS, 3.0))
    weights = {"real": base}
    for s in range(n_simulators):
        distorted = base * np.exp(0.6 * rng.standard_normal(CLUSTERS))
        distorted[s] = 0.0  # a missed archetype
        distorted[CLUSTERS - 1 - s] *= 4  # an over-produced one
        weights[f"sim_{s}"] = distorted / distorted.sum()

    sources, cluster_of = [], []
    for name, w in weights.items():
        sources += [name] * n_per_source
        cluster_of.append(rng.choice(CLUSTERS, size=n_per_source, p=w))
    cluster = np.concatenate(cluster_of)
    noise = rng.standard_normal((len(cluster), DIMS)) * spectrum * 0.8
    embeddings = centers[cluster] + noise
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    map_coords = map_centers[cluster] + rng.standard_normal((len(cluster), 5))
    map_labels = np.where(rng.random(len(cluster)) < 0.1, -1, cluster)
    vocabulary = [[f"c{c}w{j}" for j in range(WORDS_PER_CLUSTER)] for c in range(CLUSTERS)]
    texts = [
        " ".join(rng.choice(vocabulary[c], size=8)) + " the user asks for help" for c in cluster
    ]
    return {
        "embeddings": embeddings,
        "sources": sources,
        "map_labels": map_labels,
        "map_coords": map_coords,
        "texts": texts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--simulators", type=int, default=2)
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()

    for size in args.sizes:
        data = synthetic_run(size, args.simulators)
        start = time.perf_counter()
        result = measure(
            data["embeddings"],
            data["sources"],
            data["map_labels"],
            representation_texts=data["texts"],
            user_texts=data["texts"],
            map_coords=data["map_coords"],
            bootstrap=args.bootstrap,
        )
        total = time.perf_counter() - start
        paper = next(iter(result.metrics["simulators"].values()))["paper"]
        print(
            f"{size} per source, {args.simulators} simulators, B={args.bootstrap}: "
            f"total {total:.1f} s (k={paper['k']}, PCA components={paper['n_components']})"
        )
        for stage in STAGES:
            print(f"  {stage:<12} {result.timings[stage]:7.2f} s")
        after_quantize = total - result.timings["quantize"]
        print(f"  {'all but quantize':<12} {after_quantize:7.2f} s")


if __name__ == "__main__":
    main()

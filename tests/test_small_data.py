"""Small runs get several meaningful clusters (issue 20): 71 conversations gave two clusters
plus noise under the old default (min_cluster_size at least 10), one holding over half of them.

The default min_cluster_size is at most 4% of the points (at least 3) below 238 points, and is
unchanged from there on, so large runs (the demo's 6,000 conversations) keep their clusters.
Measured in bench/small_data.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from simgap_core.map.layout import default_min_cluster_size, default_min_samples


def _old_default(n: int, n_sources: int | None) -> int:
    """The default before issue 20, written out: 2% of n (8% of an average source beyond four
    sources), at least 10, at most n // 2."""
    share = 0.02 if n_sources is None or n_sources <= 4 else 0.08 / n_sources
    return max(2, min(max(10, round(share * n)), n // 2))


@pytest.mark.parametrize("n_sources", [None, 1, 2, 4, 5, 25])
def test_large_runs_keep_the_old_default(n_sources: int | None) -> None:
    sizes = [*range(238, 3_000, 7), 6_000, 20_000, 125_000]
    assert [default_min_cluster_size(n, n_sources=n_sources) for n in sizes] == [
        _old_default(n, n_sources) for n in sizes
    ]


def test_small_runs_get_a_smaller_cluster_size() -> None:
    assert [default_min_cluster_size(n, n_sources=2) for n in (12, 50, 71, 100, 125, 200)] == [
        3,
        3,
        3,
        4,
        5,
        8,
    ]
    assert default_min_cluster_size(237, n_sources=2) == 9  # the last size below the old one
    assert default_min_cluster_size(4) == 2  # never more than half the points
    # min_samples follows: never wider than the smallest cluster.
    assert default_min_samples(71, default_min_cluster_size(71)) == 3


@pytest.mark.slow
def test_the_issues_small_run_gets_several_clusters_and_no_catch_all(shared_corpora) -> None:
    """The issue's shape on public data: 51 real document-writing dialogues and 20 tutoring
    ones, the default facet, embedder, map and clusterer. More than 2 clusters, none holding
    half of the conversations (measured: 7 clusters, the largest 19-22%)."""
    from simgap_core.embed import CachedEmbedder, SentenceTransformerEmbedder
    from simgap_core.io.loaders import load_file
    from simgap_core.map.layout import build_map
    from simgap_core.map.parts import HDBSCANClusterer
    from simgap_core.model import Corpus
    from simgap_core.represent import represent

    folder = shared_corpora / "real" / "simulatorarena"
    docs = load_file(folder / "document_creation_annotations_for_benchmarking.json", source="docs")
    math = load_file(
        folder / "math_tutoring_annotations_redacted_for_benchmarking.json", source="math"
    )
    ids = math.conversations["conversation_id"].to_numpy()
    math = math.subset(np.random.default_rng(0).choice(ids, size=20, replace=False))
    frame = represent(Corpus.concat([docs, math]), "combined")
    assert len(frame) == 71
    embeddings = np.asarray(
        CachedEmbedder(SentenceTransformerEmbedder()).encode(frame["text"].tolist())
    )
    coords = build_map(embeddings, seed=42).cluster_coords
    clusterer = HDBSCANClusterer()
    labels = clusterer.fit_predict(coords, frame["source"].to_numpy())
    assert clusterer.facts()["min_cluster_size_used"] == 3
    sizes = np.bincount(labels[labels >= 0])
    assert (sizes > 0).sum() > 2, sizes
    assert sizes.max() / len(labels) < 0.5, sizes

"""The map: exact neighbours, seeded UMAP, HDBSCAN recovering planted clusters, balanced fits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from neighbours import DISTANCE_TOLERANCE, assert_same_neighbours, assert_self_first
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from simgap_core.map.layout import (
    MapResult,
    balance_sources,
    build_map,
    cluster,
    default_min_cluster_size,
    default_min_samples,
    knn,
    project,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def planted(
    sizes: list[int], *, seed: int = 1, spread: float = 0.35
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters in 384-d around random centres (cosine ~0.9 within, ~0 between)."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(len(sizes)), sizes)
    centres = rng.normal(size=(len(sizes), 384))
    return centres[truth] + spread * rng.normal(size=(len(truth), 384)), truth


@pytest.fixture(scope="module")
def six_clusters() -> tuple[np.ndarray, np.ndarray, MapResult]:
    points, truth = planted([80, 70, 60, 50, 40, 30])
    return points, truth, build_map(points, seed=42)


def test_knn_is_exact_against_sklearn_brute_cosine() -> None:
    points = np.random.default_rng(3).normal(size=(700, 384))
    indices, distances = knn(points, 12)
    reference = NearestNeighbors(n_neighbors=12, metric="cosine", algorithm="brute").fit(points)
    ref_distances, ref_indices = reference.kneighbors(points)
    assert indices.shape == distances.shape == (700, 12)
    assert indices.dtype == np.int32 and distances.dtype == np.float32
    assert_same_neighbours(indices, distances, ref_indices, ref_distances)
    np.testing.assert_allclose(distances, ref_distances, atol=DISTANCE_TOLERANCE)


def test_knn_puts_each_point_first_even_among_duplicates() -> None:
    points = np.random.default_rng(4).normal(size=(50, 16))
    points[10] = points[20] = points[30] = points[0]
    indices, distances = knn(points, 5)
    np.testing.assert_array_equal(indices[:, 0], np.arange(50))
    assert distances[:, 0].max() == 0.0
    assert set(indices[0, :4]) == {0, 10, 20, 30}
    np.testing.assert_allclose(distances[0, :4], 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="n_neighbors"):
        knn(points, 51)


@pytest.mark.slow
def test_build_map_shapes_and_recorded_parameters(six_clusters) -> None:
    points, _, result = six_clusters
    assert result.xy.shape == (330, 2) and result.xy.dtype == np.float32
    assert result.cluster_coords.shape == (330, 5) and result.cluster_coords.dtype == np.float32
    assert result.knn_indices.shape == result.knn_distances.shape == (330, 15)
    assert_self_first(result.knn_indices, result.knn_distances)
    assert_same_neighbours(result.knn_indices, result.knn_distances, *knn(points, 15))
    assert result.params == {
        "metric": "cosine",
        "neighbours": "exact",
        "n_neighbors": 15,
        "min_dist": 0.1,
        "cluster_dims": 5,
        "cluster_min_dist": 0.0,
        "seed": 42,
        "fit_size": 330,
        "transformed": 0,
        "display_fit_size": 330,
        "distinct_points": 330,
    }


@pytest.mark.slow
def test_hdbscan_recovers_planted_clusters_numbered_by_size(six_clusters) -> None:
    _, truth, result = six_clusters
    labels = cluster(result.cluster_coords)
    assert adjusted_rand_score(truth, labels) >= 0.95
    sizes = np.bincount(labels[labels >= 0])
    assert len(sizes) == 6
    assert list(sizes) == sorted(sizes, reverse=True)


@pytest.mark.slow
def test_same_seed_gives_identical_map_and_labels(six_clusters) -> None:
    points, _, result = six_clusters
    again = build_map(points, seed=42)
    np.testing.assert_array_equal(again.xy, result.xy)
    np.testing.assert_array_equal(again.cluster_coords, result.cluster_coords)
    np.testing.assert_array_equal(cluster(again.cluster_coords), cluster(result.cluster_coords))
    other_seed = project(
        points, n_components=2, seed=7, knn=(result.knn_indices, result.knn_distances)
    )
    assert not np.array_equal(other_seed, result.xy)


@pytest.mark.slow
def test_same_seed_gives_identical_map_in_another_process(six_clusters, tmp_path: Path) -> None:
    _, _, result = six_clusters
    out = tmp_path / "coords.npy"
    script = (
        "import sys, numpy as np\n"
        "sys.path.insert(0, 'tests')\n"
        "from test_mapping import planted\n"
        "from simgap_core.map.layout import build_map\n"
        "points, _ = planted([80, 70, 60, 50, 40, 30])\n"
        f"np.save({str(out)!r}, build_map(points, seed=42).cluster_coords)\n"
    )
    # Same NUMBA_CACHE_DIR (set by simgap_core.map.layout): the child loads the kernels compiled
    # here.
    subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, env=dict(os.environ), check=True
    )
    np.testing.assert_array_equal(np.load(out), result.cluster_coords)


@pytest.mark.slow
def test_umap_kernels_are_cached_on_disk(six_clusters) -> None:
    cache = Path(os.environ["NUMBA_CACHE_DIR"])
    # umap-learn does not cache its layout kernel itself; simgap_core.map.layout makes it cacheable.
    assert list(cache.rglob("*_optimize_layout_euclidean_single_epoch*.nbi"))
    assert list(cache.rglob("*compute_membership_strengths*.nbi"))


def test_noise_points_stay_noise() -> None:
    rng = np.random.default_rng(5)
    blobs = np.repeat(rng.uniform(-20, 20, size=(3, 5)), 60, axis=0) + 0.3 * rng.normal(
        size=(180, 5)
    )
    scattered = rng.uniform(-60, 60, size=(12, 5))
    labels = cluster(np.vstack([blobs, scattered]), min_cluster_size=10)
    assert adjusted_rand_score(np.repeat(np.arange(3), 60), labels[:180]) == 1.0
    assert (labels[180:] == -1).sum() >= 10
    assert labels.dtype == np.int64


def test_default_min_cluster_size_follows_data_size() -> None:
    assert default_min_cluster_size(400) == 10
    assert default_min_cluster_size(600) == 12
    assert default_min_cluster_size(5_000) == 100
    assert default_min_cluster_size(20_000) == 400
    assert default_min_cluster_size(12) == 3  # 4% of a small run, at least 3
    assert default_min_cluster_size(3) == 2


def test_balance_sources_draws_equal_seeded_samples() -> None:
    sources = np.array(["real"] * 300 + ["sim_a"] * 120 + ["sim_b"] * 80)
    picked = balance_sources(sources, seed=0)
    assert list(np.unique(sources[picked], return_counts=True)[1]) == [80, 80, 80]
    assert np.all(np.diff(picked) > 0)
    np.testing.assert_array_equal(balance_sources(sources, seed=0), picked)
    assert not np.array_equal(balance_sources(sources, seed=1), picked)
    capped = balance_sources(sources, seed=0, max_per_source=25)
    assert list(np.unique(sources[capped], return_counts=True)[1]) == [25, 25, 25]


@pytest.mark.slow
def test_balanced_fit_transforms_the_rest_onto_the_same_map() -> None:
    points, truth = planted([90, 90, 90], seed=2)
    sources = np.array(["real", "real", "sim"] * 90)  # real outnumbers sim 2:1
    fit = balance_sources(sources, seed=0)
    result = build_map(points, seed=42, fit_indices=fit)
    assert result.params["fit_size"] == 180 and result.params["transformed"] == 90
    assert result.cluster_coords.shape == (270, 5)
    labels = cluster(result.cluster_coords)
    rest = np.setdiff1d(np.arange(270), fit)
    assert adjusted_rand_score(truth, labels) >= 0.95
    assert adjusted_rand_score(truth[rest], labels[rest]) >= 0.95  # transformed points land right
    again = build_map(points, seed=42, fit_indices=fit)
    np.testing.assert_array_equal(again.cluster_coords, result.cluster_coords)


def test_bad_inputs_are_refused() -> None:
    points = np.random.default_rng(6).normal(size=(20, 8))
    with pytest.raises(ValueError, match="at least 7 points"):
        build_map(points[:6])
    with pytest.raises(ValueError, match="NaN"):
        build_map(np.where(np.eye(20, 8) == 1, np.nan, points))
    with pytest.raises(ValueError, match="all-zero"):
        knn(np.vstack([points, np.zeros(8)]), 3)
    with pytest.raises(ValueError, match="method"):
        cluster(points[:, :2], method="centroid")
    with pytest.raises(ValueError, match="fit_indices"):
        build_map(points, fit_indices=np.arange(5))


def test_the_umap_and_hdbscan_parts_give_what_layout_gives(six_clusters) -> None:
    from simgap_core import parts

    points, truth, result = six_clusters
    reducer = parts.create("reducer", "umap", seed=42)
    reduced = reducer.reduce(points, np.zeros(len(points)))
    np.testing.assert_array_equal(reduced.xy, result.xy)
    np.testing.assert_array_equal(reduced.cluster_coords, result.cluster_coords)
    assert reduced.facts["map"] == result.params

    clusterer = parts.create("clusterer", "hdbscan")
    labels = clusterer.fit_predict(result.cluster_coords)
    np.testing.assert_array_equal(labels, cluster(result.cluster_coords))
    assert clusterer.facts() == {
        "min_cluster_size_used": default_min_cluster_size(len(points)),
        "min_samples_used": default_min_samples(len(points), default_min_cluster_size(len(points))),
        "clustered_rows": len(points),
    }
    assert adjusted_rand_score(truth, labels) > 0.9

"""Parts: the registry, parameter validation, identities, the cache keyed by identity, and a
toy clusterer registered through the public API and run end to end."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.cluster import KMeans
from test_run import SMALL, HashEmbedder, write_sources

from simgap_core import parts
from simgap_core.embed import CachedEmbedder, Embedder, unit_rows
from simgap_core.map.parts import Clusterer
from simgap_core.run import AnalysisParams, analyze


def test_builtin_parts_are_registered() -> None:
    assert parts.available("annotator") == ["heuristic", "llm"]
    assert {"sentence-transformers", "openai"} <= set(parts.available("embedder"))
    assert "umap" in parts.available("reducer")
    assert "hdbscan" in parts.available("clusterer")


@pytest.mark.parametrize(
    ("kind", "name", "options", "message"),
    [
        (
            "clusterer",
            "hdbscan",
            {"min_cluster_size": 1},
            "min_cluster_size must be an integer of at least 2, got 1",
        ),
        (
            "clusterer",
            "hdbscan",
            {"min_samples": 0},
            "min_samples must be an integer of at least 1",
        ),
        ("clusterer", "hdbscan", {"method": "best"}, "method must be one of eom, leaf"),
        ("reducer", "umap", {"n_neighbors": 1}, "n_neighbors must be an integer of at least 2"),
        ("reducer", "umap", {"min_dist": 2.0}, r"min_dist must be a number in 0\.\.1"),
        ("reducer", "umap", {"seed": -1}, r"seed must be an integer in 0\.\.4294967295"),
        (
            "embedder",
            "sentence-transformers",
            {"precision": "fp64"},
            "precision must be one of auto, fp32, bf16",
        ),
        ("clusterer", "nope", {}, "unknown clusterer 'nope'; registered: .*hdbscan"),
        ("clusterer", "hdbscan", {"stacks": "some"}, "stacks must be one of auto, every, distinct"),
        ("reducer", "umap", {"n_components": 3}, "unexpected keyword argument 'n_components'"),
    ],
)
def test_parameters_are_validated_by_the_part(kind, name, options, message) -> None:
    with pytest.raises(parts.PartError, match=message):
        parts.create(kind, name, **options)


def test_identity_names_every_parameter_that_changes_the_output() -> None:
    hdbscan = parts.create("clusterer", "hdbscan", min_cluster_size=40)
    assert hdbscan.identity() == {
        "kind": "clusterer",
        "name": "hdbscan",
        "min_cluster_size": 40,
        "min_samples": None,
        "method": "eom",
        "stacks": "auto",
    }
    umap = parts.create("reducer", "umap", seed=7)
    assert umap.identity()["seed"] == 7
    assert umap.identity_key() != parts.create("reducer", "umap", seed=8).identity_key()


@parts.register
class SaltedEmbedder(Embedder):
    """A toy embedder with one parameter that changes its vectors."""

    name = "test-salted"

    def __init__(self, *, salt: str = "a") -> None:
        self.salt = salt
        self.sent = 0

    def params(self) -> dict[str, Any]:
        return {"salt": self.salt}

    def encode(self, texts: list[str]) -> np.ndarray:
        self.sent += len(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(
                hashlib.sha256((self.salt + text).encode()).digest()[:8], "little"
            )
            rows.append(np.random.default_rng(seed).normal(size=8))
        return unit_rows(np.asarray(rows).reshape(len(texts), 8))


def test_two_configurations_of_one_class_never_share_cache_entries(tmp_path: Path) -> None:
    texts = ["one", "two", "three"]
    a = CachedEmbedder(SaltedEmbedder(salt="a"), cache_dir=tmp_path)
    b = CachedEmbedder(SaltedEmbedder(salt="b"), cache_dir=tmp_path)
    va, vb = a.encode(texts), b.encode(texts)
    assert (a.embedded_count, b.embedded_count) == (3, 3)  # b found nothing of a's
    assert not np.allclose(va, vb)
    np.testing.assert_array_equal(vb, SaltedEmbedder(salt="b").encode(texts))
    assert a.store().path != b.store().path
    again = CachedEmbedder(SaltedEmbedder(salt="a"), cache_dir=tmp_path)
    np.testing.assert_array_equal(again.encode(texts), va)
    assert (again.embedded_count, again.cache_hits, again.embedder.sent) == (0, 3, 0)


class DiesOnSecondCall(SaltedEmbedder):
    """The same configuration as SaltedEmbedder(salt="z"), killed during its second call."""

    def __init__(self) -> None:
        super().__init__(salt="z")
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return super().encode(texts)


def test_an_interrupted_embedding_keeps_every_finished_chunk(tmp_path: Path) -> None:
    texts = [f"text {'x' * i}" for i in range(10)]
    progress: list[tuple[int, int]] = []
    dying = CachedEmbedder(DiesOnSecondCall(), cache_dir=tmp_path, chunk_size=4)
    with pytest.raises(KeyboardInterrupt):
        dying.encode(texts)
    resumed = CachedEmbedder(
        SaltedEmbedder(salt="z"),
        cache_dir=tmp_path,
        chunk_size=4,
        progress=lambda *a: progress.append(a),
    )
    vectors = resumed.encode(texts)
    assert (resumed.cache_hits, resumed.embedded_count) == (4, 6)
    # The four longest texts went first and were kept.
    assert resumed.embedder.sent == 6
    assert progress == [(0, 6), (4, 6), (6, 6)]
    np.testing.assert_array_equal(vectors, SaltedEmbedder(salt="z").encode(texts))


@parts.register
class ToyKMeans(Clusterer):
    """k-means on the clustering space: the README's example of a new clusterer."""

    name = "test-kmeans"

    def __init__(self, *, n_clusters: int = 3, seed: int = 0) -> None:
        if not isinstance(n_clusters, int) or n_clusters < 1:
            raise parts.PartError(
                f"n_clusters must be an integer of at least 1, got {n_clusters!r}"
            )
        self.n_clusters = n_clusters
        self.seed = seed

    def params(self) -> dict[str, Any]:
        return {"n_clusters": self.n_clusters, "seed": self.seed}

    def fit_predict(self, coords: np.ndarray, sources: np.ndarray | None = None) -> np.ndarray:
        return relabel_by_size(
            KMeans(self.n_clusters, n_init=4, random_state=self.seed).fit_predict(coords)
        )


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    found, counts = np.unique(labels, return_counts=True)
    order = found[np.lexsort((found, -counts))]
    mapping = {old: new for new, old in enumerate(order)}
    return np.array([mapping[label] for label in labels])


def test_a_registered_toy_clusterer_runs_end_to_end(tmp_path: Path) -> None:
    inputs = write_sources(tmp_path)
    options = {k: v for k, v in SMALL.items() if k != "min_cluster_size"}
    params = AnalysisParams(
        **options, clusterer="test-kmeans", part_options={"clusterer": {"n_clusters": 4}}
    )
    run = analyze(inputs, tmp_path / "run", params, embedder=HashEmbedder())

    projection = run.projection()
    coords = projection[[f"c{i}" for i in range(5)]].to_numpy(dtype=np.float32)
    independent = relabel_by_size(KMeans(4, n_init=4, random_state=0).fit_predict(coords))
    np.testing.assert_array_equal(run.clusters()["cluster"].to_numpy(), independent)
    assert run.stages["cluster"].parts["clusterer"] == {
        "kind": "clusterer",
        "name": "test-kmeans",
        "n_clusters": 4,
        "seed": 0,
    }
    assert run.facts("cluster")["clusters"] == 4
    assert run.facts("cluster")["noise_share"] == 0.0
    sources = set(run.metrics().simulators)
    assert sources == {"close_sim"}

    # Another k is another identity: only the cluster, behaviour (names) and measure stages
    # are recomputed.
    params.part_options = {"clusterer": {"n_clusters": 2}}
    rerun = analyze(inputs, tmp_path / "run", params, embedder=HashEmbedder())
    assert rerun.params.recomputed == ["cluster", "behaviour", "measure"]
    assert sorted(set(rerun.clusters()["cluster"])) == [0, 1]

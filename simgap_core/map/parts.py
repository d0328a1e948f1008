"""The map stage's parts: a `Reducer` (embeddings to a display map and a clustering space) and a
`Clusterer` (labels in the clustering space), with UMAP and HDBSCAN registered as defaults.

The algorithms live in `layout.py`; these classes only hold and validate their parameters,
name them in `identity()`, and report what they decided (`facts()`), such as the
`min_cluster_size` HDBSCAN used when none was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from simgap_core.parts import Part, PartError, register


@dataclass(frozen=True)
class Reduced:
    """A reducer's result: 2-d display coordinates, the clustering space, and what it used."""

    xy: np.ndarray  # (n, 2) float32
    cluster_coords: np.ndarray  # (n, d) float32
    facts: dict[str, Any] = field(default_factory=dict)


class Reducer(Part):
    """Base class of reducers: `reduce(embeddings, sources)` gives a `Reduced`."""

    kind: ClassVar[str] = "reducer"

    def reduce(self, embeddings: np.ndarray, sources: np.ndarray) -> Reduced:
        raise NotImplementedError


class Clusterer(Part):
    """Base class of clusterers: `fit_predict(coords, sources)` gives int labels, -1 for noise.

    `sources` (the source of every row, or None) is there for defaults that depend on how many
    sources share the map; a clusterer may ignore it. Labels should be numbered by decreasing
    cluster size (0 is the largest), as the pages and the report list clusters in label order.
    """

    kind: ClassVar[str] = "clusterer"

    def fit_predict(self, coords: np.ndarray, sources: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def facts(self) -> dict[str, Any]:
        """What the clusterer decided while fitting (JSON-able); empty by default."""
        return {}


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    valid = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if valid and high is not None:
        valid = value <= high
    if not valid:
        allowed = (
            f"an integer of at least {low}" if high is None else f"an integer in {low}..{high}"
        )
        raise PartError(f"{name} must be {allowed}, got {value!r}")


@register
class UMAPReducer(Reducer):
    """UMAP (cosine, seeded) over one exact neighbour graph: a 2-d map and a clustering space.

    `balance_sources` fits on an equal-size sample per source and places the rest with
    `transform`, so no source shapes the layout by sheer size (see `layout.build_map`).
    """

    name = "umap"

    @classmethod
    def options_from(cls, params: Any) -> dict[str, Any]:
        return {
            "n_neighbors": params.n_neighbors,
            "min_dist": params.min_dist,
            "cluster_dims": params.cluster_dims,
            "seed": params.seed,
            "balance_sources": params.balance_sources,
        }

    def __init__(
        self,
        *,
        n_neighbors: int = 15,
        min_dist: float = 0.1,
        cluster_dims: int = 5,
        seed: int = 42,
        balance_sources: bool = False,
    ) -> None:
        _check_int("n_neighbors", n_neighbors, 2)
        _check_int("cluster_dims", cluster_dims, 2)
        _check_int("seed", seed, 0, 2**32 - 1)
        if not isinstance(min_dist, int | float) or not 0.0 <= min_dist <= 1.0:
            raise PartError(f"min_dist must be a number in 0..1, got {min_dist!r}")
        self.n_neighbors = n_neighbors
        self.min_dist = float(min_dist)
        self.cluster_dims = cluster_dims
        self.seed = seed
        self.balance_sources = bool(balance_sources)

    def params(self) -> dict[str, Any]:
        return {
            "n_neighbors": self.n_neighbors,
            "min_dist": self.min_dist,
            "cluster_dims": self.cluster_dims,
            "seed": self.seed,
            "balance_sources": self.balance_sources,
        }

    def reduce(self, embeddings: np.ndarray, sources: np.ndarray) -> Reduced:
        from simgap_core.map import layout

        fit_indices = (
            layout.balance_sources(sources, seed=self.seed) if self.balance_sources else None
        )
        result = layout.build_map(
            embeddings,
            seed=self.seed,
            n_neighbors=self.n_neighbors,
            min_dist=self.min_dist,
            cluster_dims=self.cluster_dims,
            fit_indices=fit_indices,
        )
        return Reduced(result.xy, result.cluster_coords, {"map": result.params})


@register
class HDBSCANClusterer(Clusterer):
    """HDBSCAN; `min_cluster_size` defaults to `layout.default_min_cluster_size(n, n_sources)`
    and `min_samples` to `layout.default_min_samples(n, min_cluster_size)` (capped, not tied to
    the cluster size, so time and memory stay flat when the cluster size is raised).

    `stacks` says how identical rows (the same text) are clustered: "every" copy, each
    "distinct" row once (its copies take its label; the cluster size is scaled to the share
    of rows clustered), or "auto": distinct when there are `layout.DISTINCT_RATIO` or more rows
    per distinct row, where stacks of copies would form clusters of their own
    (`layout.stack_cap`)."""

    name = "hdbscan"

    @classmethod
    def options_from(cls, params: Any) -> dict[str, Any]:
        return {
            "min_cluster_size": params.min_cluster_size,
            "min_samples": params.min_samples,
            "method": params.cluster_method,
        }

    def __init__(
        self,
        *,
        min_cluster_size: int | None = None,
        min_samples: int | None = None,
        method: str = "eom",
        stacks: str = "auto",
    ) -> None:
        from simgap_core.map.layout import CLUSTER_METHODS, STACK_MODES

        if min_cluster_size is not None:
            _check_int("min_cluster_size", min_cluster_size, 2)
        if min_samples is not None:
            _check_int("min_samples", min_samples, 1)
        if method not in CLUSTER_METHODS:
            raise PartError(f"method must be one of {', '.join(CLUSTER_METHODS)}, got {method!r}")
        if stacks not in STACK_MODES:
            raise PartError(f"stacks must be one of {', '.join(STACK_MODES)}, got {stacks!r}")
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.method = method
        self.stacks = stacks
        self.min_cluster_size_used: int | None = None
        self.min_samples_used: int | None = None
        self.clustered_rows: int | None = None

    def params(self) -> dict[str, Any]:
        return {
            "min_cluster_size": self.min_cluster_size,
            "min_samples": self.min_samples,
            "method": self.method,
            "stacks": self.stacks,
        }

    def fit_predict(self, coords: np.ndarray, sources: np.ndarray | None = None) -> np.ndarray:
        from simgap_core.map import layout

        n_sources = None if sources is None else len(np.unique(np.asarray(sources)))
        size = self.min_cluster_size or layout.default_min_cluster_size(
            len(coords), n_sources=n_sources
        )
        samples = self.min_samples or layout.default_min_samples(len(coords), size)
        self.min_cluster_size_used, self.min_samples_used = int(size), int(samples)
        distinct = len(layout.unique_rows(np.asarray(coords))[0])
        cap = layout.stack_cap(self.stacks, len(coords), distinct)
        self.clustered_rows = len(coords) if cap is None else distinct
        return layout.cluster(
            coords, min_cluster_size=size, min_samples=samples, method=self.method, stack_cap=cap
        )

    def facts(self) -> dict[str, Any]:
        return {
            "min_cluster_size_used": self.min_cluster_size_used,
            "min_samples_used": self.min_samples_used,
            # Rows HDBSCAN saw: fewer than the points when identical rows were clustered once.
            "clustered_rows": self.clustered_rows,
        }

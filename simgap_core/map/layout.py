"""The shared map of a run: exact cosine neighbours, UMAP to 2-d (display) and ~5-d
(clustering), HDBSCAN on the ~5-d coordinates.

UMAP's numba kernels take tens of seconds to compile in every fresh process. Three things
bring that down to a couple of seconds once a machine has run simgap once: NUMBA_CACHE_DIR
points at a writable cache (set here, before numba is imported), UMAP's own kernels are made
cacheable (umap-learn only caches one of them), and the neighbour search is exact and done
with matrix products, so pynndescent's NN-descent (the largest compile, and not cached) never
runs. `warm_up()` pays the
remaining cost early, e.g. while a dashboard starts.
"""

from __future__ import annotations

import functools
import os
import time
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from simgap_core import cache_root

# numba reads NUMBA_CACHE_DIR when it is first imported; umap and numba are imported lazily below.
os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_root() / "numba"))

CLUSTER_METHODS = ("eom", "leaf")
# How HDBSCAN sees identical rows (the same text): "every" copy, each "distinct" row once, or
# "auto": distinct when rows outnumber distinct rows `DISTINCT_RATIO` to one (bench/map_stages.py,
# section stacks).
STACK_MODES = ("auto", "every", "distinct")
DISTINCT_RATIO = 20
NEIGHBOUR_METHODS = ("auto", "exact", "approximate")
# Above this many points `knn(method="auto")` searches a faiss IVF index instead of all pairs.
APPROXIMATE_ABOVE = 20_000
# Share of the IVF lists each query probes (bench/map_stages.py, section knn: recall vs time).
IVF_PROBE_FRACTION = 0.05
# The 2-d display map is fitted on at most this many points; the rest are transformed.
DISPLAY_FIT_SIZE = 25_000
# Similarity block size for the exact neighbour search: 8M floats (32 MB) keeps memory flat at
# any data size while the matrix product still runs at full speed.
_BLOCK_ELEMENTS = 1 << 23


@dataclass(frozen=True)
class MapResult:
    """One shared map: display coordinates, clustering coordinates and the neighbour graph."""

    xy: np.ndarray  # (n, 2) float32, for display
    cluster_coords: np.ndarray  # (n, cluster_dims) float32, what HDBSCAN clusters
    knn_indices: np.ndarray  # (n, n_neighbors) int32, each row starts with the point itself
    knn_distances: np.ndarray  # (n, n_neighbors) float32 cosine distances
    params: dict[str, Any]


def knn(
    embeddings: np.ndarray, n_neighbors: int, *, method: str = "auto", seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k nearest neighbours of every row among all rows, the row itself first.

    `method="exact"` multiplies L2-normalized rows block by block (torch), so every neighbour
    is the true one, but the cost grows as n^2 (102 s at 125k points on 2 cores).
    `method="approximate"` searches a faiss inverted-file index (`approximate_knn`): cost
    grows about as n^1.5 with a recall near 0.99. `method="auto"` (the default) is exact up to
    `APPROXIMATE_ABOVE` points and approximate above, where the exact search would dominate
    the map's time (bench/map_stages.py, section knn). Neither compiles anything, where
    pynndescent's NN-descent compiles for 40 s or more in every fresh process.
    Returns (indices int32, cosine distances float32), each of shape (n, n_neighbors).
    """
    return _unit_knn(_unit_rows(embeddings), n_neighbors, method=method, seed=seed)


def _unit_knn(
    x: np.ndarray, n_neighbors: int, *, method: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    # `x` is already L2-normalized: normalizing a second time moves the last bits of every
    # row, which flips near-tied neighbours differently on different CPUs.
    if not 1 <= n_neighbors <= len(x):
        raise ValueError(
            f"n_neighbors must be between 1 and the {len(x)} points, got {n_neighbors}"
        )
    if _neighbour_method(method, len(x)) == "approximate":
        return _approximate_neighbours(x, n_neighbors, seed=seed, n_lists=None, n_probe=None)
    return _exact_neighbours(x, x, n_neighbors, same=True)


def approximate_knn(
    embeddings: np.ndarray,
    n_neighbors: int,
    *,
    seed: int = 42,
    n_lists: int | None = None,
    n_probe: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate cosine neighbours from a faiss IVF-flat index on the unit rows.

    An inverted-file index, not HNSW: its k-means training is seeded and its search exact
    within the probed lists, so the same input gives the same neighbours on any number of
    threads, which a seeded map needs (HNSW's multi-threaded construction is not
    reproducible). `n_lists` defaults to sqrt(n) lists and `n_probe` to `IVF_PROBE_FRACTION`
    of them, so each query compares with that share of all points instead of every one
    (the cost ratio to the exact search; recall against it in bench/map_stages.py, `ann`).
    Rows come in the exact search's canonical order: the row itself first, then by
    decreasing similarity, ties by index. Same return shapes and types as `knn`.
    """
    x = _unit_rows(embeddings)
    if not 1 <= n_neighbors <= len(x):
        raise ValueError(
            f"n_neighbors must be between 1 and the {len(x)} points, got {n_neighbors}"
        )
    return _approximate_neighbours(x, n_neighbors, seed=seed, n_lists=n_lists, n_probe=n_probe)


def _approximate_neighbours(
    x: np.ndarray, n_neighbors: int, *, seed: int, n_lists: int | None, n_probe: int | None
) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    n, dimension = x.shape
    lists = n_lists or max(1, min(n // 39, round(np.sqrt(n))))
    probe = n_probe or max(1, min(lists, round(IVF_PROBE_FRACTION * lists)))
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.cp.niter = 10
    # faiss subsamples 256 points per list to train; a seeded sample of our own keeps that
    # choice reproducible and saves its warning.
    sample = np.random.default_rng(seed).choice(n, size=min(n, 64 * lists), replace=False)
    index.train(x[np.sort(sample)])
    index.add(x)
    index.nprobe = probe
    k = min(n, n_neighbors + 1)  # one extra: the row itself may come anywhere among duplicates
    similarity, found = index.search(x, k)
    indices, distances = _self_first(found, similarity, n_neighbors)
    short = np.flatnonzero((indices < 0).any(axis=1))
    if len(short):  # the probed lists held fewer than k points: search those rows exactly
        top, top_distances = _exact_neighbours(x[short], x, k, same=False)
        indices[short], distances[short] = _self_first(top, 1.0 - top_distances, n_neighbors, short)
    return indices, distances


def unique_rows(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the first occurrence of each distinct row, inverse) so rows == first[inverse].

    Behaviour descriptions repeat exactly (the heuristic annotator writes from a fixed
    vocabulary), so mapping each distinct vector once and broadcasting its coordinates
    spares the neighbour search and UMAP the repeats (`build_map(dedupe=True)`).
    """
    x = np.ascontiguousarray(embeddings)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"embeddings must be a non-empty 2-d array, got shape {x.shape}")
    keys = x.view(np.dtype((np.void, x.dtype.itemsize * x.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # distinct rows in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order].astype(np.int64), rank[inverse.ravel()].astype(np.int64)


def project(
    embeddings: np.ndarray,
    *,
    n_components: int,
    n_neighbors: int = 15,
    min_dist: float | None = None,
    seed: int = 42,
    knn: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """UMAP (cosine, seeded) of `embeddings` to `n_components` dimensions, float32.

    `min_dist` defaults to 0.1 for a 2-d display map and 0.0 for a clustering space (tight
    clumps are what a density clusterer wants). `knn` reuses neighbours from `knn()`.
    """
    x = _unit_rows(embeddings)
    if not 2 <= n_neighbors < len(x):
        raise ValueError(f"n_neighbors must be between 2 and {len(x) - 1}, got {n_neighbors}")
    if min_dist is None:
        min_dist = 0.1 if n_components == 2 else 0.0
    neighbours = knn if knn is not None else _exact_neighbours(x, x, n_neighbors, same=True)
    reducer = _fit_umap(
        x,
        neighbours,
        n_components=n_components,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        seed=seed,
    )
    return np.asarray(reducer.embedding_, dtype=np.float32)


def build_map(
    embeddings: np.ndarray,
    *,
    seed: int = 42,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    cluster_dims: int = 5,
    cluster_min_dist: float = 0.0,
    fit_indices: np.ndarray | None = None,
    neighbours: str = "auto",
    display_fit_size: int | None = DISPLAY_FIT_SIZE,
    dedupe: bool = True,
) -> MapResult:
    """The 2-d display map and the `cluster_dims`-d clustering space of all points.

    Both UMAP fits share one neighbour graph (`knn(method=neighbours)`: exact, or faiss IVF
    above `APPROXIMATE_ABOVE` points). With `fit_indices` (e.g. from `balance_sources`) UMAP is
    fitted on those points only and every other point is placed with `UMAP.transform`: no
    source dominates the layout by sheer size, but transform only approximates where a full
    fit would put a point.

    The 2-d map is only looked at, so above `display_fit_size` points it is fitted on a seeded
    random sample of that size and the rest are placed with `transform`: at 125k points that
    takes a fifth of a full 2-d fit while the planted structure stays as visible
    (bench/map_stages.py, section display). None fits the 2-d map on every point.
    With `dedupe` (the default), identical rows are mapped once and their coordinates
    broadcast: behaviour texts repeat (the 125k-conversation demo has 13,707 distinct texts),
    and each distinct text is then one point of the neighbour graph rather than a stack of
    copies UMAP cannot spread. On 2,000 demo conversations (916 distinct texts) the map takes
    a third of the CPU time and the clusters match the planted archetypes as well (ARI 0.34
    against 0.32; bench/map_stages.py, section dedupe).
    `n_neighbors` is capped at n - 1 for tiny inputs; `params` records what was used.
    """
    x = _unit_rows(embeddings)
    n = len(x)
    if display_fit_size is not None and display_fit_size < n_neighbors + 2:
        raise ValueError(
            f"display_fit_size must be at least n_neighbors + 2 = {n_neighbors + 2}, "
            f"got {display_fit_size}"
        )
    first, inverse = unique_rows(x) if dedupe else (np.arange(n), np.arange(n))
    if len(first) < cluster_dims + 2:  # too few distinct rows to map alone: map every row
        dedupe = False
        first, inverse = np.arange(n), np.arange(n)
    points = x[first]
    m = len(points)
    if m < cluster_dims + 2:  # UMAP's spectral start needs n_components + 1 eigenvectors
        raise ValueError(
            f"a {cluster_dims}-d map needs at least {cluster_dims + 2} points, got {m}"
        )
    k = min(n_neighbors, m - 1)
    method = _neighbour_method(neighbours, m)
    everyone = _unit_knn(points, k, method=method, seed=seed)
    if fit_indices is None:
        fit = np.arange(m)
    else:
        chosen = np.asarray(fit_indices, dtype=np.int64)
        if len(chosen) and (chosen.min() < 0 or chosen.max() >= n):
            raise ValueError(f"fit_indices must name points in 0..{n - 1}")
        fit = np.unique(inverse[chosen])
        if len(fit) < max(k + 1, cluster_dims + 2):
            raise ValueError(
                f"fit_indices must name at least {max(k + 1, cluster_dims + 2)} distinct points "
                f"in 0..{n - 1}"
            )
    display_fit = fit
    if display_fit_size is not None and len(fit) > display_fit_size:
        rng = np.random.default_rng(seed)
        display_fit = np.sort(rng.choice(fit, size=display_fit_size, replace=False))
    coords = []
    for n_components, dist, fitted in (
        (2, min_dist, display_fit),
        (cluster_dims, cluster_min_dist, fit),
    ):
        coords.append(
            _fit_and_place(
                points,
                fitted,
                everyone,
                n_components=n_components,
                k=k,
                min_dist=dist,
                seed=seed,
                method=method,
            )
        )
    knn_indices, knn_distances = everyone
    if dedupe:
        knn_indices = first[knn_indices][inverse].astype(np.int32)
        knn_indices[:, 0] = np.arange(n)  # a duplicate of the point is the point itself
        knn_distances = knn_distances[inverse]
    return MapResult(
        xy=coords[0][inverse],
        cluster_coords=coords[1][inverse],
        knn_indices=knn_indices,
        knn_distances=knn_distances,
        params={
            "metric": "cosine",
            "neighbours": method,
            "n_neighbors": k,
            "min_dist": min_dist,
            "cluster_dims": cluster_dims,
            "cluster_min_dist": cluster_min_dist,
            "seed": seed,
            "fit_size": len(fit),
            "transformed": m - len(fit),
            "display_fit_size": len(display_fit),
            "distinct_points": m,
        },
    )


def _fit_and_place(
    points: np.ndarray,
    fit: np.ndarray,
    everyone: tuple[np.ndarray, np.ndarray],
    *,
    n_components: int,
    k: int,
    min_dist: float,
    seed: int,
    method: str,
) -> np.ndarray:
    """UMAP fitted on `points[fit]`, every other point placed with `transform`."""
    n = len(points)
    rest = np.setdiff1d(np.arange(n), fit)
    neighbours = _unit_knn(points[fit], k, method=method, seed=seed) if len(rest) else everyone
    reducer = _fit_umap(
        points[fit],
        neighbours,
        n_components=n_components,
        n_neighbors=k,
        min_dist=min_dist,
        seed=seed,
        index=_ExactCosineIndex(points[fit]) if len(rest) else None,
    )
    out = np.empty((n, n_components), dtype=np.float32)
    out[fit] = reducer.embedding_
    if len(rest):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
            out[rest] = reducer.transform(points[rest])
    return out


def balance_sources(
    sources: np.ndarray | list[str], *, seed: int, max_per_source: int | None = None
) -> np.ndarray:
    """Sorted row indices of an equal-size random sample from every source, for `build_map`.

    Each source contributes min(size of the smallest source, max_per_source) rows.
    """
    labels = np.asarray(sources)
    names, counts = np.unique(labels, return_counts=True)
    if len(names) == 0:
        raise ValueError("no sources to balance")
    per_source = (
        int(counts.min()) if max_per_source is None else min(int(counts.min()), max_per_source)
    )
    if per_source < 1:
        raise ValueError(f"max_per_source must be at least 1, got {max_per_source}")
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == name), size=per_source, replace=False) for name in names
    ]
    return np.sort(np.concatenate(chosen))


def default_min_cluster_size(n: int, *, n_sources: int | None = None) -> int:
    """HDBSCAN's smallest cluster for `n` points from `n_sources` sources: 2% of the points
    (8% of an average source when there are more than four), at least 10, but at most 4% of
    the points (at least 3) and at most n // 2. The 4% cap acts only below 238 points.

    The number of behaviours does not grow with n, so neither should the number of clusters:
    a behaviour counts as a cluster when it holds a fixed share of the pooled data. 2% of it
    is, with four sources of equal size, 8% of a single source, small enough to surface a
    behaviour one simulator misses or invents (on the demo, frustrated complaints are 3.75% of
    the pooled data because narrow_sim never shows them; at 4% they merge into "corrections").
    With more sources the pooled share of one source's behaviour shrinks (at 25 sources of
    5,000, 2% of n is half a source), so the share is tied to the average source instead: 8%
    of n / n_sources.

    Measured on the demo data (4 sources, 12 planted behaviours, fp32 embeddings, nested
    stratified samples of 2,000 / 3,000 / 6,000 conversations, min_samples 25): 22-24
    clusters, 7-8% noise, adjusted Rand index against the planted behaviours 0.54 / 0.51 /
    0.53. 4% gives 12-13 clusters and ARI 0.65-0.73, but merges the missed frustrated
    behaviour into another; 1% splits behaviours further (ARI 0.37, then 0.34 at 20,000).
    The floor of 10 keeps density estimates stable; but in a small run it is a large share of
    the data: 71 real conversations (51 document-writing, 20 math-tutoring dialogues from
    SimulatorArena) gave 2-3 clusters, the largest holding 54-56% of them. So below 238 points
    the size is at most 4% of n, at least 3 (`bench/small_data.py`, public corpora at 50-500
    conversations, three map seeds, two subset seeds): 71 conversations then give 7 clusters,
    the largest 19-22%; at 50, 100, 125 and 200 conversations 2-7 clusters, the largest at
    most 51% (tau-bench's homogeneous airline users are a cluster of their own), the
    clusterings as stable across map seeds as the old default's or more in 9 of 12 cases.
    1/40 of n (3 at 125) splits 125 conversations into 7-11 clusters that move with the map
    seed (mean ARI between seeds 0.38-0.77). From 238 points on the size is the old one.
    """
    if n_sources is not None and n_sources < 1:
        raise ValueError(f"n_sources must be at least 1, got {n_sources}")
    share = 0.02 if n_sources is None or n_sources <= 4 else 0.08 / n_sources
    small = max(3, round(n / 25))
    return max(2, min(max(10, round(share * n)), small, n // 2))


def default_min_samples(n: int, min_cluster_size: int | None = None) -> int:
    """HDBSCAN's density neighbourhood (`min_samples`) for `n` points: 25, at most n - 1 and
    at most `min_cluster_size` (a neighbourhood wider than the smallest cluster would leave a
    small run with no cluster at all: 80 conversations at min_cluster_size 5 were all noise).

    HDBSCAN defaults it to min_cluster_size, which at 1% of n makes the core distances a
    (n x n/100) neighbour search: time and memory then grow as n^2 and jump whenever a user
    raises the cluster size (7.8 GB for a rerun of 125k points with min_cluster_size 2,500).
    A fixed neighbourhood keeps both flat, and it also keeps noise down as n grows: density is
    judged on the 25 nearest points, not on a neighbourhood that widens with n until it spans
    several behaviours (demo data, min_cluster_size 1% of n: 11.4% noise at 6,000
    conversations and 16.6% at 20,000 with min_samples = min_cluster_size, against 6.5% and
    9.4% with 10; bench/map_stages.py, section defaults). 25 rather than 10: on nested demo
    samples of 2,000, 3,000 and 6,000 conversations (min_cluster_size 2%) 10 gave ARI 0.54,
    0.52, 0.47, falling as n grows; 25 gave 0.54, 0.51, 0.53.
    """
    cap = n - 1 if min_cluster_size is None else min(n - 1, min_cluster_size)
    return max(1, min(25, cap))


def cluster(
    coords: np.ndarray,
    *,
    min_cluster_size: int | None = None,
    min_samples: int | None = None,
    method: str = "eom",
    stack_cap: int | None = None,
) -> np.ndarray:
    """HDBSCAN labels (int64) of `coords`; -1 is noise and stays -1.

    Clusters are numbered by decreasing size, so cluster 0 is the largest.
    `min_cluster_size` defaults to `default_min_cluster_size(len(coords))`; `min_samples` to
    `default_min_samples(len(coords), min_cluster_size)`, capped rather than tied to the
    cluster size, so raising the cluster size neither slows the run nor costs memory; `method`
    is "eom" or "leaf".

    With `stack_cap`, identical rows (a stack: the same text, mapped once by `build_map`) are
    clustered as at most `stack_cap` copies and every copy takes their label; the cluster
    size shrinks in proportion to the rows clustered (`stacked_cluster_rows`). HDBSCAN has
    no sample weights, and a stack of `min_samples` identical points has zero core distance:
    as repeats grow with n, stacks become clusters of their own and split behaviours.
    """
    if method not in CLUSTER_METHODS:
        raise ValueError(f"method must be one of {CLUSTER_METHODS}, got {method!r}")
    points = np.asarray(coords, dtype=np.float64)
    size = default_min_cluster_size(len(points)) if min_cluster_size is None else min_cluster_size
    if size < 2:
        raise ValueError(f"min_cluster_size must be at least 2, got {size}")
    samples = default_min_samples(len(points), size) if min_samples is None else min_samples
    if samples < 1:
        raise ValueError(f"min_samples must be at least 1, got {samples}")
    if stack_cap is not None and stack_cap < 1:
        raise ValueError(f"stack_cap must be at least 1, got {stack_cap}")
    rows, inverse = (
        (np.arange(len(points)), np.arange(len(points)))
        if stack_cap is None
        else stacked_cluster_rows(points, stack_cap)
    )
    if len(rows) < len(points):
        size = scaled_cluster_size(size, len(rows), len(points))
        samples = min(samples, size)
    samples = min(samples, len(rows) - 1)
    raw = _hdbscan(points[rows], size, max(1, samples), method)[inverse]
    found, counts = np.unique(raw[raw >= 0], return_counts=True)
    by_size = found[np.lexsort((found, -counts))]
    relabel = np.full(int(raw.max()) + 2, -1, dtype=np.int64)
    relabel[by_size + 1] = np.arange(len(by_size))
    return relabel[raw + 1]


def stack_cap(mode: str, n: int, distinct: int) -> int | None:
    """`cluster`'s `stack_cap` for a stack mode (`STACK_MODES`), `n` rows and `distinct` rows.

    "auto" clusters each distinct row once when there are at least `DISTINCT_RATIO` rows per
    distinct row. ARI against the 12 planted archetypes (bench/map_stages.py, section stacks;
    demo-shaped data, 4 sources, heuristic texts), every copy against one per distinct text:
    - drawn with replacement from 2,014 MiniLM-embedded texts, 3 / 10 / 25 / 62 rows per text
      (6,000 / 20,000 / 50,000 / 125,000 rows): 0.63 / 0.55 / 0.50 / 0.43 against 0.56 / 0.56 /
      0.62 / 0.55: with stacks that large, they become clusters of their own;
    - generated at each size (static embeddings), 3 / 4.5 / 6.3 / 9 rows per text: 0.56 / 0.37 /
      0.38 / 0.38 against 0.49 / 0.30 / 0.32 / 0.31: at the repetition real generation gives,
      every copy is better. Caps of 2-50 copies were not better than the better of the two.
    """
    if mode not in STACK_MODES:
        raise ValueError(f"stack mode must be one of {STACK_MODES}, got {mode!r}")
    if mode == "distinct" or (mode == "auto" and n >= DISTINCT_RATIO * distinct):
        return 1
    return None


def scaled_cluster_size(size: int, rows: int, n: int) -> int:
    """`min_cluster_size` for `rows` clustered in place of `n` points: the same share, >= 2."""
    return max(2, round(size * rows / n))


def stacked_cluster_rows(points: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows to cluster, the clustered row whose label each point takes).

    Each distinct row appears at most `cap` times among the rows to cluster, in order of
    first appearance; a point takes the label of its distinct row's first clustered copy.
    """
    first, inverse = unique_rows(np.ascontiguousarray(points))
    kept = np.minimum(np.bincount(inverse), cap)
    starts = np.concatenate(([0], np.cumsum(kept)[:-1]))
    return np.repeat(first, kept), starts[inverse]


def _hdbscan(points: np.ndarray, size: int, samples: int, method: str) -> np.ndarray:
    import hdbscan

    raw = hdbscan.HDBSCAN(
        min_cluster_size=size,
        min_samples=samples,
        cluster_selection_method=method,
        # Parallel core distances start joblib worker processes: ~2 s in a fresh process,
        # more than they save at these sizes (0.6 s at 20k points in 5-d on one core).
        core_dist_n_jobs=1,
    ).fit_predict(points)
    return np.asarray(raw, dtype=np.int64)


def warm_up() -> float:
    """Compile (first time on a machine) or load (later) UMAP's kernels; returns seconds taken."""
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    points = np.repeat(centres, 16, axis=0) + 0.1 * rng.normal(size=(64, 16))
    build_map(points, n_neighbors=8)
    return time.perf_counter() - start


class _ExactCosineIndex:
    """The part of a pynndescent index that `UMAP.transform` uses, answered by brute force."""

    _angular_trees = True  # UMAP.transform reads it to pick an NN-descent epsilon; unused here

    def __init__(self, fitted: np.ndarray) -> None:
        self.fitted = fitted

    def query(
        self, queries: np.ndarray, k: int, epsilon: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        # Only ever asked about rows of `build_map`'s points, which are unit rows already.
        return _exact_neighbours(
            np.ascontiguousarray(queries, dtype=np.float32), self.fitted, k, same=False
        )


def _neighbour_method(method: str, n: int) -> str:
    if method not in NEIGHBOUR_METHODS:
        raise ValueError(f"neighbour method must be one of {NEIGHBOUR_METHODS}, got {method!r}")
    if method == "auto":
        return "approximate" if n > APPROXIMATE_ABOVE else "exact"
    return method


def _self_first(
    found: np.ndarray, similarity: np.ndarray, k: int, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour lists in canonical order, each row (`rows`, default 0..n-1) itself first."""
    rows = np.arange(len(found)) if rows is None else rows
    found = found.astype(np.int64)
    score = np.where(found < 0, -np.inf, similarity.astype(np.float64))
    is_self = found == rows[:, None]
    lost = ~is_self.any(axis=1)  # the search missed the row itself (it can, among duplicates)
    found[lost, -1] = rows[lost]
    is_self[lost, -1] = True
    score[is_self] = np.inf
    order = np.lexsort((found, -score), axis=1)  # ties broken by index, as the exact search
    found = np.take_along_axis(found, order, axis=1)[:, :k]
    score = np.take_along_axis(score, order, axis=1)[:, :k]
    indices = found.astype(np.int32)
    distances = np.clip(1.0 - score, 0.0, 2.0).astype(np.float32)
    return indices, distances


def _unit_rows(embeddings: np.ndarray) -> np.ndarray:
    x = np.array(embeddings, dtype=np.float32, order="C")
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"embeddings must be a non-empty 2-d array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinite values")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("embeddings contain an all-zero row, which has no cosine direction")
    return x / norms


def _exact_neighbours(
    queries: np.ndarray, base: np.ndarray, k: int, *, same: bool
) -> tuple[np.ndarray, np.ndarray]:
    # `same`: queries are base; each row's own entry is forced first, even among duplicates.
    # torch (already loaded for embedding) multiplies and selects the top k on all cores, about
    # twice as fast as numpy's argpartition; the final order is canonical whatever its ties.
    import torch

    base_t = torch.from_numpy(base)
    rows = max(1, _BLOCK_ELEMENTS // len(base))
    indices = np.empty((len(queries), k), dtype=np.int32)
    distances = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), rows):
        stop = min(start + rows, len(queries))
        similarity = torch.from_numpy(queries[start:stop]) @ base_t.T
        if same:
            similarity[torch.arange(stop - start), torch.arange(start, stop)] = torch.inf
        top_similarity, top = (t.numpy() for t in torch.topk(similarity, k, dim=1))
        order = np.lexsort((top, -top_similarity), axis=1)  # ties broken by index
        indices[start:stop] = np.take_along_axis(top, order, axis=1)
        distances[start:stop] = 1.0 - np.take_along_axis(top_similarity, order, axis=1)
    np.clip(distances, 0.0, 2.0, out=distances)
    return indices, distances


def _fit_umap(
    x: np.ndarray,
    neighbours: tuple[np.ndarray, np.ndarray],
    *,
    n_components: int,
    n_neighbors: int,
    min_dist: float,
    seed: int,
    index: _ExactCosineIndex | None = None,
    init: str = "pca",
) -> Any:
    indices, distances = neighbours
    if indices.shape != distances.shape or indices.shape[0] != len(x):
        raise ValueError(
            f"knn must be two arrays of shape ({len(x)}, k), got {indices.shape} and "
            f"{distances.shape}"
        )
    if indices.shape[1] < n_neighbors:
        raise ValueError(f"knn has {indices.shape[1]} neighbours per point, need {n_neighbors}")
    umap = _umap()
    reducer = umap.UMAP(
        n_neighbors=n_neighbors,
        n_components=n_components,
        min_dist=min_dist,
        metric="cosine",
        random_state=seed,
        transform_seed=seed,
        # PCA start, not UMAP's spectral default: behaviour texts repeat exactly, which splits the
        # neighbour graph into many components; there the spectral start's eigen-solver fails
        # or converges differently from one call to the next, and the same seed gave different
        # maps within one process. The PCA start is reproducible and keeps global structure.
        init=init,
        n_jobs=1,  # what a seed implies anyway; saying it silences UMAP's warning
        # Copies: UMAP writes into the neighbour arrays it is given.
        precomputed_knn=(
            np.array(indices[:, :n_neighbors], dtype=np.int32, order="C"),
            np.array(distances[:, :n_neighbors], dtype=np.float32, order="C"),
            index,
        ),
    )
    with warnings.catch_warnings():
        # Without an NNDescent index UMAP warns that transform is unavailable; ours provides it.
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
        reducer.fit(x)
    return reducer


@functools.cache
def _umap() -> ModuleType:
    import numba
    from numba.core.dispatcher import Dispatcher

    if not numba.config.CACHE_DIR:  # numba was imported before this module set NUMBA_CACHE_DIR
        numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
    import umap
    import umap.distances
    import umap.layouts
    import umap.spectral
    import umap.umap_
    import umap.utils

    # umap-learn compiles its kernels without cache=True; give them the on-disk cache that
    # pynndescent's kernels already have, so a fresh process loads instead of compiling.
    for module in (umap.umap_, umap.layouts, umap.spectral, umap.utils, umap.distances):
        for kernel in vars(module).values():
            if isinstance(kernel, Dispatcher) and kernel.py_func.__module__ == module.__name__:
                kernel.enable_caching()
    return umap

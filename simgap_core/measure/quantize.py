"""The paper's quantization: pool the sources, PCA to 90% variance, k-means, histograms.

Mirrors `Evaluator.cluster` in the paper's code (github.com/Shuhaibm/UserBehavioralDivergence,
evaluate.py) and `cluster_feats` in MAUVE (mauve-text, compute_mauve.py), which agree on
every step:

1. pool the rows in an order shuffled with the seed (never sorted by group: the bins must not
   depend on which source a row carries, so relabelling the sources gives the same bins) and
   L2-normalize each row;
2. PCA without whitening (MAUVE's `compute_mauve` passes `whiten=False`; the paper does not
   whiten either), keeping the leading components up to the first whose cumulative explained
   variance ratio reaches `explained_variance` (MAUVE's rule; sklearn's `n_components=0.9`,
   which the paper uses, differs only on an exact tie);
3. faiss k-means in float32 (both references use faiss) with `nredo=n_init`,
   `niter=max_iter` and `seed`, keeping the restart with the best objective;
4. every point goes to its nearest centroid; histograms count each group's points per bin.

k defaults to round(n_reference / 10), at least 2 (the paper: k = 500 for 5,000 real
conversations; MAUVE's 'auto' is round(min(n_p, n_q) / 10)).

For the shared HDBSCAN map, `histograms_from_labels` turns given cluster labels into
histograms with the noise label -1 as a bin of its own (the first column).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from simgap_core.errors import EmptySourceError
from simgap_core.parts import Part, PartError, register

NOISE_LABEL = -1
POOL_ORDERS = ("shuffled", "grouped")
# Points x clusters x dimensions below which k-means runs single-threaded (at most tens of
# milliseconds per iteration on one core).
SMALL_KMEANS_WORK = 10**8
# Rows x dimensions^2 below which the PCA's SVD runs on one BLAS thread (`_fit_pca`).
SMALL_PCA_WORK = 10**10


@dataclass(frozen=True)
class Quantization:
    """The result of `quantize`: a bin per point and one histogram of counts per group."""

    labels: np.ndarray
    """Bin of every input row, in input order (0 .. k-1)."""
    histograms: np.ndarray
    """Counts, shape (n_groups, k): row g is group g's histogram (row 0 is P, row 1 is Q)."""
    k: int
    n_components: int
    """PCA components kept before k-means."""
    explained_variance: float
    """Cumulative explained variance ratio of the kept components."""


def default_k(n_reference: int) -> int:
    """The paper's number of clusters: about one per ten reference conversations, at least 2."""
    return max(2, int(round(n_reference / 10)))


def common_k(sizes: list[int] | tuple[int, ...]) -> int:
    """MAUVE's rule applied to the smallest source: one k for every comparison of a run.

    The plug-in JS grows with the number of bins, so a k that follows each pair's own sizes
    would give a small simulator fewer bins and a smaller JS than a large one at the same gap.
    """
    return default_k(min(sizes))


def _group_codes(groups: np.ndarray, n_rows: int, n_groups: int | None) -> tuple[np.ndarray, int]:
    groups = np.asarray(groups)
    if groups.shape != (n_rows,):
        raise ValueError(f"groups must have one entry per row ({n_rows}), got shape {groups.shape}")
    if not np.issubdtype(groups.dtype, np.integer):
        raise ValueError("groups must be integer codes 0 .. n_groups-1")
    n_groups = int(groups.max()) + 1 if n_groups is None else n_groups
    if groups.min() < 0 or groups.max() >= n_groups:
        raise ValueError(f"group codes must lie in 0 .. {n_groups - 1}")
    empty = np.flatnonzero(np.bincount(groups, minlength=n_groups) == 0)
    if empty.size:
        raise EmptySourceError(f"group {int(empty[0])} has no rows to quantize")
    return groups, n_groups


def quantize(
    embeddings: np.ndarray,
    groups: np.ndarray,
    *,
    k: int | None = None,
    explained_variance: float = 0.9,
    n_init: int = 5,
    max_iter: int = 500,
    seed: int = 42,
    n_groups: int | None = None,
    pool_order: str = "shuffled",
) -> Quantization:
    """Quantize pooled embeddings the paper's way and count each group's points per bin.

    `groups` holds an integer code per row (0 = the reference, e.g. real). Rows are pooled in
    an order shuffled with `seed` that ignores the groups, so the bins depend on the points
    only (k-means initialisation depends on row order); labels come back in input order.
    `pool_order="grouped"` stacks the groups in order instead ([real, sim], as the paper and
    MAUVE do), which reproduces their bins exactly.
    """
    import faiss  # imported on use: no other stage needs it

    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be 2-d (rows, dims), got shape {embeddings.shape}")
    groups, n_groups = _group_codes(groups, len(embeddings), n_groups)
    if not 0 < explained_variance < 1:
        raise ValueError(f"explained_variance must lie in (0, 1), got {explained_variance}")
    k = default_k(int(np.sum(groups == 0))) if k is None else int(k)
    if not 2 <= k <= len(embeddings):
        raise ValueError(f"k must lie in 2 .. {len(embeddings)} (the number of rows), got {k}")

    if pool_order == "shuffled":
        order = np.random.default_rng(seed).permutation(len(embeddings))
    elif pool_order == "grouped":
        order = np.argsort(groups, kind="stable")
    else:
        raise ValueError(f"pool_order must be one of {POOL_ORDERS}, got {pool_order!r}")
    pooled = normalize(embeddings[order], norm="l2", axis=1)
    pca = _fit_pca(pooled, seed)
    cumulative = np.cumsum(pca.explained_variance_ratio_)
    n_components = int(np.argmax(cumulative >= explained_variance)) + 1
    reduced = np.ascontiguousarray(pca.transform(pooled)[:, :n_components], dtype=np.float32)

    kmeans = faiss.Kmeans(
        n_components,
        k,
        niter=max_iter,
        nredo=n_init,
        seed=seed,
        update_index=True,
        verbose=False,
        # Only silences faiss's "please provide at least 39 points per centroid" warning: the
        # paper's k = n/10 always triggers it, and the clustering itself is unchanged.
        min_points_per_centroid=1,
    )
    # Small problems run on one thread: OpenMP start-up and barriers cost more than the work,
    # and on a busy machine spinning threads slow them down tenfold. The result does not depend
    # on the thread count.
    threads = faiss.omp_get_max_threads()
    if len(reduced) * k * n_components < SMALL_KMEANS_WORK:
        faiss.omp_set_num_threads(1)
    try:
        kmeans.train(reduced)
        _, nearest = kmeans.index.search(reduced, 1)
    finally:
        faiss.omp_set_num_threads(threads)

    labels = np.empty(len(embeddings), dtype=np.int64)
    labels[order] = nearest.ravel()
    histograms = np.stack([np.bincount(labels[groups == g], minlength=k) for g in range(n_groups)])
    return Quantization(
        labels=labels,
        histograms=histograms,
        k=k,
        n_components=n_components,
        explained_variance=float(cumulative[n_components - 1]),
    )


def _fit_pca(pooled: np.ndarray, seed: int) -> PCA:
    """The full PCA of the pooled rows, on one BLAS thread when the SVD is small.

    A full SVD of 2,000 x 384 takes 0.4 s on one thread and took 9.6 s on two with other
    processes busy on the same 2 cores (threads waiting on each other): the measure stage
    spent most of its time there. Same solver, same components either way. A large SVD gets
    every core this process may use (the measure stage otherwise keeps BLAS on one thread).
    """
    rows, dims = pooled.shape
    threads = 1 if rows * dims * dims < SMALL_PCA_WORK else len(os.sched_getaffinity(0))
    with threadpool_limits(limits=threads, user_api="blas"):
        return PCA(n_components=None, whiten=False, random_state=seed + 1).fit(pooled)


def histograms_from_labels(
    labels: np.ndarray, groups: np.ndarray, n_bins: int, *, n_groups: int | None = None
) -> np.ndarray:
    """Counts per group over given cluster labels (the shared HDBSCAN map).

    `labels` are -1 (noise) or 0 .. n_bins-1. Noise is kept as a bin of its own rather than
    dropped, so every conversation counts: column 0 is noise and column j is cluster j - 1.
    The result has shape (n_groups, n_bins + 1).
    """
    labels = np.asarray(labels)
    groups, n_groups = _group_codes(groups, len(labels), n_groups)
    if labels.size and (labels.min() < NOISE_LABEL or labels.max() >= n_bins):
        raise ValueError(f"labels must lie in -1 .. {n_bins - 1}")
    columns = labels.astype(np.int64) + 1
    return np.stack(
        [np.bincount(columns[groups == g], minlength=n_bins + 1) for g in range(n_groups)]
    )


def bin_labels(n_bins: int) -> np.ndarray:
    """The cluster label of each column of `histograms_from_labels`: -1 (noise), 0 .. n_bins-1."""
    return np.arange(NOISE_LABEL, n_bins)


class Quantizer(Part):
    """Base class of quantizers: called like `quantize` (embeddings, integer groups, k and the
    PCA / k-means settings of the run), it returns a `Quantization` of every row.

    The measure stage quantizes each (reference, simulator) pair, the robustness variants and
    all sources pooled through the run's quantizer, so another one (e.g. mini-batch k-means at
    the paper's scale) replaces it everywhere at once.
    """

    kind: ClassVar[str] = "quantizer"

    def __call__(
        self,
        embeddings: np.ndarray,
        groups: np.ndarray,
        *,
        k: int | None = None,
        explained_variance: float = 0.9,
        n_init: int = 5,
        max_iter: int = 500,
        seed: int = 42,
        n_groups: int | None = None,
    ) -> Quantization:
        raise NotImplementedError


@register
class PaperQuantizer(Quantizer):
    """The paper's and MAUVE's quantization (`quantize`): rows pooled in a seeded order (or
    `pool_order="grouped"`, stacked as the paper does), PCA to the explained variance, faiss
    k-means with restarts, every row to its nearest centroid."""

    name = "paper"

    def __init__(self, *, pool_order: str = "shuffled") -> None:
        if pool_order not in POOL_ORDERS:
            raise PartError(
                f"pool_order must be one of {', '.join(POOL_ORDERS)}, got {pool_order!r}"
            )
        self.pool_order = pool_order

    def params(self) -> dict[str, Any]:
        return {"pool_order": self.pool_order}

    def __call__(self, embeddings: np.ndarray, groups: np.ndarray, **settings: Any) -> Quantization:
        return quantize(embeddings, groups, **settings, pool_order=self.pool_order)

"""Divergences between two histograms over the same bins, as the paper defines them.

Reference: `Evaluator.compute_divergence_from_labels` in the paper's code
(github.com/Shuhaibm/UserBehavioralDivergence, evaluate.py):

- JS is computed on the raw normalized histograms, natural log, so it lies in [0, ln 2];
  terms with zero probability contribute 0 (0 * log 0 = 0), and the mixture M = (P + Q) / 2
  is positive wherever P or Q is, so no smoothing is needed.
- Forward KL(P || Q) and backward KL(Q || P) use the paper's smoothing: add 1/k to every
  probability of the normalized histogram (k = the number of bins), then renormalize.

Every function takes counts or probabilities (rows are normalized here) and works on a single
histogram (1-d, returns a float) or on a stack of them (2-d, one histogram per row, returns one
value per row), which is what the bootstrap and permutation code feeds it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def normalize(counts: ArrayLike) -> np.ndarray:
    """Counts (or unnormalized weights) to probabilities along the last axis."""
    counts = np.asarray(counts, dtype=np.float64)
    if np.any(counts < 0):
        raise ValueError("histograms must be non-negative")
    totals = counts.sum(axis=-1, keepdims=True)
    if np.any(totals <= 0):
        raise ValueError("a histogram has no mass: every bin is zero")
    return counts / totals


def smooth(counts: ArrayLike, *, k: int | None = None) -> np.ndarray:
    """The paper's smoothing: normalize, add 1/k to each probability, renormalize.

    `k` defaults to the number of bins (the paper's `self.k`, which equals it).
    """
    probs = normalize(counts)
    k = probs.shape[-1] if k is None else k
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    smoothed = probs + 1.0 / k
    return smoothed / smoothed.sum(axis=-1, keepdims=True)


def _xlogx_over(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sum over the last axis of x * ln(x / y), with 0 * ln(0 / y) = 0."""
    x, y = np.broadcast_arrays(x, y)
    ratio = np.divide(x, y, out=np.ones_like(x), where=x > 0)
    return np.sum(x * np.log(ratio), axis=-1)


def _as_result(values: np.ndarray) -> float | np.ndarray:
    return float(values) if values.ndim == 0 else values


def _check_pair(p: np.ndarray, q: np.ndarray) -> None:
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"histograms have different numbers of bins: {p.shape} vs {q.shape}")


def js_divergence(p_counts: ArrayLike, q_counts: ArrayLike) -> float | np.ndarray:
    """Jensen-Shannon divergence in nats (max ln 2) on the raw normalized histograms."""
    p, q = normalize(p_counts), normalize(q_counts)
    _check_pair(p, q)
    m = 0.5 * (p + q)
    return _as_result(0.5 * _xlogx_over(p, m) + 0.5 * _xlogx_over(q, m))


def kl_forward(
    p_counts: ArrayLike, q_counts: ArrayLike, *, k: int | None = None
) -> float | np.ndarray:
    """KL(P || Q) on the paper-smoothed histograms: real behaviour the simulator misses."""
    p, q = smooth(p_counts, k=k), smooth(q_counts, k=k)
    _check_pair(p, q)
    return _as_result(_xlogx_over(p, q))


def kl_backward(
    p_counts: ArrayLike, q_counts: ArrayLike, *, k: int | None = None
) -> float | np.ndarray:
    """KL(Q || P) on the paper-smoothed histograms: simulated behaviour real users don't show."""
    return kl_forward(q_counts, p_counts, k=k)


def divergences(p_counts: ArrayLike, q_counts: ArrayLike) -> dict[str, float]:
    """The paper's three numbers for one pair of histograms, as a JSON-able dict."""
    return {
        "js": float(js_divergence(p_counts, q_counts)),
        "kl_forward": float(kl_forward(p_counts, q_counts)),
        "kl_backward": float(kl_backward(p_counts, q_counts)),
    }

"""The mixture of simulators closest to real: weights on the simplex minimizing JS.

JS(P, M) is jointly convex, and the mixture M(w) = sum_i w_i Q_i is linear in w, so
f(w) = JS(P, M(w)) is convex on the simplex: any local minimum is global. It is solved with
SLSQP and the analytic gradient

    df/dw_i = sum_j Q_ij * 0.5 * ln(M_j / A_j),   A = (P + M) / 2,

and the answer is certified by the Frank-Wolfe duality gap g.w - min_i g_i, an upper bound on
f(w) - min f for a convex f.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from simgap_core.measure.divergence import js_divergence, normalize


@dataclass(frozen=True)
class Mixture:
    """The best mixture of simulators for one reference histogram."""

    weights: np.ndarray
    js: float
    single_js: np.ndarray
    """JS of each simulator alone, in input order."""
    duality_gap: float
    """Certified bound on js - (the true minimum)."""

    @property
    def best_single(self) -> int:
        return int(np.argmin(self.single_js))

    @property
    def best_single_js(self) -> float:
        return float(self.single_js[self.best_single])

    @property
    def gain(self) -> float:
        """How much lower the mixture's JS is than the best single simulator's."""
        return self.best_single_js - self.js


def _objective(weights: np.ndarray, p: np.ndarray, qs: np.ndarray) -> float:
    mixed = np.clip(weights, 0.0, None) @ qs
    return float(js_divergence(p, mixed))


def _gradient(weights: np.ndarray, p: np.ndarray, qs: np.ndarray) -> np.ndarray:
    mixed = np.clip(weights, 0.0, None) @ qs
    average = 0.5 * (p + mixed)
    # Bins where the mixture is empty: the derivative tends to -inf (more mass there always
    # helps); a tiny floor keeps it finite and steep.
    log_ratio = np.log(np.maximum(mixed, 1e-300) / np.maximum(average, 1e-300))
    return qs @ (0.5 * np.where(average > 0, log_ratio, 0.0))


def best_mixture(p_counts: np.ndarray, q_counts: np.ndarray, *, tol: float = 1e-14) -> Mixture:
    """Weights w on the simplex minimizing JS(P, sum_i w_i Q_i).

    `q_counts` has one histogram per simulator (rows), over the same bins as `p_counts`:
    that is, a shared quantization of all sources.
    """
    p = normalize(p_counts)
    qs = normalize(np.atleast_2d(q_counts))
    if p.ndim != 1 or qs.shape[1] != p.shape[0]:
        raise ValueError("p_counts must be 1-d and q_counts (simulators, bins) over the same bins")
    n_sims = qs.shape[0]
    single = np.asarray(js_divergence(p, qs), dtype=np.float64)
    if n_sims == 1:
        return Mixture(weights=np.ones(1), js=float(single[0]), single_js=single, duality_gap=0.0)

    # Start from the better of the uniform mixture and the best vertex.
    starts = [np.full(n_sims, 1.0 / n_sims), np.eye(n_sims)[int(np.argmin(single))]]
    start = min(starts, key=lambda w: _objective(w, p, qs))
    result = minimize(
        _objective,
        start,
        args=(p, qs),
        jac=_gradient,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * n_sims,
        constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1.0, "jac": np.ones_like}],
        options={"ftol": tol, "maxiter": 1000},
    )
    weights = np.clip(result.x, 0.0, None)
    weights /= weights.sum()
    if _objective(weights, p, qs) > _objective(start, p, qs):
        weights = start
    gradient = _gradient(weights, p, qs)
    gap = float(gradient @ weights - gradient.min())
    return Mixture(
        weights=weights,
        js=_objective(weights, p, qs),
        single_js=single,
        duality_gap=max(gap, 0.0),
    )

"""The best mixture of simulators: a known optimum, and agreement with brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from simgap_core.measure.mixture import best_mixture


def scipy_js(p: np.ndarray, q: np.ndarray) -> float:
    return float(jensenshannon(p, q) ** 2)


def simplex_grid(n_sims: int, steps: int) -> np.ndarray:
    points = [
        np.array(c) / steps
        for c in itertools.product(range(steps + 1), repeat=n_sims)
        if sum(c) == steps
    ]
    return np.array(points)


def test_known_optimum_is_recovered() -> None:
    rng = np.random.default_rng(0)
    a, b, c = (rng.dirichlet(np.ones(60)) for _ in range(3))
    real = 0.3 * a + 0.7 * b
    result = best_mixture(real, np.stack([a, b, c]))
    np.testing.assert_allclose(result.weights, [0.3, 0.7, 0.0], atol=1e-6)
    assert result.js == pytest.approx(0.0, abs=1e-10)
    assert result.best_single_js == pytest.approx(min(scipy_js(real, q) for q in (a, b, c)))
    assert result.gain == pytest.approx(result.best_single_js, abs=1e-10)


@pytest.mark.parametrize(("n_sims", "steps", "seed"), [(2, 2000, 1), (3, 200, 2), (3, 200, 3)])
def test_mixture_beats_or_matches_a_fine_brute_force_grid(n_sims, steps, seed) -> None:
    rng = np.random.default_rng(seed)
    real = rng.multinomial(3000, rng.dirichlet(np.ones(40)))
    sims = np.stack([rng.multinomial(2000, rng.dirichlet(np.ones(40))) for _ in range(n_sims)])
    # Some bins only one simulator reaches, one bin none: the optimum must handle zeros.
    sims[:, 0] = 0
    sims[0, 1:4] = 0
    result = best_mixture(real, sims)

    shares = sims / sims.sum(axis=1, keepdims=True)
    real_shares = real / real.sum()
    grid = simplex_grid(n_sims, steps)
    grid_js = np.array([scipy_js(real_shares, w @ shares) for w in grid])
    best_grid = grid[np.argmin(grid_js)]
    assert result.js <= grid_js.min() + 1e-12
    assert result.js == pytest.approx(grid_js.min(), abs=1e-5)
    np.testing.assert_allclose(result.weights, best_grid, atol=2.0 / steps)
    assert result.js == pytest.approx(scipy_js(real_shares, result.weights @ shares), abs=1e-12)
    assert result.weights.sum() == pytest.approx(1.0)
    assert np.all(result.weights >= 0)
    # The certificate: by convexity, js - (true minimum) <= duality gap.
    assert result.duality_gap < 1e-7
    assert result.gain >= 0


def test_a_single_simulator_gets_all_the_weight() -> None:
    result = best_mixture(np.array([5, 3, 2]), np.array([[1, 1, 8]]))
    assert result.weights.tolist() == [1.0]
    assert result.js == result.best_single_js == pytest.approx(scipy_js([5, 3, 2], [1, 1, 8]))
    assert result.gain == 0.0


def test_bins_must_agree() -> None:
    with pytest.raises(ValueError, match="same bins"):
        best_mixture(np.array([1, 2, 3]), np.array([[1, 2], [2, 1]]))

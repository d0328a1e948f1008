"""The paper's JS and smoothed KL equal independent scipy computations to 1e-9."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from simgap_core.measure.divergence import (
    divergences,
    js_divergence,
    kl_backward,
    kl_forward,
    smooth,
)


def scipy_js(p: np.ndarray, q: np.ndarray) -> float:
    # scipy returns the JS *distance* (square root), natural log by default.
    return float(jensenshannon(p, q, base=math.e) ** 2)


def paper_smoothed(counts: np.ndarray) -> np.ndarray:
    """evaluate.py: p_hist = counts / n; p_smooth = p_hist + 1/k; p_smooth /= p_smooth.sum()."""
    hist = counts / counts.sum()
    smoothed = hist + 1.0 / len(counts)
    return smoothed / smoothed.sum()


def histogram_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    pairs = [
        ("random", rng.integers(0, 50, 40), rng.integers(0, 50, 40)),
        ("sparse", rng.poisson(0.3, 500), rng.poisson(0.3, 500)),
        ("zeros in both", np.array([5, 0, 3, 0, 2]), np.array([0, 0, 4, 1, 5])),
        ("disjoint", np.array([3, 4, 0, 0]), np.array([0, 0, 7, 1])),
        ("identical", np.array([2, 9, 4, 1]), np.array([2, 9, 4, 1])),
        ("proportional", np.array([1, 2, 3]), np.array([10, 20, 30])),
        ("one bin", np.array([0, 12, 0]), np.array([3, 3, 3])),
    ]
    for name, p, q in pairs:
        # Every histogram needs some mass; the random ones could (in principle) be empty.
        assert p.sum() > 0 and q.sum() > 0, name
    return pairs


@pytest.mark.parametrize(
    ("name", "p", "q"), histogram_pairs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_metric_equals_scipy(name: str, p: np.ndarray, q: np.ndarray) -> None:
    assert js_divergence(p, q) == pytest.approx(scipy_js(p, q), abs=1e-9)
    p_s, q_s = paper_smoothed(p), paper_smoothed(q)
    assert kl_forward(p, q) == pytest.approx(entropy(p_s, q_s), abs=1e-9)
    assert kl_backward(p, q) == pytest.approx(entropy(q_s, p_s), abs=1e-9)


def test_js_bounds_and_edge_values() -> None:
    disjoint = js_divergence([3, 4, 0, 0], [0, 0, 7, 1])
    assert disjoint == pytest.approx(math.log(2), abs=1e-12)
    assert js_divergence([2, 9, 4, 1], [2, 9, 4, 1]) == 0.0
    # Counts and probabilities give the same number: only shares matter.
    assert js_divergence([1, 2, 3], [10, 20, 30]) == pytest.approx(0.0, abs=1e-15)
    rng = np.random.default_rng(0)
    values = [js_divergence(rng.integers(0, 5, 30), rng.integers(0, 5, 30)) for _ in range(50)]
    assert all(0.0 <= v <= math.log(2) for v in values)


def test_smoothing_uses_one_over_k_on_probabilities() -> None:
    counts = np.array([6, 0, 2, 0])
    # By hand: shares (0.75, 0, 0.25, 0) + 1/4 -> (1.0, 0.25, 0.5, 0.25) / 2.
    np.testing.assert_allclose(smooth(counts), [0.5, 0.125, 0.25, 0.125], atol=1e-15)
    # An explicit k overrides the number of bins (the paper's self.k).
    np.testing.assert_allclose(smooth(counts, k=2), [1.25, 0.5, 0.75, 0.5] / np.float64(3.0))


def test_kl_with_an_empty_bin_is_finite_and_matches_scipy() -> None:
    p, q = np.array([10, 0, 5]), np.array([0, 8, 7])
    assert np.isfinite(kl_forward(p, q))
    assert kl_forward(p, q) == pytest.approx(
        entropy(paper_smoothed(p), paper_smoothed(q)), abs=1e-9
    )


def test_rows_are_computed_independently() -> None:
    rng = np.random.default_rng(3)
    p, q = rng.integers(0, 20, (6, 25)), rng.integers(1, 20, (6, 25))
    batch_js, batch_kl = js_divergence(p, q), kl_forward(p, q)
    assert batch_js.shape == (6,)
    for row in range(6):
        assert batch_js[row] == pytest.approx(scipy_js(p[row], q[row]), abs=1e-12)
        expected = entropy(paper_smoothed(p[row]), paper_smoothed(q[row]))
        assert batch_kl[row] == pytest.approx(expected, abs=1e-12)
    # A single Q broadcasts against a stack of P.
    np.testing.assert_allclose(js_divergence(p, q[0]), [scipy_js(r, q[0]) for r in p], atol=1e-12)


def test_divergences_dict_is_json_ready() -> None:
    result = divergences([5, 1, 0], [1, 5, 2])
    assert set(result) == {"js", "kl_forward", "kl_backward"}
    assert all(type(v) is float for v in result.values())


@pytest.mark.parametrize(
    ("p", "q", "message"),
    [
        ([1, -1, 2], [1, 1, 1], "non-negative"),
        ([0, 0, 0], [1, 1, 1], "no mass"),
        ([1, 2], [1, 2, 3], "different numbers of bins"),
    ],
)
def test_bad_histograms_are_rejected(p: list[int], q: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        js_divergence(p, q)

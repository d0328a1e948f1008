"""What a run could have detected: the smallest missing behaviour its test would catch.

"No detectable gap" means little on its own: at 300 conversations per side a simulator that
never shows a behaviour of one real conversation in ten passes the permutation test most of
the time. So each (real, simulator) pair states its *minimum detectable gap*: the smallest
share X of real conversations such that a simulator missing a behaviour shown by X of them
(those conversations' bins emptied, the rest in proportion) is flagged at least `POWER` of the
time, at this pair's sizes and bins, at the Holm threshold alpha / m that the first rejection
of m simulators must meet.

By simulation: the observed real shares stand for the truth; a behaviour is a seeded random
set of bins whose shares add up to about X (0.8 X to 1.25 X; the share reported is theirs).
The test is approximated by its parametric twin: the critical value is the (1 - alpha / m)
quantile of the plug-in JS between two samples of the real shares at the pair's sizes, and a
simulated pair is detected when its plug-in JS exceeds it. bench/calibration.py (section
power) checks the approximation against the permutation test.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from simgap_core.measure.divergence import js_divergence

POWER = 0.8
# The shares of real conversations a missing behaviour is tried at, smallest first.
MISSING_SHARES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
# A behaviour of share X is a set of bins adding up to between 0.8 X and 1.25 X.
TOLERANCE = (0.8, 1.25)


@dataclass(frozen=True)
class Detectable:
    """The minimum detectable gap of a pair (None: not even half of real behaviour)."""

    missing_share: float | None  # the share of real conversations in the missing bins
    power: float | None  # the detection rate at `missing_share`
    alpha: float  # the threshold the simulated tests were run at (alpha / m)
    reps: int

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def detectable_gap(
    real_counts: np.ndarray,
    n_sim: int,
    *,
    alpha: float,
    reps: int = 200,
    null_reps: int = 1000,
    seed: int = 0,
) -> Detectable:
    """The smallest share in `MISSING_SHARES` whose missing behaviour is detected with
    probability at least `POWER` (see the module docstring)."""
    real_counts = np.asarray(real_counts, dtype=np.float64)
    n_real = int(real_counts.sum())
    shares = real_counts / n_real
    null_rng, order_rng, draw_rng = (
        np.random.default_rng(stream) for stream in np.random.SeedSequence(seed).spawn(3)
    )
    null_reps = max(null_reps, int(np.ceil(20 / alpha)))  # 20 draws beyond the critical value
    null = js_divergence(
        null_rng.multinomial(n_real, shares, size=null_reps),
        null_rng.multinomial(n_sim, shares, size=null_reps),
    )
    critical = float(np.quantile(null, 1 - alpha))
    order = order_rng.permutation(np.flatnonzero(shares > 0))
    for target in MISSING_SHARES:
        taken = _behaviour(shares, order, target)
        if taken is None:
            continue  # no set of bins comes near this share (the bins are too coarse)
        lacking = shares.copy()
        lacking[taken] = 0.0
        lacking /= lacking.sum()
        observed = js_divergence(
            draw_rng.multinomial(n_real, shares, size=reps),
            draw_rng.multinomial(n_sim, lacking, size=reps),
        )
        power = float(np.mean(observed > critical))
        if power >= POWER:
            return Detectable(round(float(shares[taken].sum()), 4), power, alpha, reps)
    return Detectable(None, None, alpha, reps)


def _behaviour(shares: np.ndarray, order: np.ndarray, target: float) -> np.ndarray | None:
    """Bins, taken in `order`, whose shares add up to `target` within -20% / +25% (a bin that
    would overshoot is passed over); None when no such set is found or it is everything."""
    taken, total = [], 0.0
    for bin_ in order:
        if total + shares[bin_] <= TOLERANCE[1] * target:
            taken.append(bin_)
            total += shares[bin_]
            if total >= TOLERANCE[0] * target:
                break
    if total < TOLERANCE[0] * target or total >= 1.0 - 1e-12:
        return None
    return np.asarray(taken)

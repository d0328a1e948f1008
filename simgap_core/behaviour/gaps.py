"""Feature gaps: what simulated users do differently from real ones, with intervals and q-values.

Why: a divergence says *how far* a simulator is; a feature gap says *what to fix* ("thanks the
assistant 4x as often"). Each (feature, simulator) pair gets

- the real and simulated value: the mean, or the rate of a binary (0/1) feature;
- an effect size: for continuous features the standardized mean difference (simulator minus
  real, over the pooled sd: Cohen's d), for binary ones the ratio of rates (simulator / real),
  a count of zero counted as half a conversation so the ratio stays finite (the forest plot
  draws it on a log axis); with both counts positive it is the ratio of the observed rates,
  the one the shares a sentence states give;
- a percentile bootstrap interval of the effect, conversations resampled with replacement
  within each source (seeded). Percentile rather than BCa: the effects are smooth functions of
  means over hundreds of conversations, whose bootstrap distribution is near symmetric, and
  the percentile interval respects the log scale of a ratio without a jackknife pass per test;
  the coverage is measured in `bench/feature_gaps_calibration.py`;
- a p-value under the null "same distribution in both sources": Fisher's exact test for binary
  features, a two-sided permutation test of the difference in means for continuous ones (valid
  for the zero-inflated counts most features are, where a t-test at small n is not);
- a Benjamini-Hochberg q-value over all (feature, simulator) tests of the run.

Missing values (a feature undefined for a conversation, e.g. MATTR under 25 words) are left out
of that feature's comparison; `n_real` and `n_sim` say how many conversations each side kept.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from simgap_core.behaviour.features import BINARY, BY_NAME, FEATURES, Feature
from simgap_core.measure.uncertainty import benjamini_hochberg
from simgap_core.present.formatting import format_whole_share

SMD, RATE_RATIO = "smd", "rate_ratio"
SIGNIFICANCE = 0.05
"""The false discovery rate at which a gap is called significant (q <= SIGNIFICANCE)."""
GAP_COLUMNS = (
    "feature",
    "simulator",
    "label",
    "unit",
    "effect_kind",
    "real",
    "sim",
    "effect",
    "ci_low",
    "ci_high",
    "p_value",
    "q_value",
    "n_real",
    "n_sim",
)


class FeatureGapError(ValueError):
    """The features table cannot be compared (no reference rows, no simulator, bad columns)."""


def _rate_ratio(sim_hits, n_sim, real_hits, n_real):
    """sim rate / real rate; a count of 0 counts as 0.5, so the ratio is finite and still
    ordered (0.5 hits below 1 hit), and equal to the observed ratio whenever both counts are
    positive."""
    return (np.maximum(sim_hits, 0.5) / n_sim) / (np.maximum(real_hits, 0.5) / n_real)


def _smd(mean_sim, var_sim, n_sim, mean_real, var_real, n_real):
    pooled = ((n_sim - 1) * var_sim + (n_real - 1) * var_real) / (n_sim + n_real - 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (mean_sim - mean_real) / np.sqrt(pooled)
    # Both sides constant and equal: no difference at all, not an undefined one.
    return np.where((pooled == 0) & (mean_sim == mean_real), 0.0, d)


def _weighted_moments(weights: np.ndarray, values: np.ndarray):
    """Per bootstrap row of `weights` (counts of each conversation): n, mean, sample variance."""
    n = weights.sum(axis=1)
    mean = weights @ values / n
    second = weights @ (values * values) / n
    variance = np.clip(second - mean**2, 0.0, None) * n / np.maximum(n - 1, 1)
    return n, mean, variance


def _bootstrap_weights(rng: np.random.Generator, n: int, replicates: int) -> np.ndarray:
    """How often each of n conversations is drawn in each of `replicates` resamples."""
    draws = rng.integers(0, n, size=(replicates, n))
    weights = np.zeros((replicates, n))
    np.add.at(weights, (np.arange(replicates)[:, None], draws), 1.0)
    return weights


def _permutation_p_values(
    real: np.ndarray, sim: np.ndarray, *, rng: np.random.Generator, permutations: int
) -> np.ndarray:
    """Two-sided permutation p-values of the difference in means, one per column.

    The source labels of all pooled rows are shuffled together (one shuffle serves every
    feature); a feature's statistic uses its non-missing rows. Under the null of one distribution
    (missingness included) the rows are exchangeable, so this is a valid randomization test.
    p = (1 + #{|permuted diff| >= |observed diff|}) / (1 + permutations).
    """
    pooled = np.vstack([sim, real])
    valid = ~np.isnan(pooled)
    values = np.where(valid, pooled, 0.0)
    n_sim = len(sim)
    labels = np.zeros((permutations, len(pooled)), dtype=np.float32)
    labels[:, :n_sim] = 1.0
    labels = rng.permuted(labels, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sums = labels @ values
        counts = labels @ valid.astype(np.float32)
        total, total_n = values.sum(axis=0), valid.sum(axis=0)
        permuted = sums / counts - (total - sums) / (total_n - counts)
        is_sim = np.r_[np.ones(n_sim), np.zeros(len(real))]
        observed = (is_sim @ values) / (is_sim @ valid) - ((1 - is_sim) @ values) / (
            (1 - is_sim) @ valid
        )
    # A tolerance keeps ties (frequent with counts) from being lost to rounding.
    extreme = np.abs(permuted) >= np.abs(observed) - 1e-12
    exceed = np.where(np.isnan(permuted), True, extreme).sum(axis=0)
    return (1.0 + exceed) / (1.0 + permutations)


def _compare(
    feature: Feature,
    real: np.ndarray,
    sim: np.ndarray,
    *,
    w_real: np.ndarray,
    w_sim: np.ndarray,
    confidence: float,
) -> dict:
    """One feature, one simulator. `w_real`, `w_sim`: bootstrap weights over all rows of each
    source, drawn once per simulator so every feature sees the same resamples; a missing value
    takes its weight out of that replicate's mean."""
    real_valid, sim_valid = ~np.isnan(real), ~np.isnan(sim)
    w_real, w_sim = w_real[:, real_valid], w_sim[:, sim_valid]
    real, sim = real[real_valid], sim[sim_valid]
    n_real, n_sim = len(real), len(sim)
    row = {"n_real": n_real, "n_sim": n_sim}
    nan = math.nan
    if n_real < 2 or n_sim < 2:
        return {**row, "real": nan, "sim": nan, "effect": nan, "ci_low": nan, "ci_high": nan}
    row["real"], row["sim"] = float(real.mean()), float(sim.mean())
    if feature.kind == BINARY:
        hits_sim, hits_real = int(sim.sum()), int(real.sum())
        row["effect"] = float(_rate_ratio(hits_sim, n_sim, hits_real, n_real))
        replicates = _rate_ratio(w_sim @ sim, w_sim.sum(axis=1), w_real @ real, w_real.sum(axis=1))
        table = [[hits_sim, n_sim - hits_sim], [hits_real, n_real - hits_real]]
        row["p_value"] = float(stats.fisher_exact(table).pvalue)
    else:
        row["effect"] = float(
            _smd(sim.mean(), sim.var(ddof=1), n_sim, real.mean(), real.var(ddof=1), n_real)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            k_sim, m_sim, v_sim = _weighted_moments(w_sim, sim)
            k_real, m_real, v_real = _weighted_moments(w_real, real)
            replicates = _smd(m_sim, v_sim, k_sim, m_real, v_real, k_real)
        replicates = np.where((k_sim > 1) & (k_real > 1), replicates, np.nan)
    tail = (1.0 - confidence) / 2 * 100
    finite = replicates[np.isfinite(replicates)]
    row["ci_low"], row["ci_high"] = (
        (float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail)))
        if len(finite)
        else (nan, nan)
    )
    return row


def feature_gaps(
    features: pd.DataFrame,
    *,
    reference: str = "real",
    seed: int = 0,
    bootstrap: int = 1000,
    permutations: int = 2000,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Real vs every other source on every feature of `FEATURES` present in `features`.

    `features` is `compute_features` output (conversation_id, source, one column per feature).
    Seeded: each simulator draws from `numpy.random.default_rng([seed, its position])`.
    Rows are ordered by simulator (first appearance), significant gaps (q <= 0.05) first, then by
    `effect_size`, largest first.
    """
    if "source" not in features.columns:
        raise FeatureGapError("the features table has no 'source' column")
    if bootstrap < 10 or permutations < 10:
        raise FeatureGapError(
            f"bootstrap and permutations must be >= 10, got {bootstrap}, {permutations}"
        )
    if not 0 < confidence < 1:
        raise FeatureGapError(f"confidence must lie in (0, 1), got {confidence}")
    sources = list(dict.fromkeys(features["source"].astype(str)))
    if reference not in sources:
        raise FeatureGapError(
            f"no conversations of the reference source {reference!r} (sources: {sources})"
        )
    simulators = [s for s in sources if s != reference]
    if not simulators:
        raise FeatureGapError(f"only the reference source {reference!r}: nothing to compare")
    present = [f for f in FEATURES if f.name in features.columns]
    source = features["source"].astype(str).to_numpy()
    real_rows = features[source == reference]
    rows = []
    for position, simulator in enumerate(simulators):
        rng = np.random.default_rng([seed, position])
        sim_rows = features[source == simulator]
        w_real = _bootstrap_weights(rng, len(real_rows), bootstrap)
        w_sim = _bootstrap_weights(rng, len(sim_rows), bootstrap)
        continuous = [f.name for f in present if f.kind != BINARY]
        permutation_p = dict(
            zip(
                continuous,
                _permutation_p_values(
                    real_rows[continuous].to_numpy(np.float64),
                    sim_rows[continuous].to_numpy(np.float64),
                    rng=rng,
                    permutations=permutations,
                ),
                strict=True,
            )
        )
        for feature in present:
            compared = _compare(
                feature,
                real_rows[feature.name].to_numpy(np.float64),
                sim_rows[feature.name].to_numpy(np.float64),
                w_real=w_real,
                w_sim=w_sim,
                confidence=confidence,
            )
            if feature.kind != BINARY and "effect" in compared and compared["n_real"] >= 2:
                compared["p_value"] = float(permutation_p[feature.name])
            rows.append(
                {
                    "feature": feature.name,
                    "simulator": simulator,
                    "label": feature.label,
                    "unit": feature.unit,
                    "effect_kind": RATE_RATIO if feature.kind == BINARY else SMD,
                    "p_value": math.nan,
                    **compared,
                }
            )
    gaps = pd.DataFrame(rows, columns=list(GAP_COLUMNS))
    tested = gaps["p_value"].notna()
    gaps["q_value"] = math.nan
    gaps.loc[tested, "q_value"] = benjamini_hochberg(gaps.loc[tested, "p_value"].to_numpy())
    order = np.lexsort(
        (
            -np.nan_to_num(effect_size(gaps)),
            ~(gaps["q_value"] <= SIGNIFICANCE).to_numpy(),
            gaps["simulator"].map(simulators.index).to_numpy(),
        )
    )
    return gaps.iloc[order].reset_index(drop=True)


def effect_size(gaps: pd.DataFrame) -> np.ndarray:
    """How large each gap is on one scale, to rank binary and continuous gaps together: |SMD|,
    and for rates Cohen's h = |2 asin sqrt(sim) - 2 asin sqrt(real)|, which reads like a d
    (0.2 small, 0.5 medium, 0.8 large); a ratio of rates does not (5% vs 1% is 5x, and small)."""
    size = gaps["effect"].abs().to_numpy(np.float64, copy=True)
    rates = (gaps["effect_kind"] == RATE_RATIO).to_numpy()
    real = gaps["real"].to_numpy(np.float64)[rates].clip(0, 1)
    sim = gaps["sim"].to_numpy(np.float64)[rates].clip(0, 1)
    size[rates] = np.abs(2 * np.arcsin(np.sqrt(sim)) - 2 * np.arcsin(np.sqrt(real)))
    return size


def _number(value: float, unit: str) -> str:
    if unit == "share" or abs(value) < 1:
        return f"{value:.2f}"
    return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"


def _ratio_digits(ratio: float) -> int:
    """Two decimals when the ratio (>= 1) is below 2, so close ratios read apart."""
    return 2 if ratio < 2 else 1


def _ratio_text(sim: float, real: float, low: float, high: float, level: str) -> str:
    """The ratio of two shown, positive rates with its interval: "4.4x, 95% CI 3.7-5.2";
    below 1 inverted, "1.13x less often, 95% CI 1.05-1.25"; "about as often (ratio 0.98,
    95% CI 0.80-1.20)" when the shares show alike or the ratio shows as 1.

    The ratio is sim / real of the rates themselves (not of the smoothed effect), so it is the
    one the shown shares give, and "less often" goes with the smaller simulated share."""
    ratio = sim / real
    less = ratio < 1
    shown = 1 / ratio if less else ratio
    digits = _ratio_digits(shown)
    alike = format_whole_share(sim) == format_whole_share(real)
    if alike or f"{shown:.{digits}f}" == f"{1:.{digits}f}":
        return f"about as often: ratio {ratio:.2f}, {level} {_times(low, 2)}-{_times(high, 2)}"
    if less:
        with np.errstate(divide="ignore"):
            low, high = 1 / high, 1 / low
    return (
        f"{shown:.{digits}f}x{' less often' if less else ''}, {level} "
        f"{_times(low, digits)}-{_times(high, digits)}"
    )


def _times(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if np.isfinite(value) else "∞"


def gap_sentence(row: pd.Series | dict, *, confidence: float = 0.95) -> str:
    """One row of `feature_gaps` in words, e.g.

    "chatty_sim users thank the assistant in 42% of conversations, real users in 10% (4.2x,
    95% CI 3.7-5.2)"; a rate below the real one reads "(1.25x less often, 95% CI
    1.11-1.41)", the interval of the inverted ratio.

    The shares are rounded first (`format_whole_share`) and the words follow from what is shown:
    "never" only for a share of exactly 0, a ratio only when both shares show as a number
    (not 0%, not "<1%"), "about as often" when they show alike.
    """
    feature = BY_NAME[row["feature"]]
    level = f"{confidence:.0%} CI"
    if feature.kind == BINARY:
        return _rate_sentence(row, feature, level)
    unit = "" if feature.unit in ("share", "words") else " per conversation"
    return (
        f"{row['simulator']} users: {feature.label} {_number(row['sim'], feature.unit)}{unit} "
        f"on average, real users {_number(row['real'], feature.unit)} "
        f"({row['effect']:+.2f} sd, {level} {row['ci_low']:+.2f} to {row['ci_high']:+.2f})"
    )


def _rate_sentence(row: pd.Series | dict, feature: Feature, level: str) -> str:
    who, phrase = row["simulator"], feature.phrase
    sim, real = float(row["sim"]), float(row["real"])
    sim_text, real_text = format_whole_share(sim), format_whole_share(real)
    if sim <= 0 and real <= 0:
        return f"neither {who} users nor real users ever {phrase}"
    if sim <= 0:
        return f"{who} users never {phrase}, real users do in {real_text} of conversations"
    if real <= 0:
        return f"{who} users {phrase} in {sim_text} of conversations, real users never do"
    stated = f"{who} users {phrase} in {sim_text} of conversations, real users in {real_text}"
    if "<" in sim_text or "<" in real_text:
        return stated  # a ratio to "<1%" could be anything: none is stated
    return f"{stated} ({_ratio_text(sim, real, row['ci_low'], row['ci_high'], level)})"


def effect_text(row: pd.Series | dict) -> str:
    """A feature gap's effect and interval for a table cell, consistent with `gap_sentence`:
    a ratio of rates as the observed ratio, three significant digits ("0.15× [0.08, 0.27]";
    "0×" when the simulator never does it, "∞×" when real users never do, "–" when neither
    does), a standardized difference as "+0.55 sd [+0.49, +0.62]"."""
    low, high = float(row["ci_low"]), float(row["ci_high"])
    if row["effect_kind"] != RATE_RATIO:
        return f"{row['effect']:+.2f} sd [{low:+.2f}, {high:+.2f}]"
    sim, real = float(row["sim"]), float(row["real"])
    if sim <= 0 and real <= 0:
        return "–"
    ratio = "∞" if real <= 0 else f"{sim / real:.3g}"
    return f"{ratio}× [{low:.3g}, {high:.3g}]"

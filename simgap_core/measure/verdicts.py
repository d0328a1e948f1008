"""The verdicts: which simulator is closest, which are tied, whether a gap or a mixture is real.

Each verdict is judged against its own noise, at the sizes the data have:

- `joint_bootstrap`: every simulator's bias-corrected JS and its interval (`corrected_js`:
  the per-bin bias, the interval resampling the corrected estimator), and the interval of the
  difference between every two simulators. The real conversations are shared by all
  comparisons, so one resample of them enters every pair (through each pair's own bin label
  per real conversation); each simulator is resampled on its own. Two simulators whose
  difference interval contains 0 are tied.
- `held_out_mixture`: mixing weights are fitted on a random half of every source and judged
  on the other half at matched sizes: the mixture histogram is drawn from as many held-out
  conversations as the best single simulator has, and both sides are scored by bias-corrected
  JS (a mixture that pools samples has a less biased plug-in JS, which would credit it with
  sample size, and the bootstrap bias correction under-corrects the sparser side). Over
  repeated splits; "helps" only when the 2.5% quantile of
  the held-out gains is above 0.
- `holm`, `kendall_tau`: the multiple-testing and ranking-stability summaries.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from simgap_core.measure.divergence import js_divergence
from simgap_core.measure.mixture import best_mixture
from simgap_core.measure.pairs import (
    MeasureSettings,
    SeedStream,
    Timer,
    skip,
    stage_seed,
)
from simgap_core.measure.quantize import Quantization
from simgap_core.measure.uncertainty import (
    CorrectedJS,
    corrected_js,
    holm,
)

__all__ = ["JointBootstrap", "joint_bootstrap", "held_out_mixture", "holm", "kendall_tau"]


@dataclass(frozen=True)
class Tie:
    """Difference in corrected JS between simulators a and b, with its bootstrap interval."""

    a: str
    b: str
    diff: float
    low: float
    high: float

    @property
    def tied(self) -> bool:
        return self.low <= 0.0 <= self.high

    def to_dict(self) -> dict[str, object]:
        return {
            "a": self.a,
            "b": self.b,
            "diff": self.diff,
            "diff_ci": [self.low, self.high],
            "tied": self.tied,
        }


@dataclass(frozen=True)
class JointBootstrap:
    """Per simulator corrected JS and, for every two simulators, the difference interval."""

    corrected: dict[str, CorrectedJS]
    ties: list[Tie]

    def tied_with(self, name: str) -> list[str]:
        partners = [t.b if t.a == name else t.a for t in self.ties if name in (t.a, t.b) and t.tied]
        return sorted(partners)


def joint_bootstrap(
    names: list[str],
    real_labels: list[np.ndarray],
    sim_counts: list[np.ndarray],
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 42,
) -> JointBootstrap:
    """Bootstrap every (real, simulator) JS with the real resample shared across simulators.

    `real_labels[i]` holds the bin of every real conversation (same order in every entry) in
    simulator i's quantization; `sim_counts[i]` that simulator's histogram on those bins.
    """
    n_real = len(real_labels[0])
    if any(len(labels) != n_real for labels in real_labels):
        raise ValueError("every entry of real_labels must cover the same real conversations")
    rng = np.random.default_rng(seed)
    ks = [len(counts) for counts in sim_counts]
    replicates = np.empty((len(names), n_boot))
    real_boot = [np.empty((n_boot, k), dtype=np.int64) for k in ks]
    sim_boot = [np.empty((n_boot, k), dtype=np.int64) for k in ks]
    uniform = np.full(n_real, 1.0 / n_real)
    sim_probs = [counts / counts.sum() for counts in sim_counts]
    for b in range(n_boot):
        weights = rng.multinomial(n_real, uniform)
        for i, (labels, k) in enumerate(zip(real_labels, ks, strict=True)):
            real_hist = np.bincount(labels, weights=weights, minlength=k)
            sim_hist = rng.multinomial(int(sim_counts[i].sum()), sim_probs[i])
            replicates[i, b] = js_divergence(real_hist, sim_hist)
            real_boot[i][b], sim_boot[i][b] = real_hist, sim_hist
    # Each simulator's own estimate and interval (`corrected_js`: the per-bin bias, the
    # interval resampling the corrected estimator); the joint replicates serve the ties.
    corrected = {
        name: corrected_js(
            np.bincount(real_labels[i], minlength=ks[i]),
            sim_counts[i],
            n_boot=n_boot,
            level=level,
            seed=seed + 1 + i,
        )
        for i, name in enumerate(names)
    }
    alpha = (1 - level) / 2
    ties = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            q_lo, q_hi = np.quantile(replicates[i] - replicates[j], [alpha, 1 - alpha])
            mean = float(np.mean(replicates[i] - replicates[j]))
            centre = corrected[names[i]].unclipped - corrected[names[j]].unclipped
            diff = corrected[names[i]].js - corrected[names[j]].js
            # The basic interval, centred on the difference of the corrected values.
            low, high = centre - (q_hi - mean), centre - (q_lo - mean)
            ties.append(
                Tie(
                    a=names[i],
                    b=names[j],
                    diff=float(diff),
                    low=float(min(low, diff)),
                    high=float(max(high, diff)),
                )
            )
    return JointBootstrap(corrected=corrected, ties=ties)


def _corrected(real: np.ndarray, sim: np.ndarray, rng: np.random.Generator, n_boot: int) -> float:
    """Bias-corrected (unclipped) JS: plug-in minus its bootstrap bias."""
    plugin = float(js_divergence(real, sim))
    real_boot = rng.multinomial(int(real.sum()), real / real.sum(), size=n_boot)
    sim_boot = rng.multinomial(int(sim.sum()), sim / sim.sum(), size=n_boot)
    return 2 * plugin - float(np.mean(js_divergence(real_boot, sim_boot)))


def _mixture_sample(
    sims: np.ndarray, weights: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """A mixture histogram of about `size` conversations: round(w_i size) drawn from simulator i.

    Drawn without replacement from each simulator's held-out conversations (capped at what it
    has), so the mixture is judged on as many conversations as a single simulator and cannot
    win by pooling samples.
    """
    mixed = np.zeros(sims.shape[1], dtype=np.int64)
    for weight, counts in zip(weights, sims, strict=True):
        take = min(int(round(weight * size)), int(counts.sum()))
        if take > 0:
            mixed += rng.multivariate_hypergeometric(counts, take)
    return mixed


@dataclass(frozen=True)
class HeldOutMixture:
    gains: np.ndarray
    """Held-out gain (best single's corrected JS - mixture's) per split."""
    level: float

    @property
    def gain(self) -> float:
        return float(np.mean(self.gains))

    @property
    def interval(self) -> tuple[float, float]:
        alpha = (1 - self.level) / 2
        low, high = np.quantile(self.gains, [alpha, 1 - alpha])
        return float(low), float(high)

    @property
    def helps(self) -> bool:
        return self.interval[0] > 0


def held_out_mixture(
    labels: np.ndarray,
    codes: np.ndarray,
    n_sources: int,
    k: int,
    *,
    splits: int = 20,
    n_boot: int = 50,
    level: float = 0.95,
    seed: int = 42,
) -> HeldOutMixture:
    """Gain of the best mixture over the best single simulator, fitted and judged apart.

    `labels` are bins 0 .. k-1 of a shared quantization of all sources, `codes` the source of
    each row (0 = real). In every split each source's conversations are halved at random;
    weights and the best single simulator are chosen on the first halves, and both are scored
    on the second halves by bias-corrected JS, the mixture histogram drawn from as many
    held-out conversations as the best single simulator has there (`_mixture_sample`). Needs
    at least 2 conversations per source.
    """
    rng = np.random.default_rng(seed)
    rows_of = [np.flatnonzero(codes == g) for g in range(n_sources)]
    if min(len(rows) for rows in rows_of) < 2:
        raise ValueError("the held-out mixture needs at least 2 conversations per source")
    gains = np.empty(splits)
    for split in range(splits):
        fit, judge = [], []
        for rows in rows_of:
            shuffled = rng.permutation(rows)
            half = len(rows) // 2
            fit.append(np.bincount(labels[shuffled[:half]], minlength=k))
            judge.append(np.bincount(labels[shuffled[half:]], minlength=k))
        fit_hist, judge_hist = np.array(fit), np.array(judge)
        mixture = best_mixture(fit_hist[0], fit_hist[1:])
        single_fit = [_corrected(fit_hist[0], sim, rng, n_boot) for sim in fit_hist[1:]]
        best = 1 + int(np.argmin(single_fit))
        single = _corrected(judge_hist[0], judge_hist[best], rng, n_boot)
        size = int(judge_hist[best].sum())
        mixed_hist = _mixture_sample(judge_hist[1:], mixture.weights, size, rng)
        mixed = _corrected(judge_hist[0], mixed_hist, rng, n_boot)
        gains[split] = single - mixed
    return HeldOutMixture(gains=gains, level=level)


def kendall_tau(first: list[str], second: list[str]) -> float:
    """Kendall tau between two orderings of the same names (1.0 with fewer than 2 names)."""
    if len(first) < 2:
        return 1.0
    position = {name: i for i, name in enumerate(second)}
    return float(stats.kendalltau(np.arange(len(first)), [position[n] for n in first]).statistic)


def adjusted_p_values(p_values: dict[str, float]) -> dict[str, float]:
    """Holm-adjusted p-values across simulators, by name."""
    names = list(p_values)
    return dict(zip(names, holm(np.array([p_values[n] for n in names])).tolist(), strict=True))


def ranking_of(sim_metrics: dict[str, Any], quantization: str) -> list[str]:
    """Simulators closest first: by corrected JS, then (equal JS, e.g. several clipped at 0)
    by the upper end of its interval (the one surely closer first), then by name."""

    def key(name: str) -> tuple[float, float, str]:
        entry = sim_metrics[name][quantization] or {}
        interval = entry.get("js_ci") or [entry["js"], entry["js"]]
        return entry["js"], interval[1], name

    return sorted(sim_metrics, key=key)


def untied_pairs(sim_metrics: dict[str, Any], ranking: list[str]) -> list[tuple[str, str]]:
    """(closer, farther) for every two simulators that are not statistically tied."""
    return [
        (a, b)
        for i, a in enumerate(ranking)
        for b in ranking[i + 1 :]
        if b not in sim_metrics[a]["tied_with"]
    ]


def verdict_metrics(
    sim_metrics: dict[str, Any],
    pairs: dict[str, Quantization],
    pair_rows: dict[str, np.ndarray],
    codes: np.ndarray,
    settings: MeasureSettings,
    timer: Timer,
    skipped: list[dict[str, str]],
) -> list[Any]:
    """Corrected JS, intervals and ties (joint bootstrap over the shared real set), and Holm."""
    resampled = [s for s in sim_metrics if sim_metrics[s]["paper"]["p_value"] is not None]
    ties: list[Any] = []
    if resampled:
        with timer.stage("bootstrap"):
            joint = joint_bootstrap(
                resampled,
                [pairs[s].labels[codes[pair_rows[s]] == 0] for s in resampled],
                [pairs[s].histograms[1] for s in resampled],
                n_boot=settings.bootstrap,
                level=settings.ci_level,
                seed=stage_seed(settings.seed, SeedStream.PAPER_CI),
            )
        for sim in resampled:
            corrected = joint.corrected[sim]
            sim_metrics[sim]["paper"].update(
                js=corrected.js, js_ci=[corrected.low, corrected.high], js_bias=corrected.bias
            )
            sim_metrics[sim]["tied_with"] = joint.tied_with(sim)
        ties = joint.ties
        adjusted = adjusted_p_values({s: sim_metrics[s]["paper"]["p_value"] for s in resampled})
        for sim, value in adjusted.items():
            sim_metrics[sim]["paper"]["p_value_adjusted"] = value
    if len(sim_metrics) > 1 and len(resampled) < len(sim_metrics):
        for sim in sorted(set(sim_metrics) - set(resampled)):
            skip(skipped, sim, "ties", "no bootstrap interval for this simulator")
    return ties


def mixture_metrics(
    shared: Quantization,
    codes: np.ndarray,
    names: list[str],
    settings: MeasureSettings,
    skipped: list[dict[str, str]],
) -> dict[str, Any] | None:
    """Best mixture in sample (descriptive) and its gain held out (the verdict)."""
    simulators = names[1:]
    if len(simulators) < 2:
        skip(skipped, simulators[0], "mixture", "a mixture needs at least two simulators")
        return None
    fitted = best_mixture(shared.histograms[0], shared.histograms[1:])
    result: dict[str, Any] = {
        "weights": {sim: float(w) for sim, w in zip(simulators, fitted.weights, strict=True)},
        "js": fitted.js,
        "best_single": simulators[fitted.best_single],
        "best_single_js": fitted.best_single_js,
        "in_sample_gain": fitted.gain,
        "held_out_gain": None,
        "held_out_gain_ci": None,
        "helps": False,
        "splits": settings.mixture_splits,
        "duality_gap": fitted.duality_gap,
    }
    smallest = int(np.bincount(codes).min())
    if smallest < 2 or settings.mixture_splits < 1:
        skip(
            skipped,
            names[int(np.argmin(np.bincount(codes)))],
            "mixture held out",
            f"halving needs at least 2 conversations per source, has {smallest}",
        )
        return result
    held_out = held_out_mixture(
        shared.labels,
        codes,
        len(names),
        shared.k,
        splits=settings.mixture_splits,
        level=settings.ci_level,
        seed=stage_seed(settings.seed, SeedStream.MIXTURE),
    )
    result.update(
        held_out_gain=held_out.gain,
        held_out_gain_ci=list(held_out.interval),
        helps=held_out.helps,
    )
    return result


def contested_pairs(
    ranking: list[str], ties: list[Tie], tied_with: dict[str, list[str]]
) -> list[tuple[str, str]]:
    """(closer, farther) for the untied pairs a re-quantization could reorder.

    Untied neighbours in the ranking, and every untied pair whose corrected-JS difference is
    smaller than its own interval's width (0 lies within one width of the interval): their
    order is what the run claims most narrowly. Pairs farther apart than that, and tied ones
    (no order claimed), are not rechecked.
    """
    position = {name: i for i, name in enumerate(ranking)}
    chosen: set[tuple[str, str]] = set()
    for closer, farther in itertools.pairwise(ranking):
        if farther not in tied_with[closer]:
            chosen.add((closer, farther))
    for tie in ties:
        if not tie.tied and abs(tie.diff) < tie.high - tie.low:
            closer, farther = sorted((tie.a, tie.b), key=position.__getitem__)
            chosen.add((closer, farther))
    return sorted(chosen, key=lambda pair: (position[pair[0]], position[pair[1]]))


def robustness_simulators(ranking: list[str], contested: list[tuple[str, str]]) -> list[str]:
    """The simulators whose verdicts a re-quantization can change, in ranking order: the
    closest one and both sides of every contested pair (`contested_pairs`). Those tied with
    the closest are not among them for that alone: being tied, they claim no order a variant
    could break (with 25 sources of 80 conversations the closest was tied with 22 others)."""
    if not ranking:
        return []
    chosen = {ranking[0], *(name for pair in contested for name in pair)}
    return [name for name in ranking if name in chosen]


def robustness_metrics(
    names: list[str],
    sizes: dict[str, int],
    sim_metrics: dict[str, Any],
    ties: list[Tie],
    settings: MeasureSettings,
    timer: Timer,
    bins: Any,
) -> dict[str, Any]:
    """Does the ranking survive other k-means seeds, k/2 and 2k? And the map's clusters?

    Only where the answer can change a verdict (`robustness_simulators`): the closest
    simulators and the contested untied pairs are quantized again; `bins` (`rows.PairBins`)
    gives each pair's quantization at a k and seed (one pooled fit serves all of them when
    the pairs share their bins).
    """
    base_ranking = ranking_of(sim_metrics, "paper")
    tied_with = {sim: sim_metrics[sim]["tied_with"] for sim in sim_metrics}
    contested = contested_pairs(base_ranking, ties, tied_with)
    checked = robustness_simulators(base_ranking, contested)
    variants: list[dict[str, Any]] = []
    seed_values: dict[str, list[float]] = {s: [sim_metrics[s]["paper"]["js"]] for s in checked}
    plans = [
        (f"seed {settings.seed + j}", None, settings.seed + j) for j in range(1, settings.seeds)
    ]
    plans += [("k/2", 0.5, settings.seed), ("2k", 2.0, settings.seed)]
    with timer.stage("robustness"):
        for name, factor, variant_seed in plans:
            values: dict[str, float] = {}
            k_used = None
            for sim in checked:
                index = names.index(sim)
                k = bins.base_k(index)
                k = k if factor is None else min(max(int(round(k * factor)), 2), bins.max_k(index))
                k_used = k
                variant = bins.pair(index, k, variant_seed)
                if min(sizes[names[0]], sizes[sim]) >= 2:
                    values[sim] = corrected_js(
                        variant.histograms[0],
                        variant.histograms[1],
                        n_boot=settings.bootstrap,
                        level=settings.ci_level,
                        seed=stage_seed(settings.seed, SeedStream.VARIANT_CI, index),
                    ).js
                else:
                    values[sim] = float(js_divergence(*variant.histograms))
                if factor is None:
                    seed_values[sim].append(values[sim])
            variants.append({"name": name, "k": k_used, "seed": variant_seed, "js": values})
    for sim, values in seed_values.items():
        sim_metrics[sim]["paper"]["seed_spread"] = {
            "variants": len(values),
            "js_sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            "js_min": float(np.min(values)),
            "js_max": float(np.max(values)),
        }
    checked_ranking = [sim for sim in base_ranking if sim in checked]
    taus = [
        kendall_tau(checked_ranking, sorted(v["js"], key=lambda s, v=v: (v["js"][s], s)))
        for v in variants
    ]
    holds = all(v["js"][a] < v["js"][b] for v in variants for a, b in contested)
    map_ranking = ranking_of(sim_metrics, "map")
    return {
        "variants": variants,
        "min_kendall_tau": min(taus) if taus else 1.0,
        "ranking_holds": holds,
        "untied_pairs": len(contested),
        "untied_pairs_all": len(untied_pairs(sim_metrics, base_ranking)),
        "checked": checked,
        "map_ranking": map_ranking,
        "map_agrees": map_ranking == base_ranking,
    }

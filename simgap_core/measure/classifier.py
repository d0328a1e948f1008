"""Classifier two-sample test: can a linear probe tell real from simulated embeddings?

The paper's linear probe (90.9-99.6% accuracy on its data). Classes are balanced by
subsampling the larger source to the size of the smaller (seeded), so 0.5 accuracy means
"indistinguishable" and accuracy equals balanced accuracy. The model is L2-regularized
logistic regression (C=1) on the embeddings as they are.

Folds are grouped and stratified (`stratified_group_folds`): rows that share a group
(identical representation text, or the two sides of one `pair_id`) never straddle train and
test. Without that, a
simulator that repeats itself is "detected" by memorising its duplicates: one that emits 80
real-distribution outputs five times each scored AUC 0.86 with plain folds and 0.50 grouped.
The AUC is the mean over folds of each test fold's AUC (accuracy is pooled over the
out-of-fold scores): AUC on scores pooled across folds mixes scores of different models,
which with no gap pulls it below 0.5 on average (the known pessimism of pooled cross-validated
AUC), so "0.5 = indistinguishable" would not hold; each fold's AUC is 0.5 in expectation.
The interval is a percentile bootstrap of that mean and the p-value a permutation test that
refits the probe on shuffled labels and computes the same statistic; both move groups, not
rows (`_Units`): groups are resampled within each test fold and class, and permutations
exchange whole groups' labels, so copies of one text never count as independent evidence.
The refits stop once the answer is clear (`sequential_permutation_test`): without a gap
after about 20 of the 50, with an evident one after 20.
Their false-positive rates on null data, with and without repeated texts, are measured in
bench/calibration.py (sections probe and repeats) and tests/test_classifier.py.

The embeddings are not standardized: they are L2-normalized, so every dimension is on the same
scale already, and standardizing blows near-constant dimensions up into noise (on the demo
run it made the solver take 270 iterations instead of 11, with lower accuracy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import norm, rankdata
from scipy.stats import t as student_t
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

# The interval is widened to the permutation null's spread when at least this many refits ran.
MIN_PERMUTATIONS_FOR_SPREAD = 10
# Below this many refits the p-value is the empirical count; from it on, from the null's fit.
MIN_PERMUTATIONS_FOR_NULL_FIT = 20
# Sequential stopping of the refits: at this many null AUCs at or above the observed one
# (Besag & Clifford's h), or at a null-fit p-value below CLEAR_P_VALUE.
STOP_EXCEEDANCES = 10
CLEAR_P_VALUE = 1e-6


class ProbeNotPossible(ValueError):
    """Too few conversations (or groups) for grouped cross-validation."""


@dataclass(frozen=True)
class ClassifierTest:
    """Out-of-fold scores of real-vs-simulated classification."""

    auc: float
    auc_ci: tuple[float, float]
    accuracy: float
    p_value: float
    n_per_class: int
    folds: int
    groups: str

    def to_dict(self) -> dict[str, object]:
        result = asdict(self)
        result["auc_ci"] = list(self.auc_ci)
        return result


def probe() -> LogisticRegression:
    """The linear probe: L2-regularized logistic regression (C=1)."""
    return LogisticRegression(C=1.0, max_iter=2000)


def _balanced_rows(
    n_real: int, n_sim: int, *, seed: int, max_per_class: int | None
) -> tuple[np.ndarray, np.ndarray]:
    n = min(n_real, n_sim)
    if max_per_class is not None:
        n = min(n, max_per_class)
    rng = np.random.default_rng(seed)
    return (
        np.sort(rng.choice(n_real, size=n, replace=False)),
        np.sort(rng.choice(n_sim, size=n, replace=False)),
    )


def balanced_sample(
    real: np.ndarray, simulated: np.ndarray, *, seed: int = 42, max_per_class: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Both sides at equal size (the smaller side's, capped): features X, labels y (1 = sim)."""
    real_rows, sim_rows = _balanced_rows(
        len(real), len(simulated), seed=seed, max_per_class=max_per_class
    )
    n = len(real_rows)
    features = np.vstack([real[real_rows], simulated[sim_rows]])
    labels = np.r_[np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)]
    return features, labels


def stratified_group_folds(
    labels: np.ndarray, groups: np.ndarray, folds: int, seed: int
) -> np.ndarray:
    """The test fold of every row: groups never straddle folds, classes spread evenly.

    What `sklearn.model_selection.StratifiedGroupKFold(shuffle=True)` does, at a fraction of
    its cost: its per-group search over folds computes a standard deviation per fold and group
    in Python, which on 3,000 demo conversations (about 1,000 groups of identical texts) and 50
    permutation refits took most of a minute. Here groups of several rows are placed largest
    first (seeded random order among equal sizes) in the fold that stays least full relative
    to its per-class target; single rows then fill each class's folds up evenly, in a seeded
    random order.
    """
    rng = np.random.default_rng(seed)
    _, inverse = np.unique(groups, return_inverse=True)
    counts = np.zeros((inverse.max() + 1, 2), dtype=np.int64)
    np.add.at(counts, (inverse, labels), 1)
    sizes = counts.sum(axis=1)
    order = rng.permutation(len(counts))
    order = order[np.argsort(-sizes[order], kind="stable")]
    target = np.maximum(counts.sum(axis=0) / folds, 1.0)
    filled = np.zeros((folds, 2))
    fold_of_group = np.empty(len(counts), dtype=np.int64)
    for group in order[sizes[order] > 1]:
        fold = int(np.argmin(((filled + counts[group]) / target).max(axis=1)))
        fold_of_group[group] = fold
        filled[fold] += counts[group]
    for label in (0, 1):
        level = filled[:, label].tolist()
        for group in order[(sizes[order] == 1) & (counts[order, label] == 1)]:
            fold = min(range(folds), key=level.__getitem__)
            fold_of_group[group] = fold
            level[fold] += 1
    return fold_of_group[inverse]


def _oof_scores(
    features: np.ndarray, labels: np.ndarray, groups: np.ndarray, folds: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold decision scores and the test fold of every row (grouped, stratified)."""
    fold_of = stratified_group_folds(labels, groups, folds, seed)
    scores = np.empty(len(labels))
    for fold in range(folds):
        test = fold_of == fold
        train = ~test
        if len(np.unique(labels[train])) < 2:
            raise ValueError(f"fold {fold} has a single class in its training rows")
        if not test.any():
            raise ValueError(f"fold {fold} is empty")
        scores[test] = probe().fit(features[train], labels[train]).decision_function(features[test])
    return scores, fold_of


def binary_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC of `scores` for 0/1 `labels` (ties count one half), None with a single class.

    The Mann-Whitney form, equal to `sklearn.metrics.roc_auc_score` (tests check it): the
    probe's bootstrap and permutations call it thousands of times, and sklearn's input
    validation made up a fifth of the probe's time.
    """
    positives = labels == 1
    n_pos = int(positives.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fold_mean_auc(labels: np.ndarray, scores: np.ndarray, fold_of: np.ndarray) -> float:
    """Mean over test folds of each fold's AUC (folds holding one class only are left out).

    Raises ValueError when no fold holds both classes.
    """
    aucs = [
        auc
        for fold in np.unique(fold_of)
        if (auc := binary_auc(labels[fold_of == fold], scores[fold_of == fold])) is not None
    ]
    if not aucs:
        raise ValueError("no test fold holds both classes")
    return float(np.mean(aucs))


class _Units:
    """The probe's resampling units: groups (identical texts, pair partners), not rows.

    Copies of one text get one score each, so they move together: a bootstrap or a permutation
    of rows treats three copies as three independent conversations and understates the
    statistic's spread. With a simulator repeating each of 100 texts 3 times and no gap, row
    permutations rejected at 0.05 in 11% of runs and the row bootstrap's AUC interval missed 0.5
    in 32% (bench/calibration.py, section repeats, gives the rates of this version).
    """

    def __init__(self, labels: np.ndarray, groups: np.ndarray, fold_of: np.ndarray) -> None:
        _, self.group_of = np.unique(groups, return_inverse=True)
        n_groups = int(self.group_of.max()) + 1
        counts = np.zeros((n_groups, 2), dtype=np.int64)
        np.add.at(counts, (self.group_of, labels), 1)
        self.labels = labels
        self.pure = counts.min(axis=1) == 0
        self.group_label = (counts[:, 1] > 0).astype(np.int64)  # for pure groups
        self.group_rows = np.argsort(self.group_of, kind="stable")
        self.group_size = counts.sum(axis=1)
        self.group_start = np.r_[0, np.cumsum(self.group_size)[:-1]]
        # Strata of the bootstrap: test fold x (pure real, pure simulated, mixed).
        group_fold = np.empty(n_groups, dtype=np.int64)
        group_fold[self.group_of] = fold_of
        pattern = np.where(self.pure, self.group_label, 2)
        strata = group_fold * 3 + pattern
        self.strata = [np.flatnonzero(strata == s) for s in np.unique(strata)]
        mixed = ~self.pure[self.group_of]
        self.mixed_rows = np.flatnonzero(mixed)
        self.mixed_sorted = self.mixed_rows[np.argsort(self.group_of[mixed], kind="stable")]

    def resample(self, rng: np.random.Generator) -> np.ndarray:
        """Row indices of a bootstrap sample: groups drawn with replacement within strata."""
        chosen = np.concatenate([rng.choice(stratum, len(stratum)) for stratum in self.strata])
        sizes = self.group_size[chosen]
        offsets = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        return self.group_rows[np.repeat(self.group_start[chosen], sizes) + offsets]

    def permuted_labels(self, rng: np.random.Generator) -> np.ndarray:
        """Labels under the null, groups kept whole: single-label groups exchange their labels,
        and a mixed group (pair partners) shuffles its own labels among its rows."""
        group_label = self.group_label.copy()
        group_label[self.pure] = rng.permutation(group_label[self.pure])
        shuffled = group_label[self.group_of]
        if len(self.mixed_rows):
            keys = self.group_of[self.mixed_rows]
            order = self.mixed_rows[np.lexsort((rng.random(len(keys)), keys))]
            shuffled[order] = self.labels[self.mixed_sorted]
        return shuffled


def _row_groups(
    real_groups: np.ndarray | None,
    sim_groups: np.ndarray | None,
    real_rows: np.ndarray,
    sim_rows: np.ndarray,
) -> tuple[np.ndarray, str]:
    """The group of every probe row ([real rows, simulated rows]) and how groups were made."""
    if real_groups is None and sim_groups is None:
        return np.arange(len(real_rows) + len(sim_rows)).astype(str), (
            "none (every conversation its own group)"
        )
    real_ids = (
        np.asarray(real_groups, dtype=str)[real_rows]
        if real_groups is not None
        else np.char.add("real-row-", real_rows.astype(str))
    )
    sim_ids = (
        np.asarray(sim_groups, dtype=str)[sim_rows]
        if sim_groups is not None
        else np.char.add("sim-row-", sim_rows.astype(str))
    )
    return np.r_[real_ids, sim_ids], "identical text and pair_id"


def _permutation_p_value(auc: float, null: np.ndarray) -> float:
    """P(AUC this high | no gap), from the refitted permutation null.

    With B refits the empirical p-value cannot go below 1 / (B + 1): at B = 50 that is 0.02,
    and Holm across m simulators multiplies it by up to m, so the probe could never reject with
    three simulators. From `MIN_PERMUTATIONS_FOR_NULL_FIT` refits on, the null's mean and spread are
    used instead, with Student's t for a new draw from a normal null estimated from B draws
    (the spread widened by sqrt(1 + 1/B)), so small p-values are resolved; its false-positive
    rate at 0.05, 0.05/3 and 0.05/25 is measured in bench/calibration.py (section probe).
    """
    permutations = len(null)
    empirical = float((1 + np.sum(null >= auc - 1e-12)) / (1 + permutations))
    spread = float(np.std(null, ddof=1)) if permutations > 1 else 0.0
    if permutations < MIN_PERMUTATIONS_FOR_NULL_FIT or spread == 0.0:
        return empirical
    score = (auc - float(np.mean(null))) / (spread * np.sqrt(1 + 1 / permutations))
    return float(student_t.sf(score, df=permutations - 1))


def sequential_permutation_test(
    observed: float,
    draw: Callable[[np.random.Generator], float],
    permutations: int,
    rng: np.random.Generator,
    *,
    exceedances: int = STOP_EXCEEDANCES,
    clear: float = CLEAR_P_VALUE,
) -> tuple[np.ndarray, float]:
    """The permutation null, drawn one refit at a time until the answer is clear, and the
    p-value of `observed` (large = a gap).

    Each refit costs a cross-validated fit, and most of them only confirm what the first ones
    showed. Sequential Monte Carlo (Besag & Clifford 1991): the draws stop at the
    `exceedances`-th null value at or above `observed`, after L draws, with p = h / L, which is
    a valid p-value (P(p <= alpha) <= alpha under the null) and never below h / `permutations`
    (0.2 with the defaults: such a run is no evidence of a gap). They also stop, from
    `MIN_PERMUTATIONS_FOR_NULL_FIT` draws on, while no null value has reached `observed`,
    once the null-fit p-value (see `_permutation_p_value`) is below `clear`: a gap that far
    out is not going to come back within reach of any threshold (Holm's alpha / m included)
    in the remaining draws; this adds at most about `clear` to the false-positive rate.
    Otherwise all `permutations` draws run and the p-value is `_permutation_p_value`'s,
    exactly as without stopping (the draws are the same ones, in the same order). Returns the
    drawn null and the p-value.
    """
    null: list[float] = []
    above = 0
    for _ in range(permutations):
        value = draw(rng)
        null.append(value)
        above += value >= observed - 1e-12
        if above >= exceedances and len(null) < permutations:
            return np.array(null), exceedances / len(null)
        if (
            above == 0
            and MIN_PERMUTATIONS_FOR_NULL_FIT <= len(null) < permutations
            and _permutation_p_value(observed, np.array(null)) < clear
        ):
            drawn = np.array(null)
            return drawn, _permutation_p_value(observed, drawn)
    drawn = np.array(null)
    return drawn, _permutation_p_value(observed, drawn)


def classifier_test(*args: Any, **kwargs: Any) -> ClassifierTest:
    """`_classifier_test` with BLAS on one thread: the probe fits hundreds of small logistic
    regressions (2 x 1,500 rows x 384 dims: 6 L-BFGS iterations each), where a second BLAS
    thread only adds synchronisation: 15 ms a fit on one thread, 60 ms on two, 280 ms on two
    when OpenMP threads spin (measured on this 2-core machine)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _classifier_test(*args, **kwargs)


def _classifier_test(
    real: np.ndarray,
    simulated: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 42,
    max_per_class: int | None = None,
    real_groups: np.ndarray | None = None,
    sim_groups: np.ndarray | None = None,
    bootstrap: int = 200,
    permutations: int = 50,
    level: float = 0.95,
) -> ClassifierTest:
    """Grouped `folds`-fold out-of-fold AUC and accuracy of the linear probe, with uncertainty.

    `real_groups` / `sim_groups` give a group id per row (shared ids across the two sides put
    a real row and a simulated row in one group, e.g. pair partners); None = every row its own
    group. Raises `ProbeNotPossible` when a side has fewer than 2 * `folds` rows or the groups
    leave fewer than `folds` groups.
    """
    real, simulated = np.asarray(real), np.asarray(simulated)
    if real.ndim != 2 or simulated.ndim != 2 or real.shape[1] != simulated.shape[1]:
        raise ValueError("real and simulated must be 2-d arrays with the same number of columns")
    if min(len(real), len(simulated)) < 2 * folds:
        raise ProbeNotPossible(
            f"needs at least {2 * folds} conversations per side, has "
            f"{min(len(real), len(simulated))}"
        )
    real_rows, sim_rows = _balanced_rows(
        len(real), len(simulated), seed=seed, max_per_class=max_per_class
    )
    n = len(real_rows)
    features = np.vstack([real[real_rows], simulated[sim_rows]])
    labels = np.r_[np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)]
    groups, described = _row_groups(real_groups, sim_groups, real_rows, sim_rows)
    n_groups = len(np.unique(groups))
    if n_groups < folds:
        raise ProbeNotPossible(f"the groups leave {n_groups} groups for {folds} folds")
    try:
        scores, fold_of = _oof_scores(features, labels, groups, folds, seed)
        auc = fold_mean_auc(labels, scores, fold_of)
    except ValueError as error:  # a fold without both classes after grouping
        raise ProbeNotPossible(f"grouped folds are impossible here: {error}") from error
    rng = np.random.default_rng(seed + 1)
    units = _Units(labels, groups, fold_of)
    boot = np.empty(bootstrap)
    for b in range(bootstrap):
        rows = units.resample(rng)
        boot[b] = fold_mean_auc(labels[rows], scores[rows], fold_of[rows])
    alpha = (1 - level) / 2
    low, high = (
        (float(v) for v in np.quantile(boot, [alpha, 1 - alpha])) if bootstrap else (auc, auc)
    )

    def refit(draw: np.random.Generator) -> float:
        shuffled = units.permuted_labels(draw)
        try:
            return fold_mean_auc(shuffled, *_oof_scores(features, shuffled, groups, folds, seed))
        except ValueError:
            return 0.5

    null, p_value = sequential_permutation_test(auc, refit, permutations, rng)
    if bootstrap and len(null) >= MIN_PERMUTATIONS_FOR_SPREAD:
        # Resampling test rows keeps each fold's fitted probe fixed, so the bootstrap misses
        # how much the AUC moves with the training rows (its interval excluded 0.5 in 18% of
        # null runs without repeats). The permutation null refits the probe every time: its
        # spread is the whole spread where it matters most, near "indistinguishable".
        floor = float(norm.ppf(1 - alpha) * np.std(null, ddof=1))
        low, high = max(0.0, min(low, auc - floor)), min(1.0, max(high, auc + floor))
    return ClassifierTest(
        auc=auc,
        auc_ci=(min(low, auc), max(high, auc)),
        accuracy=float(np.mean((scores > 0) == labels)),
        p_value=p_value,
        n_per_class=n,
        folds=folds,
        groups=described,
    )

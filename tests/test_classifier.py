"""The classifier two-sample test equals a hand-written cross-validation and behaves at 0.5 / 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

from simgap_core.measure.classifier import (
    CLEAR_P_VALUE,
    MIN_PERMUTATIONS_FOR_NULL_FIT,
    STOP_EXCEEDANCES,
    ProbeNotPossible,
    _Units,
    balanced_sample,
    binary_auc,
    classifier_test,
    sequential_permutation_test,
    stratified_group_folds,
)


def test_scores_equal_an_independent_grouped_cross_validation() -> None:
    rng = np.random.default_rng(0)
    real = rng.standard_normal((240, 16))
    sim = rng.standard_normal((200, 16)) + 0.3
    result = classifier_test(real, sim, folds=5, seed=3, permutations=10)

    features, labels = balanced_sample(real, sim, seed=3)
    groups = np.arange(len(labels)).astype(str)
    fold_of = stratified_group_folds(labels, groups, 5, 3)
    scores = np.empty(len(labels))
    fold_aucs = []
    for fold in range(5):
        train, test = fold_of != fold, fold_of == fold
        model = LogisticRegression(C=1.0, max_iter=2000).fit(features[train], labels[train])
        scores[test] = model.decision_function(features[test])
        fold_aucs.append(roc_auc_score(labels[test], scores[test]))
    # The AUC is the mean of the test folds' AUCs (not the AUC of pooled scores).
    assert result.auc == pytest.approx(np.mean(fold_aucs), abs=1e-12)
    assert result.accuracy == pytest.approx(accuracy_score(labels, scores > 0), abs=1e-12)
    assert result.auc_ci[0] <= result.auc <= result.auc_ci[1]
    # No shuffled AUC comes near 0.8: with 10 refits the p-value is the empirical 1/11.
    assert result.p_value == pytest.approx(1 / 11)
    assert result.n_per_class == 200
    assert result.folds == 5


def test_repeated_outputs_do_not_leak_through_the_folds() -> None:
    # A simulator that emits 80 real-distribution outputs five times each: no real gap.
    rng = np.random.default_rng(4)
    real = rng.standard_normal((400, 16))
    distinct = rng.standard_normal((80, 16))
    sim = np.repeat(distinct, 5, axis=0)
    texts = np.repeat(np.arange(80), 5).astype(str)
    grouped = classifier_test(
        real,
        sim,
        seed=1,
        real_groups=np.char.add("r", np.arange(400).astype(str)),
        sim_groups=texts,
        permutations=20,
    )
    # The fold-mean AUC of a null probe scatters around 0.5; far from the leaky 0.86.
    assert grouped.auc == pytest.approx(0.5, abs=0.12)
    assert grouped.p_value > 0.05
    leaky = classifier_test(real, sim, seed=1, permutations=0)
    assert leaky.auc > grouped.auc + 0.1


def test_classes_are_balanced_by_subsampling_the_larger_side() -> None:
    rng = np.random.default_rng(1)
    real, sim = rng.standard_normal((90, 3)), rng.standard_normal((40, 3))
    features, labels = balanced_sample(real, sim, seed=0)
    assert np.bincount(labels).tolist() == [40, 40]
    # The smaller side is taken whole, the larger one without repeats.
    assert sorted(map(tuple, features[labels == 1])) == sorted(map(tuple, sim))
    assert len({tuple(r) for r in features[labels == 0]}) == 40
    assert balanced_sample(real, sim, seed=0, max_per_class=10)[1].tolist() == [0] * 10 + [1] * 10


def test_same_population_is_at_chance_and_separated_populations_are_not() -> None:
    # Seed 3, not 2: the seed-2 null sample is a genuinely extreme one (fold-mean AUC 0.554,
    # bootstrap interval 0.52-0.60, p = 1/21), the 1-in-20 rejection a valid test must make;
    # the rejection rate itself is asserted over 40 null samples below.
    rng = np.random.default_rng(3)
    same = classifier_test(
        rng.standard_normal((400, 8)), rng.standard_normal((400, 8)), permutations=20
    )
    assert same.accuracy == pytest.approx(0.5, abs=0.06)
    assert same.auc == pytest.approx(0.5, abs=0.06)
    assert same.p_value > 0.05
    apart = classifier_test(
        rng.standard_normal((400, 8)), rng.standard_normal((400, 8)) + 2.0, permutations=20
    )
    # 20 refits, none near: the null's mean and spread resolve a p-value far below the 1/21 an
    # empirical count could give (which Holm across simulators would push above alpha).
    assert apart.p_value < 1e-6
    assert apart.accuracy > 0.95
    assert apart.auc > 0.99


def test_null_auc_is_centred_on_one_half_and_the_p_value_holds_its_level() -> None:
    # 40 null samples (one Gaussian on both sides, 40 per class, 3-d, 19 permutations):
    # P(p <= 0.05) = P(p = 1/20) must be about 0.05, not inflated. With the pooled
    # out-of-fold AUC the null AUC averages below 0.5; the fold mean sits at 0.5.
    rejected, aucs = 0, []
    for run in range(40):
        rng = np.random.default_rng(100 + run)
        result = classifier_test(
            rng.standard_normal((40, 3)),
            rng.standard_normal((40, 3)),
            seed=run,
            bootstrap=0,
            permutations=19,
        )
        rejected += result.p_value <= 0.05
        aucs.append(result.auc)
    assert np.mean(aucs) == pytest.approx(0.5, abs=0.03)
    # Binomial(40, 0.05): P(X >= 6) = 0.014, so 5 is the ceiling of a valid test here.
    assert rejected <= 5


def test_shape_errors_are_reported() -> None:
    with pytest.raises(ValueError, match="same number of columns"):
        classifier_test(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ProbeNotPossible, match="at least 10 conversations per side, has 3"):
        classifier_test(np.zeros((3, 2)), np.ones((8, 2)))
    with pytest.raises(ProbeNotPossible, match="3 groups for 5 folds"):
        classifier_test(
            np.zeros((20, 2)),
            np.ones((20, 2)),
            real_groups=np.zeros(20),
            sim_groups=np.r_[np.ones(10), np.full(10, 2)],
        )


def test_binary_auc_equals_sklearn_with_ties_and_is_none_for_one_class() -> None:
    rng = np.random.default_rng(4)
    for n in (2, 7, 50, 400):
        labels = np.r_[0, 1, rng.integers(0, 2, n - 2)]
        scores = rng.integers(0, 5, n).astype(float)  # many ties
        assert binary_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
        scores = rng.normal(size=n)
        assert binary_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert binary_auc(np.zeros(5, int), rng.normal(size=5)) is None


def test_grouped_folds_keep_groups_whole_and_classes_even() -> None:
    rng = np.random.default_rng(5)
    for run in range(20):
        n = int(rng.integers(40, 400))
        labels = rng.integers(0, 2, n)
        groups = rng.integers(0, n // int(rng.integers(1, 6)), n).astype(str)
        fold_of = stratified_group_folds(labels, groups, 5, seed=run)
        assert set(np.unique(fold_of)) <= set(range(5))
        # A group never straddles two folds.
        per_group = pd.DataFrame({"g": groups, "f": fold_of}).groupby("g")["f"].nunique()
        assert (per_group == 1).all()
        # Each class's fold counts stay within the largest group of the even share.
        largest = pd.Series(groups).value_counts().max()
        for label in (0, 1):
            per_fold = np.bincount(fold_of[labels == label], minlength=5)
            assert per_fold.max() - per_fold.min() <= largest + 1, (run, label, per_fold)
        # Seeded: the same call gives the same folds.
        assert np.array_equal(fold_of, stratified_group_folds(labels, groups, 5, seed=run))
    # Single rows are spread exactly evenly per class.
    labels = np.r_[np.zeros(50, int), np.ones(50, int)]
    fold_of = stratified_group_folds(labels, np.arange(100).astype(str), 5, seed=0)
    assert np.bincount(fold_of[labels == 0]).tolist() == [10] * 5
    assert np.bincount(fold_of[labels == 1]).tolist() == [10] * 5


def _repeating(seed: int, distinct: int = 60, copies: int = 3, dims: int = 8):
    """Real rows all distinct; each simulated text `copies` times; one distribution."""
    rng = np.random.default_rng(seed)
    n = distinct * copies
    real = rng.standard_normal((n, dims))
    sim = np.repeat(rng.standard_normal((distinct, dims)), copies, axis=0)
    real_groups = np.char.add("r", np.arange(n).astype(str))
    sim_groups = np.char.add("s", np.repeat(np.arange(distinct), copies).astype(str))
    return real, sim, real_groups, sim_groups


def test_resampling_units_keep_groups_whole_and_strata_fixed() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 0, 1, 0])
    groups = np.array(["a", "a", "b", "c", "c", "c", "d", "p", "p", "e"])
    fold_of = np.array([0, 0, 1, 0, 0, 0, 1, 1, 1, 0])
    units = _Units(labels, groups, fold_of)
    rng = np.random.default_rng(0)
    for _ in range(50):
        rows = units.resample(rng)
        for group in np.unique(groups[rows]):  # a group comes whole, as often as it is drawn
            drawn = np.sum(groups[rows] == group)
            assert drawn % np.sum(groups == group) == 0
        # Per fold: as many pure-real, pure-simulated and mixed groups drawn as there are.
        draws: dict[tuple[int, str], int] = {}
        for group in np.unique(groups):
            size = np.sum(groups == group)
            members = labels[groups == group]
            kind = "mixed" if len(set(members)) > 1 else str(members[0])
            key = (int(fold_of[groups == group][0]), kind)
            draws[key] = draws.get(key, 0) + int(np.sum(groups[rows] == group) // size)
        assert draws == {(0, "0"): 2, (0, "1"): 1, (1, "0"): 1, (1, "1"): 1, (1, "mixed"): 1}
        shuffled = units.permuted_labels(rng)
        for group in ("a", "b", "c", "d", "e"):  # pure groups keep one label
            assert len(set(shuffled[groups == group])) == 1
        assert sorted(shuffled[groups == "p"]) == [0, 1]  # the pair keeps one of each
        # Pure groups exchange labels: as many groups of each label as before.
        first = {g: shuffled[groups == g][0] for g in ("a", "b", "c", "d", "e")}
        assert sorted(first.values()) == [0, 0, 0, 1, 1]


def test_a_repeating_simulator_without_a_gap_is_not_flagged() -> None:
    """Copies of one text move together, and the interval is at least as wide as the refitted
    permutation null: it covers 0.5 about as often as it should (row resampling with the probe
    held fixed missed 0.5 in about a third of such runs)."""
    runs, excluded = 30, 0
    for run in range(runs):
        real, sim, real_groups, sim_groups = _repeating(run)
        result = classifier_test(
            real,
            sim,
            seed=run,
            real_groups=real_groups,
            sim_groups=sim_groups,
            bootstrap=100,
            permutations=20,
        )
        excluded += not (result.auc_ci[0] <= 0.5 <= result.auc_ci[1])
    assert excluded <= 5, f"the interval excluded 0.5 in {excluded} of {runs} null runs"


def _normal_draws(counter: list[int]):
    def draw(rng: np.random.Generator) -> float:
        counter.append(1)
        return float(rng.standard_normal())

    return draw


@pytest.mark.parametrize("permutations", [15, 50])
def test_sequential_p_values_hold_their_level_under_the_null(permutations: int) -> None:
    # The observed statistic and the null are one law (no gap): over 3,000 quick draws,
    # P(p <= alpha) must not exceed alpha by more than 3 binomial standard deviations, whether
    # the refits stop early (Besag-Clifford, p = h / L) or run out (the empirical count with 15,
    # the null-fit p-value with 50).
    rng = np.random.default_rng(11)
    p_values, drawn = [], []
    for _ in range(3000):
        counter: list[int] = []
        _, p = sequential_permutation_test(
            float(rng.standard_normal()), _normal_draws(counter), permutations, rng
        )
        p_values.append(p)
        drawn.append(len(counter))
    p_values = np.array(p_values)
    assert np.all((p_values > 0) & (p_values <= 1))
    for alpha in (0.01, 0.05, 0.1, 0.3):
        limit = alpha + 3 * np.sqrt(alpha * (1 - alpha) / len(p_values))
        assert np.mean(p_values <= alpha) <= limit, alpha
    # Without a gap most runs stop at their 10th exceedance (about 20 draws), long before the
    # 50th; with 15 the 10th exceedance rarely comes first.
    assert np.mean(drawn) < (30 if permutations == 50 else 15)


def test_sequential_refits_stop_early_when_the_answer_is_clear() -> None:
    rng = np.random.default_rng(5)
    far: list[int] = []
    null, p = sequential_permutation_test(12.0, _normal_draws(far), 50, rng)
    # A gap far outside the null: stopped at the 20 refits the null fit needs, p tiny.
    assert len(far) == len(null) == MIN_PERMUTATIONS_FOR_NULL_FIT
    assert p < CLEAR_P_VALUE
    inside: list[int] = []
    null, p = sequential_permutation_test(-3.0, _normal_draws(inside), 50, rng)
    # Below almost every null draw: the 10th exceedance comes within a dozen refits.
    assert STOP_EXCEEDANCES <= len(inside) <= 13
    assert p == pytest.approx(STOP_EXCEEDANCES / len(inside))
    borderline: list[int] = []
    null, p = sequential_permutation_test(1.9, _normal_draws(borderline), 50, rng)
    # Near the rejection threshold nothing is clear: all 50 refits run.
    assert len(borderline) == 50
    assert 0.005 < p < 0.2


def test_the_probe_refits_only_until_the_answer_is_clear(monkeypatch) -> None:
    from simgap_core.measure import classifier

    fits: list[int] = []
    original = classifier._oof_scores

    def counted(*args, **kwargs):
        fits.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(classifier, "_oof_scores", counted)
    rng = np.random.default_rng(8)
    apart = classifier_test(
        rng.standard_normal((100, 4)), rng.standard_normal((100, 4)) + 2.0, permutations=50
    )
    # The observed fit and the 20 refits the null fit needs: a gap this clear stops there.
    assert len(fits) == 1 + MIN_PERMUTATIONS_FOR_NULL_FIT
    assert apart.p_value < CLEAR_P_VALUE

"""The classifier two-sample test equals a hand-written cross-validation and behaves at 0.5 / 1."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from simgap_core.measure.classifier import balanced_sample, classifier_test


def test_scores_equal_an_independent_cross_validation() -> None:
    rng = np.random.default_rng(0)
    real = rng.standard_normal((240, 16))
    sim = rng.standard_normal((200, 16)) + 0.3
    result = classifier_test(real, sim, folds=5, seed=3)

    features, labels = balanced_sample(real, sim, seed=3)
    accuracies, aucs = [], []
    for train, test in StratifiedKFold(5, shuffle=True, random_state=3).split(features, labels):
        model = LogisticRegression(C=1.0, max_iter=2000).fit(features[train], labels[train])
        accuracies.append(accuracy_score(labels[test], model.predict(features[test])))
        aucs.append(roc_auc_score(labels[test], model.predict_proba(features[test])[:, 1]))
    assert result.accuracy == pytest.approx(np.mean(accuracies), abs=1e-12)
    assert result.auc == pytest.approx(np.mean(aucs), abs=1e-12)
    assert result.accuracy_std == pytest.approx(np.std(accuracies), abs=1e-12)
    assert result.n_per_class == 200
    assert result.folds == 5


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
    rng = np.random.default_rng(2)
    same = classifier_test(rng.standard_normal((400, 8)), rng.standard_normal((400, 8)))
    assert same.accuracy == pytest.approx(0.5, abs=0.06)
    assert same.auc == pytest.approx(0.5, abs=0.06)
    apart = classifier_test(rng.standard_normal((400, 8)), rng.standard_normal((400, 8)) + 2.0)
    assert apart.accuracy > 0.95
    assert apart.auc > 0.99


def test_shape_errors_are_reported() -> None:
    with pytest.raises(ValueError, match="same number of columns"):
        classifier_test(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="at least 5 rows per class"):
        classifier_test(np.zeros((3, 2)), np.ones((8, 2)))

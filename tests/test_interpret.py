"""c-TF-IDF by its formula, cluster categories under thresholds, misalignment neighbourhoods."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from simgap_core.measure.interpret import (
    CategoryThresholds,
    categorize,
    class_tfidf,
    compare_clusters,
    log_share_ratio,
    misalignment_scores,
    most_misaligned,
)

TEXTS = [
    "The user asks for a refund and the refund is late",
    "refund please, my order is late",
    "User wants a poem about the sea",
    "a short poem, rhyming, about the sea and ships",
    "Fix this python error in my code",
    "python code error again",
    "the the the and",
]
CLASSES = [0, 0, 1, 1, 2, 2, 2]


def hand_ctfidf(texts: list[str], classes: list[int]) -> dict[int, dict[str, float]]:
    """BERTopic's c-TF-IDF written out: tf L1 per class * ln(1 + A / f_t)."""
    tokens: dict[int, Counter] = {}
    for text, cls in zip(texts, classes, strict=True):
        words = [
            w for w in re.findall(r"(?u)\b\w\w+\b", text.lower()) if w not in ENGLISH_STOP_WORDS
        ]
        tokens.setdefault(cls, Counter()).update(words)
    totals = Counter()
    for counter in tokens.values():
        totals.update(counter)
    average = int(np.mean([sum(c.values()) for c in tokens.values()]))
    return {
        cls: {
            w: (n / sum(counter.values())) * math.log(1 + average / totals[w])
            for w, n in counter.items()
        }
        for cls, counter in tokens.items()
    }


def test_ctfidf_equals_the_formula_and_ranks_distinctive_terms_first() -> None:
    terms = class_tfidf(TEXTS, CLASSES, top_n=50)
    expected = hand_ctfidf(TEXTS, CLASSES)
    for cls, scores in expected.items():
        got = dict(terms[cls])
        assert got.keys() == scores.keys()
        for word, score in scores.items():
            assert got[word] == pytest.approx(score, abs=1e-12)
    assert terms[0][0][0] == "refund"
    assert {t for t, _ in terms[1][:2]} == {"poem", "sea"}
    assert terms[2][0][0] in {"python", "code", "error"}
    # Scores are sorted best first; top_n truncates.
    assert [s for _, s in terms[0]] == sorted((s for _, s in terms[0]), reverse=True)
    assert len(class_tfidf(TEXTS, CLASSES, top_n=2)[0]) == 2


def test_ctfidf_survives_texts_made_only_of_stop_words() -> None:
    assert class_tfidf(["the and", "of the"], [0, 1]) == {0: [], 1: []}
    with pytest.raises(ValueError, match="texts"):
        class_tfidf(["a"], [0, 1])


def test_categories_follow_the_thresholds() -> None:
    # 1000 real, 1000 simulated; cluster 0 missed, 1 hallucinated, 2 and 3 alike,
    # 4 significantly different but by less than one percentage point in share.
    real = np.array([200, 20, 380, 392, 8])
    sim = np.array([10, 200, 395, 395, 0])
    table = compare_clusters(real, sim)
    assert table["category"].tolist() == [
        "missed",
        "hallucinated",
        "captured",
        "captured",
        "captured",
    ]
    np.testing.assert_allclose(table["real_share"], real / 1000)
    np.testing.assert_allclose(table["diff"], (real - sim) / 1000)
    assert table["q_value"][0] < 0.05 and table["q_value"][1] < 0.05
    # Loosen the share threshold and cluster 4 becomes missed too (8 vs 0 is significant).
    loose = compare_clusters(real, sim, thresholds=CategoryThresholds(min_share_diff=0.005))
    assert loose["category"][4] == "missed"
    # A strict alpha keeps everything captured.
    strict = compare_clusters(real, sim, thresholds=CategoryThresholds(alpha=1e-300))
    assert set(strict["category"]) == {"captured"}


def test_thresholds_are_recorded_and_log_ratio_is_smoothed() -> None:
    assert CategoryThresholds().to_dict() == {
        "min_share_diff": 0.01,
        "min_log_ratio": math.log(2),
        "alpha": 0.05,
    }
    ratio = log_share_ratio(np.array([10, 0]), np.array([0, 10]))
    # (10.5 / 11) / (0.5 / 11) = 21 on the first bin, the reciprocal on the second.
    np.testing.assert_allclose(ratio, [math.log(21), -math.log(21)])
    categories = categorize(
        np.array([0.05, 0.05]), np.array([1.0, 0.1]), np.array([0.01, 0.01]), CategoryThresholds()
    )
    assert categories.tolist() == ["missed", "captured"]


def test_misalignment_finds_regions_one_side_leaves_empty() -> None:
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 1, (100, 2))
    real_only = rng.normal(0, 1, (30, 2)) + [20, 0]
    sim_shared = rng.normal(0, 1, (100, 2))
    sim_only = rng.normal(0, 1, (30, 2)) + [0, 20]
    points = np.vstack([shared, real_only, sim_shared, sim_only])
    simulated = np.r_[np.zeros(130, bool), np.ones(130, bool)]
    scores = misalignment_scores(points, simulated, neighbours=10, metric="euclidean")

    assert scores["expected"].iloc[0] == pytest.approx(0.5)
    np.testing.assert_allclose(scores["score"], scores["sim_fraction"] - 0.5)
    # Real conversations no simulator comes near: no simulated neighbour at all.
    assert np.all(scores["sim_fraction"][100:130] == 0.0)
    np.testing.assert_allclose(scores["misalignment"][100:130], 0.5)
    assert np.all(scores["sim_fraction"][230:] == 1.0)
    # The most misaligned of each side are exactly those regions.
    assert set(most_misaligned(scores, side="real", top=30).index) == set(range(100, 130))
    assert set(most_misaligned(scores, side="simulated", top=30).index) == set(range(230, 260))
    assert most_misaligned(scores, side="real", top=5)["rank"].tolist() == [1, 2, 3, 4, 5]


def test_a_point_is_not_its_own_neighbour() -> None:
    points = np.array([[0.0], [1.0], [10.0], [11.0]])
    simulated = np.array([False, True, False, True])
    scores = misalignment_scores(points, simulated, neighbours=1, metric="euclidean")
    # Each point's single neighbour is its partner, always of the other side.
    assert scores["sim_fraction"].tolist() == [1.0, 0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="neighbours"):
        misalignment_scores(points, simulated, neighbours=4)

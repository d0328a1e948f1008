"""Feature gaps: effects equal an independent computation, planted gaps are found, the null is
calibrated, and the demo's planted simulator behaviours show up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _behaviour_demo import PROJECT_ROOT, demo_artifacts
from scipy import stats

from simgap_core.behaviour import FEATURE_NAMES, BehaviourArtifacts, behaviour_artifacts
from simgap_core.behaviour.gaps import (
    GAP_COLUMNS,
    FeatureGapError,
    effect_size,
    effect_text,
    feature_gaps,
    gap_sentence,
)
from simgap_core.measure.uncertainty import benjamini_hochberg
from simgap_core.model import Conversation, Corpus
from simgap_core.present.formatting import format_whole_share
from simgap_core.run import Run


def _frame(real: dict[str, np.ndarray], sim: dict[str, np.ndarray]) -> pd.DataFrame:
    parts = []
    for source, columns in (("real", real), ("sim", sim)):
        n = len(next(iter(columns.values())))
        part = pd.DataFrame(columns)
        part.insert(0, "source", source)
        part.insert(0, "conversation_id", [f"{source}:{i}" for i in range(n)])
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    real = {
        "gratitude": (rng.random(400) < 0.1).astype(float),
        "politeness": rng.normal(1.0, 1.0, 400),
        "frustration": rng.poisson(0.5, 400).astype(float),
    }
    sim = {
        "gratitude": (rng.random(300) < 0.5).astype(float),
        "politeness": rng.normal(1.5, 1.0, 300),
        "frustration": rng.poisson(0.5, 300).astype(float),
    }
    return _frame(real, sim)


def test_effects_equal_an_independent_computation(planted):
    gaps = feature_gaps(planted, seed=1, bootstrap=200, permutations=500).set_index("feature")
    assert list(gaps.reset_index().columns) == list(GAP_COLUMNS)
    real = planted[planted.source == "real"]
    sim = planted[planted.source == "sim"]
    # Ratio of smoothed rates.
    x_s, x_r = sim.gratitude.sum(), real.gratitude.sum()
    ratio = (x_s / 300) / (x_r / 400)  # both counts positive: the observed ratio
    assert gaps.loc["gratitude", "effect"] == pytest.approx(ratio, rel=1e-12)
    assert gaps.loc["gratitude", "effect_kind"] == "rate_ratio"
    assert gaps.loc["gratitude", "real"] == pytest.approx(real.gratitude.mean())
    table = [[x_s, 300 - x_s], [x_r, 400 - x_r]]
    assert gaps.loc["gratitude", "p_value"] == pytest.approx(stats.fisher_exact(table).pvalue)
    # Cohen's d with the pooled sd.
    a, b = sim.politeness.to_numpy(), real.politeness.to_numpy()
    pooled = np.sqrt(((299) * a.var(ddof=1) + 399 * b.var(ddof=1)) / (300 + 400 - 2))
    assert gaps.loc["politeness", "effect"] == pytest.approx((a.mean() - b.mean()) / pooled)
    assert gaps.loc["politeness", "effect_kind"] == "smd"
    # BH over every test of the run.
    assert gaps["q_value"].to_numpy() == pytest.approx(
        benjamini_hochberg(gaps["p_value"].to_numpy())
    )


def test_planted_gaps_found_and_no_gap_not(planted):
    gaps = feature_gaps(planted, seed=1, bootstrap=300, permutations=1000).set_index("feature")
    for feature in ("gratitude", "politeness"):
        row = gaps.loc[feature]
        assert row.q_value <= 0.05
        assert row.ci_low <= row.effect <= row.ci_high
    assert gaps.loc["gratitude", "ci_low"] > 3.0  # planted 5x
    # Planted: a shift of 0.5 sd (standard error of d here about 0.08): the estimate is within
    # 0.2 of it and the interval excludes 0.
    assert abs(gaps.loc["politeness", "effect"] - 0.5) < 0.2
    assert 0 < gaps.loc["politeness", "ci_low"] < gaps.loc["politeness", "ci_high"]
    assert gaps.loc["frustration", "q_value"] > 0.05  # same Poisson(0.5) on both sides
    assert gaps.loc["frustration", "ci_low"] < 0 < gaps.loc["frustration", "ci_high"]
    # Significant gaps first, largest first (Cohen's h of 0.1 vs 0.5 is 0.93 > d of 0.5).
    assert list(gaps.index) == ["gratitude", "politeness", "frustration"]


def test_seeded(planted):
    one = feature_gaps(planted, seed=7, bootstrap=100, permutations=200)
    two = feature_gaps(planted, seed=7, bootstrap=100, permutations=200)
    other = feature_gaps(planted, seed=8, bootstrap=100, permutations=200)
    pd.testing.assert_frame_equal(one, two)
    assert not np.allclose(one["ci_low"], other["ci_low"])


def test_missing_values_are_left_out():
    real = {"mattr": np.array([0.8, 0.9, np.nan, 0.85, 0.7])}
    sim = {"mattr": np.array([np.nan, 0.6, 0.65, 0.7])}
    row = feature_gaps(_frame(real, sim), bootstrap=50, permutations=50).iloc[0]
    assert (row.n_real, row.n_sim) == (4, 3)
    assert row.real == pytest.approx(np.mean([0.8, 0.9, 0.85, 0.7]))


def test_bad_input_names_the_problem(planted):
    with pytest.raises(FeatureGapError, match="reference source 'human'"):
        feature_gaps(planted, reference="human")
    with pytest.raises(FeatureGapError, match="nothing to compare"):
        feature_gaps(planted[planted.source == "real"])


def test_sentence():
    row = {
        "feature": "gratitude",
        "simulator": "chatty_sim",
        "real": 0.12,
        "sim": 0.61,
        "effect": 5.1,
        "ci_low": 4.2,
        "ci_high": 6.3,
    }
    # The ratio is the one the shown shares give (61 / 12), not the stored effect.
    assert gap_sentence(row) == (
        "chatty_sim users thank the assistant in 61% of conversations, real users in 12% "
        "(5.1x, 95% CI 4.2-6.3)"
    )
    fewer = {
        **row,
        "feature": "pastes_log",
        "sim": 0.05,
        "effect": 0.4,
        "ci_low": 0.32,
        "ci_high": 0.5,
    }
    assert "in 5% of conversations, real users in 12% (2.4x less often, 95% CI 2.0-3.1)" in (
        gap_sentence(fewer)
    )
    # Near 1, two decimals tell close ratios apart.
    slightly = {**row, "sim": 0.1, "real": 0.113, "effect": 0.885, "ci_low": 0.8, "ci_high": 0.95}
    assert "(1.13x less often, 95% CI 1.05-1.25)" in gap_sentence(slightly)
    assert gap_sentence({**row, "real": 0.0, "effect": float("inf")}) == (
        "chatty_sim users thank the assistant in 61% of conversations, real users never do"
    )
    never = {**row, "feature": "pastes_log", "sim": 0.0, "real": 0.12, "effect": 0.003}
    assert gap_sentence(never) == (
        "chatty_sim users never paste an error log, real users do in 12% of conversations"
    )
    smd = {
        **row,
        "feature": "politeness",
        "real": 0.33,
        "sim": 0.93,
        "effect": 0.55,
        "ci_low": 0.49,
        "ci_high": 0.62,
    }
    assert gap_sentence(smd) == (
        "chatty_sim users: politeness markers 0.93 per conversation on average, real users 0.33 "
        "(+0.55 sd, 95% CI +0.49 to +0.62)"
    )


RATE_ROW = {
    "feature": "pastes_code",
    "simulator": "close_sim",
    "effect_kind": "rate_ratio",
    "effect": 1.0,
    "ci_low": 0.5,
    "ci_high": 2.0,
}


@pytest.mark.parametrize(
    ("sim", "real", "expected"),
    [
        # The sentences: a real share that shows as 0% is not 0.
        (0.0, 0.003, "close_sim users never paste code, real users do in <1% of conversations"),
        (0.002, 0.07, "close_sim users paste code in <1% of conversations, real users in 7%"),
        (0.0, 0.0, "neither close_sim users nor real users ever paste code"),
        (0.3, 0.0, "close_sim users paste code in 30% of conversations, real users never do"),
        (1.0, 0.5, "close_sim users paste code in 100% of conversations, real users in 50%"),
        (0.998, 0.5, "close_sim users paste code in >99% of conversations, real users in 50%"),
        (0.101, 0.104, "close_sim users paste code in 10% of conversations, real users in 10%"),
    ],
)
def test_rate_sentence_words_follow_the_shown_shares(sim, real, expected):
    assert gap_sentence({**RATE_ROW, "sim": sim, "real": real}).startswith(expected)


def test_rate_sentence_ratio_only_between_shown_numbers():
    def said(sim: float, real: float) -> str:
        return gap_sentence({**RATE_ROW, "sim": sim, "real": real})

    assert "x" not in said(0.002, 0.07).split("real users")[-1]  # no ratio to "<1%"
    assert "(" not in said(0.0, 0.07) and "(" not in said(0.07, 0.0)  # infinite ratio: none
    assert "(2.0x," in said(1.0, 0.5) and "less often" not in said(1.0, 0.5)
    below = said(0.05, 0.2)
    assert "(4.0x less often, 95% CI 0.5-2.0)" in below  # CI of the inverted ratio
    # Equal after rounding: no direction, the ratio itself.
    assert "(about as often: ratio 0.97, 95% CI 0.50-2.00)" in said(0.101, 0.104)
    # Ratio showing as 1.00 with different shares (99.4% vs 99.0%): about as often too.
    assert "about as often" in said(0.994, 0.99)
    assert "about as often" in said(0.009, 0.0051)  # both show as 1%
    assert "in 2% of conversations, real users in 1% (2.0x, 95% CI" in said(0.024, 0.012)


@pytest.mark.parametrize("value", [0.0, 1e-9, 0.004, 0.005, 0.0149, 0.5, 0.994, 0.995, 1.0])
def test_whole_share_is_never_0_or_100_unless_exact(value):
    text = format_whole_share(value)
    assert (text == "0%") == (value == 0)
    assert (text == "100%") == (value == 1)
    if text not in ("0%", "100%", "<1%", ">99%"):
        assert abs(float(text.rstrip("%")) / 100 - value) <= 0.005


def test_effect_text_agrees_with_the_sentence():
    # The issue: "never greet" next to "0.15x" in the report's table.
    row = {**RATE_ROW, "feature": "greeting", "sim": 0.0, "real": 0.07}
    assert effect_text({**row, "ci_low": 0.01, "ci_high": 0.3}) == "0× [0.01, 0.3]"
    assert effect_text({**row, "sim": 0.07, "real": 0.0}).startswith("∞×")
    assert effect_text({**row, "sim": 0.0, "real": 0.0}) == "–"
    assert effect_text({**row, "sim": 0.0015, "real": 0.07}).startswith("0.0214×")
    smd = {**row, "effect_kind": "smd", "effect": 0.554, "ci_low": 0.49, "ci_high": 0.62}
    assert effect_text(smd) == "+0.55 sd [+0.49, +0.62]"


def test_rate_ratio_of_a_zero_count_is_finite_and_below_one_hit():
    """A count of 0 counts as half a conversation: finite for the log-axis plot, and below the
    ratio of a single hit, so the ordering of ratios is kept."""
    rng = np.random.default_rng(3)
    real = {"greeting": (rng.random(60) < 0.2).astype(float)}
    none = feature_gaps(_frame(real, {"greeting": np.zeros(40)}), bootstrap=50, permutations=50)
    one = feature_gaps(
        _frame(real, {"greeting": np.r_[1.0, np.zeros(39)]}), bootstrap=50, permutations=50
    )
    hits = real["greeting"].sum()
    assert none.iloc[0].effect == pytest.approx((0.5 / 40) / (hits / 60))
    assert 0 < none.iloc[0].effect < one.iloc[0].effect == pytest.approx((1 / 40) / (hits / 60))


def test_calibration_on_random_halves_of_real():
    """A simulator that is a random half of real has no gap: with BH at 5%, some feature is
    called significant in about 5% of splits at most (FDR = FWER under the global null; Fisher's
    test is conservative). 20 seeded splits: we allow 3 (P(Binomial(20, 0.05) >= 4) = 1.6%)."""
    real = demo_artifacts().features.query("source == 'real'").reset_index(drop=True)
    flagged = 0
    for split in range(20):
        rng = np.random.default_rng([99, split])
        halves = real.copy()
        halves["source"] = np.where(rng.permutation(len(real)) < len(real) // 2, "real", "half")
        gaps = feature_gaps(halves, seed=split, bootstrap=20, permutations=200)
        flagged += bool((gaps["q_value"] <= 0.05).any())
    assert flagged <= 3


def test_demo_chatty_sim_overdoes_thanks_greetings_and_background():
    """The planted chatty_sim archetypes (thanks-and-leave 19% vs 4%, over-polite 22% vs 2%,
    context dumps 18% vs 2%) must come out as significant gaps in the right direction."""
    gaps = demo_artifacts().feature_gaps
    chatty = gaps[gaps.simulator == "chatty_sim"].set_index("feature")
    for feature, kind in (
        ("gratitude", "rate_ratio"),
        ("ends_thanks", "rate_ratio"),
        ("greeting", "rate_ratio"),
        ("politeness", "smd"),
        ("personal_background", "smd"),
    ):
        row = chatty.loc[feature]
        assert row.effect_kind == kind
        assert row.q_value <= 0.05, feature
        assert row.ci_low > (1.0 if kind == "rate_ratio" else 0.0), feature
    assert chatty.loc["gratitude", "effect"] > 3
    assert chatty.loc["personal_background", "effect"] > 0.4


def test_demo_narrow_sim_misses_logs_frustration_switches_and_other_languages():
    gaps = demo_artifacts().feature_gaps
    narrow = gaps[gaps.simulator == "narrow_sim"].set_index("feature")
    for feature in ("pastes_log", "frustration", "topic_switches", "non_english"):
        row = narrow.loc[feature]
        assert row.q_value <= 0.05, feature
        assert row.ci_high < (1.0 if row.effect_kind == "rate_ratio" else 0.0), feature


def test_demo_close_sim_has_few_and_only_small_gaps():
    """close_sim is planted with a lean (true JS 0.0095): more logs, frustration, switches and
    non-English, fewer specs and corrections, by 1-3 percentage points of conversations. At
    1,500 conversations a side the tests can see effects of 0.1 sd, so some of this lean is
    found (8 of 26 features on the committed run). "Few gaps" therefore means: at most 10 of
    the 26 are significant (chatty_sim: 22), and every significant one is small (|d| or Cohen's
    h < 0.2, Cohen's "small"; ratios within 1/1.5-1.5), whereas chatty_sim has gaps beyond 0.5."""
    gaps = demo_artifacts().feature_gaps
    significant = gaps[gaps.q_value <= 0.05]
    close = significant[significant.simulator == "close_sim"]
    chatty = significant[significant.simulator == "chatty_sim"]
    assert len(close) <= 10
    assert len(chatty) >= 15
    assert (effect_size(close) < 0.2).all()
    ratios = close[close.effect_kind == "rate_ratio"]["effect"]
    assert ratios.between(1 / 1.5, 1.5).all()
    assert effect_size(chatty).max() > 0.5


def test_behaviour_artifacts_on_the_demo_run(tmp_path):
    """The integration API on the committed demo run: one row per conversation, one gap per
    (feature, simulator), one name per cluster, and what `save` writes reads back equal."""
    artifacts = demo_artifacts()
    assert isinstance(artifacts, BehaviourArtifacts)
    run = Run(PROJECT_ROOT / "data" / "demo_run")
    clusters = run.clusters()
    assert sorted(artifacts.features["conversation_id"]) == sorted(clusters["conversation_id"])
    assert len(artifacts.feature_gaps) == len(FEATURE_NAMES) * 3
    assert set(artifacts.feature_gaps["simulator"]) == {"close_sim", "narrow_sim", "chatty_sim"}
    assert set(artifacts.cluster_names["cluster"]) == set(clusters["cluster"])
    artifacts.save(tmp_path)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "features.parquet"), artifacts.features
    )
    read_back = pd.read_csv(tmp_path / "feature_gaps.csv")
    assert read_back["q_value"].to_numpy() == pytest.approx(
        artifacts.feature_gaps["q_value"].to_numpy()
    )
    assert pd.read_csv(tmp_path / "cluster_names.csv")["name"].tolist() == (
        artifacts.cluster_names["name"].tolist()
    )


def test_behaviour_artifacts_with_only_the_reference_source():
    corpus = Corpus.from_conversations(
        [Conversation(str(i), "real", [("user", f"question number {i} please")]) for i in range(6)]
    )
    clusters = pd.DataFrame(
        {
            "conversation_id": corpus.conversations["conversation_id"],
            "source": "real",
            "cluster": [0, 0, 0, 1, 1, -1],
        }
    )
    artifacts = behaviour_artifacts(corpus, clusters)
    assert artifacts.feature_gaps.empty and list(artifacts.feature_gaps.columns) == list(
        GAP_COLUMNS
    )
    assert len(artifacts.features) == 6
    assert artifacts.cluster_names.set_index("cluster").loc[-1, "name"] == "unclustered"

"""Cluster names: the profile equals a computation by hand, names are unique and readable, and
every planted missed or invented archetype of the demo run is named so a reader recognises it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _behaviour_demo import (
    ARCHETYPE_KEYWORDS,
    PROJECT_ROOT,
    demo_artifacts,
    demo_clusters_with_archetypes,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from simgap_core.behaviour.features import BY_NAME, FEATURE_NAMES, FEATURES
from simgap_core.behaviour.names import (
    MAX_DISTINCT_NAME_WORDS,
    NOISE_NAME,
    ClusterNamingError,
    _contrastive,
    _unique,
    feature_profiles,
    name_clusters,
    too_close,
)


def _synthetic() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four clusters of 50 plus 20 noise: thankers, log pasters, two identical plain clusters."""
    rng = np.random.default_rng(0)
    n = 220
    features = pd.DataFrame({name: rng.normal(0, 0.01, n) + 1.0 for name in FEATURE_NAMES})
    cluster = np.repeat([0, 1, 2, 3, -1], [50, 50, 50, 50, 20])
    for binary in ("gratitude", "ends_thanks", "pastes_log", "greeting"):
        features[binary] = 0.0
    features.loc[cluster == 0, ["gratitude", "ends_thanks"]] = 1.0
    features.loc[cluster == 1, "pastes_log"] = 1.0
    features.insert(0, "source", "real")
    features.insert(0, "conversation_id", [f"real:{i}" for i in range(n)])
    clusters = pd.DataFrame(
        {"conversation_id": features["conversation_id"], "source": "real", "cluster": cluster}
    )
    return features, clusters


def test_profile_equals_a_computation_by_hand():
    features, clusters = _synthetic()
    profiles = feature_profiles(features, clusters)
    assert sorted(profiles.index) == [0, 1, 2, 3]  # noise is not a cluster
    clustered = features[clusters["cluster"] != -1]
    labels = clusters["cluster"][clusters["cluster"] != -1]
    x = clustered["pastes_log"]
    expected = (x[labels == 1].mean() - x[labels != 1].mean()) / x.std(ddof=0)
    assert profiles.loc[1, "pastes_log"] == pytest.approx(expected)
    assert profiles.loc[0, "pastes_log"] == pytest.approx(-1 / 3 / x.std(ddof=0))


def test_names_from_distinctive_features_unique_and_noise():
    features, clusters = _synthetic()
    texts = pd.DataFrame(
        {
            "conversation_id": features["conversation_id"],
            "text": np.where(clusters["cluster"] == 1, "traceback error stack", "hello world"),
        }
    )
    names = name_clusters(features, clusters, texts).set_index("cluster")
    assert list(names.columns) == ["name", "description"]
    assert names.loc[-1, "name"] == NOISE_NAME
    assert "thank" in names.loc[0, "name"]
    assert "error logs" in names.loc[1, "name"]
    assert "traceback" in names.loc[1, "description"]
    assert "error logs pasted 100% vs 0% elsewhere" in names.loc[1, "description"]
    # Clusters 2 and 3 look alike (nothing sets them apart): still two different names.
    assert names.loc[2, "name"] != names.loc[3, "name"]
    assert names["name"].is_unique
    for name in names["name"]:
        assert len(name.split()) <= MAX_DISTINCT_NAME_WORDS
    # Deterministic.
    pd.testing.assert_frame_equal(names.reset_index(), name_clusters(features, clusters, texts))


def test_clusters_without_features_are_an_error_that_says_so():
    features, clusters = _synthetic()
    with pytest.raises(ClusterNamingError, match="have no features, e.g. 'real:0'"):
        name_clusters(features.iloc[1:], clusters)
    with pytest.raises(ClusterNamingError, match="no 'cluster' column"):
        name_clusters(features, clusters.drop(columns="cluster"))


def test_demo_names_are_unique_readable_and_cover_every_cluster():
    names = demo_artifacts().cluster_names
    clusters = demo_clusters_with_archetypes()
    assert sorted(names["cluster"]) == sorted(clusters["cluster"].unique())
    assert names["name"].is_unique
    named = names[names["cluster"] != -1]
    words = named["name"].str.split().str.len()
    readable = words.between(3, MAX_DISTINCT_NAME_WORDS)
    assert readable.all(), named[~readable]
    assert names.set_index("cluster").loc[-1, "name"] == NOISE_NAME


# Words a reader would look for to recognise each archetype (lower case, substrings).


def test_demo_every_planted_missed_and_invented_archetype_is_named():
    """For each archetype a simulator misses or invents (truth.json), most of its clustered
    conversations sit in clusters named with one of its keywords: a reader looking for it finds
    it by name. (Not only its largest cluster: terse users spread over four clusters, the
    largest holding 32%, whose name tells it apart from the other three by "leaving without
    closing" rather than repeating "terse"; 63% are in clusters named terse or short.) Noise is
    left out: it is not a behaviour."""
    truth = json.loads((PROJECT_ROOT / "data" / "demo" / "truth.json").read_text())
    planted = {
        a for gaps in (truth["missed"], truth["hallucinated"]) for v in gaps.values() for a in v
    }
    assert planted == set(ARCHETYPE_KEYWORDS)
    names = demo_artifacts().cluster_names.set_index("cluster")["name"]
    clusters = demo_clusters_with_archetypes()
    clustered = clusters[clusters["cluster"] != -1]
    for archetype in sorted(planted):
        counts = clustered.loc[clustered["archetype"] == archetype, "cluster"].value_counts()
        keywords = ARCHETYPE_KEYWORDS[archetype]
        named = [c for c in counts.index if any(k in names[c].lower() for k in keywords)]
        share = counts[named].sum() / counts.sum()
        assert share > 0.5, (archetype, share, {c: names[c] for c in counts.index[:4]})


def _phrase_set(name: str) -> frozenset[str]:
    return frozenset(name.removeprefix("conversations with ").split(", "))


def test_too_close_means_sharing_all_but_one_phrase():
    a = frozenset({"casual lowercase writing", "single-turn requests", "terse one-line requests"})
    assert too_close(a, a | {"short messages"})  # the issue's pair: one phrase more
    assert too_close(frozenset({"x", "y"}), frozenset({"x", "z"}))  # one phrase swapped
    assert too_close(frozenset({"x", "y"}), frozenset({"y", "x"}))  # another order
    assert not too_close(frozenset({"x", "y"}), frozenset({"x", "z", "w"}))
    assert not too_close(frozenset({"x"}), frozenset({"y"}))  # nothing shared
    assert not too_close(frozenset({"x", "y", "z"}), frozenset({"x"}))


def test_the_issues_pair_of_names_is_told_apart():
    """Issue 20: "casual lowercase writing, single-turn requests, terse one-line requests" and
    the same plus "short messages" named two clusters."""
    first = ["casual lowercase writing", "single-turn requests", "terse one-line requests"]
    taken = [frozenset(first)]
    second = [*first, "short messages", "typos and misspellings"]
    name, key = _unique(second, ["lol"], {", ".join(first)}, taken)
    assert not too_close(key, taken[0]) and name != ", ".join(first)
    assert len(name.split()) <= MAX_DISTINCT_NAME_WORDS
    assert name.startswith("casual lowercase writing")  # the top phrase is kept when it can be
    assert len(key - taken[0]) >= 2


PHRASES = sorted({p for f in FEATURES for p in (f.high, f.low) if p})


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(PHRASES), min_size=1, max_size=6, unique=True),
            st.lists(st.sampled_from(PHRASES), max_size=3, unique=True),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_names_never_share_all_but_one_phrase(clusters):
    """Whatever phrases the clusters rank (random sets from the real phrase list, some the
    same for many clusters), the names are unique and no two share all but one phrase."""
    used, taken = {NOISE_NAME}, []
    for phrases, weaker in clusters:
        weaker = [p for p in weaker if p not in phrases]
        name, key = _unique(phrases, ["term"], used, taken, weaker=weaker)
        assert name not in used
        assert not any(too_close(key, other) for other in taken), (name, taken)
        if "#" not in name and "(" not in name:  # a name of phrases: 8 words, its own phrases
            assert len(name.split()) <= MAX_DISTINCT_NAME_WORDS
            assert key == _phrase_set(name) and key <= set(phrases) | set(weaker)
        used.add(name)
        taken.append(key)


def test_contrastive_ranking_puts_the_phrase_that_tells_neighbours_apart_first():
    """Two clusters both paste logs (the larger difference from the rest); one also thanks.
    Against its neighbour, which pastes logs as much, thanking is what sets it apart."""
    names = [f.name for f in FEATURES]
    own = pd.Series(0.0, index=names)
    own[["pastes_log", "gratitude"]] = [1.0, 0.6]
    neighbour = own.copy()
    neighbour["gratitude"] = 0.0
    sd = pd.Series(0.5, index=names)
    distinctive = [
        (BY_NAME["pastes_log"], "pasted error logs", 1.6),
        (BY_NAME["gratitude"], "thankful users", 1.0),
    ]
    ranked = _contrastive(distinctive, own, pd.DataFrame([neighbour]), sd)
    assert [phrase for _, phrase, _ in ranked] == ["thankful users", "pasted error logs"]
    # Without neighbours (one cluster), the difference from the rest decides.
    alone = _contrastive(distinctive, own, pd.DataFrame(columns=names), sd)
    assert [phrase for _, phrase, _ in alone] == ["pasted error logs", "thankful users"]

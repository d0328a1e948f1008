"""Names for behaviour clusters: a short name and a one-line description, offline.

Why: "cluster 11 is missed" tells nobody what to fix; "pasted error logs, frustrated angry
complaints is missed" does. A cluster is named by its *distinctive feature profile*: for each
behaviour feature, the cluster's mean minus the mean of every other clustered conversation, in
units of the feature's sd over all of them (a standardized difference). Features whose
difference reaches `min_z` and that have a phrase for that direction (`Feature.high` /
`Feature.low` in features.json) name the cluster, as many as fit in 8 words, ranked
contrastively: by the difference from the rest plus the difference from the cluster's nearest
other clusters (`NEAREST`, by their standardized feature means), so a phrase that also fits the
clusters most like it, and would not tell them apart, comes after one that does.
The description adds the numbers and the cluster's c-TF-IDF terms
(`simgap_core.measure.interpret.class_tfidf`). A cluster without a distinctive feature is named
by its terms. Names are distinct in content, not only in text: no two names share all but one
phrase ("casual lowercase writing, single-turn requests, terse one-line requests" and the same
plus "short messages" read as one behaviour). Clusters are named in order of size, so the same
run always gets the same names; a name too close to an earlier one drops or swaps phrases for
the next distinguishing ones (`_unique`), else takes the top term, else a number.
Noise (-1) is "unclustered".

The LLM namer (`simgap_core.behaviour.llm_names`, `analyze --namer llm`) starts from these
names: it shows a model each cluster beside its nearest clusters, keeps these names where the
model fails, and makes its names unique by the same rule.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from simgap_core.behaviour.features import BINARY, FEATURES, Feature
from simgap_core.measure.interpret import class_tfidf
from simgap_core.parts import Part, register
from simgap_core.present.formatting import format_whole_share

NOISE = -1
NOISE_NAME = "unclustered"
MAX_NAME_WORDS = 8
# A name may run to this many words where that is what keeps the cluster's top phrase in it
# while telling it apart from the others (a longer name beats one without its defining trait).
MAX_DISTINCT_NAME_WORDS = 11
MIN_NAME_WORDS = 3
NEAREST = 3  # the clusters a name is contrasted with
CANDIDATE_PHRASES = 8  # a name is chosen from the cluster's top phrases, at most this many
SHORT_NAME_PREFIX = "conversations with "
NAME_COLUMNS = ("cluster", "name", "description")


class ClusterNamingError(ValueError):
    """The clusters and features cannot be joined (missing columns or ids)."""


def feature_profiles(features: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    """Standardized difference of every feature, per cluster (rows) and feature (columns).

    (mean in the cluster - mean over the other clustered conversations) / sd over all clustered
    conversations; noise is left out of both the reference and the result. NaN where a feature is
    constant or missing.
    """
    joined = _join(features, clusters)
    clustered = joined[joined["cluster"] != NOISE]
    names = [f.name for f in FEATURES if f.name in clustered.columns]
    values = clustered[names].astype(np.float64)
    sd = values.std(ddof=0).replace(0.0, np.nan)
    sums = values.groupby(clustered["cluster"]).sum(min_count=0)
    counts = values.notna().groupby(clustered["cluster"]).sum()
    total, total_n = values.sum(), values.notna().sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = sums / counts
        outside = (total - sums) / (total_n - counts)
    return (inside - outside) / sd


def _join(features: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    for frame, what, needed in (
        (features, "features", "conversation_id"),
        (clusters, "clusters", "conversation_id"),
        (clusters, "clusters", "cluster"),
    ):
        if needed not in frame.columns:
            raise ClusterNamingError(f"the {what} table has no {needed!r} column")
    joined = clusters[["conversation_id", "cluster"]].merge(
        features.drop(columns=["source"], errors="ignore"), on="conversation_id", how="left"
    )
    missing = joined[FEATURES[0].name].isna() & ~joined["conversation_id"].isin(
        features["conversation_id"]
    )
    if missing.any():
        example = joined.loc[missing, "conversation_id"].iloc[0]
        raise ClusterNamingError(
            f"{int(missing.sum())} clustered conversations have no features, e.g. {example!r}: "
            "compute the features on the same corpus as the clusters"
        )
    return joined


def _phrases(profile: pd.Series, min_z: float) -> list[tuple[Feature, str, float]]:
    """(feature, phrase, z) of the distinctive features with a phrase, largest |z| first."""
    found = []
    for feature in FEATURES:
        z = profile.get(feature.name, np.nan)
        if not np.isfinite(z):
            continue
        phrase = feature.high if z >= min_z else feature.low if z <= -min_z else None
        if phrase:
            found.append((feature, phrase, float(z)))
    found.sort(key=lambda item: (-abs(item[2]), item[0].name))
    return found


def _nearest_clusters(means: pd.DataFrame, sd: pd.Series) -> dict[int, list[int]]:
    """Each cluster's `NEAREST` other clusters by the distance between their feature means in
    units of each feature's sd (ties by cluster number)."""
    points = (means / sd).to_numpy(np.float64)
    points = np.where(np.isfinite(points), points, 0.0)
    distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
    numbers = means.index.to_numpy()
    nearest = {}
    for row, cluster in enumerate(numbers):
        others = [i for i in np.lexsort((numbers, distances[row])) if i != row]
        nearest[int(cluster)] = [int(numbers[i]) for i in others[:NEAREST]]
    return nearest


def _contrastive(
    distinctive: list[tuple[Feature, str, float]],
    own: pd.Series,
    neighbours: pd.DataFrame,
    sd: pd.Series,
) -> list[tuple[Feature, str, float]]:
    """`distinctive` ranked by |z| plus how far the cluster lies, in the phrase's direction,
    beyond the nearest of its `neighbours` (their means; in sds, negative when a neighbour is
    further out): the phrases that tell it apart from the clusters most like it come first."""

    def score(item: tuple[Feature, str, float]) -> float:
        feature, _, z = item
        if not len(neighbours):
            return abs(z)
        gaps = np.sign(z) * (own[feature.name] - neighbours[feature.name]) / sd[feature.name]
        gaps = gaps[np.isfinite(gaps)]
        return abs(z) + (float(gaps.min()) if len(gaps) else 0.0)

    return sorted(distinctive, key=lambda item: (-score(item), item[0].name))


def _greedy(phrases: list[str]) -> list[str]:
    """The leading phrases, as many as keep the name within MAX_NAME_WORDS words."""
    chosen: list[str] = []
    for phrase in phrases:
        if len(", ".join([*chosen, phrase]).split()) > MAX_NAME_WORDS:
            break
        chosen.append(phrase)
    return chosen


def _value(feature: Feature, value: float) -> str:
    if feature.kind == BINARY:
        return format_whole_share(value)  # "0%" only when none does it
    return f"{value:.2f}" if feature.unit == "share" else f"{value:.1f}"


def _describe(
    size: int,
    distinctive: list[tuple[Feature, str, float]],
    inside: pd.Series,
    outside: pd.Series,
    terms: list[str],
) -> str:
    parts = [
        f"{feature.label} {_value(feature, inside[feature.name])} vs "
        f"{_value(feature, outside[feature.name])} elsewhere"
        for feature, _, _ in distinctive[:3]
    ]
    text = f"{size} conversations" + (": " + "; ".join(parts) if parts else ", no feature apart")
    if terms:
        text += ". Terms: " + ", ".join(terms[:5])
    return text + "."


def name_clusters(
    features: pd.DataFrame,
    clusters: pd.DataFrame,
    texts: pd.DataFrame | None = None,
    *,
    min_z: float = 0.5,
    top_terms: int = 5,
) -> pd.DataFrame:
    """`cluster, name, description` for every cluster of `clusters` (noise included).

    `features`: `compute_features` output; `clusters`: conversation_id, cluster (-1 = noise);
    `texts`: optional conversation_id, text (e.g. the run's representations) for c-TF-IDF terms.
    `min_z`: the standardized difference a feature needs to name a cluster (0.5: half an sd, a
    "medium" effect, so only features that set a cluster visibly apart are used).
    """
    joined = _join(features, clusters)
    profiles = feature_profiles(features, clusters)
    names = [f.name for f in FEATURES if f.name in joined.columns]
    clustered = joined[joined["cluster"] != NOISE]
    sizes = joined.groupby("cluster").size()
    terms: dict = {}
    if texts is not None and len(clustered):
        by_id = texts.groupby("conversation_id", sort=False)["text"].agg(" ".join)
        documents = clustered["conversation_id"].map(by_id).fillna("").tolist()
        terms = {
            c: [t for t, _ in scored]
            for c, scored in class_tfidf(
                documents, clustered["cluster"].to_numpy(), top_n=top_terms
            ).items()
        }
    order = sorted(sizes.index, key=lambda c: (c == NOISE, -sizes[c], c))
    means = clustered.groupby("cluster")[names].mean()
    sd = clustered[names].std(ddof=0).replace(0.0, np.nan)
    nearest = _nearest_clusters(means, sd) if len(means) else {}
    used: set[str] = {NOISE_NAME}
    taken: list[frozenset[str]] = []
    rows = []
    for cluster in order:
        if cluster == NOISE:
            rows.append(
                {
                    "cluster": NOISE,
                    "name": NOISE_NAME,
                    "description": f"{int(sizes[cluster])} conversations the clustering left "
                    "outside every cluster (HDBSCAN noise).",
                }
            )
            continue
        members = clustered["cluster"] == cluster
        inside = clustered.loc[members, names].mean()
        outside = clustered.loc[~members, names].mean()
        neighbours = means.loc[nearest[int(cluster)]]
        distinctive = _contrastive(
            _phrases(profiles.loc[cluster], min_z), means.loc[cluster], neighbours, sd
        )
        # Weaker phrases (half the threshold) only serve to tell a name apart from another.
        weaker = _contrastive(
            [item for item in _phrases(profiles.loc[cluster], min_z / 2) if abs(item[2]) < min_z],
            means.loc[cluster],
            neighbours,
            sd,
        )
        cluster_terms = terms.get(cluster, [])
        phrases = [phrase for _, phrase, _ in distinctive]
        if not phrases:
            phrases = [
                "mixed requests" + (": " + ", ".join(cluster_terms[:3]) if cluster_terms else "")
            ]
        name, key = _unique(
            phrases, cluster_terms, used, taken, weaker=[phrase for _, phrase, _ in weaker]
        )
        used.add(name)
        taken.append(key)
        rows.append(
            {
                "cluster": int(cluster),
                "name": name,
                "description": _describe(
                    int(sizes[cluster]), distinctive, inside, outside, cluster_terms
                ),
            }
        )
    return pd.DataFrame(rows, columns=list(NAME_COLUMNS)).sort_values("cluster", ignore_index=True)


def too_close(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two names made of the phrase sets `a` and `b` read as one: they share a phrase
    and each has at most one phrase the other lacks (the same phrases in another order, one
    phrase more, or one phrase swapped)."""
    return bool(a & b) and len(a - b) <= 1 and len(b - a) <= 1


def _written(phrases: list[str]) -> str:
    """The phrases as a name; too short to read as a behaviour ("greetings"), it says what
    kind of conversations ("conversations with greetings")."""
    name = ", ".join(phrases)
    return SHORT_NAME_PREFIX + name if len(name.split()) < MIN_NAME_WORDS else name


def _selections(pool: list[str], limit: int = MAX_NAME_WORDS) -> list[list[str]]:
    """Every selection of the first `CANDIDATE_PHRASES` of `pool` that fits in `limit` words,
    higher-ranked phrases preferred (one with the first phrase before any without it, and so
    on down the ranking)."""
    top = pool[:CANDIDATE_PHRASES]
    selections = []
    for mask in range(2 ** len(top) - 1, 0, -1):
        chosen = [p for i, p in enumerate(top) if mask >> (len(top) - 1 - i) & 1]
        if len(_written(chosen).split()) <= limit:
            selections.append(chosen)
    return selections


def _choices(phrases: list[str], weaker: list[str]) -> list[list[str]]:
    """The phrase lists a name may be made of, preferred first: the top phrases as far as 8
    words go; then the selections that keep the top phrase (the cluster's most distinctive
    trait), from `phrases`, then with the `weaker` phrases after them, within 8 words, then
    within `MAX_DISTINCT_NAME_WORDS`; then the others, within 8 words."""
    pools = [phrases, phrases + weaker] if weaker else [phrases]
    every = [selection for pool in pools for selection in _selections(pool)]
    longer = [s for pool in pools for s in _selections(pool, MAX_DISTINCT_NAME_WORDS)]
    ordered = [_greedy(phrases)]
    ordered += [chosen for chosen in every if chosen[0] == phrases[0]]
    ordered += [chosen for chosen in longer if chosen[0] == phrases[0]]
    ordered += [chosen for chosen in every if chosen[0] != phrases[0]]
    unique = {tuple(chosen): chosen for chosen in ordered if chosen}
    return list(unique.values())


def _unique(
    phrases: list[str],
    terms: list[str],
    used_names: set[str],
    taken: list[frozenset[str]],
    *,
    weaker: list[str] = (),
) -> tuple[str, frozenset[str]]:
    """The first name of `_choices` that is free and not `too_close` to any name in `taken`
    (their phrase sets); else the top phrase with a c-TF-IDF term, else numbered. Returns the
    name and its phrase set."""
    for chosen in _choices(phrases, list(weaker)):
        name, key = _written(chosen), frozenset(chosen)
        if name not in used_names and not any(too_close(key, other) for other in taken):
            return name, key
    base = _written(phrases[:1])
    for term in terms:
        name = f"{base} ({term})"
        if name not in used_names and len(name.split()) <= MAX_NAME_WORDS:
            return name, frozenset([name])
    number = 2
    while f"{base} #{number}" in used_names:
        number += 1
    return f"{base} #{number}", frozenset([f"{base} #{number}"])


class Namer(Part):
    """Base class of namers: `name_clusters` turns the offline names (`name_clusters` above,
    for the same clusters) into the run's names, one row per cluster, noise included; the
    columns are cluster, name, description. `facts()` reports what the namer did."""

    kind: ClassVar[str] = "namer"

    def name_clusters(
        self,
        offline_names: pd.DataFrame,
        features: pd.DataFrame,
        clusters: pd.DataFrame,
        representations: pd.DataFrame,
        *,
        coordinates: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        raise NotImplementedError

    def facts(self) -> dict[str, Any]:
        return {}


@register
class OfflineNamer(Namer):
    """The names from the clusters' distinctive feature profiles, as they are (the default)."""

    name = "offline"

    def params(self) -> dict[str, Any]:
        return {}

    def name_clusters(
        self,
        offline_names: pd.DataFrame,
        features: pd.DataFrame,
        clusters: pd.DataFrame,
        representations: pd.DataFrame,
        *,
        coordinates: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        return offline_names

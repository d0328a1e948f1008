"""Say in words where the gap is: cluster terms, captured / missed / hallucinated, misaligned rows.

- `class_tfidf`: BERTopic's c-TF-IDF. All texts of a cluster are joined into one document;
  W(t, c) = tf(t, c) * ln(1 + A / f(t)), with tf the L1-normalized term counts of cluster c,
  A the average number of words per cluster (truncated to an integer, as BERTopic does) and
  f(t) the count of term t over all clusters. Words are counted by sklearn's CountVectorizer
  with English stop words removed. Works on any text column (behaviour descriptions, raw user
  text).
- `compare_clusters`: per cluster, each source's share of its own total, the difference, the
  log ratio, the exact permutation p-value, its Benjamini-Hochberg q-value and a category under
  explicit `CategoryThresholds`.
- `misalignment_scores`: for each point, the fraction of simulated points among its k nearest
  neighbours minus the expected fraction n_sim / (n_real + n_sim).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from simgap_core.measure.uncertainty import benjamini_hochberg, share_difference_p_values
from simgap_core.vocabulary import CAPTURED, HALLUCINATED, MISSED


def class_tfidf(
    texts: Sequence[str],
    classes: Sequence[Hashable] | np.ndarray,
    *,
    top_n: int = 10,
    stop_words: str | None = "english",
) -> dict[Hashable, list[tuple[str, float]]]:
    """The `top_n` c-TF-IDF terms of every class, best first, with their scores."""
    classes = np.asarray(classes)
    if len(texts) != len(classes):
        raise ValueError(f"got {len(texts)} texts for {len(classes)} class labels")
    names = list(pd.unique(classes))
    frame = pd.DataFrame({"text": [t or "" for t in texts], "cls": classes})
    joined = frame.groupby("cls", sort=False)["text"].agg(" ".join)
    documents = [joined[name] for name in names]
    vectorizer = CountVectorizer(stop_words=stop_words)
    try:
        counts = vectorizer.fit_transform(documents)
    except ValueError:  # no word survives tokenizing and stop words: no terms to show
        return {name: [] for name in names}
    vocabulary = vectorizer.get_feature_names_out()
    average_words = int(counts.sum(axis=1).mean())
    term_totals = np.asarray(counts.sum(axis=0)).ravel()
    idf = np.log(average_words / term_totals + 1)
    scores = normalize(counts, norm="l1", axis=1).multiply(idf).toarray()

    terms: dict[Hashable, list[tuple[str, float]]] = {}
    for row, name in enumerate(names):
        # Best score first; ties broken alphabetically so the output is deterministic.
        order = np.lexsort((vocabulary, -scores[row]))
        terms[name] = [
            (str(vocabulary[i]), float(scores[row, i])) for i in order[:top_n] if scores[row, i] > 0
        ]
    return terms


@dataclass(frozen=True)
class CategoryThresholds:
    """When a cluster counts as missed or hallucinated rather than captured.

    missed: real share - simulator share >= min_share_diff, log ratio >= min_log_ratio and
    BH q-value <= alpha; hallucinated: the mirror image; captured: everything else.
    """

    min_share_diff: float = 0.01
    """In shares (0.01 = one percentage point)."""
    min_log_ratio: float = math.log(2)
    """Natural log of real share / simulator share (ln 2: at least twice as common)."""
    alpha: float = 0.05
    """False discovery rate for the Benjamini-Hochberg q-values across clusters."""

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def log_share_ratio(real_counts: np.ndarray, sim_counts: np.ndarray) -> np.ndarray:
    """ln(real share / simulator share), shares from counts + 0.5 so empty bins stay finite."""
    real = np.asarray(real_counts, dtype=np.float64) + 0.5
    sim = np.asarray(sim_counts, dtype=np.float64) + 0.5
    return np.log(real / real.sum()) - np.log(sim / sim.sum())


def categorize(
    diff: np.ndarray, log_ratio: np.ndarray, q_values: np.ndarray, thresholds: CategoryThresholds
) -> np.ndarray:
    """`captured`, `missed` or `hallucinated` for every cluster."""
    significant = np.asarray(q_values) <= thresholds.alpha
    missed = (
        significant & (diff >= thresholds.min_share_diff) & (log_ratio >= thresholds.min_log_ratio)
    )
    hallucinated = (
        significant
        & (-diff >= thresholds.min_share_diff)
        & (-log_ratio >= thresholds.min_log_ratio)
    )
    return np.where(missed, MISSED, np.where(hallucinated, HALLUCINATED, CAPTURED))


def compare_clusters(
    real_counts: np.ndarray,
    sim_counts: np.ndarray,
    *,
    thresholds: CategoryThresholds | None = None,
) -> pd.DataFrame:
    """Per bin: shares, difference (real - sim), log ratio, p-value, q-value, category."""
    thresholds = thresholds or CategoryThresholds()
    real_counts, sim_counts = np.asarray(real_counts), np.asarray(sim_counts)
    real_share = real_counts / real_counts.sum()
    sim_share = sim_counts / sim_counts.sum()
    diff = real_share - sim_share
    log_ratio = log_share_ratio(real_counts, sim_counts)
    p_values = share_difference_p_values(real_counts, sim_counts)
    q_values = benjamini_hochberg(p_values)
    return pd.DataFrame(
        {
            "real_share": real_share,
            "sim_share": sim_share,
            "diff": diff,
            "log_ratio": log_ratio,
            "p_value": p_values,
            "q_value": q_values,
            "category": categorize(diff, log_ratio, q_values, thresholds),
        }
    )


def misalignment_rank(
    misalignment: np.ndarray, distance: np.ndarray, ids: Sequence[str] | np.ndarray
) -> np.ndarray:
    """Rank 1 = most misaligned; ties by larger neighbour distance, then by id (not input order)."""
    order = np.lexsort(
        (np.asarray(ids, dtype=str), -np.asarray(distance), -np.asarray(misalignment))
    )
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def misalignment_scores(
    points: np.ndarray,
    simulated: np.ndarray,
    *,
    neighbours: int = 15,
    metric: str = "cosine",
    ids: Sequence[str] | np.ndarray | None = None,
    null_repeats: int = 20,
    seed: int = 42,
) -> pd.DataFrame:
    """Simulated fraction among each point's nearest neighbours, against the expected fraction.

    `points` are the real and one simulator's rows (embeddings with metric="cosine", or map
    coordinates with "euclidean"); `simulated` flags the simulator's rows. A point is not its own
    neighbour. `score` = sim_fraction - expected; `misalignment` is the score seen from the
    point's side (score for simulated rows, -score for real rows), so a high value means a real
    conversation in a region simulators leave empty or a simulated one in a region real users
    don't reach. `rank` orders each side by misalignment (1 = most misaligned), ties broken by
    the mean distance to the neighbours (more isolated first), then by `ids` (default: row
    number).

    With no gap at all the score is not 0: a point's neighbours are a small sample. `null_sd`
    is the score's standard deviation when the simulated flags are shuffled over the same
    neighbour graph (`null_repeats` times), and `z` = misalignment / null_sd says how many
    no-gap spreads a row's score is.
    """
    points = np.asarray(points)
    simulated = np.asarray(simulated, dtype=bool)
    if len(points) != len(simulated):
        raise ValueError(f"got {len(points)} points and {len(simulated)} simulated flags")
    if not 1 <= neighbours < len(points):
        raise ValueError(f"neighbours must lie in 1 .. {len(points) - 1}, got {neighbours}")
    ids = np.arange(len(points)).astype(str) if ids is None else np.asarray(ids, dtype=str)
    index = NearestNeighbors(n_neighbors=neighbours, metric=metric).fit(points)
    distances, neighbour_rows = index.kneighbors(return_distance=True)
    sim_fraction = simulated[neighbour_rows].mean(axis=1)
    expected = simulated.mean()
    score = sim_fraction - expected
    rng = np.random.default_rng(seed)
    null_scores = [
        rng.permutation(simulated)[neighbour_rows].mean(axis=1) - expected
        for _ in range(null_repeats)
    ]
    null_sd = float(np.std(np.concatenate(null_scores))) if null_repeats else float("nan")
    misalignment = np.where(simulated, score, -score)
    distance = distances.mean(axis=1)
    frame = pd.DataFrame(
        {
            "side": np.where(simulated, "simulated", "real"),
            "sim_fraction": sim_fraction,
            "expected": expected,
            "score": score,
            "misalignment": misalignment,
            "distance": distance,
            "null_sd": null_sd,
            "z": misalignment / null_sd if null_sd > 0 else np.nan,
        }
    )
    rank = np.zeros(len(frame), dtype=np.int64)
    for side in (False, True):
        rows = np.flatnonzero(simulated == side)
        rank[rows] = misalignment_rank(misalignment[rows], distance[rows], ids[rows])
    frame["rank"] = rank
    return frame


def most_misaligned(scores: pd.DataFrame, *, side: str, top: int = 20) -> pd.DataFrame:
    """The `top` most misaligned rows of one side ("real" or "simulated"), most misaligned first."""
    if side not in ("real", "simulated"):
        raise ValueError(f"side must be 'real' or 'simulated', got {side!r}")
    return scores[scores["side"] == side].sort_values("rank").head(top)

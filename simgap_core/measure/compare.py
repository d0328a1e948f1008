"""The measurement stage: every number the run directory stores, from plain arrays.

`measure` takes one row per conversation (its embedding, its source, its cluster on the shared
HDBSCAN map) and returns a `Measurement`:

- `metrics`: JSON-able dict (the `metrics.json` schema, see `measure`);
- `paper_histograms`: simulator, cluster, real_count, sim_count on each (real, simulator)
  paper quantization;
- `clusters_summary`: one row per map cluster: cluster (-1 = noise), n (all sources),
  share_<source> for every source (of its own total), then per simulator diff_<sim>
  (real share - simulator share), diff_low_<sim> / diff_high_<sim> (bootstrap interval),
  log_ratio_<sim>, p_value_<sim> (exact permutation), q_value_<sim> (Benjamini-Hochberg),
  category_<sim> (captured / missed / hallucinated), and the c-TF-IDF terms
  terms_representation / terms_user when those texts are given;
- `misalignment`: one row per conversation, in input order: its neighbourhood score (for a
  real conversation, the mean over the simulator pairs) and rank within its side, plus the
  score and rank in each (real, simulator) pair.

Which quantization each number uses:

- `simulators[NAME]["paper"]`, `p_value`: the paper's quantization of real + that simulator
  only (pooled, PCA, k-means), as the paper compares each simulator;
- `simulators[NAME]["map"]`, `clusters_summary`, `noise_floor["map"]`: the shared HDBSCAN map,
  noise (label -1) counted as one bin of its own;
- `pairwise`, `mixture`, `noise_floor["paper"]`: one shared paper-style quantization of all
  sources pooled (same k, PCA and k-means settings). With a single simulator it is that
  simulator's paper quantization, reused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simgap_core.errors import EmptySourceError
from simgap_core.measure.classifier import classifier_test
from simgap_core.measure.divergence import divergences, js_divergence, kl_backward, kl_forward
from simgap_core.measure.interpret import (
    CategoryThresholds,
    class_tfidf,
    compare_clusters,
    misalignment_scores,
)
from simgap_core.measure.mixture import best_mixture
from simgap_core.measure.quantize import Quantization, bin_labels, histograms_from_labels, quantize
from simgap_core.measure.uncertainty import (
    bootstrap_ci,
    bootstrap_share_differences,
    noise_floor,
    permutation_test,
)

STAGES = ("quantize", "bootstrap", "floor", "permutation", "classifier", "mixture", "interpret")
FLOOR_QUANTILES = (0.05, 0.5, 0.95)
CI_METHOD = "basic"
CATEGORIES = ("captured", "missed", "hallucinated")
# Stage numbers for `_stage_seed`: every random draw has its own stream.
_PAPER_CI, _MAP_CI, _SHARE_CI, _PAIR_FLOOR, _PAPER_TEST, _MAP_TEST, _FLOOR, _MAP_FLOOR = range(8)


@dataclass(frozen=True)
class MeasureSettings:
    """Every parameter of `measure`; recorded in metrics["settings"]."""

    k: int | None = None
    explained_variance: float = 0.9
    n_init: int = 5
    max_iter: int = 500
    bootstrap: int = 200
    ci_level: float = 0.95
    floor_repeats: int = 50
    permutations: int = 1000
    classifier_folds: int = 5
    classifier_max_per_class: int | None = 10_000
    neighbours: int = 15
    top_terms: int = 10
    seed: int = 42
    thresholds: CategoryThresholds = field(default_factory=CategoryThresholds)

    def quantize_kwargs(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "explained_variance": self.explained_variance,
            "n_init": self.n_init,
            "max_iter": self.max_iter,
            "seed": self.seed,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "k": "round(n_reference / 10)" if self.k is None else self.k,
            "ci_method": "basic bootstrap (reverse percentile), clipped at 0",
            "floor_quantiles": list(FLOOR_QUANTILES),
            "classifier": "L2 logistic regression (C=1), classes balanced by subsampling",
            "map_noise": "label -1 is counted as a bin of its own",
        }


@dataclass(frozen=True)
class Measurement:
    """Everything `measure` computes; `timings` holds seconds per stage (not part of metrics)."""

    metrics: dict[str, Any]
    paper_histograms: pd.DataFrame
    clusters_summary: pd.DataFrame
    misalignment: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


class _Timer:
    """Seconds spent per stage, summed over simulators."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] += time.perf_counter() - start


def _stage_seed(seed: int, stage: int, index: int = 0) -> int:
    """An independent, reproducible seed per (stage, simulator) derived from the run's seed."""
    return int(np.random.SeedSequence((seed, stage, index)).generate_state(1)[0])


def _floor_summary(counts: np.ndarray, *, repeats: int, seed: int) -> dict[str, Any]:
    """Real-vs-real halves: mean JS and KLs (same splits for all three) and JS quantiles."""
    floors = {
        name: noise_floor(counts, statistic=statistic, repeats=repeats, seed=seed)
        for name, statistic in (
            ("js", js_divergence),
            ("kl_forward", kl_forward),
            ("kl_backward", kl_backward),
        )
    }
    return {
        "js": floors["js"].mean,
        "js_quantiles": floors["js"].quantiles(FLOOR_QUANTILES),
        "kl_forward": floors["kl_forward"].mean,
        "kl_backward": floors["kl_backward"].mean,
        "repeats": repeats,
    }


def _null_summary(null: np.ndarray) -> dict[str, float]:
    """The permutation null at the actual sizes: what JS looks like with no gap at all."""
    return {"mean": float(np.mean(null)), "q95": float(np.quantile(null, 0.95))}


def _ordered_sources(sources: np.ndarray, reference: str) -> list[str]:
    present = set(sources.tolist())
    if reference not in present:
        raise EmptySourceError(f"the reference source '{reference}' has no conversations")
    simulators = sorted(present - {reference})
    if not simulators:
        raise EmptySourceError(f"no simulated source to compare with '{reference}'")
    return [reference, *simulators]


def _paper_comparison(
    pair: Quantization, index: int, settings: MeasureSettings, timer: _Timer
) -> dict[str, Any]:
    """The paper's numbers for one (real, simulator) quantization, with uncertainty."""
    real_counts, sim_counts = pair.histograms
    seed = settings.seed
    with timer.stage("bootstrap"):
        interval = bootstrap_ci(
            real_counts,
            sim_counts,
            n_boot=settings.bootstrap,
            level=settings.ci_level,
            method=CI_METHOD,
            seed=_stage_seed(seed, _PAPER_CI, index),
        )
    with timer.stage("floor"):
        floor = _floor_summary(
            real_counts,
            repeats=settings.floor_repeats,
            seed=_stage_seed(seed, _PAIR_FLOOR, index),
        )
    with timer.stage("permutation"):
        test = permutation_test(
            real_counts,
            sim_counts,
            permutations=settings.permutations,
            seed=_stage_seed(seed, _PAPER_TEST, index),
        )
    return {
        **divergences(real_counts, sim_counts),
        "k": pair.k,
        "n_components": pair.n_components,
        "explained_variance": pair.explained_variance,
        "js_ci": [interval.low, interval.high],
        "js_bias": interval.bias,
        "noise_floor": floor,
        "null_js": _null_summary(test.null),
        "p_value": test.p_value,
    }


def _map_comparison(
    real_counts: np.ndarray,
    sim_counts: np.ndarray,
    index: int,
    settings: MeasureSettings,
    timer: _Timer,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Divergences on the shared map, and the per-cluster table (shares, tests, categories)."""
    seed = settings.seed
    with timer.stage("bootstrap"):
        interval = bootstrap_ci(
            real_counts,
            sim_counts,
            n_boot=settings.bootstrap,
            level=settings.ci_level,
            method=CI_METHOD,
            seed=_stage_seed(seed, _MAP_CI, index),
        )
        diff_low, diff_high = bootstrap_share_differences(
            real_counts,
            sim_counts,
            n_boot=settings.bootstrap,
            level=settings.ci_level,
            seed=_stage_seed(seed, _SHARE_CI, index),
        )
    with timer.stage("permutation"):
        test = permutation_test(
            real_counts,
            sim_counts,
            permutations=settings.permutations,
            seed=_stage_seed(seed, _MAP_TEST, index),
        )
    with timer.stage("interpret"):
        clusters = compare_clusters(real_counts, sim_counts, thresholds=settings.thresholds)
        after_diff = clusters.columns.get_loc("diff") + 1
        clusters.insert(after_diff, "diff_low", diff_low)
        clusters.insert(after_diff + 1, "diff_high", diff_high)
    metrics = {
        **divergences(real_counts, sim_counts),
        "n_bins": len(real_counts),
        "js_ci": [interval.low, interval.high],
        "js_bias": interval.bias,
        "p_value": test.p_value,
        "null_js": _null_summary(test.null),
    }
    return metrics, clusters


def measure(
    embeddings: np.ndarray,
    sources: Sequence[str],
    map_labels: np.ndarray,
    *,
    reference: str = "real",
    representation_texts: Sequence[str] | None = None,
    user_texts: Sequence[str] | None = None,
    map_coords: np.ndarray | None = None,
    k: int | None = None,
    explained_variance: float = 0.9,
    n_init: int = 5,
    max_iter: int = 500,
    bootstrap: int = 200,
    ci_level: float = 0.95,
    floor_repeats: int = 50,
    permutations: int = 1000,
    classifier_folds: int = 5,
    classifier_max_per_class: int | None = 10_000,
    neighbours: int = 15,
    top_terms: int = 10,
    seed: int = 42,
    thresholds: CategoryThresholds | None = None,
    quantizer: Callable[..., Quantization] = quantize,
    classifier: Callable[..., Any] = classifier_test,
) -> Measurement:
    """Compare every simulator with the reference on the paper quantization and on the map.

    One row per conversation in `embeddings` (L2-normalized), `sources` and `map_labels`
    (HDBSCAN labels 0 .. n-1, -1 = noise); the optional texts and `map_coords` are aligned
    with the rows too. Misalignment neighbours are found in `map_coords` (e.g. the 5-d UMAP
    projection, euclidean) when given, else among the embeddings (cosine, slower at scale).
    `k` defaults to round(n_reference / 10). The classifier test uses at most
    `classifier_max_per_class` conversations per side (None: all): beyond 10,000 its accuracy
    moves by sampling noise only (standard error under 0.4 points) while its cost keeps growing.

    `metrics` holds: reference, sources, n (per source); simulators[NAME] with paper {js,
    kl_forward, kl_backward, k, n_components, explained_variance, js_ci, js_bias, noise_floor,
    null_js, p_value}, map {js, kl_forward, kl_backward, n_bins, js_ci, js_bias, p_value,
    null_js}, classifier {accuracy, auc, accuracy_std, auc_std, n_per_class, folds}, p_value
    (= paper.p_value: the permutation test of the paper JS), clusters (category counts on the
    map); leaderboard (simulators by paper JS); noise_floor {paper, map}; pairwise {sources,
    js, quantization, k}; mixture {weights, js, best_single_js, best_single, gain,
    duality_gap, quantization}; settings (`MeasureSettings.to_dict`).

    `quantizer` and `classifier` stand in for `quantize` and `classifier_test` (same
    signatures): the run directory passes memoized versions, because neither depends on the
    map's clusters and both are the expensive part of a rerun with new clustering parameters.
    """
    settings = MeasureSettings(
        k=k,
        explained_variance=explained_variance,
        n_init=n_init,
        max_iter=max_iter,
        bootstrap=bootstrap,
        ci_level=ci_level,
        floor_repeats=floor_repeats,
        permutations=permutations,
        classifier_folds=classifier_folds,
        classifier_max_per_class=classifier_max_per_class,
        neighbours=neighbours,
        top_terms=top_terms,
        seed=seed,
        thresholds=thresholds or CategoryThresholds(),
    )
    embeddings = np.asarray(embeddings)
    sources = np.asarray(sources, dtype=object).astype(str)
    map_labels = np.asarray(map_labels, dtype=np.int64)
    for name, column in (
        ("sources", sources),
        ("map_labels", map_labels),
        ("representation_texts", representation_texts),
        ("user_texts", user_texts),
        ("map_coords", map_coords),
    ):
        if column is not None and len(column) != len(embeddings):
            raise ValueError(f"{name} has {len(column)} rows, embeddings have {len(embeddings)}")

    names = _ordered_sources(sources, reference)
    simulators = names[1:]
    code_of = {name: i for i, name in enumerate(names)}
    codes = np.array([code_of[s] for s in sources], dtype=np.int64)
    n_clusters = int(map_labels.max()) + 1
    map_hist = histograms_from_labels(map_labels, codes, n_clusters, n_groups=len(names))
    timer = _Timer()

    sim_metrics: dict[str, Any] = {}
    histogram_frames, misalignment_pairs, pair_quantizations = [], [], []
    cluster_columns: dict[str, Any] = {
        "cluster": bin_labels(n_clusters),
        "n": map_hist.sum(axis=0),
        **{f"share_{name}": map_hist[i] / map_hist[i].sum() for i, name in enumerate(names)},
    }
    for i, sim in enumerate(simulators, start=1):
        rows = np.flatnonzero((codes == 0) | (codes == i))
        is_sim = codes[rows] == i
        with timer.stage("quantize"):
            pair = quantizer(
                embeddings[rows], is_sim.astype(np.int64), n_groups=2, **settings.quantize_kwargs()
            )
        pair_quantizations.append(pair)
        histogram_frames.append(
            pd.DataFrame(
                {
                    "simulator": sim,
                    "cluster": np.arange(pair.k),
                    "real_count": pair.histograms[0],
                    "sim_count": pair.histograms[1],
                }
            )
        )
        paper = _paper_comparison(pair, i, settings, timer)
        shared_map, clusters = _map_comparison(map_hist[0], map_hist[i], i, settings, timer)
        # Shares are already there, once per source (share_<source>).
        per_cluster = clusters.drop(columns=["real_share", "sim_share"])
        cluster_columns.update(
            {f"{column}_{sim}": per_cluster[column].to_numpy() for column in per_cluster.columns}
        )
        with timer.stage("classifier"):
            probe = classifier(
                embeddings[codes == 0],
                embeddings[codes == i],
                folds=settings.classifier_folds,
                seed=seed,
                max_per_class=settings.classifier_max_per_class,
            )
        with timer.stage("interpret"):
            points = embeddings if map_coords is None else np.asarray(map_coords)
            scores = misalignment_scores(
                points[rows],
                is_sim,
                neighbours=min(settings.neighbours, len(rows) - 1),
                metric="cosine" if map_coords is None else "euclidean",
            )
            misalignment_pairs.append((sim, rows, scores))
        sim_metrics[sim] = {
            "n": int(np.sum(codes == i)),
            "paper": paper,
            "map": shared_map,
            "classifier": probe.to_dict(),
            "p_value": paper["p_value"],
            "clusters": {c: int(np.sum(clusters["category"] == c)) for c in CATEGORIES},
        }

    with timer.stage("quantize"):
        shared = (
            pair_quantizations[0]
            if len(simulators) == 1
            else quantizer(embeddings, codes, n_groups=len(names), **settings.quantize_kwargs())
        )
    with timer.stage("floor"):
        floors = {
            "paper": _floor_summary(
                shared.histograms[0], repeats=settings.floor_repeats, seed=_stage_seed(seed, _FLOOR)
            ),
            "map": _floor_summary(
                map_hist[0], repeats=settings.floor_repeats, seed=_stage_seed(seed, _MAP_FLOOR)
            ),
        }
    with timer.stage("mixture"):
        pairwise = [
            [float(js_divergence(a, b)) for b in shared.histograms] for a in shared.histograms
        ]
        mixture = best_mixture(shared.histograms[0], shared.histograms[1:])
    with timer.stage("interpret"):
        for column, texts in (
            ("terms_representation", representation_texts),
            ("terms_user", user_texts),
        ):
            if texts is not None:
                terms = class_tfidf(texts, map_labels, top_n=settings.top_terms)
                cluster_columns[column] = [
                    ", ".join(term for term, _ in terms.get(label, []))
                    for label in bin_labels(n_clusters)
                ]

    shared_description = (
        "paper quantization of real + the only simulator"
        if len(simulators) == 1
        else "paper-style quantization of all sources pooled"
    )
    metrics = {
        "reference": reference,
        "sources": names,
        "n": {name: int(count) for name, count in zip(names, np.bincount(codes), strict=True)},
        "simulators": sim_metrics,
        "leaderboard": sorted(simulators, key=lambda s: sim_metrics[s]["paper"]["js"]),
        "noise_floor": floors,
        "pairwise": {
            "sources": names,
            "js": pairwise,
            "quantization": shared_description,
            "k": shared.k,
        },
        "mixture": {
            "weights": {sim: float(w) for sim, w in zip(simulators, mixture.weights, strict=True)},
            "js": mixture.js,
            "best_single_js": mixture.best_single_js,
            "best_single": simulators[mixture.best_single],
            "gain": mixture.gain,
            "duality_gap": mixture.duality_gap,
            "quantization": shared_description,
        },
        "settings": {
            **settings.to_dict(),
            "neighbour_space": "embeddings (cosine)" if map_coords is None else "map (euclidean)",
        },
    }
    return Measurement(
        metrics=metrics,
        paper_histograms=pd.concat(histogram_frames, ignore_index=True),
        clusters_summary=pd.DataFrame(cluster_columns),
        misalignment=_misalignment_table(misalignment_pairs, codes),
        timings=timer.seconds,
    )


def _misalignment_table(
    pairs: list[tuple[str, np.ndarray, pd.DataFrame]], codes: np.ndarray
) -> pd.DataFrame:
    """One row per conversation from the per-pair scores (see `interpret.misalignment_scores`).

    A simulated conversation belongs to one pair; a real one to all of them, and its overall
    numbers are the means over the pairs. `rank` orders each side by overall misalignment;
    `misalignment_<sim>` / `rank_<sim>` are the pair's own (missing outside the pair).
    """
    n_rows = len(codes)
    averaged = ("sim_fraction", "expected", "score", "misalignment")
    totals = {column: np.zeros(n_rows) for column in averaged}
    pairs_per_row = np.zeros(n_rows)
    per_pair: dict[str, Any] = {}
    for sim, rows, scores in pairs:
        for column in averaged:
            totals[column][rows] += scores[column].to_numpy()
        pairs_per_row[rows] += 1
        misalignment = np.full(n_rows, np.nan)
        misalignment[rows] = scores["misalignment"].to_numpy()
        rank = pd.array(np.zeros(n_rows, dtype=np.int64), dtype="Int64")
        rank[:] = pd.NA
        rank[rows] = scores["rank"].to_numpy()
        per_pair[f"misalignment_{sim}"] = misalignment
        per_pair[f"rank_{sim}"] = rank
    table = pd.DataFrame(
        {
            "side": np.where(codes == 0, "real", "simulated"),
            **{column: totals[column] / pairs_per_row for column in averaged},
        }
    )
    table["rank"] = (
        table.groupby("side")["misalignment"].rank(ascending=False, method="first").astype(int)
    )
    return table.assign(**per_pair)

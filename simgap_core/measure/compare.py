"""The measurement stage: every number the run directory stores, from plain arrays.

`measure` takes one row per conversation (its embedding, its source, its cluster on the shared
HDBSCAN map) and returns a `Measurement`:

- `metrics`: JSON-able dict, the `metrics.json` schema version 2 (see `measure`);
- `paper_histograms`: simulator, cluster, real_count, sim_count on each (real, simulator)
  paper quantization;
- `clusters_summary`: one row per map cluster: cluster (-1 = noise), n (all sources),
  share_<source> for every source (of its own total), then per simulator diff_<sim>
  (real share - simulator share), diff_low_<sim> / diff_high_<sim> (bootstrap interval),
  log_ratio_<sim>, p_value_<sim> (exact permutation), q_value_<sim> (Benjamini-Hochberg),
  category_<sim> (captured / missed / hallucinated), and the c-TF-IDF terms
  terms_representation / terms_user when those texts are given;
- `misalignment`: one row per conversation, in input order: its neighbourhood score (for a
  real conversation, the mean over the simulator pairs), its no-gap spread `null_sd` and `z`,
  and rank within its side, plus the score and rank in each (real, simulator) pair.

Fairness across sample sizes: the plug-in JS grows with the number of bins and shrinks with
the sizes, so by default every (real, simulator) pair is quantized with one common k (MAUVE's
round(n / 10) applied to the smallest source) and simulators are ranked by the bias-corrected
JS (`js`); the plug-in (`js_plugin`) is kept as the paper's number.

Which quantization each number uses:

- `simulators[NAME]["paper"]`: the paper's quantization of real + that simulator only (pooled,
  PCA, k-means), as the paper compares each simulator;
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
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from simgap_core.errors import EmptySourceError
from simgap_core.measure.classifier import ProbeNotPossible, classifier_test
from simgap_core.measure.divergence import divergences, js_divergence, kl_backward, kl_forward
from simgap_core.measure.interpret import (
    CategoryThresholds,
    class_tfidf,
    compare_clusters,
    misalignment_rank,
    misalignment_scores,
)
from simgap_core.measure.mixture import best_mixture
from simgap_core.measure.quantize import (
    Quantization,
    bin_labels,
    common_k,
    default_k,
    histograms_from_labels,
    quantize,
)
from simgap_core.measure.uncertainty import (
    bootstrap_ci,
    bootstrap_share_differences,
    corrected_js,
    noise_floor,
    permutation_test,
)
from simgap_core.measure.verdicts import (
    adjusted_p_values,
    held_out_mixture,
    joint_bootstrap,
    kendall_tau,
)

SCHEMA_VERSION = 2
STAGES = (
    "quantize",
    "bootstrap",
    "floor",
    "permutation",
    "classifier",
    "mixture",
    "robustness",
    "interpret",
)
FLOOR_QUANTILES = (0.05, 0.5, 0.95)
CATEGORIES = ("captured", "missed", "hallucinated")
K_RULES = ("common", "pair")
# Below these, a (real, simulator) JS is marked unreliable (the calibration bench measures why).
MIN_CONVERSATIONS_PER_BIN = 5
MAX_SIZE_RATIO = 2.0
# Stage numbers for `_stage_seed`: every random draw has its own stream.
(
    _PAPER_CI,
    _MAP_CI,
    _SHARE_CI,
    _MATCHED,
    _PAPER_TEST,
    _MAP_TEST,
    _FLOOR,
    _MAP_FLOOR,
    _MIXTURE,
    _VARIANT_CI,
    _MISALIGNMENT,
) = range(11)


@dataclass(frozen=True)
class MeasureSettings:
    """Every parameter of `measure`; recorded in metrics["settings"]."""

    k: int | None = None
    k_rule: str = "common"
    explained_variance: float = 0.9
    n_init: int = 5
    max_iter: int = 500
    bootstrap: int = 200
    ci_level: float = 0.95
    alpha: float = 0.05
    floor_repeats: int = 50
    permutations: int = 1000
    classifier_folds: int = 5
    classifier_max_per_class: int | None = 10_000
    classifier_permutations: int = 50
    seeds: int = 5
    match_n: bool = False
    match_repeats: int = 10
    mixture_splits: int = 20
    neighbours: int = 15
    misalignment_null_repeats: int = 20
    top_terms: int = 10
    seed: int = 42
    thresholds: CategoryThresholds = field(default_factory=CategoryThresholds)

    def quantize_kwargs(self, k: int, seed: int | None = None) -> dict[str, Any]:
        return {
            "k": k,
            "explained_variance": self.explained_variance,
            "n_init": self.n_init,
            "max_iter": self.max_iter,
            "seed": self.seed if seed is None else seed,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "k_rule": "explicit" if self.k is not None else self.k_rule,
            "ci_method": "basic bootstrap around the bias-corrected JS, clipped to [0, ln 2]",
            "floor_quantiles": list(FLOOR_QUANTILES),
            "classifier": "L2 logistic regression (C=1), classes balanced by subsampling, "
            "grouped folds",
            "map_noise": "label -1 is counted as a bin of its own",
            "reliability": f"n/k >= {MIN_CONVERSATIONS_PER_BIN} on both sides and sizes within "
            f"{MAX_SIZE_RATIO:g}x",
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


def _floor_summary(counts: np.ndarray, *, repeats: int, seed: int) -> dict[str, Any] | None:
    """Real-vs-real halves: mean JS and KLs (same splits for all three) and JS quantiles."""
    if counts.sum() < 4:
        return None
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
        "n_per_half": int(counts.sum() // 2),
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


def _pair_k(settings: MeasureSettings, sizes: dict[str, int], reference: str, sim: str) -> int:
    """The k of one (real, simulator) pair under the settings' rule (explicit k wins)."""
    if settings.k is not None:
        return settings.k
    if settings.k_rule == "pair":
        return default_k(min(sizes[reference], sizes[sim]))
    return common_k(list(sizes.values()))


def reliability_notes(n_real: int, n_sim: int, k: int) -> list[str]:
    """Why a (real, simulator) JS at these sizes and k is not to be trusted ([] = reliable).

    Below 5 conversations per bin the bootstrap interval undercovers, and with sizes more than
    2x apart the corrected JS of the smaller side carries most of the uncertainty.
    """
    notes = []
    for side, n in (("real", n_real), ("simulator", n_sim)):
        if n / k < MIN_CONVERSATIONS_PER_BIN:
            notes.append(
                f"fewer than {MIN_CONVERSATIONS_PER_BIN} conversations per bin on the {side} "
                f"side ({n} for k = {k})"
            )
    if max(n_real, n_sim) > MAX_SIZE_RATIO * min(n_real, n_sim):
        notes.append(f"sizes differ by more than {MAX_SIZE_RATIO:g}x ({n_sim} vs {n_real})")
    return notes


def probe_groups(
    n_rows: int, texts: Sequence[str] | None, pair_ids: Sequence[str | None] | None
) -> np.ndarray | None:
    """A group id per row: rows with identical text or the same pair_id share a group.

    Connected components of the graph linking each row to its text and its pair id, so a
    chain (same text as a row whose partner is ...) ends up in one group.
    """
    if texts is None and pair_ids is None:
        return None
    keys: dict[str, int] = {}
    rows, columns = [], []
    for column, prefix in ((texts, "text:"), (pair_ids, "pair:")):
        if column is None:
            continue
        for row, value in enumerate(column):
            if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
                continue
            node = keys.setdefault(prefix + str(value), n_rows + len(keys))
            rows.append(row)
            columns.append(node)
    size = n_rows + len(keys)
    graph = coo_matrix((np.ones(len(rows)), (rows, columns)), shape=(size, size))
    _, component = connected_components(graph, directed=False)
    return component[:n_rows]


def _skip(skipped: list[dict[str, str]], simulator: str, statistic: str, reason: str) -> None:
    skipped.append({"simulator": simulator, "statistic": statistic, "reason": reason})


def _map_comparison(
    real_counts: np.ndarray,
    sim_counts: np.ndarray,
    index: int,
    settings: MeasureSettings,
    timer: _Timer,
    resample: bool,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Divergences on the shared map, and the per-cluster table (shares, tests, categories)."""
    seed = settings.seed
    metrics: dict[str, Any] = {"n_bins": len(real_counts), **divergences(real_counts, sim_counts)}
    metrics["js_plugin"] = metrics.pop("js")
    metrics.update({"js": metrics["js_plugin"], "js_ci": None, "js_bias": None})
    metrics.update({"p_value": None, "null_js": None})
    diff_low = diff_high = np.full(len(real_counts), np.nan)
    if resample:
        with timer.stage("bootstrap"):
            corrected = corrected_js(
                real_counts,
                sim_counts,
                n_boot=settings.bootstrap,
                level=settings.ci_level,
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
        metrics.update(
            js=corrected.js,
            js_ci=[corrected.low, corrected.high],
            js_bias=corrected.bias,
            p_value=test.p_value,
            null_js=_null_summary(test.null),
        )
    with timer.stage("interpret"):
        clusters = compare_clusters(real_counts, sim_counts, thresholds=settings.thresholds)
        after_diff = clusters.columns.get_loc("diff") + 1
        clusters.insert(after_diff, "diff_low", diff_low)
        clusters.insert(after_diff + 1, "diff_high", diff_high)
    return metrics, clusters


def _matched(
    real_labels: np.ndarray,
    sim_labels: np.ndarray,
    k: int,
    n: int,
    index: int,
    settings: MeasureSettings,
) -> dict[str, Any]:
    """Both sides subsampled to `n` conversations on the pair's bins, `match_repeats` times.

    `js` and the interval bounds are averages over the repeats of the corrected JS and its
    basic interval: every simulator is then judged at the same size, on its own bins.
    """
    rng = np.random.default_rng(_stage_seed(settings.seed, _MATCHED, index))
    values, lows, highs = [], [], []
    for _ in range(settings.match_repeats):
        real = np.bincount(rng.choice(real_labels, n, replace=False), minlength=k)
        sim = np.bincount(rng.choice(sim_labels, n, replace=False), minlength=k)
        corrected = corrected_js(
            real,
            sim,
            n_boot=settings.bootstrap,
            level=settings.ci_level,
            seed=int(rng.integers(2**31)),
        )
        values.append(corrected.js)
        lows.append(corrected.low)
        highs.append(corrected.high)
    js = float(np.mean(values))
    return {
        "n": n,
        "repeats": settings.match_repeats,
        "js": js,
        "js_ci": [min(float(np.mean(lows)), js), max(float(np.mean(highs)), js)],
    }


def measure(
    embeddings: np.ndarray,
    sources: Sequence[str],
    map_labels: np.ndarray,
    *,
    reference: str = "real",
    representation_texts: Sequence[str] | None = None,
    user_texts: Sequence[str] | None = None,
    map_coords: np.ndarray | None = None,
    pair_ids: Sequence[str | None] | None = None,
    conversation_ids: Sequence[str] | None = None,
    k: int | None = None,
    k_rule: str = "common",
    explained_variance: float = 0.9,
    n_init: int = 5,
    max_iter: int = 500,
    bootstrap: int = 200,
    ci_level: float = 0.95,
    alpha: float = 0.05,
    floor_repeats: int = 50,
    permutations: int = 1000,
    classifier_folds: int = 5,
    classifier_max_per_class: int | None = 10_000,
    classifier_permutations: int = 50,
    seeds: int = 5,
    match_n: bool = False,
    match_repeats: int = 10,
    mixture_splits: int = 20,
    neighbours: int = 15,
    misalignment_null_repeats: int = 20,
    top_terms: int = 10,
    seed: int = 42,
    thresholds: CategoryThresholds | None = None,
    quantizer: Callable[..., Quantization] = quantize,
    classifier: Callable[..., Any] = classifier_test,
) -> Measurement:
    """Compare every simulator with the reference: paper quantization, map, probe, verdicts.

    One row per conversation in `embeddings` (L2-normalized), `sources` and `map_labels`
    (HDBSCAN labels 0 .. n-1, -1 = noise); the optional texts, `map_coords`, `pair_ids` and
    `conversation_ids` are aligned with the rows too. Misalignment neighbours are found in
    `map_coords` (e.g. the 5-d UMAP projection, euclidean) when given, else among the
    embeddings (cosine). `k_rule="common"` (default) quantizes every pair with
    round(min(n over all sources) / 10) bins, `"pair"` with round(min(n_real, n_sim) / 10);
    an explicit `k` overrides both. `seeds` quantizations per pair (plus k/2 and 2k) measure
    the ranking's stability. `match_n` adds JS at the smallest source's size. Identical
    representation texts and shared `pair_ids` are kept in one fold of the probe.

    `metrics` is the schema-version-2 dict (see the module docstring and the README): per
    simulator `paper` (js = bias-corrected, js_ci, js_plugin, null_js, p_value,
    p_value_adjusted, seed_spread, matched), `map`, `classifier`, `clusters`, `tied_with`,
    `reliable`; and `leaderboard`, `ties`, `noise_floor` (descriptive), `pairwise`,
    `mixture`, `robustness`, `skipped`, `settings`.

    `quantizer` and `classifier` stand in for `quantize` and `classifier_test` (same
    signatures): the run directory passes memoized versions, because neither depends on the
    map's clusters and both are the expensive part of a rerun with new clustering parameters.
    """
    if k_rule not in K_RULES:
        raise ValueError(f"k_rule must be one of {K_RULES}, got {k_rule!r}")
    settings = MeasureSettings(
        k=k,
        k_rule=k_rule,
        explained_variance=explained_variance,
        n_init=n_init,
        max_iter=max_iter,
        bootstrap=bootstrap,
        ci_level=ci_level,
        alpha=alpha,
        floor_repeats=floor_repeats,
        permutations=permutations,
        classifier_folds=classifier_folds,
        classifier_max_per_class=classifier_max_per_class,
        classifier_permutations=classifier_permutations,
        seeds=seeds,
        match_n=match_n,
        match_repeats=match_repeats,
        mixture_splits=mixture_splits,
        neighbours=neighbours,
        misalignment_null_repeats=misalignment_null_repeats,
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
        ("pair_ids", pair_ids),
        ("conversation_ids", conversation_ids),
    ):
        if column is not None and len(column) != len(embeddings):
            raise ValueError(f"{name} has {len(column)} rows, embeddings have {len(embeddings)}")

    names = _ordered_sources(sources, reference)
    simulators = names[1:]
    code_of = {name: i for i, name in enumerate(names)}
    codes = np.array([code_of[s] for s in sources], dtype=np.int64)
    sizes = {name: int(count) for name, count in zip(names, np.bincount(codes), strict=True)}
    ids = (
        np.arange(len(codes)).astype(str)
        if conversation_ids is None
        else np.asarray(conversation_ids, dtype=str)
    )
    groups = probe_groups(len(codes), representation_texts, pair_ids)
    n_clusters = int(map_labels.max()) + 1
    map_hist = histograms_from_labels(map_labels, codes, n_clusters, n_groups=len(names))
    timer = _Timer()
    skipped: list[dict[str, str]] = []
    n_real = sizes[reference]

    sim_metrics: dict[str, Any] = {}
    histogram_frames, misalignment_pairs = [], []
    pairs: dict[str, Quantization] = {}
    pair_rows: dict[str, np.ndarray] = {}
    cluster_columns: dict[str, Any] = {
        "cluster": bin_labels(n_clusters),
        "n": map_hist.sum(axis=0),
        **{f"share_{name}": map_hist[i] / map_hist[i].sum() for i, name in enumerate(names)},
    }
    for i, sim in enumerate(simulators, start=1):
        rows = np.flatnonzero((codes == 0) | (codes == i))
        is_sim = codes[rows] == i
        n_sim = sizes[sim]
        k_pair = min(_pair_k(settings, sizes, reference, sim), len(rows))
        with timer.stage("quantize"):
            pair = quantizer(
                embeddings[rows],
                is_sim.astype(np.int64),
                n_groups=2,
                **settings.quantize_kwargs(k_pair),
            )
        pairs[sim], pair_rows[sim] = pair, rows
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
        resample = min(n_real, n_sim) >= 2
        if not resample:
            for statistic in ("bootstrap", "permutation test"):
                _skip(
                    skipped,
                    sim,
                    statistic,
                    f"needs at least 2 conversations per side, has {min(n_real, n_sim)}",
                )
        real_counts, sim_counts = pair.histograms
        plugin = divergences(real_counts, sim_counts)
        paper: dict[str, Any] = {
            "k": pair.k,
            "n_components": pair.n_components,
            "explained_variance": pair.explained_variance,
            "js": plugin["js"],
            "js_ci": None,
            "js_plugin": plugin["js"],
            "js_bias": None,
            "kl_forward": plugin["kl_forward"],
            "kl_forward_ci": None,
            "kl_backward": plugin["kl_backward"],
            "kl_backward_ci": None,
            "null_js": None,
            "p_value": None,
            "p_value_adjusted": None,
            "seed_spread": None,
            "matched": None,
        }
        if resample:
            with timer.stage("bootstrap"):
                for direction, statistic in (
                    ("kl_forward", kl_forward),
                    ("kl_backward", kl_backward),
                ):
                    interval = bootstrap_ci(
                        real_counts,
                        sim_counts,
                        statistic=statistic,
                        n_boot=settings.bootstrap,
                        level=settings.ci_level,
                        seed=_stage_seed(seed, _PAPER_CI, i),
                    )
                    paper[f"{direction}_ci"] = [interval.low, interval.high]
            with timer.stage("permutation"):
                test = permutation_test(
                    real_counts,
                    sim_counts,
                    permutations=settings.permutations,
                    seed=_stage_seed(seed, _PAPER_TEST, i),
                )
            paper.update(null_js=_null_summary(test.null), p_value=test.p_value)
        if match_n:
            n_match = min(sizes.values())
            if n_match >= 2:
                paper["matched"] = _matched(
                    pair.labels[~is_sim], pair.labels[is_sim], pair.k, n_match, i, settings
                )
            else:
                _skip(skipped, sim, "matched", f"the smallest source has {n_match} conversation")
        shared_map, clusters = _map_comparison(
            map_hist[0], map_hist[i], i, settings, timer, resample
        )
        # Shares are already there, once per source (share_<source>).
        per_cluster = clusters.drop(columns=["real_share", "sim_share"])
        cluster_columns.update(
            {f"{column}_{sim}": per_cluster[column].to_numpy() for column in per_cluster.columns}
        )
        probe = None
        with timer.stage("classifier"):
            try:
                probe = classifier(
                    embeddings[codes == 0],
                    embeddings[codes == i],
                    folds=settings.classifier_folds,
                    seed=seed,
                    max_per_class=settings.classifier_max_per_class,
                    real_groups=None if groups is None else groups[codes == 0],
                    sim_groups=None if groups is None else groups[codes == i],
                    bootstrap=settings.bootstrap,
                    permutations=settings.classifier_permutations,
                    level=settings.ci_level,
                ).to_dict()
            except ProbeNotPossible as reason:
                _skip(skipped, sim, "classifier", str(reason))
        with timer.stage("interpret"):
            points = embeddings if map_coords is None else np.asarray(map_coords)
            scores = misalignment_scores(
                points[rows],
                is_sim,
                neighbours=min(settings.neighbours, len(rows) - 1),
                metric="cosine" if map_coords is None else "euclidean",
                ids=ids[rows],
                null_repeats=settings.misalignment_null_repeats,
                seed=_stage_seed(seed, _MISALIGNMENT, i),
            )
            misalignment_pairs.append((sim, rows, scores))
        notes = reliability_notes(n_real, n_sim, pair.k)
        sim_metrics[sim] = {
            "n": n_sim,
            "reliable": not notes,
            "reliability_notes": notes,
            "paper": paper,
            "map": shared_map,
            "classifier": probe,
            "clusters": {c: int(np.sum(clusters["category"] == c)) for c in CATEGORIES},
            "tied_with": [],
        }

    ties = _verdicts(sim_metrics, pairs, pair_rows, codes, settings, timer, skipped)
    robustness = _robustness(
        embeddings, codes, names, sizes, sim_metrics, pairs, settings, timer, quantizer
    )

    k_shared = settings.k if settings.k is not None else common_k(list(sizes.values()))
    with timer.stage("quantize"):
        shared = (
            pairs[simulators[0]]
            if len(simulators) == 1
            else quantizer(
                embeddings,
                codes,
                n_groups=len(names),
                **settings.quantize_kwargs(min(k_shared, len(codes))),
            )
        )
    with timer.stage("floor"):
        floors = {
            "descriptive": True,
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
        mixture = _mixture(shared, codes, names, settings, skipped)
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
    if mixture is not None:
        mixture["quantization"] = shared_description
    ranking = _ranking(sim_metrics, "paper")
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "reference": reference,
        "sources": names,
        "n": sizes,
        "settings": {
            **settings.to_dict(),
            "k": k_shared if settings.k_rule == "common" or settings.k is not None else None,
            "neighbour_space": "embeddings (cosine)" if map_coords is None else "map (euclidean)",
            "thresholds": {**asdict(settings.thresholds), "alpha": settings.alpha}
            if "alpha" not in asdict(settings.thresholds)
            else asdict(settings.thresholds),
        },
        "simulators": sim_metrics,
        "leaderboard": [
            {
                "simulator": sim,
                "js": sim_metrics[sim]["paper"]["js"],
                "js_ci": sim_metrics[sim]["paper"]["js_ci"],
                "tied_with": sim_metrics[sim]["tied_with"],
                "reliable": sim_metrics[sim]["reliable"],
            }
            for sim in ranking
        ],
        "ties": [tie.to_dict() for tie in ties],
        "noise_floor": floors,
        "pairwise": {
            "sources": names,
            "js": pairwise,
            "quantization": shared_description,
            "k": shared.k,
        },
        "mixture": mixture,
        "robustness": robustness,
        "skipped": skipped,
    }
    return Measurement(
        metrics=metrics,
        paper_histograms=pd.concat(histogram_frames, ignore_index=True),
        clusters_summary=pd.DataFrame(cluster_columns),
        misalignment=_misalignment_table(misalignment_pairs, codes, ids),
        timings=timer.seconds,
    )


def _ranking(sim_metrics: dict[str, Any], quantization: str) -> list[str]:
    """Simulators closest first by corrected JS (name breaks exact ties)."""
    return sorted(sim_metrics, key=lambda s: (sim_metrics[s][quantization]["js"], s))


def _verdicts(
    sim_metrics: dict[str, Any],
    pairs: dict[str, Quantization],
    pair_rows: dict[str, np.ndarray],
    codes: np.ndarray,
    settings: MeasureSettings,
    timer: _Timer,
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
                seed=_stage_seed(settings.seed, _PAPER_CI),
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
            _skip(skipped, sim, "ties", "no bootstrap interval for this simulator")
    return ties


def _mixture(
    shared: Quantization,
    codes: np.ndarray,
    names: list[str],
    settings: MeasureSettings,
    skipped: list[dict[str, str]],
) -> dict[str, Any] | None:
    """Best mixture in sample (descriptive) and its gain held out (the verdict)."""
    simulators = names[1:]
    if len(simulators) < 2:
        _skip(skipped, simulators[0], "mixture", "a mixture needs at least two simulators")
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
        _skip(
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
        seed=_stage_seed(settings.seed, _MIXTURE),
    )
    result.update(
        held_out_gain=held_out.gain,
        held_out_gain_ci=list(held_out.interval),
        helps=held_out.helps,
    )
    return result


def _robustness(
    embeddings: np.ndarray,
    codes: np.ndarray,
    names: list[str],
    sizes: dict[str, int],
    sim_metrics: dict[str, Any],
    pairs: dict[str, Quantization],
    settings: MeasureSettings,
    timer: _Timer,
    quantizer: Callable[..., Quantization],
) -> dict[str, Any]:
    """Does the ranking survive other k-means seeds, k/2 and 2k? And the map's clusters?"""
    base_ranking = _ranking(sim_metrics, "paper")
    variants: list[dict[str, Any]] = []
    seed_values: dict[str, list[float]] = {s: [sim_metrics[s]["paper"]["js"]] for s in sim_metrics}
    plans = [
        (f"seed {settings.seed + j}", None, settings.seed + j) for j in range(1, settings.seeds)
    ]
    plans += [("k/2", 0.5, settings.seed), ("2k", 2.0, settings.seed)]
    with timer.stage("robustness"):
        for name, factor, variant_seed in plans:
            values: dict[str, float] = {}
            k_used = None
            for index, sim in enumerate(names[1:], start=1):
                rows = np.flatnonzero((codes == 0) | (codes == index))
                k = pairs[sim].k if factor is None else int(round(pairs[sim].k * factor))
                k = min(max(k, 2), len(rows))
                k_used = k
                variant = quantizer(
                    embeddings[rows],
                    (codes[rows] == index).astype(np.int64),
                    n_groups=2,
                    **settings.quantize_kwargs(k, variant_seed),
                )
                if min(sizes[names[0]], sizes[sim]) >= 2:
                    values[sim] = corrected_js(
                        variant.histograms[0],
                        variant.histograms[1],
                        n_boot=settings.bootstrap,
                        level=settings.ci_level,
                        seed=_stage_seed(settings.seed, _VARIANT_CI, index),
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
    taus = [
        kendall_tau(base_ranking, sorted(v["js"], key=lambda s, v=v: (v["js"][s], s)))
        for v in variants
    ]
    map_ranking = _ranking(sim_metrics, "map")
    return {
        "variants": variants,
        "min_kendall_tau": min(taus) if taus else 1.0,
        "ranking_holds": all(t == 1.0 for t in taus),
        "map_ranking": map_ranking,
        "map_agrees": map_ranking == base_ranking,
    }


def _misalignment_table(
    pairs: list[tuple[str, np.ndarray, pd.DataFrame]], codes: np.ndarray, ids: np.ndarray
) -> pd.DataFrame:
    """One row per conversation from the per-pair scores (see `interpret.misalignment_scores`).

    A simulated conversation belongs to one pair; a real one to all of them, and its overall
    numbers are the means over the pairs (`null_sd` too, so `z` = misalignment / null_sd stays
    on the same scale). `rank` orders each side by overall misalignment, then neighbour
    distance, then conversation id; `misalignment_<sim>` / `rank_<sim>` are the pair's own
    (missing outside the pair).
    """
    n_rows = len(codes)
    averaged = ("sim_fraction", "expected", "score", "misalignment", "distance", "null_sd")
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
    with np.errstate(divide="ignore", invalid="ignore"):
        table["z"] = np.where(
            table["null_sd"] > 0, table["misalignment"] / table["null_sd"], np.nan
        )
    rank = np.zeros(n_rows, dtype=np.int64)
    for side in ("real", "simulated"):
        rows = np.flatnonzero(table["side"].to_numpy() == side)
        rank[rows] = misalignment_rank(
            table["misalignment"].to_numpy()[rows], table["distance"].to_numpy()[rows], ids[rows]
        )
    table["rank"] = rank
    return table.assign(**per_pair)

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

This module assembles `metrics`; the per-pair numbers (settings, seeds, map comparison,
matched sizes, reliability, probe groups, misalignment table) live in `pairs`, and the
verdicts (corrected JS and ties, Holm, held-out mixture, robustness) in `verdicts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from simgap_core.measure.classifier import ProbeNotPossible, classifier_test
from simgap_core.measure.divergence import divergences, js_divergence, kl_backward, kl_forward
from simgap_core.measure.interpret import (
    class_tfidf,
    misalignment_scores,
)
from simgap_core.measure.pairs import (
    MAX_SIZE_RATIO,
    MIN_CONVERSATIONS_PER_BIN,
    STAGES,
    MeasureSettings,
    SeedStream,
    Timer,
    floor_summary,
    map_comparison,
    matched_js,
    misalignment_table,
    null_summary,
    probe_groups,
    reliability_notes,
    skip,
    stage_seed,
)
from simgap_core.measure.power import detectable_gap
from simgap_core.measure.quantize import (
    Quantization,
    bin_labels,
    common_k,
    quantize,
)
from simgap_core.measure.rows import MeasureRows, PairBins
from simgap_core.measure.uncertainty import (
    bootstrap_ci,
    permutation_test,
    sparse_bins_note,
)
from simgap_core.measure.verdicts import (
    adjusted_p_values,
    mixture_metrics,
    ranking_of,
    robustness_metrics,
    verdict_metrics,
)
from simgap_core.schema import SCHEMA_VERSION, Metrics
from simgap_core.vocabulary import CATEGORIES

# Re-exported: callers import these from `compare` (the module that writes metrics.json).
__all__ = [
    "MAX_SIZE_RATIO",
    "MIN_CONVERSATIONS_PER_BIN",
    "SCHEMA_VERSION",
    "STAGES",
    "MeasureSettings",
    "Measurement",
    "measure",
    "probe_groups",
    "reliability_notes",
]


@dataclass(frozen=True)
class Measurement:
    """Everything `measure` computes; `timings` holds seconds per stage (not part of metrics).

    `document` is the typed `metrics.json`: built through the schema the readers use, so the
    writer can never write a file its own reader rejects.
    """

    document: Metrics
    paper_histograms: pd.DataFrame
    clusters_summary: pd.DataFrame
    misalignment: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, Any]:
        """`document` as the JSON object `metrics.json` holds."""
        return self.document.model_dump(mode="json")


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
    quantizer: Callable[..., Quantization] = quantize,
    classifier: Callable[..., Any] = classifier_test,
    workers: int = 1,
    **settings: Any,
) -> Measurement:
    """Compare every simulator with the reference: paper quantization, map, probe, verdicts.

    One row per conversation in `embeddings` (L2-normalized), `sources` and `map_labels`
    (HDBSCAN labels 0 .. n-1, -1 = noise); the optional texts, `map_coords`, `pair_ids` and
    `conversation_ids` are aligned with the rows too. Misalignment neighbours are found in
    `map_coords` (e.g. the 5-d UMAP projection, euclidean) when given, else among the
    embeddings (cosine). Identical representation texts and shared `pair_ids` are kept in one
    fold of the probe.

    `settings` are the fields of `MeasureSettings`, by keyword: `k_rule="common"` (default)
    quantizes every pair with round(min(n over all sources) / 10) bins, `"pair"` with
    round(min(n_real, n_sim) / 10); an explicit `k` overrides both; `seeds` quantizations per
    pair (plus k/2 and 2k) measure the ranking's stability; `match_n` adds JS at the smallest
    source's size. The result's `document` is the typed `metrics.json` (module docstring).

    `quantizer` and `classifier` stand in for `quantize` and `classifier_test` (same
    signatures), e.g. memoized: neither depends on the map's clusters. `workers` processes
    measure the simulators side by side (`_measure_pairs`); the numbers do not depend on it.
    """
    try:
        parsed = MeasureSettings(**settings)
    except TypeError as error:  # an unknown keyword: name the ones that exist
        known = ", ".join(f.name for f in fields(MeasureSettings))
        raise TypeError(f"measure: {error}; its settings are {known}") from None
    rows = MeasureRows.of(
        embeddings,
        sources,
        map_labels,
        reference=reference,
        representation_texts=representation_texts,
        user_texts=user_texts,
        map_coords=map_coords,
        pair_ids=pair_ids,
        conversation_ids=conversation_ids,
    )
    # Every matrix here is small (k bins, the pair's rows, a few dozen simulators): with BLAS
    # on two threads of a busy 2-core machine, one mixture fit took 1.74 s instead of 0.08 s
    # (and 30 times the CPU, in threads spinning); the PCA of a large pool takes its threads
    # back (`quantize._fit_pca`).
    with threadpool_limits(limits=1, user_api="blas"):
        return _measure(rows, parsed, quantizer, classifier, workers)


def _measure(
    rows: MeasureRows,
    settings: MeasureSettings,
    quantizer: Callable[..., Quantization],
    classifier: Callable[..., Any],
    workers: int,
) -> Measurement:
    """`measure` on its checked rows and settings, with BLAS on one thread."""
    timer = Timer()
    skipped: list[dict[str, str]] = []
    bins = PairBins(rows, settings, quantizer, timer)
    pairs = _measure_pairs(rows, settings, timer, skipped, bins, classifier, workers)
    sim_metrics = {pair.simulator: pair.metrics for pair in pairs}
    ties, robustness = _joint_verdicts(rows, pairs, settings, timer, skipped, bins)
    shared = _shared_quantization(rows, pairs, settings, bins)
    with timer.stage("floor"):
        floors = _floors(rows, shared, settings)
    with timer.stage("mixture"):
        mixture = mixture_metrics(shared, rows.codes, rows.names, settings, skipped)
    cluster_columns = _cluster_columns(rows, pairs)
    with timer.stage("interpret"):
        cluster_columns |= _cluster_terms(rows, settings)
    document = _document(
        rows, settings, sim_metrics, ties, floors, shared, mixture, robustness, skipped
    )
    return Measurement(
        document=Metrics.model_validate(document),
        paper_histograms=pd.concat([pair.histogram for pair in pairs], ignore_index=True),
        clusters_summary=pd.DataFrame(cluster_columns),
        misalignment=misalignment_table(
            [pair.misalignment for pair in pairs], rows.codes, rows.ids
        ),
        timings=timer.seconds,
    )


@dataclass(frozen=True)
class _Pair:
    """Everything measured for one (reference, simulator) pair before the joint verdicts."""

    simulator: str
    rows: np.ndarray  # the pair's rows in `MeasureRows`
    quantization: Quantization
    metrics: dict[str, Any]  # simulators[NAME] of metrics.json; the verdicts complete it
    histogram: pd.DataFrame  # its rows of paper_histograms.csv
    cluster_columns: dict[str, np.ndarray]  # its columns of clusters_summary.csv
    misalignment: tuple[str, np.ndarray, pd.DataFrame]


def _measure_pairs(
    data: MeasureRows,
    settings: MeasureSettings,
    timer: Timer,
    skipped: list[dict[str, str]],
    bins: PairBins,
    classifier: Callable[..., Any],
    workers: int,
) -> list[_Pair]:
    """Every simulator's pair numbers (`_pair_job`), on `workers` processes when above 1.

    The quantizations and the probe's memo are read and written here, in this process (the
    one that records the run's manifest); the workers get the pair's bins and, for a probe
    not memoized yet, the plain function. Every draw is seeded per simulator (`stage_seed`),
    never per worker, and results are taken in simulator order: the numbers, the skipped list
    and the summed stage timings are those of a serial run.
    """
    indices = list(range(1, len(data.names)))
    quantizations = [bins.pair(index) for index in indices]
    memo = classifier if callable(getattr(classifier, "cached", None)) else None
    function = memo.function if memo is not None else classifier
    arguments = [_probe_arguments(data, index, settings) for index in indices]
    known = [memo.cached(*a, **kw) if memo is not None else None for a, kw in arguments]
    slim = replace(data, representation_texts=None, user_texts=None)  # the terms are made here
    jobs = [
        (slim, index, settings, quantization, probe, arguments[n], function)
        for n, (index, quantization, probe) in enumerate(
            zip(indices, quantizations, known, strict=True)
        )
    ]
    if workers > 1 and len(jobs) > 1:
        from joblib import Parallel, delayed

        done = Parallel(n_jobs=min(workers, len(jobs)))(delayed(_pair_job)(*job) for job in jobs)
    else:
        done = [_pair_job(*job) for job in jobs]
    pairs = []
    for (probe_args, probe_kwargs), (pair, seconds, pair_skipped, computed) in zip(
        arguments, done, strict=True
    ):
        if memo is not None and computed is not None:
            memo.store(computed, *probe_args, **probe_kwargs)
        for stage, value in seconds.items():
            timer.seconds[stage] += value
        skipped.extend(pair_skipped)
        pairs.append(pair)
    return pairs


def _pair_job(
    data: MeasureRows,
    index: int,
    settings: MeasureSettings,
    pair: Quantization,
    known_probe: Any,
    probe_arguments: tuple[tuple[Any, ...], dict[str, Any]],
    classifier: Callable[..., Any],
) -> tuple[_Pair, dict[str, float], list[dict[str, str]], Any]:
    """`_measure_pair` with its own timer and skipped list, and the probe it computed (None
    when `known_probe`, its memo, was given or the probe was not possible)."""
    timer, skipped = Timer(), []
    computed: list[Any] = []

    def probe() -> Any:
        if known_probe is not None:
            return known_probe
        args, kwargs = probe_arguments
        result = classifier(*args, **kwargs)
        computed.append(result)
        return result

    measured = _measure_pair(data, index, settings, timer, skipped, pair, probe)
    return measured, timer.seconds, skipped, computed[0] if computed else None


def _measure_pair(
    data: MeasureRows,
    index: int,
    settings: MeasureSettings,
    timer: Timer,
    skipped: list[dict[str, str]],
    pair: Quantization,
    probe: Callable[[], Any],
) -> _Pair:
    """The paper quantization, map comparison, probe and misalignment of simulator `index`."""
    sim = data.names[index]
    rows = np.flatnonzero((data.codes == 0) | (data.codes == index))
    is_sim = data.codes[rows] == index
    n_real, n_sim = data.sizes[data.reference], data.sizes[sim]
    resample = min(n_real, n_sim) >= 2
    if not resample:
        for statistic in ("bootstrap", "permutation test"):
            reason = f"needs at least 2 conversations per side, has {min(n_real, n_sim)}"
            skip(skipped, sim, statistic, reason)
    paper = _paper_comparison(pair, index, resample, settings, timer)
    if settings.match_n:
        n_match = min(data.sizes.values())
        if n_match >= 2:
            paper["matched"] = matched_js(
                pair.labels[~is_sim], pair.labels[is_sim], pair.k, n_match, index, settings
            )
        else:
            skip(skipped, sim, "matched", f"the smallest source has {n_match} conversation")
    shared_map, clusters = map_comparison(
        data.map_hist[0], data.map_hist[index], index, settings, timer, resample
    )
    # Shares are already there, once per source (share_<source>).
    per_cluster = clusters.drop(columns=["real_share", "sim_share"])
    with timer.stage("classifier"):
        try:
            probe_result = probe().to_dict()
        except ProbeNotPossible as reason:
            skip(skipped, sim, "classifier", str(reason))
            probe_result = None
    with timer.stage("interpret"):
        scores = _misalignment(data, rows, is_sim, index, settings)
    notes = reliability_notes(n_real, n_sim, pair.k)
    sparse = sparse_bins_note(pair.histograms[0], pair.histograms[1])
    if sparse is not None:
        notes.append(sparse)
    return _Pair(
        simulator=sim,
        rows=rows,
        quantization=pair,
        metrics={
            "n": n_sim,
            "reliable": not notes,
            "reliability_notes": notes,
            "paper": paper,
            "map": shared_map,
            "classifier": probe_result,
            "clusters": {c: int(np.sum(clusters["category"] == c)) for c in CATEGORIES},
            "tied_with": [],
        },
        histogram=pd.DataFrame(
            {
                "simulator": sim,
                "cluster": np.arange(pair.k),
                "real_count": pair.histograms[0],
                "sim_count": pair.histograms[1],
            }
        ),
        cluster_columns={
            f"{column}_{sim}": per_cluster[column].to_numpy() for column in per_cluster.columns
        },
        misalignment=(sim, rows, scores),
    )


def _misalignment(
    data: MeasureRows, rows: np.ndarray, is_sim: np.ndarray, index: int, settings: MeasureSettings
) -> pd.DataFrame:
    """Each conversation's simulated share among its neighbours, against the no-gap spread."""
    return misalignment_scores(
        data.neighbour_points[rows],
        is_sim,
        neighbours=min(settings.neighbours, len(rows) - 1),
        metric=data.neighbour_metric,
        ids=data.ids[rows],
        null_repeats=settings.misalignment_null_repeats,
        seed=stage_seed(settings.seed, SeedStream.MISALIGNMENT, index),
    )


def _paper_comparison(
    pair: Quantization, index: int, resample: bool, settings: MeasureSettings, timer: Timer
) -> dict[str, Any]:
    """The pair's plug-in numbers, KL intervals and permutation test (JS is the verdicts')."""
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
    if not resample:
        return paper
    with timer.stage("bootstrap"):
        for direction, statistic in (("kl_forward", kl_forward), ("kl_backward", kl_backward)):
            interval = bootstrap_ci(
                real_counts,
                sim_counts,
                statistic=statistic,
                n_boot=settings.bootstrap,
                level=settings.ci_level,
                seed=stage_seed(settings.seed, SeedStream.PAPER_CI, index),
            )
            # Like JS, the plug-in KL is biased upwards and the basic interval bounds the
            # bias-corrected value: that is the estimate shown beside it (clipped at 0); the
            # paper's plug-in number is kept as `<direction>_plugin`.
            corrected = max(0.0, interval.estimate - interval.bias)
            paper[f"{direction}_plugin"] = paper[direction]
            paper[direction] = corrected
            paper[f"{direction}_ci"] = [min(interval.low, corrected), max(interval.high, corrected)]
    with timer.stage("permutation"):
        test = permutation_test(
            real_counts,
            sim_counts,
            permutations=settings.permutations,
            seed=stage_seed(settings.seed, SeedStream.PAPER_TEST, index),
        )
    paper.update(null_js=null_summary(test.null), p_value=test.p_value)
    return paper


def _probe_arguments(
    data: MeasureRows, index: int, settings: MeasureSettings
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments of the grouped linear probe of reference vs simulator `index`."""
    real, sim = data.codes == 0, data.codes == index
    return (data.embeddings[real], data.embeddings[sim]), {
        "folds": settings.classifier_folds,
        "seed": settings.seed,
        "max_per_class": settings.classifier_max_per_class,
        "real_groups": None if data.groups is None else data.groups[real],
        "sim_groups": None if data.groups is None else data.groups[sim],
        "bootstrap": settings.bootstrap,
        "permutations": settings.classifier_permutations,
        "level": settings.ci_level,
    }


def _joint_verdicts(
    data: MeasureRows,
    pairs: list[_Pair],
    settings: MeasureSettings,
    timer: Timer,
    skipped: list[dict[str, str]],
    bins: PairBins,
) -> tuple[list[Any], dict[str, Any] | None]:
    """The verdicts across simulators: corrected JS, ties and Holm (completing each pair's
    metrics), then the ranking's robustness over k-means seeds and k."""
    sim_metrics = {pair.simulator: pair.metrics for pair in pairs}
    quantizations = {pair.simulator: pair.quantization for pair in pairs}
    ties = verdict_metrics(
        sim_metrics,
        quantizations,
        {pair.simulator: pair.rows for pair in pairs},
        data.codes,
        settings,
        timer,
        skipped,
    )
    robustness = robustness_metrics(
        data.names, data.sizes, sim_metrics, ties, settings, timer, bins
    )
    for evidence in ("classifier", "map"):  # the probe and the map, Holm-adjusted like the test
        found = {
            sim: entry[evidence]["p_value"]
            for sim, entry in sim_metrics.items()
            if entry[evidence] is not None and entry[evidence].get("p_value") is not None
        }
        for sim, value in adjusted_p_values(found).items():
            sim_metrics[sim][evidence]["p_value_adjusted"] = value
    with timer.stage("power"):
        for index, pair in enumerate(pairs, start=1):
            if pair.metrics["paper"]["p_value"] is not None:
                pair.metrics["paper"]["detectable"] = detectable_gap(
                    pair.quantization.histograms[0],
                    data.sizes[pair.simulator],
                    alpha=settings.alpha / len(pairs),
                    seed=stage_seed(settings.seed, SeedStream.POWER, index),
                ).to_dict()
    return ties, robustness


def _floors(data: MeasureRows, shared: Quantization, settings: MeasureSettings) -> dict[str, Any]:
    """Real-vs-real halves on the shared quantization and on the map (descriptive only)."""
    return {
        "descriptive": True,
        "paper": floor_summary(
            shared.histograms[0],
            repeats=settings.floor_repeats,
            seed=stage_seed(settings.seed, SeedStream.FLOOR),
        ),
        "map": floor_summary(
            data.map_hist[0],
            repeats=settings.floor_repeats,
            seed=stage_seed(settings.seed, SeedStream.MAP_FLOOR),
        ),
    }


def _shared_quantization(
    data: MeasureRows, pairs: list[_Pair], settings: MeasureSettings, bins: PairBins
) -> Quantization:
    """One quantization of all sources pooled (pairwise, mixture, floor); with a single
    simulator, that simulator's own; with shared pair bins, the very fit the pairs use."""
    if len(pairs) == 1:
        return pairs[0].quantization
    return bins.pooled(min(_shared_k(data, settings), len(data.codes)), settings.seed)


def _shared_k(data: MeasureRows, settings: MeasureSettings) -> int:
    return settings.k if settings.k is not None else common_k(list(data.sizes.values()))


def _cluster_columns(data: MeasureRows, pairs: list[_Pair]) -> dict[str, Any]:
    """clusters_summary.csv: per map cluster its size, each source's share, each pair's gap."""
    columns: dict[str, Any] = {
        "cluster": bin_labels(data.n_clusters),
        "n": data.map_hist.sum(axis=0),
        **{
            f"share_{name}": data.map_hist[i] / data.map_hist[i].sum()
            for i, name in enumerate(data.names)
        },
    }
    for pair in pairs:
        columns |= pair.cluster_columns
    return columns


def _cluster_terms(data: MeasureRows, settings: MeasureSettings) -> dict[str, list[str]]:
    """c-TF-IDF terms of every map cluster, in the representation and in the users' words."""
    columns = {}
    for column, texts in (
        ("terms_representation", data.representation_texts),
        ("terms_user", data.user_texts),
    ):
        if texts is not None:
            terms = class_tfidf(texts, data.map_labels, top_n=settings.top_terms)
            columns[column] = [
                ", ".join(term for term, _ in terms.get(label, []))
                for label in bin_labels(data.n_clusters)
            ]
    return columns


def _document(
    data: MeasureRows,
    settings: MeasureSettings,
    sim_metrics: dict[str, Any],
    ties: list[Any],
    floors: dict[str, Any],
    shared: Quantization,
    mixture: dict[str, Any] | None,
    robustness: dict[str, Any] | None,
    skipped: list[dict[str, str]],
) -> dict[str, Any]:
    """The metrics.json object, for `Metrics.model_validate`."""
    shared_description = (
        "paper quantization of real + the only simulator"
        if len(sim_metrics) == 1
        else "paper-style quantization of all sources pooled"
    )
    if mixture is not None:
        mixture["quantization"] = shared_description
    thresholds = asdict(settings.thresholds)
    return {
        "schema_version": SCHEMA_VERSION,
        "reference": data.reference,
        "sources": data.names,
        "n": data.sizes,
        "settings": {
            **settings.to_dict(),
            "k": _shared_k(data, settings)
            if settings.k_rule == "common" or settings.k is not None
            else None,
            "neighbour_space": "embeddings (cosine)"
            if data.neighbour_metric == "cosine"
            else "map (euclidean)",
            "thresholds": thresholds
            if "alpha" in thresholds
            else {**thresholds, "alpha": settings.alpha},
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
            for sim in ranking_of(sim_metrics, "paper")
        ],
        "ties": [tie.to_dict() for tie in ties],
        "noise_floor": floors,
        "pairwise": {
            "sources": data.names,
            "js": [
                [float(js_divergence(a, b)) for b in shared.histograms] for a in shared.histograms
            ],
            "quantization": shared_description,
            "k": shared.k,
        },
        "mixture": mixture,
        "robustness": robustness,
        "skipped": skipped,
    }

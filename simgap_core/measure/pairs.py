"""Per-pair numbers of the measurement stage: settings, seeds, the map comparison, matched
sizes, reliability, probe groups, the no-gap summaries and the misalignment table.

Split out of `compare` (which assembles them into metrics.json); every function here works
on one (real, simulator) pair or one source at a time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import IntEnum, unique
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from simgap_core.errors import EmptySourceError
from simgap_core.measure.divergence import divergences, js_divergence, kl_backward, kl_forward
from simgap_core.measure.interpret import (
    CategoryThresholds,
    compare_clusters,
    misalignment_rank,
)
from simgap_core.measure.quantize import (
    common_k,
    default_k,
)
from simgap_core.measure.uncertainty import (
    bootstrap_share_differences,
    corrected_js,
    noise_floor,
    permutation_test,
)
from simgap_core.vocabulary import K_RULES, PAIR_BINS

STAGES = (
    "quantize",
    "bootstrap",
    "floor",
    "permutation",
    "classifier",
    "mixture",
    "robustness",
    "power",
    "interpret",
)
FLOOR_QUANTILES = (0.05, 0.5, 0.95)
# Below these, a (real, simulator) JS is marked unreliable (the calibration bench measures why).
MIN_CONVERSATIONS_PER_BIN = 10
MAX_SIZE_RATIO = 2.0


@unique
class SeedStream(IntEnum):
    """The random stream of each draw in `measure`, for `stage_seed`.

    Every number is written out and never reused: a stream added later takes a new number, so
    no existing stream (and no stored result) shifts.
    """

    PAPER_CI = 0
    MAP_CI = 1
    SHARE_CI = 2
    MATCHED = 3
    PAPER_TEST = 4
    MAP_TEST = 5
    FLOOR = 6
    MAP_FLOOR = 7
    MIXTURE = 8
    VARIANT_CI = 9
    MISALIGNMENT = 10
    POWER = 11


@dataclass(frozen=True)
class MeasureSettings:
    """Every parameter of `measure`; recorded in metrics["settings"]."""

    k: int | None = None
    k_rule: str = "common"
    pair_quantization: str = "shared"
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

    def __post_init__(self) -> None:
        if self.k_rule not in K_RULES:
            raise ValueError(f"k_rule must be one of {K_RULES}, got {self.k_rule!r}")
        if self.pair_quantization not in PAIR_BINS:
            raise ValueError(
                f"pair_quantization must be one of {PAIR_BINS}, got {self.pair_quantization!r}"
            )
        if self.thresholds is None:
            object.__setattr__(self, "thresholds", CategoryThresholds())

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
            "ci_method": "bias-corrected JS +- z sd of the bias-corrected bootstrap replicates "
            "(second-order variance correction), clipped to [0, ln 2]",
            "floor_quantiles": list(FLOOR_QUANTILES),
            "classifier": "L2 logistic regression (C=1), classes balanced by subsampling, "
            "grouped folds",
            "map_noise": "label -1 is counted as a bin of its own",
            "reliability": f"n/k >= {MIN_CONVERSATIONS_PER_BIN} on both sides and sizes within "
            f"{MAX_SIZE_RATIO:g}x",
        }


class Timer:
    """Seconds spent per stage, summed over simulators."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] += time.perf_counter() - start


def stage_seed(seed: int, stage: SeedStream, index: int = 0) -> int:
    """An independent, reproducible seed per (stage, simulator) derived from the run's seed."""
    return int(np.random.SeedSequence((seed, int(stage), index)).generate_state(1)[0])


def floor_summary(counts: np.ndarray, *, repeats: int, seed: int) -> dict[str, Any] | None:
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


def null_summary(null: np.ndarray) -> dict[str, float]:
    """The permutation null at the actual sizes: what JS looks like with no gap at all."""
    return {"mean": float(np.mean(null)), "q95": float(np.quantile(null, 0.95))}


def ordered_sources(sources: np.ndarray, reference: str) -> list[str]:
    present = set(sources.tolist())
    if reference not in present:
        raise EmptySourceError(f"the reference source '{reference}' has no conversations")
    simulators = sorted(present - {reference})
    if not simulators:
        raise EmptySourceError(f"no simulated source to compare with '{reference}'")
    return [reference, *simulators]


def pair_k(settings: MeasureSettings, sizes: dict[str, int], reference: str, sim: str) -> int:
    """The k of one (real, simulator) pair under the settings' rule (explicit k wins)."""
    if settings.k is not None:
        return settings.k
    if settings.k_rule == "pair":
        return default_k(min(sizes[reference], sizes[sim]))
    return common_k(list(sizes.values()))


def reliability_notes(n_real: int, n_sim: int, k: int) -> list[str]:
    """Why a (real, simulator) JS at these sizes and k is not to be trusted ([] = reliable).

    Below 10 conversations per bin on either side the interval can under-cover badly (200
    skewed bins with 1,000 per side, 5 per bin: 0.69 at true JS 0.02, 0.82 at 0.2), while every
    grid cell with at least 10 per bin and sizes within 2x covers 0.92-0.98
    (bench/calibration.py --full), and with sizes more than 2x apart the corrected JS of
    the smaller side carries most of the uncertainty. simgap's default k (the smallest source
    / 10, MAUVE's rule) always meets the first condition; an explicit k may not.
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


def skip(skipped: list[dict[str, str]], simulator: str, statistic: str, reason: str) -> None:
    skipped.append({"simulator": simulator, "statistic": statistic, "reason": reason})


def map_comparison(
    real_counts: np.ndarray,
    sim_counts: np.ndarray,
    index: int,
    settings: MeasureSettings,
    timer: Timer,
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
                seed=stage_seed(seed, SeedStream.MAP_CI, index),
            )
            diff_low, diff_high = bootstrap_share_differences(
                real_counts,
                sim_counts,
                n_boot=settings.bootstrap,
                level=settings.ci_level,
                seed=stage_seed(seed, SeedStream.SHARE_CI, index),
            )
        with timer.stage("permutation"):
            test = permutation_test(
                real_counts,
                sim_counts,
                permutations=settings.permutations,
                seed=stage_seed(seed, SeedStream.MAP_TEST, index),
            )
        metrics.update(
            js=corrected.js,
            js_ci=[corrected.low, corrected.high],
            js_bias=corrected.bias,
            p_value=test.p_value,
            null_js=null_summary(test.null),
        )
    with timer.stage("interpret"):
        clusters = compare_clusters(real_counts, sim_counts, thresholds=settings.thresholds)
        after_diff = clusters.columns.get_loc("diff") + 1
        clusters.insert(after_diff, "diff_low", diff_low)
        clusters.insert(after_diff + 1, "diff_high", diff_high)
    return metrics, clusters


def matched_js(
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
    rng = np.random.default_rng(stage_seed(settings.seed, SeedStream.MATCHED, index))
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


def misalignment_table(
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

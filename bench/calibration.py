"""Calibration of simgap's verdicts: do the intervals cover, the tests hold their level, and the
ranking follow the true gap whatever the sample sizes? Public API only; prints tables.

    python bench/calibration.py          # about 5 minutes on 2 idle cores: the cells that
                                         # decide the verdicts, few runs each
    python bench/calibration.py --full   # the whole grid (k 50-200, n_real 1,000-5,000,
                                         # n_sim 100-5,000, true JS 0-0.2, flat and skewed),
                                         # 200+ runs per cell: hours
    python bench/calibration.py --full --sections coverage --reliable-only --part 1/2 &
    python bench/calibration.py --full --sections coverage --reliable-only --part 2/2
                                         # the coverage of the 140 cells marked reliable, in two
                                         # processes: about an hour on 2 idle cores
    python bench/calibration.py --sections sparse --sparse-set held-out --runs 100
                                         # k = 300 skewed bins at small gaps, the cells the
                                         # sparse bias correction was not tuned on (a few
                                         # minutes; --sparse-set tuning for the tuning cells)

Every rate is printed with its Monte-Carlo standard error sqrt(r (1 - r) / runs): with 60
runs a coverage of 0.95 is known to +-0.03 only, so read a cell against the target band
(0.92-0.98) with that in mind.

With --full, a reliable cell with true JS > 0 whose coverage falls outside 0.92-0.98 is run 800
more times and judged on all 1,000 runs. Cells with true JS 0 sit on the boundary: the interval
is clipped at 0, so it covers 0 by construction (coverage about 1); the no-gap verdict there
comes from the permutation test, whose false-positive rate the `identical` section measures.

Synthetic histograms: a population histogram P on k bins (flat, or skewed: Zipf 1.1) and Q
= (1 - t) P + t R with t solved so that JS(P, Q) is the planted value on those k bins; samples
are multinomial draws. Cells are marked reliable / unreliable with the metrics' own rule
(`reliability_notes`) at the k the metrics would use (the common k).
Through measure(): Gaussian clusters with known mixing weights as embeddings.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from machine import load, machine  # bench/ is on sys.path when a bench runs as a script

from simgap_core.measure.classifier import classifier_test
from simgap_core.measure.compare import measure, reliability_notes
from simgap_core.measure.divergence import js_divergence
from simgap_core.measure.quantize import common_k
from simgap_core.measure.uncertainty import (
    corrected_js,
    holm,
    permutation_test,
    sparse_bins_note,
)
from simgap_core.measure.verdicts import held_out_mixture, joint_bootstrap


def population(k: int, shape: str, rng: np.random.Generator) -> np.ndarray:
    """Flat, or Zipf bins in random order: "skewed" is Zipf 1.1, "zipf1.5" Zipf 1.5, ..."""
    if shape == "flat":
        return np.full(k, 1.0 / k)
    exponent = 1.1 if shape == "skewed" else float(shape.removeprefix("zipf"))
    weights = 1.0 / np.arange(1, k + 1) ** exponent
    return rng.permutation(weights / weights.sum())


def planted(p: np.ndarray, js: float, rng: np.random.Generator) -> np.ndarray:
    """Q = (1 - t) P + t R with JS(P, Q) = js (bisection on t)."""
    if js == 0:
        return p.copy()
    r = rng.dirichlet(np.full(len(p), 0.3))
    low, high = 0.0, 1.0
    for _ in range(60):
        t = (low + high) / 2
        if js_divergence(p, (1 - t) * p + t * r) < js:
            low = t
        else:
            high = t
    return (1 - t) * p + t * r


def rate(hits: int, runs: int) -> str:
    """A rate with its Monte-Carlo standard error."""
    r = hits / runs
    return f"{r:.3f} ± {np.sqrt(r * (1 - r) / runs):.3f}"


# The cells that decide the verdicts (default run): the skewed small-simulator cells and the
# large-JS cells where the interval undercovered in the first calibration, plus the no-gap cells.
DEFAULT_CELLS = (
    ("skewed", 100, 1000, 500, 0.02),
    ("skewed", 100, 1000, 500, 0.1),
    ("skewed", 50, 3000, 3000, 0.2),
    ("flat", 50, 3000, 3000, 0.2),
    ("skewed", 50, 1000, 1000, 0.0),
)


def full_cells() -> list[tuple[str, int, int, int, float]]:
    return [
        (shape, k, n_real, n_sim, truth)
        for shape in ("flat", "skewed")
        for k in (50, 100, 200)
        for n_real in (1000, 3000, 5000)
        for n_sim in (100, 300, 1000, 3000, 5000)
        for truth in (0.0, 0.02, 0.05, 0.1, 0.2)
    ]


BAND = (0.92, 0.98)


SHAPE_CODES = {"flat": 0, "skewed": 1, "zipf1.3": 2, "zipf1.5": 3, "zipf2": 4}


def cell_seed(
    shape: str, k: int, n_real: int, n_sim: int, truth: float, population_seed: int = 0
) -> list[int]:
    """A seed per cell, so a cell gives the same figures whichever part or subset runs it
    (`population_seed` 0 keeps the seeds the cells had before it existed)."""
    seed = [SHAPE_CODES[shape], k, n_real, n_sim, round(truth * 1000)]
    return seed + [population_seed] if population_seed else seed


def cell_coverage(
    cell, runs: int, boot: int, first_run: int = 0, population_seed: int = 0
) -> tuple[int, list, list, float, int]:
    """Hits of the 95% interval, plug-in and corrected errors over `runs` draws of one cell,
    and how many draws `sparse_bins_note` flags."""
    shape, k, n_real, n_sim, truth = cell
    rng = np.random.default_rng(cell_seed(*cell, population_seed))
    p = population(k, shape, rng)
    q = planted(p, truth, rng)
    true_js = float(js_divergence(p, q))
    draws = np.random.default_rng([*cell_seed(*cell, population_seed), first_run])
    hits, plug, corr, sparse = 0, [], [], 0
    for run in range(first_run, first_run + runs):
        a = draws.multinomial(n_real, p)
        b = draws.multinomial(n_sim, q)
        result = corrected_js(a, b, n_boot=boot, seed=run)
        hits += result.low <= true_js <= result.high
        plug.append(result.plugin - true_js)
        corr.append(result.js - true_js)
        sparse += sparse_bins_note(a, b) is not None
    return hits, plug, corr, true_js, sparse


def coverage_table(cells, runs: int, boot: int, recheck: int = 0) -> None:
    """Coverage per cell; a reliable interior cell outside the band 0.92-0.98 is run `recheck`
    more times and judged on all its runs (with 200 runs a well-calibrated cell falls outside
    the band by chance in about 1 case of 20)."""
    print("\n## Coverage of the 95% interval of js, and bias (synthetic histograms)")
    print(f"{runs} runs per cell, {boot} bootstrap replicates, k fixed per row.")
    if recheck:
        print(f"Reliable cells outside {BAND[0]}-{BAND[1]} are rerun {recheck} more times.")
    print(
        "| shape | k | n_real | n_sim | true JS | reliable | coverage ± se | bias plug-in | "
        "bias corrected |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for cell in cells:
        shape, k, n_real, n_sim, truth = cell
        hits, plug, corr, true_js, _ = cell_coverage(cell, runs, boot)
        total = runs
        reliable = not reliability_notes(n_real, n_sim, k)
        outside = not BAND[0] <= hits / runs <= BAND[1]
        if recheck and reliable and truth > 0 and outside:
            more, plug_more, corr_more, _, _ = cell_coverage(cell, recheck, boot, first_run=runs)
            hits, total = hits + more, runs + recheck
            plug, corr = plug + plug_more, corr + corr_more
        label = "yes" if reliable else "no"
        if truth == 0:
            label += " (boundary)"
        print(
            f"| {shape} | {k} | {n_real} | {n_sim} | {true_js:.3f} | "
            f"{label} | {rate(hits, total)}{f' ({total} runs)' if total != runs else ''} | "
            f"{np.mean(plug):+.4f} | {np.mean(corr):+.4f} |",
            flush=True,
        )


# Many bins (k = 300), skewed, small gaps: where the bootstrap bias correction failed. The
# "tuning" cells are the populations and sizes the shrinkage (SHRINK_PSEUDOCOUNT) and the
# interval were chosen on (population seeds 1, 2 and 7 of the exploration, sizes 6,000/3,300 and
# 3,000/3,000); the "held-out" cells are fresh populations (seeds from 1,001) at sizes not tuned on.
SPARSE_TUNING = (
    ("skewed", 300, 6000, 3300, 0.01, 1),
    ("zipf1.3", 300, 6000, 3300, 0.005, 2),
    ("zipf1.5", 300, 3000, 3000, 0.01, 7),
    ("flat", 300, 3000, 3000, 0.3, 1),
)
SPARSE_HELD_OUT = (
    ("skewed", 300, 5000, 4000, 0.005, 1001),
    ("skewed", 300, 4000, 2500, 0.01, 1002),
    ("skewed", 300, 8000, 4500, 0.02, 1003),
    ("zipf1.3", 300, 5000, 4000, 0.01, 1004),
    ("zipf1.3", 300, 4000, 2500, 0.02, 1005),
    ("zipf1.5", 300, 8000, 4500, 0.005, 1006),
    ("flat", 300, 5000, 4000, 0.01, 1007),
    ("flat", 300, 4000, 2500, 0.3, 1008),
    ("skewed", 300, 10000, 2000, 0.01, 1009),
    ("zipf2", 300, 4000, 2500, 0.01, 1010),
)


def sparse_table(runs: int, boot: int, which: str) -> None:
    """Coverage on many skewed bins at small gaps, tuning cells and held-out cells apart."""
    print("\n## Many sparse bins (k = 300): coverage of the 95% interval of js, and bias")
    print(
        f"{runs} runs per cell, {boot} bootstrap replicates. 'reliable' is reliability_notes "
        "(n/k, sizes within 2x); 'sparse-flagged' the share of draws sparse_bins_note flags."
    )
    print(
        "| set | shape | n_real | n_sim | true JS | reliable | sparse-flagged | coverage ± se "
        "| bias plug-in (rel) | bias corrected (rel) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    sets = {"tuning": SPARSE_TUNING, "held-out": SPARSE_HELD_OUT}
    for name, cells in sets.items():
        if which not in ("all", name):
            continue
        for shape, k, n_real, n_sim, truth, seed in cells:
            cell = (shape, k, n_real, n_sim, truth)
            hits, plug, corr, true_js, sparse = cell_coverage(
                cell, runs, boot, population_seed=seed
            )
            reliable = "yes" if not reliability_notes(n_real, n_sim, k) else "no"
            print(
                f"| {name} | {shape} | {n_real} | {n_sim} | {true_js:.3f} | {reliable} | "
                f"{sparse / runs:.2f} | {rate(hits, runs)} | {np.mean(plug) / true_js:+.2f} | "
                f"{np.mean(corr) / true_js:+.3f} |",
                flush=True,
            )


def finer_bins(runs: int) -> None:
    print(f"\n## Finer bins raise JS (no gap, n_real = n_sim = 1,000, flat, {runs} runs)")
    print("| k | mean plug-in JS | mean corrected JS |")
    print("|---|---|---|")
    rng = np.random.default_rng(1)
    for k in (10, 25, 50, 100, 200):
        p = np.full(k, 1.0 / k)
        plug, corr = [], []
        for run in range(runs):
            result = corrected_js(rng.multinomial(1000, p), rng.multinomial(1000, p), seed=run)
            plug.append(result.plugin)
            corr.append(result.js)
        print(f"| {k} | {np.mean(plug):.4f} | {np.mean(corr):.4f} |", flush=True)


def identical_simulators(runs: int, perms: int, splits: int) -> None:
    print("\n## Identical simulators: false 'different' after Holm, false 'mixing helps'")
    print(f"{runs} runs per row, {perms} permutations, {splits} mixture splits, skewed bins.")
    print("| simulators | n_real | n_sim | k | any flagged different (Holm, 0.05) | mixing helps |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(2)
    for n_sims_count in (3, 5):
        for n_real, n_sim in ((1000, 1000), (1000, 300)):
            k = common_k([n_real, n_sim])
            flagged = helps = 0
            for run in range(runs):
                p = population(k, "skewed", rng)
                sizes = [n_real] + [n_sim] * n_sims_count
                labels = np.concatenate([rng.choice(k, size=n, p=p) for n in sizes])
                codes = np.repeat(np.arange(len(sizes)), sizes)
                real = np.bincount(labels[codes == 0], minlength=k)
                p_values = [
                    permutation_test(
                        real,
                        np.bincount(labels[codes == g], minlength=k),
                        permutations=perms,
                        seed=run * 10 + g,
                    ).p_value
                    for g in range(1, len(sizes))
                ]
                flagged += bool(np.any(holm(p_values) <= 0.05))
                mixture = held_out_mixture(labels, codes, len(sizes), k, splits=splits, seed=run)
                helps += mixture.helps
            print(
                f"| {n_sims_count} | {n_real} | {n_sim} | {k} | {rate(flagged, runs)} | "
                f"{rate(helps, runs)} |",
                flush=True,
            )


def ranking(
    runs: int,
    boot: int,
    cases: tuple[tuple[int, int], ...] = ((300, 3000), (3000, 300)),
    rules: tuple[str, ...] = ("common", "pair"),
) -> None:
    print("\n## Ranking accuracy: true JS 0.02 vs 0.06 on the measured bins, n_real = 3,000")
    print(
        f"{runs} runs per row, {boot} bootstrap replicates, skewed bins. The JS is planted on "
        "the k bins each pair is measured on (the k rule's), so 'true' is the population JS "
        "of the histograms compared."
    )
    print(
        "| closer sim n | farther sim n | k rule | k (close, far) | ranked by | accuracy | tied |"
    )
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(3)
    for n_close, n_far in cases:
        for rule in rules:
            if rule == "common":
                k_close = k_far = common_k([3000, n_close, n_far])
            else:
                k_close, k_far = common_k([3000, n_close]), common_k([3000, n_far])
            right_corrected = right_plugin = tied = 0
            for _ in range(runs):
                # One population per k; the real set is drawn once on the finer of the two and
                # coarsened, so the two pairs share it (as they do in measure()).
                fine_k = max(k_close, k_far)
                base = population(fine_k, "skewed", rng)
                real_fine = rng.choice(fine_k, size=3000, p=base)
                coarse_of = {k: np.arange(fine_k) % k for k in {k_close, k_far}}
                sims, real_labels = {}, {}
                for name, truth, n, k in (
                    ("close", 0.02, n_close, k_close),
                    ("far", 0.06, n_far, k_far),
                ):
                    p_k = np.bincount(coarse_of[k], weights=base, minlength=k)
                    sims[name] = np.bincount(
                        rng.choice(k, size=n, p=planted(p_k, truth, rng)), minlength=k
                    )
                    real_labels[name] = coarse_of[k][real_fine]
                names = ["close", "far"]
                joint = joint_bootstrap(
                    names,
                    [real_labels[n] for n in names],
                    [sims[n] for n in names],
                    n_boot=boot,
                    seed=int(rng.integers(2**31)),
                )
                right_corrected += joint.corrected["close"].js < joint.corrected["far"].js
                right_plugin += joint.corrected["close"].plugin < joint.corrected["far"].plugin
                tied += joint.ties[0].tied
            for by, right in (("corrected js", right_corrected), ("plug-in", right_plugin)):
                print(
                    f"| {n_close} | {n_far} | {rule} | {k_close}, {k_far} | {by} | "
                    f"{rate(right, runs)} | {rate(tied, runs)} |",
                    flush=True,
                )


def probe_false_positives(runs: int, n: int, dims: int, perms: int) -> None:
    print("\n## Grouped probe: permutation p-value on null data (both sides one Gaussian)")
    print(
        "| n per class | dims | folds | permutations | runs | mean AUC | P(p <= 0.05) "
        "| P(p <= 0.05/3) | P(p <= 0.05/25) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    p_values, aucs = [], []
    for run in range(runs):
        rng = np.random.default_rng(run)
        result = classifier_test(
            rng.standard_normal((n, dims)),
            rng.standard_normal((n, dims)),
            seed=run,
            bootstrap=0,
            permutations=perms,
        )
        p_values.append(result.p_value)
        aucs.append(result.auc)
    p_values = np.asarray(p_values)
    levels = " | ".join(rate(int(np.sum(p_values <= a)), runs) for a in (0.05, 0.05 / 3, 0.002))
    print(f"| {n} | {dims} | 5 | {perms} | {runs} | {np.mean(aucs):.3f} | {levels} |", flush=True)


def probe_repeats(runs: int, distinct: int, dims: int, perms: int) -> None:
    """The probe when a simulator repeats itself: real conversations all distinct, each
    simulated text 1 or 3 times (grouped folds keep copies together); no gap, and a gap
    (the simulator's mean shifted by `shift` in every dimension). With a gap the target of the
    interval is the mean cross-validated AUC over the runs at those sizes."""
    print("\n## Grouped probe, repeating simulators: false positives and interval coverage")
    print(
        "| real (distinct) | simulated (distinct x copies) | shift | dims | permutations | runs "
        "| mean AUC | P(p <= 0.05) | P(interval misses the target) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for copies, shift in ((1, 0.0), (3, 0.0), (1, 0.15), (3, 0.15)):
        _probe_cell(runs, distinct, copies, shift, dims, perms)


def _probe_cell(runs: int, distinct: int, copies: int, shift: float, dims: int, perms: int):
    n = distinct * 3
    results = []
    for run in range(runs):
        rng = np.random.default_rng(10_000 + run)
        real = rng.standard_normal((n, dims))
        sim = np.repeat(rng.standard_normal((n // copies, dims)) + shift, copies, axis=0)
        results.append(
            classifier_test(
                real,
                sim,
                seed=run,
                real_groups=np.char.add("r", np.arange(n).astype(str)),
                sim_groups=np.char.add("s", np.repeat(np.arange(n // copies), copies).astype(str)),
                bootstrap=200,
                permutations=perms,
            )
        )
    target = 0.5 if shift == 0 else float(np.mean([r.auc for r in results]))
    rejected = sum(r.p_value <= 0.05 for r in results)
    missed = sum(not (r.auc_ci[0] <= target <= r.auc_ci[1]) for r in results)
    print(
        f"| {n} | {n // copies} x {copies} | {shift} | {dims} | {perms} | {runs} "
        f"| {np.mean([r.auc for r in results]):.3f} | {rate(rejected, runs)} "
        f"| {rate(missed, runs)} |",
        flush=True,
    )


def power_table(runs: int, perms: int) -> None:
    """The minimum detectable gap each run states, checked with the permutation test itself."""
    from simgap_core.measure.power import MISSING_SHARES, _behaviour, detectable_gap

    print("\n## Minimum detectable gap (stated) vs the permutation test's detection rate there")
    print(
        "| n per side | k | Holm threshold | stated missing share | stated power "
        "| permutation test detects | runs |"
    )
    print("|---|---|---|---|---|---|---|")
    for n, m in ((100, 1), (300, 1), (300, 4), (1000, 1), (1000, 25), (3000, 1)):
        k = n // 10
        weights = 1 / np.arange(1, k + 1) ** 1.1
        weights /= weights.sum()
        rng = np.random.default_rng(n + m)
        real_counts = rng.multinomial(n, weights)
        alpha = 0.05 / m
        stated = detectable_gap(real_counts, n, alpha=alpha, seed=7)
        if stated.missing_share is None:
            print(f"| {n} | {k} | {alpha:.4f} | none within half | - | - | - |")
            continue
        shares = real_counts / n
        order = np.random.default_rng(np.random.SeedSequence(7).spawn(3)[1]).permutation(
            np.flatnonzero(shares > 0)
        )
        # The same bins the statement was made with: the grid share that gave its share.
        taken = next(
            found
            for target in MISSING_SHARES
            if (found := _behaviour(shares, order, target)) is not None
            and round(float(shares[found].sum()), 4) == stated.missing_share
        )
        lacking = shares.copy()
        lacking[taken] = 0
        lacking /= lacking.sum()
        hits = sum(
            permutation_test(
                rng.multinomial(n, shares), rng.multinomial(n, lacking), permutations=perms, seed=r
            ).p_value
            <= alpha
            for r in range(runs)
        )
        print(
            f"| {n} | {k} | {alpha:.4f} | {stated.missing_share:.3f} | {stated.power:.2f} "
            f"| {rate(hits, runs)} | {runs} |",
            flush=True,
        )


def embeddings_run(rng: np.random.Generator, weights: dict[str, np.ndarray], sizes: dict[str, int]):
    """Rows from Gaussian clusters (24-d, unit noise, centres 3 apart) with these mixing weights."""
    centers = np.random.default_rng(99).standard_normal((len(next(iter(weights.values()))), 24)) * 3
    rows, sources = [], []
    for name, w in weights.items():
        which = rng.choice(len(w), size=sizes[name], p=w / w.sum())
        rows.append(centers[which] + rng.standard_normal((sizes[name], 24)))
        sources += [name] * sizes[name]
    points = np.vstack(rows)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points, sources


def pipeline(runs: int) -> None:
    print("\n## Through measure() on synthetic embeddings (Gaussian clusters, 24-d, 20 clusters)")
    print(
        "k-means refitted per pair (common k), 100 bootstrap replicates, 200 permutations, "
        f"20 mixture splits; {runs} runs per row."
    )
    rng = np.random.default_rng(4)
    clusters = 20
    real_w = 1.0 / np.arange(1, clusters + 1)
    close_w = real_w * np.exp(0.15 * rng.standard_normal(clusters))
    far_w = real_w * np.exp(0.6 * rng.standard_normal(clusters))
    settings = dict(
        bootstrap=100,
        permutations=200,
        floor_repeats=5,
        classifier_permutations=0,
        seeds=2,
        mixture_splits=20,
        misalignment_null_repeats=0,
        n_init=2,
    )
    right = inside = 0
    for run in range(runs):
        points, sources = embeddings_run(
            rng,
            {"real": real_w, "close": close_w, "far": far_w},
            {"real": 1500, "close": 150, "far": 1500},
        )
        metrics = measure(
            points, sources, np.zeros(len(sources), int), seed=run, **settings
        ).metrics
        right += metrics["leaderboard"][0]["simulator"] == "close"
        inside += all(
            s["paper"]["js_ci"][0] <= s["paper"]["js"] <= s["paper"]["js_ci"][1]
            for s in metrics["simulators"].values()
        )
    print(
        f"- close (150 conversations, mixing weights jittered by sd 0.15 in log) vs far (1,500, "
        f"sd 0.6), real 1,500: close ranked first in {rate(right, runs)} of runs; js inside "
        f"js_ci in {rate(inside, runs)}",
        flush=True,
    )
    flagged = helps = 0
    for run in range(runs):
        points, sources = embeddings_run(
            rng,
            {"real": real_w, "a": real_w, "b": real_w, "c": real_w},
            {"real": 600, "a": 600, "b": 600, "c": 600},
        )
        metrics = measure(
            points, sources, np.zeros(len(sources), int), seed=run, **settings
        ).metrics
        flagged += any(
            s["paper"]["p_value_adjusted"] <= 0.05 for s in metrics["simulators"].values()
        )
        helps += metrics["mixture"]["helps"]
    print(
        f"- 3 simulators drawn from real's own mixture (600 each, real 600): any flagged "
        f"different after Holm in {rate(flagged, runs)} of runs; 'mixing helps' in "
        f"{rate(helps, runs)}",
        flush=True,
    )


SECTIONS = (
    "coverage",
    "sparse",
    "bins",
    "identical",
    "ranking",
    "probe",
    "repeats",
    "power",
    "pipeline",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the whole grid, more runs")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    parser.add_argument("--runs", type=int, default=None, help="override the runs per cell")
    parser.add_argument(
        "--reliable-only",
        action="store_true",
        help="coverage: only the cells the metrics mark reliable (the ones with a target)",
    )
    parser.add_argument(
        "--part",
        default="1/1",
        help="coverage: run part I of N of the cells (e.g. 1/2 and 2/2 in two processes)",
    )
    parser.add_argument(
        "--sparse-set",
        choices=("all", "tuning", "held-out"),
        default="all",
        help="sparse: the tuning cells, the held-out cells, or both",
    )
    parser.add_argument(
        "--recheck",
        type=int,
        default=None,
        help="coverage: more runs for a reliable cell outside 0.92-0.98 (default 800 with --full)",
    )
    args = parser.parse_args()
    wanted = set(args.sections.split(","))
    unknown = wanted - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    full = args.full
    started = time.perf_counter()
    print(f"Machine: {machine()}; {load()}. Sizes next to every figure.")
    if "coverage" in wanted:
        cells = full_cells() if full else list(DEFAULT_CELLS)
        if args.reliable_only:
            cells = [c for c in cells if not reliability_notes(c[2], c[3], c[1])]
        index, parts = (int(x) for x in args.part.split("/"))
        if not 1 <= index <= parts:
            parser.error(f"--part must be I/N with 1 <= I <= N, got {args.part}")
        # Interleaved, so the parts share the expensive large-k cells evenly.
        cells = sorted(cells, key=lambda c: c[1])[index - 1 :: parts]
        recheck = args.recheck if args.recheck is not None else (800 if full else 0)
        coverage_table(cells, args.runs or (200 if full else 40), boot=200, recheck=recheck)
    if "sparse" in wanted:
        sparse_table(args.runs or (200 if full else 100), boot=200, which=args.sparse_set)
    if "bins" in wanted:
        finer_bins(args.runs or (30 if full else 5))
    if "identical" in wanted:
        identical_simulators(args.runs or (400 if full else 60), perms=500, splits=20)
    if "ranking" in wanted:
        ranking(args.runs or (400 if full else 60), boot=200)
    if "probe" in wanted:
        probe_false_positives(args.runs or (1000 if full else 200), n=60, dims=5, perms=50)
    if "repeats" in wanted:
        probe_repeats(args.runs or (300 if full else 60), distinct=100, dims=8, perms=50)
    if "power" in wanted:
        power_table(args.runs or (400 if full else 100), perms=2000)
    if "pipeline" in wanted:
        pipeline(args.runs or (20 if full else 2))
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

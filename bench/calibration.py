"""Calibration of simgap's verdicts: do the intervals cover, the tests hold their level, and the
ranking follow the true gap whatever the sample sizes? Public API only; prints tables.

    python bench/calibration.py          # a few minutes on 2 cores
    python bench/calibration.py --full   # the whole grid (k 50-200, n_real 1,000-5,000,
                                         # n_sim 100-5,000, true JS 0-0.2, flat and skewed)

Synthetic histograms: a population histogram P on k bins (flat, or skewed: Zipf 1.1) and Q
= (1 - t) P + t R with t solved so that JS(P, Q) is the planted value; samples are
multinomial draws. Cells are marked reliable / unreliable with the metrics' own rule
(`reliability_notes`) at the k the metrics would use (the common k).
Through measure(): Gaussian clusters with known mixing weights as embeddings.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simgap_core.measure.compare import measure, reliability_notes
from simgap_core.measure.divergence import js_divergence
from simgap_core.measure.quantize import common_k
from simgap_core.measure.uncertainty import corrected_js, holm, permutation_test
from simgap_core.measure.verdicts import held_out_mixture, joint_bootstrap


def population(k: int, shape: str, rng: np.random.Generator) -> np.ndarray:
    if shape == "flat":
        return np.full(k, 1.0 / k)
    weights = 1.0 / np.arange(1, k + 1) ** 1.1
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


def coverage_table(full: bool, runs: int, boot: int) -> None:
    ks = (50, 100, 200) if full else (50, 100)
    n_reals = (1000, 3000, 5000) if full else (1000, 3000)
    n_sims = (100, 300, 1000, 3000, 5000) if full else (100, 500, 1000, 3000)
    truths = (0.0, 0.02, 0.05, 0.1, 0.2) if full else (0.0, 0.02, 0.1)
    shapes = ("flat", "skewed")
    print("\n## Coverage of the 95% interval of js, and bias (synthetic histograms)")
    print(f"{runs} runs per cell, {boot} bootstrap replicates; k is fixed per row (n/k shown).")
    print(
        "| shape | k | n_real | n_sim | true JS | reliable | coverage | bias plug-in | "
        "bias corrected |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    worst = 1.0
    for shape in shapes:
        for k in ks:
            for n_real in n_reals:
                for n_sim in n_sims:
                    for truth in truths:
                        p = population(k, shape, rng)
                        q = planted(p, truth, rng)
                        true_js = float(js_divergence(p, q))
                        hits, plug, corr = 0, [], []
                        for run in range(runs):
                            a = rng.multinomial(n_real, p)
                            b = rng.multinomial(n_sim, q)
                            result = corrected_js(a, b, n_boot=boot, seed=run)
                            hits += result.low <= true_js <= result.high
                            plug.append(result.plugin - true_js)
                            corr.append(result.js - true_js)
                        reliable = not reliability_notes(n_real, n_sim, k)
                        cover = hits / runs
                        if reliable:
                            worst = min(worst, cover)
                        print(
                            f"| {shape} | {k} | {n_real} | {n_sim} | {true_js:.3f} | "
                            f"{'yes' if reliable else 'no'} | {cover:.2f} | "
                            f"{np.mean(plug):+.4f} | {np.mean(corr):+.4f} |"
                        )
    print(f"\nLowest coverage over reliable cells: {worst:.2f}")


def finer_bins(runs: int) -> None:
    print("\n## Finer bins raise JS (no gap, n_real = n_sim = 1,000, flat)")
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
        print(f"| {k} | {np.mean(plug):.4f} | {np.mean(corr):.4f} |")


def identical_simulators(runs: int, perms: int) -> None:
    print("\n## Identical simulators: false 'different' after Holm, false 'mixing helps'")
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
                mixture = held_out_mixture(labels, codes, len(sizes), k, splits=20, seed=run)
                helps += mixture.helps
            print(
                f"| {n_sims_count} | {n_real} | {n_sim} | {k} | {flagged / runs:.3f} | "
                f"{helps / runs:.3f} |"
            )


def ranking(runs: int, boot: int) -> None:
    print("\n## Ranking accuracy: true JS 0.02 vs 0.06, n_real = 3,000 (synthetic labels)")
    print("| closer sim n | farther sim n | k rule | ranked by | accuracy | tied share |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(3)
    for n_close, n_far in ((300, 3000), (3000, 300)):
        for rule in ("common", "pair"):
            right_corrected = right_plugin = tied = 0
            for _ in range(runs):
                k_of = {
                    "close": common_k([3000, n_close, n_far])
                    if rule == "common"
                    else common_k([3000, n_close]),
                    "far": common_k([3000, n_close, n_far])
                    if rule == "common"
                    else common_k([3000, n_far]),
                }
                # One fine population, coarsened to each pair's k (bins of a fixed space).
                fine = 600
                base = population(fine, "skewed", rng)
                real_fine = rng.choice(fine, size=3000, p=base)
                sims = {}
                for name, truth, n in (("close", 0.02, n_close), ("far", 0.06, n_far)):
                    sims[name] = rng.choice(fine, size=n, p=planted(base, truth, rng))
                names = ["close", "far"]
                coarse = {name: rng.permutation(fine) % k_of[name] for name in names}
                joint = joint_bootstrap(
                    names,
                    [coarse[n][real_fine] for n in names],
                    [np.bincount(coarse[n][sims[n]], minlength=k_of[n]) for n in names],
                    n_boot=boot,
                    seed=int(rng.integers(2**31)),
                )
                right_corrected += joint.corrected["close"].js < joint.corrected["far"].js
                right_plugin += joint.corrected["close"].plugin < joint.corrected["far"].plugin
                tied += joint.ties[0].tied
            for by, right in (("corrected js", right_corrected), ("plug-in", right_plugin)):
                print(
                    f"| {n_close} | {n_far} | {rule} | {by} | {right / runs:.3f} | "
                    f"{tied / runs:.2f} |"
                )


def embeddings_run(rng: np.random.Generator, weights: dict[str, np.ndarray], sizes: dict[str, int]):
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
    print("\n## Through measure() on synthetic embeddings (Gaussian clusters, 24-d)")
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
    )
    right = 0
    inside = 0
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
        f"close (150 conversations) vs far (1,500), real 1,500: close ranked first in "
        f"{right}/{runs} runs; js inside js_ci in {inside}/{runs}"
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
        f"3 identical simulators (600 each, real 600): any flagged different after Holm in "
        f"{flagged}/{runs} runs; 'mixing helps' in {helps}/{runs}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the whole grid, more runs")
    args = parser.parse_args()
    started = time.perf_counter()
    runs = 200 if args.full else 30
    print("Machine: 2 cores shared. Sizes next to every figure.")
    coverage_table(args.full, runs, boot=200)
    finer_bins(30)
    identical_simulators(200 if args.full else 60, perms=500)
    ranking(200 if args.full else 60, boot=200)
    pipeline(10 if args.full else 3)
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

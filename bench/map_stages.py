"""Stage figures for embedding and mapping: run `python bench/map_stages.py` and read the tables.

1. Embedding throughput, fp32 against bf16 autocast, on ~70-token texts, and how close the
   bf16 vectors stay to fp32 (min / mean cosine).
2. UMAP's numba compile cost in a fresh process, with a cold and a warm NUMBA_CACHE_DIR, for
   umap-learn as shipped (its own NN-descent), with exact precomputed neighbours, and as
   simgap_core.map.layout runs it (precomputed neighbours + UMAP kernels cached on disk).
3. Per-stage time and peak memory at 1k / 5k / 20k synthetic clustered 384-d points: exact
   kNN, UMAP 2-d, UMAP 5-d, HDBSCAN, and an HDBSCAN rerun with new parameters (what a rerun
   with only clustering parameters changed costs).
4. Exact kNN against pynndescent's NN-descent (time, recall) at those sizes and 50k.

Every measurement that depends on process state runs in a fresh subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

PHRASES = (
    "the user asks for a short summary of the report",
    "then corrects the assistant because the dates were wrong",
    "pastes a stack trace from the failing build and asks what it means",
    "adds that the answer must fit in one paragraph",
    "thanks the assistant politely before changing the subject",
    "wants three options ranked by price with a one-line reason each",
    "does not say which programming language the project uses",
    "replies with a single word and waits for more",
    "gives an example of the tone they expect in the email",
    "asks the assistant to repeat the last step more slowly",
    "mentions a deadline on Friday and a budget of two hundred dollars",
    "switches to Spanish halfway through the conversation",
    "explains the background only after being asked twice",
    "uses lower case with no punctuation and several typos",
    "pushes back on the suggestion and asks for an alternative",
    "requests a table with columns for name, date and status",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="embed,compile,scale,knn", help="which to run")
    parser.add_argument("--texts", type=int, default=500, help="texts in the embedding bench")
    parser.add_argument("--sizes", default="1000,5000,20000", help="point counts, comma-separated")
    parser.add_argument("--compile-points", type=int, default=4200, help="points in compile runs")
    parser.add_argument("--knn-extra", type=int, default=50_000, help="extra size for kNN only")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](*args.child[1:])))
        return
    sections = args.sections.split(",")
    sizes = [int(size) for size in args.sizes.split(",")]
    if "embed" in sections:
        embedding_bench(args.texts)
    if "compile" in sections:
        compile_bench(args.compile_points)
    if "scale" in sections:
        scale_bench(sizes)
    if "knn" in sections:
        knn_bench([*sizes, args.knn_extra])


def embedding_bench(n_texts: int) -> None:
    from transformers import AutoTokenizer

    from simgap_core.embed import CachedEmbedder, SentenceTransformerEmbedder, resolve_model

    def Embedder(*, cache_dir: Path, **options) -> CachedEmbedder:  # noqa: N802
        return CachedEmbedder(
            SentenceTransformerEmbedder(cache_dir=cache_dir, **options), cache_dir=cache_dir
        )

    rng = np.random.default_rng(0)
    texts = [
        ", ".join(rng.choice(PHRASES, size=6, replace=False)) + f" (case {i})."
        for i in range(n_texts)
    ]
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("all-MiniLM-L6-v2").path)
    tokens = np.mean([len(ids) for ids in tokenizer(texts)["input_ids"]])
    print(f"\n## Embedding: {n_texts} texts, {tokens:.0f} tokens on average, all-MiniLM-L6-v2")
    print(load())
    print("wall = texts/s on all cores (suffers from other load on the machine);")
    print("cpu = texts per CPU-second on one thread (what the work costs, robust to load)")
    print(f"{'precision':<10} {'wall texts/s':>13} {'cpu texts/s':>12}")
    vectors = {}
    with tempfile.TemporaryDirectory() as cache:
        for precision in ("fp32", "bf16"):
            rates = []
            for threads, clock in ((None, time.perf_counter), (1, time.process_time)):
                embedder = Embedder(
                    cache_dir=Path(cache) / f"{precision}-{threads}",
                    precision=precision,
                    threads=threads,
                )
                embedder.encode(["load the model and warm its kernels up"])
                start = clock()
                vectors[precision] = embedder.encode(texts)
                rates.append(n_texts / (clock() - start))
                assert embedder.embedded_count == n_texts + 1
            print(f"{precision:<10} {rates[0]:>13.0f} {rates[1]:>12.0f}")
        cosines = np.sum(vectors["fp32"] * vectors["bf16"], axis=1)
        print(f"bf16 vs fp32 cosine: min {cosines.min():.6f}, mean {cosines.mean():.6f}")
        auto = Embedder(cache_dir=Path(cache) / "auto", precision="auto")
        auto.embedder.precision  # noqa: B018  (resolving it runs the one-off check)
        check = auto.embedder.precision_check
        print(
            f"precision='auto' chooses {check['precision']}: probe min cosine "
            f"{check['min_cosine']:.6f}, measured bf16 speed-up {check['bf16_speedup']:.2f}x"
        )


def compile_bench(n_points: int) -> None:
    print(f"\n## UMAP compile cost in a fresh process ({n_points} points, 2-d + 5-d fits)")
    print("first = import + first fit; second = the same fits again in that process;")
    print("overhead = first - second (compiling or loading kernels, importing umap)")
    print(load())
    print(f"{'variant':<44} {'cache':<5} {'first':>7} {'second':>7} {'overhead':>8}")
    variants = (
        ("umap-learn as shipped (NN-descent)", "plain"),
        ("umap-learn + exact precomputed kNN", "precomputed"),
        ("simgap_core.map.layout (kNN + cached kernels)", "simgap"),
    )
    with tempfile.TemporaryDirectory() as root:
        for label, variant in variants:
            cache = Path(root) / variant
            for state in ("cold", "warm"):
                result = run_child(cache, "compile", variant, str(n_points))
                print(
                    f"{label:<44} {state:<5} {result['first']:>7.1f} {result['second']:>7.1f} "
                    f"{result['first'] - result['second']:>8.1f}"
                )
        cache = Path(root) / "warm_up"
        cold = run_child(cache, "warm_up")["seconds"]
        warm = run_child(cache, "warm_up")["seconds"]
        print(f"mapping.warm_up() in a fresh process: cold cache {cold:.1f} s, warm {warm:.1f} s")


def scale_bench(sizes: list[int]) -> None:
    print("\n## Stages at scale (synthetic: 20 clusters of 384-d points + 5% scattered noise)")
    print("seconds per stage; resident memory in MB: before the stage (imports of torch, numba,")
    print("umap, hdbscan and sklearn take ~500 MB) and its peak during the stage")
    print(load())
    with tempfile.TemporaryDirectory() as root:
        cache = Path(root) / "numba"
        run_child(cache, "warm_up")
        for n in sizes:
            result = run_child(cache, "scale", str(n))
            print(
                f"\n{n} points: ARI {result['ari']:.3f} against the planted clusters, "
                f"{result['clusters']} clusters, noise {result['noise']:.1%}"
            )
            print(f"  {'stage':<42} {'seconds':>8} {'rss before':>11} {'peak':>6}")
            for stage in result["stages"]:
                print(
                    f"  {stage['stage']:<42} {stage['seconds']:>8.2f} "
                    f"{stage['rss_mb']:>11.0f} {stage['peak_mb']:>6.0f}"
                )


def knn_bench(sizes: list[int]) -> None:
    print("\n## Exact kNN (simgap) against pynndescent's NN-descent, k=15, cosine")
    print(load())
    with tempfile.TemporaryDirectory() as root:
        result = run_child(Path(root) / "numba", "knn", *map(str, sizes))
    print(
        f"NN-descent's first call in a fresh process (compiling, 300 points): "
        f"{result['compile']:.1f} s; exact kNN compiles nothing"
    )
    print(f"{'points':>7} {'exact s':>8} {'NN-descent s':>13} {'NN-descent recall':>18}")
    for n, exact, approximate, recall in result["rows"]:
        print(f"{n:>7} {exact:>8.2f} {approximate:>13.2f} {recall:>18.4f}")


def run_child(numba_cache: Path, *args: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(numba_cache), PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def planted(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """20 Gaussian clusters of uneven size around random centres, plus 5% scattered points (-1)."""
    rng = np.random.default_rng(seed)
    n_noise = n // 20
    sizes = rng.multinomial(n - n_noise, rng.dirichlet(np.full(20, 3.0)))
    truth = np.concatenate([np.repeat(np.arange(20), sizes), np.full(n_noise, -1)])
    centres = rng.normal(size=(20, 384))
    points = centres[truth] + 0.35 * rng.normal(size=(n, 384))
    points[truth < 0] = rng.normal(size=(n_noise, 384))
    return points.astype(np.float32), truth


def child_compile(variant: str, n_points: str) -> dict:
    points, _ = planted(int(n_points))

    def fits() -> None:
        if variant == "simgap":
            from simgap_core.map.layout import build_map

            build_map(points, seed=42)
            return
        import umap

        from simgap_core.map.layout import knn

        neighbours = knn(points, 15) if variant == "precomputed" else (None, None, None)
        for n_components, min_dist in ((2, 0.1), (5, 0.0)):
            umap.UMAP(
                n_components=n_components,
                min_dist=min_dist,
                metric="cosine",
                random_state=42,
                n_jobs=1,
                precomputed_knn=neighbours,
            ).fit(points)

    warnings.simplefilter("ignore")
    first = timed(fits)
    return {"first": first, "second": timed(fits)}


def child_warm_up() -> dict:
    from simgap_core.map.layout import warm_up

    return {"seconds": warm_up()}


def child_knn(*sizes: str) -> dict:
    from pynndescent import NNDescent

    from simgap_core.map.layout import knn

    def nn_descent(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return NNDescent(points, metric="cosine", n_neighbors=15, random_state=42).neighbor_graph

    compile_seconds = timed(lambda: nn_descent(planted(300)[0]))
    rows = []
    for n in sizes:
        points, _ = planted(int(n))
        start = time.perf_counter()
        exact = knn(points, 15)[0]
        exact_seconds = time.perf_counter() - start
        start = time.perf_counter()
        approximate = nn_descent(points)[0]
        approximate_seconds = time.perf_counter() - start
        recall = np.mean(
            [len(set(a) & set(e)) / 15 for a, e in zip(approximate, exact, strict=True)]
        )
        rows.append([int(n), exact_seconds, approximate_seconds, recall])
    return {"compile": compile_seconds, "rows": rows}


def child_scale(n: str) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from simgap_core.map.layout import cluster, default_min_cluster_size, knn, project, warm_up

    warnings.simplefilter("ignore")
    points, truth = planted(int(n))
    warm_up()  # importing umap and loading its kernels is not a stage

    stages = []

    def stage(name: str, work: Callable[[], Any]) -> Any:
        before = reset_peak_rss_mb()
        start = time.perf_counter()
        value = work()
        seconds = time.perf_counter() - start
        stages.append(
            {"stage": name, "seconds": seconds, "rss_mb": before, "peak_mb": peak_rss_mb()}
        )
        return value

    neighbours = stage("exact kNN (k=15)", lambda: knn(points, 15))
    stage("UMAP 2-d (precomputed kNN)", lambda: project(points, n_components=2, knn=neighbours))
    coords = stage(
        "UMAP 5-d (precomputed kNN)", lambda: project(points, n_components=5, knn=neighbours)
    )
    size = default_min_cluster_size(len(points))
    labels = stage(f"HDBSCAN (min_cluster_size={size})", lambda: cluster(coords))
    stage(
        f"HDBSCAN rerun (min_cluster_size={2 * size}, leaf)",
        lambda: cluster(coords, min_cluster_size=2 * size, method="leaf"),
    )
    planted_rows = truth >= 0
    return {
        "stages": stages,
        "ari": adjusted_rand_score(truth[planted_rows], labels[planted_rows]),
        "clusters": int(labels.max() + 1),
        "noise": float(np.mean(labels < 0)),
    }


def reset_peak_rss_mb() -> float:
    """Restart the peak-RSS mark here (Linux); returns the current RSS in MB."""
    clear_refs = Path("/proc/self/clear_refs")
    if clear_refs.exists():
        clear_refs.write_text("5")
    return proc_status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak RSS in MB since the last reset. Not ru_maxrss: on Linux a child inherits the
    peak of the process it was forked from, here the parent holding the embedding model."""
    return proc_status_mb("VmHWM")


def proc_status_mb(field: str) -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: process peak


def load() -> str:
    return "load average {:.1f} {:.1f} {:.1f} on {} cores".format(*os.getloadavg(), os.cpu_count())


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


CHILDREN = {
    "compile": child_compile,
    "warm_up": child_warm_up,
    "knn": child_knn,
    "scale": child_scale,
}

if __name__ == "__main__":
    main()

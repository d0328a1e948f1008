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
5. `ann`: exact kNN against faiss IVF-flat (several probe fractions) and HNSW at 20k, 50k and
   125k points: CPU seconds, wall seconds, recall (tie-aware: an approximate neighbour counts
   when it is at most as far as the exact k-th), and whether a second run gives the same
   graph. Points: unit vectors from `--points FILE.npy` (e.g. embeddings saved by
   bench/scale.py) resampled to each size with a little noise, else the synthetic clusters.

Sections on demo-shaped data (`--demo-dir`, written by `--sections prepare`: the demo
generator at `--per-source` sizes, heuristic behaviour texts, embedded with the default model
through its cache, with the planted archetype of every conversation; sizes above
`--resample-from` are drawn with replacement per source from that prepared size):
6. `display`: the 2-d display map fitted on all points against fitted on a sample with the
   rest transformed: CPU seconds, trustworthiness (k=15, on 2,000 points) and the ARI of
   HDBSCAN on the 2-d map against the planted archetypes.
7. `dedupe`: mapping identical rows once and broadcasting, against mapping every row.
8. `hdbscan`: hdbscan against fast-hdbscan on the 5-d space (seconds, ARI between them), and
   what raising min_cluster_size costs with min_samples tied to it and on its own.
9. `defaults`: noise share, cluster count and ARI against the planted archetypes for
   candidate (min_cluster_size, min_samples) rules at every prepared size.
10. `stacks`: identical texts (stacks of identical points in the clustering space) clustered
   as every copy, as one point each, or capped at a few copies (`cluster(stack_cap=...)`):
   noise, clusters, ARI against the planted archetypes and CPU seconds at every prepared size.

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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from machine import load, machine  # bench/ is on sys.path when a bench runs as a script

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
    parser.add_argument("--ann-sizes", default="20000,50000,125000", help="sizes for `ann`")
    parser.add_argument("--points", type=Path, help="unit vectors (.npy) for `ann`")
    parser.add_argument("--demo-dir", type=Path, default=Path("/tmp/simgap-demo-shaped"))
    parser.add_argument(
        "--per-source", default="1500,5000,12500,31250", help="demo sizes (per source, 4 sources)"
    )
    parser.add_argument(
        "--resample-from", type=int, help="prepare larger sizes by resampling this size"
    )
    parser.add_argument(
        "--prepare-embedder",
        choices=("sentence-transformers", "static"),
        default="sentence-transformers",
        help="embedder of `prepare` (static: every size generated, in seconds)",
    )
    parser.add_argument(
        "--only-default", action="store_true", help="defaults: the current rule only (fast)"
    )
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
    per_source = [int(p) for p in args.per_source.split(",")]
    if "prepare" in sections:
        for size in per_source:
            if args.resample_from and size > args.resample_from:
                resample_demo(args.demo_dir, size, args.resample_from)
            else:
                prepare_demo(args.demo_dir, size, embedder=args.prepare_embedder)
    if "ann" in sections:
        ann_bench([int(n) for n in args.ann_sizes.split(",")], args.points)
    for section in ("display", "dedupe", "hdbscan"):
        if section in sections:
            SECTIONS[section](args.demo_dir, per_source)
    if "defaults" in sections:
        defaults_bench(args.demo_dir, per_source, only_default=args.only_default)
    if "stacks" in sections:
        stacks_bench(args.demo_dir, per_source)


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


def ann_bench(sizes: list[int], points_file: Path | None) -> None:
    from simgap_core.map.layout import _exact_neighbours, _unit_rows, approximate_knn

    print("\n## Exact kNN against faiss IVF-flat and HNSW, k=15, inner product on unit vectors")
    print(f"machine: {machine()}; {load()}")
    print("cpu s = process CPU seconds (all threads); recall: share of approximate neighbours")
    print("at most as far as the exact 15th; same = a second run gives the identical graph")
    source = None
    if points_file is not None:
        source = np.load(points_file).astype(np.float32)
        print(f"points: {points_file} ({len(source)} rows) resampled with noise 0.02 per size")
    else:
        print("points: synthetic (20 clusters in 384-d, bench.planted)")
    print(f"{'points':>7} {'method':<22} {'cpu s':>7} {'wall s':>7} {'recall':>7} {'same':>5}")
    for n in sizes:
        if source is None:
            x = _unit_rows(planted(n)[0])
        else:
            rng = np.random.default_rng(n)
            rows = source[rng.integers(len(source), size=n)]
            x = _unit_rows(rows + 0.02 * rng.normal(size=rows.shape).astype(np.float32))
        (exact, exact_d), cpu, wall = clocked(_exact_neighbours, x, x, 15, same=True)
        print(f"{n:>7} {'exact (torch)':<22} {cpu:>7.1f} {wall:>7.1f} {1.0:>7.4f} {'yes':>5}")
        kth = exact_d[:, -1:] + 1e-5
        variants = [(f"IVF probe {f:.0%}", f) for f in (0.02, 0.05, 0.1)] + [("HNSW M=32 ef=64", 0)]
        for label, fraction in variants:
            if fraction:
                lists = max(1, min(n // 39, round(np.sqrt(n))))
                probe = max(1, round(fraction * lists))
                run, keywords = approximate_knn, {"n_probe": probe}
                label = f"{label} ({probe}/{lists})"
            else:
                run, keywords = hnsw_knn, {}
            (found, found_d), cpu, wall = clocked(run, x, 15, **keywords)
            recall = float(np.mean(found_d <= kth))
            same = np.array_equal(run(x, 15, **keywords)[0], found)
            print(
                f"{n:>7} {label:<22} {cpu:>7.1f} {wall:>7.1f} {recall:>7.4f} "
                f"{'yes' if same else 'no':>5}"
            )


def hnsw_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    from simgap_core.map.layout import _self_first

    index = faiss.IndexHNSWFlat(x.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 64
    index.add(x)
    index.hnsw.efSearch = 64
    similarity, found = index.search(x, k + 1)
    return _self_first(found, similarity, k)


def prepare_demo(
    folder: Path, per_source: int, *, seed: int = 1, embedder: str = "sentence-transformers"
) -> None:
    """Demo-shaped data: behaviour texts, embeddings and planted archetypes, once per size."""
    from simgap_core.demo import DEMO_SOURCES, generate_demo
    from simgap_core.embed import CachedEmbedder, SentenceTransformerEmbedder, StaticEmbedder
    from simgap_core.model import Conversation, Corpus
    from simgap_core.represent import represent

    target = folder / f"demo{per_source}.npy"
    if target.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    data = generate_demo(seed=seed, per_source=per_source)
    corpus = Corpus.from_conversations(
        Conversation(record["id"], source, [(m["role"], m["content"]) for m in record["messages"]])
        for source in DEMO_SOURCES
        for record in data.records[source]
    )
    frame = represent(corpus, "combined")
    frame["archetype"] = [a for source in DEMO_SOURCES for a in data.archetypes[source]]
    start = time.perf_counter()
    model = StaticEmbedder() if embedder == "static" else SentenceTransformerEmbedder()
    embeddings = CachedEmbedder(model).encode(frame["text"].tolist())
    print(
        f"prepared {len(frame)} conversations ({per_source} per source), "
        f"{frame['text'].nunique()} distinct texts, embedded in {time.perf_counter() - start:.0f} s"
    )
    frame.to_parquet(folder / f"demo{per_source}.parquet", index=False)
    np.save(target, embeddings)


def resample_demo(folder: Path, per_source: int, base: int, *, seed: int = 2) -> None:
    """Demo-shaped data at `per_source` drawn with replacement from a prepared size `base`.

    Within each source the rows are a bootstrap sample of the base rows, so the archetype
    mixture is the demo's; the distinct texts are the base's (fewer than a generated corpus of
    this size would have: 4,431 at 20k against 13,707 at 125k), so each repeats more often.
    """
    import pandas as pd

    target = folder / f"demo{per_source}.npy"
    if target.exists():
        return
    frame, embeddings = load_demo(folder, base)
    rng = np.random.default_rng(seed)
    rows = np.concatenate(
        [
            rng.choice(np.flatnonzero(frame["source"].to_numpy() == source), size=per_source)
            for source in pd.unique(frame["source"])
        ]
    )
    frame.iloc[rows].reset_index(drop=True).to_parquet(
        folder / f"demo{per_source}.parquet", index=False
    )
    np.save(target, embeddings[rows])
    print(f"resampled {len(rows)} conversations from {base} per source")


def load_demo(folder: Path, per_source: int) -> tuple[Any, np.ndarray] | None:
    import pandas as pd

    target = folder / f"demo{per_source}.npy"
    if not target.exists():
        print(f"(no demo data for {per_source} per source in {folder}: run --sections prepare)")
        return None
    return pd.read_parquet(folder / f"demo{per_source}.parquet"), np.load(target)


def mapped_demos(folder: Path, per_sources: list[int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(planted archetype per conversation, 5-d map coordinates) of each prepared demo size."""
    for per_source in per_sources:
        values = demo_map(folder, per_source)
        if values is not None:
            yield load_demo(folder, per_source)[0]["archetype"].to_numpy(), values["coords"]


def demo_map(folder: Path, per_source: int, *, dedupe: bool = True) -> dict | None:
    """The default map of a prepared demo size (cached), with its CPU and wall seconds."""
    from simgap_core.map.layout import build_map

    cached = folder / f"map{per_source}-{'dedupe' if dedupe else 'all'}.npz"
    if cached.exists():
        return dict(np.load(cached, allow_pickle=False))
    loaded = load_demo(folder, per_source)
    if loaded is None:
        return None
    _, embeddings = loaded
    warnings.simplefilter("ignore")
    result, cpu, wall = clocked(build_map, embeddings, seed=42, dedupe=dedupe)
    values = {
        "xy": result.xy,
        "coords": result.cluster_coords,
        "cpu": np.float64(cpu),
        "wall": np.float64(wall),
    }
    np.savez(cached, **values)
    return values


def display_bench(folder: Path, per_sources: list[int]) -> None:
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import adjusted_rand_score

    from simgap_core.map.layout import build_map, cluster, unique_rows

    warnings.simplefilter("ignore")
    print("\n## The 2-d display map: fitted on every distinct point, or on a sample + transform")
    print(f"machine: {machine()}; {load()}")
    print("demo-shaped data (4 sources), build_map timed whole (kNN, 2-d and 5-d fits);")
    print("trust = trustworthiness (k=15, cosine, 2,000 distinct points); ARI = HDBSCAN on the")
    print("2-d map against the planted archetypes (noise one label)")
    print(
        f"{'convs':>7} {'distinct':>8} {'2-d fit on':>10} {'cpu s':>7} {'wall s':>7} "
        f"{'trust':>6} {'ARI':>6}"
    )
    for per_source in per_sources:
        loaded = load_demo(folder, per_source)
        if loaded is None:
            continue
        frame, embeddings = loaded
        first, inverse = unique_rows(embeddings)
        truth = frame["archetype"].to_numpy()
        sample = np.random.default_rng(0).choice(len(first), size=min(2000, len(first)))
        sizes = [None, *[s for s in (2_000, 5_000, 10_000) if s < len(first)]]
        for size in sizes:
            result, cpu, wall = clocked(
                build_map, embeddings, seed=42, dedupe=True, display_fit_size=size
            )
            trust = trustworthiness(
                embeddings[first[sample]], result.xy[first[sample]], n_neighbors=15, metric="cosine"
            )
            ari = adjusted_rand_score(truth, cluster(result.xy))
            print(
                f"{len(frame):>7} {len(first):>8} {size or 'all':>10} {cpu:>7.1f} {wall:>7.1f} "
                f"{trust:>6.3f} {ari:>6.3f}"
            )


def dedupe_bench(folder: Path, per_sources: list[int]) -> None:
    from sklearn.metrics import adjusted_rand_score

    from simgap_core.map.layout import cluster

    print("\n## Identical rows mapped once and broadcast (dedupe) against every row mapped")
    print(f"machine: {machine()}; {load()}")
    print("demo-shaped data, default map and clustering; ARI against the planted archetypes")
    print(
        f"{'convs':>7} {'dedupe':>6} {'cpu s':>7} {'wall s':>7} {'noise':>6} "
        f"{'clusters':>8} {'ARI':>6}"
    )
    for per_source in per_sources:
        loaded = load_demo(folder, per_source)
        if loaded is None:
            continue
        truth = loaded[0]["archetype"].to_numpy()
        for dedupe in (True, False):
            values = demo_map(folder, per_source, dedupe=dedupe)
            labels = cluster(values["coords"])
            print(
                f"{len(truth):>7} {'yes' if dedupe else 'no':>6} {float(values['cpu']):>7.1f} "
                f"{float(values['wall']):>7.1f} {np.mean(labels < 0):>6.1%} "
                f"{labels.max() + 1:>8} {adjusted_rand_score(truth, labels):>6.3f}"
            )


def hdbscan_bench(folder: Path, per_sources: list[int]) -> None:
    from sklearn.metrics import adjusted_rand_score

    from simgap_core.map.layout import cluster, default_min_cluster_size, default_min_samples

    print("\n## HDBSCAN on the 5-d space: hdbscan against fast-hdbscan; raising min_cluster_size")
    print(f"machine: {machine()}; {load()}")
    print("demo-shaped data (dedupe map); each fit in this process after a warm-up fit;")
    print("peak = resident-memory high-water mark during the fit, MB")
    print(
        f"{'convs':>7} {'fit':<40} {'cpu s':>7} {'wall s':>7} {'peak MB':>8} "
        f"{'noise':>6} {'ARI':>6} {'ARI vs hdbscan':>14}"
    )
    fast_cluster(planted(500)[0][:, :5], min_cluster_size=10)  # compile or load its kernels
    for truth, coords in mapped_demos(folder, per_sources):
        n = len(coords)
        size, samples = default_min_cluster_size(n), default_min_samples(n)
        fits = [
            (f"hdbscan mcs={size} ms={samples}", dict(min_cluster_size=size)),
            (
                f"fast_hdbscan mcs={size} ms={samples}",
                dict(min_cluster_size=size, fast=True),
            ),
            (f"hdbscan mcs={size} ms={size} (old)", dict(min_cluster_size=size, min_samples=size)),
            (f"hdbscan mcs={5 * size} ms={samples}", dict(min_cluster_size=5 * size)),
            (
                f"hdbscan mcs={5 * size} ms={5 * size} (old)",
                dict(min_cluster_size=5 * size, min_samples=5 * size),
            ),
        ]
        reference = None
        for label, keywords in fits:
            before = reset_peak_rss_mb()
            work = fast_cluster if keywords.pop("fast", False) else cluster
            labels, cpu, wall = clocked(work, coords, **keywords)
            peak = peak_rss_mb() - before
            reference = labels if reference is None else reference
            print(
                f"{n:>7} {label:<40} {cpu:>7.2f} {wall:>7.2f} {peak:>8.0f} "
                f"{np.mean(labels < 0):>6.1%} {adjusted_rand_score(truth, labels):>6.3f} "
                f"{adjusted_rand_score(reference, labels):>14.3f}"
            )


def fast_cluster(coords: np.ndarray, *, min_cluster_size: int) -> np.ndarray:
    """fast-hdbscan with simgap's default min_samples (not a dependency: pip install it)."""
    import fast_hdbscan

    from simgap_core.map.layout import default_min_samples

    return fast_hdbscan.HDBSCAN(
        min_cluster_size=min_cluster_size, min_samples=default_min_samples(len(coords))
    ).fit_predict(np.asarray(coords, dtype=np.float64))


def defaults_bench(
    folder: Path, per_sources: list[int], only_default: bool = False, rule_names: tuple = ()
) -> None:
    from sklearn.metrics import adjusted_rand_score

    from simgap_core.map.layout import cluster, default_min_cluster_size, default_min_samples

    print("\n## Clustering defaults as data grows: candidate (min_cluster_size, min_samples)")
    print(f"machine: {machine()}; {load()}")
    print("demo-shaped data, 4 sources, default map; ARI against the 12 planted archetypes with")
    print("noise as one label (ARI* on clustered points only)")
    rules = {
        "old: 1% of n, ms = mcs": lambda n: (max(10, round(0.01 * n)), None),
        "1% of n, ms 10": lambda n: (max(10, round(0.01 * n)), 10),
        "1% of n, ms 25": lambda n: (max(10, round(0.01 * n)), 25),
        "0.5% of n, ms 10": lambda n: (max(10, round(0.005 * n)), 10),
        "2% of n, ms 10": lambda n: (max(10, round(0.02 * n)), 10),
        "1% of n, ms 0.1% of n": lambda n: (max(10, round(0.01 * n)), max(10, round(n / 1000))),
        "1% of n, ms 0.2% of n": lambda n: (max(10, round(0.01 * n)), max(10, round(n / 500))),
        "2% of n, ms 50": lambda n: (max(10, round(0.02 * n)), 50),
        "2% of n, ms 100": lambda n: (max(10, round(0.02 * n)), 100),
        "2% of n, ms 0.2% of n": lambda n: (max(10, round(0.02 * n)), max(25, round(n / 500))),
        "2% of n, ms 0.5% of n": lambda n: (max(10, round(0.02 * n)), max(25, round(n / 200))),
        "new default": lambda n: (
            default_min_cluster_size(n, n_sources=4),
            default_min_samples(n, default_min_cluster_size(n, n_sources=4)),
        ),
    }
    if only_default:
        rules = {"new default": rules["new default"]}
    elif rule_names:
        rules = {name: rule for name, rule in rules.items() if name in rule_names}
    print(
        f"{'convs':>7} {'rule':<26} {'mcs':>5} {'ms':>5} {'noise':>6} {'clusters':>8} "
        f"{'ARI':>6} {'ARI*':>6} {'cpu s':>6}"
    )
    for truth, coords in mapped_demos(folder, per_sources):
        n = len(coords)
        for name, rule in rules.items():
            size, samples = rule(n)
            if samples is None and n > 50_000:
                continue  # min_samples = min_cluster_size: 7.8 GB at 125k points
            samples = size if samples is None else samples
            labels, cpu, _ = clocked(cluster, coords, min_cluster_size=size, min_samples=samples)
            kept = labels >= 0
            print(
                f"{n:>7} {name:<26} {size:>5} {samples:>5} {np.mean(~kept):>6.1%} "
                f"{labels.max() + 1:>8} {adjusted_rand_score(truth, labels):>6.3f} "
                f"{adjusted_rand_score(truth[kept], labels[kept]):>6.3f} {cpu:>6.1f}"
            )


def stacks_bench(folder: Path, per_sources: list[int]) -> None:
    from sklearn.metrics import adjusted_rand_score

    from simgap_core.map.layout import cluster, default_min_cluster_size, unique_rows

    print("\n## Stacks of identical texts: HDBSCAN on every copy, or each stack capped")
    print(f"machine: {machine()}; {load()}")
    print("demo-shaped data, 4 sources, default map and cluster size; ARI against the 12 planted")
    print("archetypes with noise as one label")
    print(
        f"{'convs':>7} {'distinct':>8} {'stack cap':>9} {'rows':>7} {'noise':>6} "
        f"{'clusters':>8} {'ARI':>6} {'cpu s':>6}"
    )
    for truth, coords in mapped_demos(folder, per_sources):
        copies = np.bincount(unique_rows(coords)[1])
        n, distinct = len(coords), len(copies)
        size = default_min_cluster_size(n, n_sources=4)
        for cap in (None, 50, 25, 10, 5, 2, 1):
            labels, cpu, _ = clocked(cluster, coords, min_cluster_size=size, stack_cap=cap)
            rows = n if cap is None else int(np.minimum(copies, cap).sum())
            print(
                f"{n:>7} {distinct:>8} {cap or 'none':>9} {rows:>7} {np.mean(labels < 0):>6.1%} "
                f"{labels.max() + 1:>8} {adjusted_rand_score(truth, labels):>6.3f} {cpu:>6.1f}",
                flush=True,
            )


def clocked(work: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """(work(*args, **kwargs), CPU seconds of this process, wall seconds)."""
    cpu, wall = time.process_time(), time.perf_counter()
    value = work(*args, **kwargs)
    return value, time.process_time() - cpu, time.perf_counter() - wall


SECTIONS = {
    "display": display_bench,
    "dedupe": dedupe_bench,
    "hdbscan": hdbscan_bench,
    "defaults": defaults_bench,
}


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

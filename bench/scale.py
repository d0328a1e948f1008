"""The whole analysis at scale: N sources x M conversations, every text unique, cold caches.

    python bench/scale.py [--sources 25] [--per-source 5000] [--sizes 20000,50000,125000]
                          [--facet user_turns] [--embedder NAME] [--no-bertopic] [--keep DIR]

For each size (total conversations; `--sizes`, else sources x per-source) it writes demo-shaped
conversations spread over `--sources` sources (source i draws from the demo's mixture i mod 4:
real, close_sim, narrow_sim, chatty_sim), then in fresh processes:
1. `simgap analyze` (the run directory API, default parameters, facet `user_turns` so that the
   representation texts are the users' own words, which do not repeat), with an empty
   embedding cache (a temporary SIMGAP_CACHE_DIR) and the numba cache as a user has it after
   the first run (warm; it is filled by a small run first). Every stage's seconds and peak
   resident memory (a thread samples /proc/self/status every 0.1 s and charges the peak to the
   stage `analyze` reports as running).
2. The same run again with only new clustering parameters (min_cluster_size x 2).
3. The map stage split into its steps on the run's embeddings (neighbours, 2-d, 5-d, HDBSCAN).
4. BERTopic on the same representation texts (`fit_transform` + `topics_per_class` by source,
   its defaults, embedding with the same model as simgap: all-MiniLM-L6-v2 from the package
   path, or with `--embedder static` simgap's own distilled static model wrapped as a BERTopic
   backend), skipped with a message when bertopic is not installed (it is not a requirement
   of simgap).
`--embedder` names simgap's embedder (default: what the analysis chooses). The distilled static
model is a model, not a cache of the texts: it is distilled once under the user's cache and
linked into every cold cache, so "cold" still means no text has been embedded before.
Then a table per stage with a growth exponent (least-squares slope of log time on log size)
when there are at least three sizes, and the simgap / BERTopic time ratio per size.
Figures are seconds on this machine (printed with its core count and load).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import load, machine  # bench/ is on sys.path when a bench runs as a script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
STAGES = ("load", "features", "represent", "embed", "project", "cluster", "behaviour", "measure")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=25)
    parser.add_argument("--per-source", type=int, default=5000)
    parser.add_argument("--sizes", help="total conversations, comma-separated (overrides M)")
    parser.add_argument("--facet", default="user_turns", help="representation facet")
    parser.add_argument("--embedder", default="", help="simgap's embedder (default: its own)")
    parser.add_argument("--no-bertopic", action="store_true")
    parser.add_argument(
        "--bertopic-max",
        type=int,
        help="run BERTopic only at sizes up to this many conversations (it embeds every text)",
    )
    parser.add_argument("--no-breakdown", action="store_true", help="skip the map split")
    parser.add_argument("--keep", type=Path, help="keep data and run directories here")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](*args.child[1:])))
        return
    if args.sources < 2:
        sys.exit("--sources must be at least 2 (a reference and a simulator)")
    sizes = (
        [int(s) for s in args.sizes.split(",")] if args.sizes else [args.sources * args.per_source]
    )
    bertopic = not args.no_bertopic and has_bertopic()
    if not args.no_bertopic and not bertopic:
        print("bertopic is not installed: skipping the side-by-side (pip install bertopic)")

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = args.keep or Path(scratch_name)
        scratch.mkdir(parents=True, exist_ok=True)
        numba_cache = Path(os.environ.get("SIMGAP_CACHE_DIR", Path.home() / ".cache/simgap"))
        numba_cache = numba_cache / "numba"
        env = dict(
            os.environ,
            HF_HUB_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
            OMP_WAIT_POLICY="PASSIVE",
            NUMBA_CACHE_DIR=str(numba_cache),
            # The project first; then the caller's path (e.g. a --target folder holding bertopic).
            PYTHONPATH=os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
            PYTHONWARNINGS="ignore",
        )
        static_models = numba_cache.parent / "static"  # the user's distilled models
        warm = write_data(scratch / "warm", sources=2, per_source=200)
        warm_cache = cold_cache(scratch / "warm-cache", static_models)
        child(
            env | {"SIMGAP_CACHE_DIR": str(warm_cache)},
            "analyze",
            warm,
            "0",
            "user_turns",
            "",
            args.embedder,
        )
        rows = []
        for total in sizes:
            per_source = max(1, total // args.sources)
            data = write_data(scratch / f"data{total}", sources=args.sources, per_source=per_source)
            cold = cold_cache(scratch / f"cache{total}", static_models)
            out = scratch / f"run{total}"
            run_env = env | {"SIMGAP_CACHE_DIR": str(cold)}
            print(
                f"\n# {args.sources} sources x {per_source} = {args.sources * per_source}", end=""
            )
            print(f" conversations; machine: {machine()}; {load()}", flush=True)
            first = child(run_env, "analyze", data, "0", args.facet, str(out), args.embedder)
            print_run("cold run", first)
            size = first["facts"]["cluster"]["min_cluster_size_used"] * 2
            rerun = child(run_env, "analyze", data, str(size), args.facet, str(out), args.embedder)
            print_run(f"rerun, min_cluster_size {size}", rerun)
            breakdown = None if args.no_breakdown else child(run_env, "breakdown", str(out))
            if breakdown:
                print(
                    "  map steps (s): "
                    + ", ".join(f"{k} {v:.1f}" for k, v in breakdown["seconds"].items())
                )
            wanted = bertopic and (args.bertopic_max is None or total <= args.bertopic_max)
            embedder = first["facts"]["embed"].get("embedder", args.embedder)
            topic = child(env, "bertopic", str(out), embedder) if wanted else None
            if topic:
                print(
                    f"  BERTopic ({topic['embedder']}) on the same {topic['texts']} texts: "
                    f"{topic['total']:.1f} s "
                    f"(fit_transform {topic['fit']:.1f} s, topics_per_class "
                    f"{topic['per_class']:.1f} s), peak {topic['peak_mb']:.0f} MB, "
                    f"{topic['topics']} topics; simgap / BERTopic = "
                    f"{first['total'] / topic['total']:.2f}"
                )
            rows.append((args.sources * per_source, first, rerun, breakdown, topic))
    summary(rows)


def write_data(folder: Path, *, sources: int, per_source: int) -> Path:
    """`sources` OpenAI-messages JSONL files; source i draws from demo mixture i mod 4."""
    from simgap_core.demo import DEMO_SOURCES, generate_demo

    folder.mkdir(parents=True, exist_ok=True)
    pools = -(-sources // len(DEMO_SOURCES))  # sources drawing from each demo mixture
    data = generate_demo(seed=7, per_source=pools * per_source)
    names = []
    for i in range(sources):
        mixture = DEMO_SOURCES[i % len(DEMO_SOURCES)]
        name = "real" if i == 0 else f"sim{i:02d}_{mixture}"
        slot = i // len(DEMO_SOURCES)
        records = data.records[mixture][slot * per_source : (slot + 1) * per_source]
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        names.append(name)
    (folder / "sources.json").write_text(json.dumps(names))
    return folder


def cold_cache(folder: Path, static_models: Path) -> Path:
    """An empty simgap cache whose `static` folder is the user's distilled static models."""
    folder.mkdir(parents=True, exist_ok=True)
    static_models.mkdir(parents=True, exist_ok=True)
    link = folder / "static"
    if not link.exists():
        link.symlink_to(static_models, target_is_directory=True)
    return folder


def child(env: dict, kind: str, *args: Any) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"{kind} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class MemorySampler:
    """Peak resident memory per stage, sampled from /proc/self/status every 0.1 s."""

    def __init__(self) -> None:
        self.stage = "start"
        self.peaks: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            rss = proc_status_mb("VmRSS")
            self.peaks[self.stage] = max(self.peaks.get(self.stage, 0.0), rss)
            self.stop.wait(0.1)

    def enter(self, stage: str, done: int, total: int) -> None:
        self.stage = stage

    def close(self) -> dict[str, float]:
        self.stop.set()
        self.thread.join()
        return self.peaks


def child_analyze(
    data: str, min_cluster_size: str, facet: str = "user_turns", out: str = "", embedder: str = ""
) -> dict:
    from simgap_core.run import AnalysisParams, InputSpec, analyze

    folder = Path(data)
    names = json.loads((folder / "sources.json").read_text())
    inputs = [InputSpec(folder / f"{name}.jsonl", name, "openai") for name in names]
    chosen = {"embedder": embedder} if embedder else {}
    params = AnalysisParams(facet=facet, min_cluster_size=int(min_cluster_size) or None, **chosen)
    sampler = MemorySampler()
    cpu, started = time.process_time(), time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        run = analyze(inputs, out or scratch, params, progress=sampler.enter)
        document = run.params
        facts = {stage: run.facts(stage) for stage in ("embed", "cluster", "measure")}
        facts["embed"]["embedder"] = document.params.embedder
    total = time.perf_counter() - started
    peaks = sampler.close()
    representations = Path(out or scratch) / "representations.parquet"
    texts = None
    if out:
        import pandas as pd

        texts = pd.read_parquet(representations, columns=["text"])["text"]
    return {
        "total": total,
        "cpu": time.process_time() - cpu,
        "peak_mb": proc_status_mb("VmHWM"),
        "stage_peaks_mb": peaks,
        "timings": {k: document.stage_timings_s[k] for k in document.recomputed},
        "recomputed": document.recomputed,
        "facts": facts,
        "conversations": sum(document.sources.values()),
        "distinct_texts": None if texts is None else int(texts.nunique()),
    }


def child_breakdown(out: str) -> dict:
    """The map stage's steps on the run's embeddings, in the order the run does them."""
    from simgap_core.map import layout

    embeddings = np.load(Path(out) / "embeddings.npy")
    layout.warm_up()
    seconds = {}

    def step(name: str, work: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        value = work(*args, **kwargs)
        seconds[name] = time.perf_counter() - start
        return value

    method = "approximate" if len(embeddings) > layout.APPROXIMATE_ABOVE else "exact"
    neighbours = step(f"kNN ({method}, all rows)", layout.knn, embeddings, 15)
    result = step("build_map (kNN + 2-d + 5-d)", layout.build_map, embeddings, seed=42)
    step("HDBSCAN (default)", layout.cluster, result.cluster_coords)
    del neighbours
    return {"seconds": seconds, "params": result.params}


def child_bertopic(out: str, embedder: str = "sentence-transformers") -> dict:
    import pandas as pd
    from bertopic import BERTopic

    frame = pd.read_parquet(Path(out) / "representations.parquet")
    texts, classes = frame["text"].tolist(), frame["source"].tolist()
    sampler = MemorySampler()
    started = time.perf_counter()
    sampler.enter("fit", 0, 0)
    topic_model = BERTopic(embedding_model=bertopic_embedder(embedder))
    topics, _ = topic_model.fit_transform(texts)
    fitted = time.perf_counter()
    sampler.enter("per_class", 0, 0)
    topic_model.topics_per_class(texts, classes=classes)
    done = time.perf_counter()
    sampler.close()
    return {
        "embedder": embedder,
        "texts": len(texts),
        "total": done - started,
        "fit": fitted - started,
        "per_class": done - fitted,
        "peak_mb": proc_status_mb("VmHWM"),
        "topics": int(len(set(topics)) - (1 if -1 in topics else 0)),
    }


def bertopic_embedder(embedder: str) -> Any:
    """BERTopic's embedding model: MiniLM from the package path, or simgap's static model."""
    if embedder != "static":
        from sentence_transformers import SentenceTransformer

        from simgap_core.embed import resolve_model

        return SentenceTransformer(str(resolve_model("all-MiniLM-L6-v2").path), device="cpu")
    from bertopic.backend import BaseEmbedder

    from simgap_core.embed.static import StaticEmbedder

    class Static(BaseEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.static = StaticEmbedder()

        def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
            return self.static.encode(list(documents))

    return Static()


def print_run(label: str, result: dict) -> None:
    timings = result["timings"]
    peaks = result["stage_peaks_mb"]
    progress_name = {"corpus": "load"}  # analyze reports the corpus stage as "load"
    cells = ", ".join(
        f"{stage} {timings[stage]:.1f} s / "
        f"{peaks.get(progress_name.get(stage, stage), float('nan')):.0f} MB"
        for stage in timings
    )
    texts = f", {result['distinct_texts']} distinct texts" if result["distinct_texts"] else ""
    print(
        f"  {label}: {result['total']:.1f} s wall, {result['cpu']:.1f} s CPU, peak "
        f"{result['peak_mb']:.0f} MB{texts}; {cells}",
        flush=True,
    )


def summary(rows: list) -> None:
    print(f"\n## Summary; machine: {machine()}; {load()}")
    header = f"{'conversations':>13} " + " ".join(f"{s:>9}" for s in STAGES)
    print(
        header + f" {'other':>6} {'total':>8} {'peak MB':>8} {'rerun s':>8} {'BERTopic':>9} "
        f"{'ratio':>6}"
    )
    for n, first, rerun, row_breakdown, topic in rows:
        timings = first["timings"]
        stage_of = {"load": "corpus"}
        cells = " ".join(f"{timings.get(stage_of.get(s, s), float('nan')):>9.1f}" for s in STAGES)
        bert = topic["total"] if topic else float("nan")
        # Process start, imports, model load and writing the run: what no stage reports.
        other = first["total"] - sum(timings.values())
        print(
            f"{n:>13} {cells} {other:>6.1f} {first['total']:>8.1f} {first['peak_mb']:>8.0f} "
            f"{rerun['total']:>8.1f} {bert:>9.1f} {first['total'] / bert:>6.2f}"
            + (f"  (map: {map_steps(row_breakdown)})" if row_breakdown else "")
        )
    if len(rows) >= 3:
        sizes = np.log([row[0] for row in rows])
        exponents = []
        for stage in (*STAGES, "total"):
            key = {"load": "corpus"}.get(stage, stage)
            values = [
                row[1]["total"] if stage == "total" else row[1]["timings"].get(key) for row in rows
            ]
            if all(v and v > 0 for v in values):
                exponents.append(f"{stage} n^{np.polyfit(sizes, np.log(values), 1)[0]:.2f}")
        steps = [row[3] for row in rows]
        if all(steps):
            for name in steps[0]["seconds"]:
                values = [step["seconds"].get(name) for step in steps]
                if all(v and v > 0 for v in values):
                    slope = np.polyfit(sizes, np.log(values), 1)[0]
                    exponents.append(f"{name} n^{slope:.2f}")
        peaks = [row[1]["peak_mb"] for row in rows]
        exponents.append(f"peak memory n^{np.polyfit(sizes, np.log(peaks), 1)[0]:.2f}")
        print("growth exponents (time ~ n^a): " + ", ".join(exponents))


def map_steps(breakdown: dict) -> str:
    return ", ".join(f"{name} {value:.1f} s" for name, value in breakdown["seconds"].items())


def has_bertopic() -> bool:
    import importlib.util

    return importlib.util.find_spec("bertopic") is not None


def proc_status_mb(field: str) -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


CHILDREN = {"analyze": child_analyze, "breakdown": child_breakdown, "bertopic": child_bertopic}

if __name__ == "__main__":
    main()

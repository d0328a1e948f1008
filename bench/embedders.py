"""MiniLM against the static embedder, judged on verdicts: may the fast one be the default?

    python bench/embedders.py [--cases demo,wildchat-halves,...] [--embedders NAME,...]
                              [--corpora DIR] [--keep DIR]

Every case is analysed with default parameters (facet combined, heuristic annotator) once per
embedder, in this process, with an empty embedding cache (the demo case uses the user's cache,
where MiniLM's vectors of the committed demo usually are; its texts/s is then not measured).
The static model is the user's distilled one (`$SIMGAP_CACHE_DIR/static`, distilled on first
use). Cases, built from the public corpora in ../shared/corpora (a few hundred conversations
each, drawn with a fixed seed) and from the committed demo:

- `demo`: data/demo, 4 sources; planted gaps: close_sim small (true JS 0.0095), narrow_sim and
  chatty_sim large. All three should be flagged.
- `demo-20k`: the demo generator at 5,000 conversations per source (20,000 in all, seed 7):
  the same planted gaps with 3.3x the data; where MiniLM would embed ~4,500 distinct texts
  (minutes), so it answers whether the static model finds close_sim's small gap at a size
  where the choice matters. Not in the default cases.
- `wildchat-halves`, `hh-halves`: 400 WildChat (or hh-rlhf) conversations split at random into
  "real" and "sim": one population, so no gap should be flagged.
- `wildchat-minus-hh`: real = 160 WildChat + 40 hh-rlhf conversations, sim = 200 other WildChat
  conversations: the sim never shows hh-rlhf's (harmlessness, red-teaming) requests, 20% of
  real. The gap should be flagged, and the cluster the sim misses most should be hh-rlhf's.
- `telecom-minus-impatience`: tau-trait's telecom simulators (confusion, impatience,
  incoherence, skeptical, none) split in halves per trait; sim drops its impatient half.

Printed: a table of case, embedder, embed texts/s, seconds, and per simulator the JS with its
interval, the permutation / probe / map p-values (Holm), the verdict (gap, no gap, or
undecided: the evidence disagrees or the data are too small), and, where a behaviour was
removed, the share of it in the cluster the simulator misses most (real share minus sim share).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from machine import load, machine  # bench/ is on sys.path when a bench runs as a script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The cases' caches are cold for texts, not for UMAP's compiled kernels: keep the user's.
os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(Path(os.environ.get("SIMGAP_CACHE_DIR", Path.home() / ".cache/simgap")) / "numba"),
)
EMBEDDERS = ("sentence-transformers", "static")
SEED = 11


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        default=",".join(case for case in CASES if case != "demo-20k"),
        help="comma-separated cases",
    )
    parser.add_argument("--embedders", default=",".join(EMBEDDERS))
    parser.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--keep", type=Path, help="keep case data and runs here")
    args = parser.parse_args()
    print(f"# embedders on verdicts; machine: {machine()}; {load()}")
    rows = []
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = args.keep or Path(scratch_name)
        for case in args.cases.split(","):
            inputs, removed = CASES[case](args.corpora, scratch / case)
            for embedder in args.embedders.split(","):
                rows.append((case, embedder, run_case(case, inputs, removed, embedder, scratch)))
                print_row(*rows[-1], flush=True)
    print(f"\n## Summary; {load()}")
    print_header()
    for row in rows:
        print_row(*row)


def run_case(
    case: str, inputs: list, removed: dict[str, str], embedder: str, scratch: Path
) -> dict[str, Any]:
    """One analysis (cold embedding cache except for the demo) and what it concluded."""
    from simgap_core import cache_root
    from simgap_core.run import AnalysisParams, analyze

    out = scratch / f"run-{case}-{embedder}"
    cache = scratch / f"cache-{case}-{embedder}"
    cache.mkdir(parents=True, exist_ok=True)
    user_cache = cache_root()
    if not (cache / "static").exists():
        (user_cache / "static").mkdir(parents=True, exist_ok=True)
        (cache / "static").symlink_to(user_cache / "static", target_is_directory=True)
    os.environ["SIMGAP_CACHE_DIR"] = str(user_cache if case == "demo" else cache)
    try:
        started = time.perf_counter()
        run = analyze(inputs, out, AnalysisParams(embedder=embedder))
        seconds = time.perf_counter() - started
    finally:
        os.environ["SIMGAP_CACHE_DIR"] = str(user_cache)
    embed = run.facts("embed")
    embedded = embed.get("embedded_texts") or 0
    embed_seconds = run.params.stage_timings_s.get("embed", float("nan"))
    return {
        "seconds": seconds,
        "texts_per_s": embedded / embed_seconds if embedded else None,
        "embedded": embedded,
        "simulators": simulator_verdicts(out, removed),
    }


def simulator_verdicts(out: Path, removed: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per simulator: JS [interval], p-values, verdict, and the removed behaviour's share of
    the cluster the simulator misses most."""
    import pandas as pd

    from simgap_core.present.verdicts import _evidence, no_gap_sentence
    from simgap_core.schema import read_metrics

    metrics = read_metrics(out)
    clusters = pd.read_parquet(out / "clusters.parquet")
    found = {}
    for name, entry in metrics.ranked():
        evidence = {e.name.removeprefix("the "): e.text for e in _evidence(metrics, name)}
        sentence = no_gap_sentence(metrics, name)
        verdict = (
            "gap"
            if "beyond noise" in sentence
            else "no gap"
            if "as close to" in sentence
            else "undecided"
        )
        found[name] = {
            "js": entry.paper.js,
            "js_ci": entry.paper.js_ci,
            "evidence": evidence,
            "verdict": verdict,
            "missed": missed_share(clusters, metrics.reference, name, removed),
        }
    return found


def missed_share(
    clusters: Any, reference: str, simulator: str, removed: dict[str, str]
) -> float | None:
    """Share of the removed behaviour among the reference conversations of the cluster whose
    reference share most exceeds the simulator's; None when nothing was removed."""
    if not removed:
        return None
    pair = clusters[clusters["source"].isin([reference, simulator]) & (clusters["cluster"] >= 0)]
    shares = pd_shares(pair)
    if reference not in shares or simulator not in shares:
        return None
    gap = shares[reference].fillna(0) - shares[simulator].fillna(0)
    top = gap.idxmax()
    members = pair[(pair["cluster"] == top) & (pair["source"] == reference)]["conversation_id"]
    return float(np.mean([cid in removed for cid in members])) if len(members) else None


def pd_shares(frame: Any) -> Any:
    counts = frame.groupby(["cluster", "source"]).size().unstack("source")
    return counts / counts.sum()


def write_jsonl(path: Path, conversations: list[tuple[str, list[tuple[str, str]]]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for cid, turns in conversations:
            messages = [{"role": role, "content": text} for role, text in turns]
            handle.write(json.dumps({"id": cid, "messages": messages}, ensure_ascii=False) + "\n")
    return path


def corpus_conversations(path: Path, prefix: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """(id, turns) of every conversation with a user turn, in a seeded random order."""
    from simgap_core.io.loaders import load_file

    if not path.exists():
        sys.exit(f"error: {path} is missing (the corpora live in ../shared/corpora)")
    turns = load_file(path).turns_by_conversation()
    kept = [(f"{prefix}-{i}", t) for i, (_, t) in enumerate(sorted(turns.items())) if has_user(t)]
    order = np.random.default_rng(SEED).permutation(len(kept))
    return [kept[i] for i in order]


def has_user(turns: list[tuple[str, str]]) -> bool:
    return any(role == "user" and text.strip() for role, text in turns)


def two_sources(folder: Path, real: list, sim: list) -> list:
    from simgap_core.io.inputs import InputSpec

    return [
        InputSpec(write_jsonl(folder / "real.jsonl", real), "real", "openai"),
        InputSpec(write_jsonl(folder / "sim.jsonl", sim), "sim", "openai"),
    ]


def case_demo(corpora: Path, folder: Path) -> tuple[list, dict[str, str]]:
    from simgap_core.demo import DEMO_SOURCES
    from simgap_core.io.inputs import InputSpec

    demo = ROOT / "data" / "demo"
    return [InputSpec(demo / f"{s}.jsonl", s, "openai") for s in DEMO_SOURCES], {}


def case_demo_20k(corpora: Path, folder: Path) -> tuple[list, dict[str, str]]:
    from simgap_core.demo import DEMO_SOURCES, generate_demo
    from simgap_core.io.inputs import InputSpec

    data = generate_demo(seed=7, per_source=5000)
    inputs = []
    for source in DEMO_SOURCES:
        path = folder / f"{source}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            for record in data.records[source]:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        inputs.append(InputSpec(path, source, "openai"))
    return inputs, {}


def halves(relative: str, prefix: str) -> Callable[[Path, Path], tuple[list, dict[str, str]]]:
    def build(corpora: Path, folder: Path) -> tuple[list, dict[str, str]]:
        conversations = corpus_conversations(corpora / relative, prefix)[:400]
        return two_sources(folder, conversations[0::2], conversations[1::2]), {}

    return build


def case_wildchat_minus_hh(corpora: Path, folder: Path) -> tuple[list, dict[str, str]]:
    from simgap_core.model import conversation_key

    wildchat = corpus_conversations(corpora / "real/wildchat/wildchat.jsonl", "wildchat")
    hh = corpus_conversations(corpora / "real/hh_rlhf/test.jsonl.gz", "hh")[:40]
    real, sim = wildchat[:160] + hh, wildchat[160:360]
    return two_sources(folder, real, sim), {conversation_key("real", cid): "hh" for cid, _ in hh}


def case_telecom_minus_impatience(corpora: Path, folder: Path) -> tuple[list, dict[str, str]]:
    from simgap_core.model import conversation_key

    real, sim, removed = [], [], {}
    for trait in ("confusion", "impatience", "incoherence", "skeptical"):
        found = corpus_conversations(corpora / f"simulated/tau_trait/{trait}_telecom.json", trait)
        real += found[0::2]
        if trait == "impatience":
            removed |= {conversation_key("real", cid): trait for cid, _ in found[0::2]}
        else:
            sim += found[1::2]
    none = corpus_conversations(corpora / "simulated/tau_trait/telecom_none.json", "none")
    return two_sources(folder, real + none[0::2], sim + none[1::2]), removed


CASES: dict[str, Callable[[Path, Path], tuple[list, dict[str, str]]]] = {
    "demo": case_demo,
    "demo-20k": case_demo_20k,
    "wildchat-halves": halves("real/wildchat/wildchat.jsonl", "wildchat"),
    "hh-halves": halves("real/hh_rlhf/test.jsonl.gz", "hh"),
    "wildchat-minus-hh": case_wildchat_minus_hh,
    "telecom-minus-impatience": case_telecom_minus_impatience,
}


def print_header() -> None:
    print(
        f"{'case':<25} {'embedder':<21} {'texts/s':>8} {'run s':>6} {'simulator':<10} "
        f"{'JS [95% interval]':<25} {'verdict':<9} {'removed in top miss':>19}  evidence (Holm)"
    )


def print_row(case: str, embedder: str, result: dict[str, Any], flush: bool = False) -> None:
    rate = f"{result['texts_per_s']:.0f}" if result["texts_per_s"] else "cached"
    for name, entry in result["simulators"].items():
        low, high = entry["js_ci"] or (float("nan"), float("nan"))
        missed = "-" if entry["missed"] is None else f"{entry['missed']:.0%}"
        print(
            f"{case:<25} {embedder:<21} {rate:>8} {result['seconds']:>6.0f} {name:<10} "
            f"{entry['js']:.4f} [{low:.4f}, {high:.4f}]   {entry['verdict']:<9} {missed:>19}  "
            + "; ".join(entry["evidence"].values()),
            flush=flush,
        )


if __name__ == "__main__":
    main()

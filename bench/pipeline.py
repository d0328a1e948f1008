"""End-to-end pipeline benchmark: stage timings and peak memory at 1k / 5k / 20k conversations.

Each size runs `simgap analyze` on demo data of that size (four sources) in a fresh process,
with an empty embedding cache (every text is embedded) and the numba cache as a user has it
after the first run (warm), so the UMAP figure includes what a fresh process still spends
compiling. Then the same run directory is rerun with new clustering parameters only.

    python bench/pipeline.py [--sizes 1000 5000 20000] [--no-measure] [--keep DIR]

Prints one table; figures are wall-clock seconds on this machine.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("corpus", "describe", "represent", "embed", "project", "cluster", "measure")

CHILD = """
import json, sys, time
from pathlib import Path
from simgap_core.demo import DEMO_SOURCES
from simgap_core.run import AnalysisParams, InputSpec, analyze
data, out = Path(sys.argv[1]), Path(sys.argv[2])
measure, min_cluster_size = sys.argv[3] == "1", sys.argv[4]
inputs = [InputSpec(data / f"{name}.jsonl", name, "openai") for name in DEMO_SOURCES]
params = AnalysisParams(measure=measure, min_cluster_size=int(min_cluster_size) or None)
started = time.perf_counter()
run = analyze(inputs, out, params)
document = run.params
facts = {stage: run.facts(stage) for stage in ("embed", "cluster", "measure")}
print(json.dumps({"total": time.perf_counter() - started, "recomputed": document.recomputed,
                  "timings": document.stage_timings_s, "facts": facts}))
"""


def run_child(data: Path, out: Path, *, measure: bool, min_cluster_size: int, env: dict) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(data),
            str(out),
            "1" if measure else "0",
            str(min_cluster_size),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"analysis failed:\n{completed.stderr[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["process_wall"] = wall
    # ru_maxrss of children is the largest child so far (KiB on Linux).
    result["peak_mib"] = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--no-measure", action="store_true", help="skip the metrics stage")
    parser.add_argument("--keep", type=Path, help="keep run directories under this folder")
    args = parser.parse_args()

    from simgap_core.demo import write_demo

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        env = dict(os.environ)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        # Warm numba cache (as after a user's first run), cold embedding cache.
        home_cache = Path(env.get("SIMGAP_CACHE_DIR", Path.home() / ".cache" / "simgap"))
        env["NUMBA_CACHE_DIR"] = str(home_cache / "numba")
        rows = []
        for size in args.sizes:
            data = write_demo(scratch / f"data{size}", seed=1, per_source=size // 4)
            env["SIMGAP_CACHE_DIR"] = str(scratch / f"cache{size}")
            out = (args.keep or scratch) / f"run{size}"
            first = run_child(data, out, measure=not args.no_measure, min_cluster_size=0, env=env)
            base = first["facts"]["cluster"]["min_cluster_size_used"]
            # New clustering parameters only: first without the metrics stage (the map's own
            # rerun), then with it (the quantization and classifier come from the memo).
            rerun = run_child(data, out, measure=False, min_cluster_size=base * 2, env=env)
            remeasure = None
            if not args.no_measure:
                remeasure = run_child(data, out, measure=True, min_cluster_size=base * 3, env=env)
            rows.append((size, first, rerun, remeasure))

    header = f"{'conversations':>13} " + " ".join(f"{s:>9}" for s in STAGES)
    header += f" {'analyze':>8} {'process':>8} {'peak MiB':>9}"
    print(header)
    for size, first, rerun, remeasure in rows:
        timings = first["timings"]
        cells = " ".join(f"{timings.get(s, float('nan')):9.2f}" for s in STAGES)
        print(
            f"{size:>13} {cells} {first['total']:8.1f} {first['process_wall']:8.1f} "
            f"{first['peak_mib']:9.0f}"
        )
        for label, again in (("rerun, new clustering", rerun), ("rerun + metrics", remeasure)):
            if again is not None:
                print(
                    f"{'':>13} {label}: {again['total']:.2f} s in analyze "
                    f"({again['process_wall']:.1f} s with process start), "
                    f"recomputed {', '.join(again['recomputed'])}"
                )
        measure_detail = first["facts"]["measure"].get("measure_timings_s")
        if measure_detail:
            print(f"{'':>13} measure stages: {measure_detail}")
        print(
            f"{'':>13} embedded texts: {first['facts']['embed'].get('embedded_texts')} "
            f"({first['facts']['embed'].get('precision')})"
        )


if __name__ == "__main__":
    main()

"""The measure stage alone, at a growing number of simulators, and its numbers against a run's.

    python bench/measure_speed.py [--run DIR] [--sources 5 10 25] [--per-source 80]
                                  [--compare RUN_DIR] [--profile]

Without `--run` it writes `bench/scale.py`'s data (source i draws from demo mixture i mod 4)
for the largest `--sources` at `--per-source` conversations each and analyzes it without the
measure stage (default parameters, the heuristic `combined` facet). Then for each count N it
calls `measure` on the rows of the reference and the first N - 1 simulators, with the plain
quantizer and probe (no disk memo: a cold measure stage) on `--workers` processes (2, as
the stage), and prints its wall-clock seconds
and the seconds per internal stage (summed over simulators, so with parallel simulators they
can add up to more than the wall clock).

`--compare RUN_DIR` measures that run's artifacts again and prints, per simulator, the stored
and the fresh corrected JS with its interval, the p-values and the probe, and the verdicts
(`data/demo_run` is the committed demo). `--profile` prints the top of a cProfile of the
largest count.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import load, machine  # bench/ is on sys.path when a bench runs as a script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_inputs(run_dir: Path) -> dict[str, Any]:
    """`measure`'s arguments from a run directory's artifacts, as the measure stage builds them."""
    from simgap_core.run.directory import Run
    from simgap_core.run.stages.measure import measure_inputs

    run = Run(run_dir)
    return measure_inputs(
        run.corpus(), run.representations(), run.embeddings(), run.projection(), run.clusters()
    )


def subset(inputs: dict[str, Any], n_sources: int) -> dict[str, Any]:
    """The rows of the reference and the first `n_sources - 1` simulators (by name)."""
    sources = np.asarray(inputs["sources"])
    simulators = sorted(set(sources.tolist()) - {"real"})[: n_sources - 1]
    keep = np.isin(sources, ["real", *simulators])
    taken: dict[str, Any] = {}
    for name, column in inputs.items():
        if isinstance(column, np.ndarray):
            taken[name] = column[keep]
        else:
            taken[name] = [value for value, kept in zip(column, keep, strict=True) if kept]
    labels = taken["map_labels"]
    present = np.unique(labels[labels >= 0])
    renumbered = np.searchsorted(present, labels)  # clusters without rows dropped, in order
    taken["map_labels"] = np.where(labels >= 0, renumbered, -1)
    return taken


def timed_measure(inputs: dict[str, Any], workers: int = 1) -> tuple[float, float, Any]:
    """Wall-clock and CPU seconds of `measure` (CPU of this process: the workers' is not in
    it, so with --workers 1 it is the whole stage's, the figure a busy machine moves least)."""
    from simgap_core.measure.compare import measure

    started, cpu = time.perf_counter(), time.process_time()
    result = measure(**inputs, workers=workers)
    return time.perf_counter() - started, time.process_time() - cpu, result


def make_run(folder: Path, sources: int, per_source: int) -> Path:
    """Analyze `scale.py`'s data without the measure stage; returns the run directory."""
    from scale import write_data  # bench/ is on sys.path when a bench runs as a script

    from simgap_core.run import AnalysisParams, InputSpec, analyze

    data = write_data(folder / "data", sources=sources, per_source=per_source)
    names = [p.stem for p in sorted(data.glob("*.jsonl"))]
    inputs = [InputSpec(data / f"{name}.jsonl", name, "openai") for name in names]
    out = folder / "run"
    analyze(inputs, out, AnalysisParams(measure=False))
    return out


def compare(run_dir: Path, workers: int) -> None:
    """Stored against fresh numbers per simulator (JS, interval, p-values, probe, verdicts)."""
    from simgap_core.run.directory import Run

    stored = Run(run_dir).metrics().model_dump(mode="json")
    seconds, cpu, result = timed_measure(run_inputs(run_dir), workers)
    fresh = result.metrics
    (Path(tempfile.gettempdir()) / "measure_speed_fresh.json").write_text(json.dumps(fresh))
    print(f"measure on {run_dir}: {seconds:.1f} s ({cpu:.1f} s CPU in this process); {load()}")
    print(f"seconds per internal stage: {dict(_rounded(result.timings))}")
    header = (
        f"{'simulator':<14} {'':>6} {'js':>7} {'js_ci':>17} {'p':>7} {'p_adj':>7} "
        f"{'auc':>6} {'auc_p':>8} {'probe_adj':>9} {'map_p':>7} tied_with"
    )
    print(header)
    for sim in stored["simulators"]:
        for label, document in (("stored", stored), ("fresh", fresh)):
            entry = document["simulators"][sim]
            paper, probe = entry["paper"], entry["classifier"] or {}
            ci = paper["js_ci"] or [None, None]
            print(
                f"{sim:<14} {label:>6} {_cell(paper['js'], '7.4f')} "
                f"[{_cell(ci[0], '7.4f')}, {_cell(ci[1], '7.4f')}] "
                f"{_cell(paper['p_value'], '7.4f')} {_cell(paper['p_value_adjusted'], '7.4f')} "
                f"{_cell(probe.get('auc'), '6.3f')} {_cell(probe.get('p_value'), '8.2g')} "
                f"{_cell(probe.get('p_value_adjusted'), '9.2g')} "
                f"{_cell(entry['map']['p_value'], '7.4f')} {','.join(entry['tied_with']) or '-'}"
            )
    for key in ("ranking_holds", "map_agrees", "min_kendall_tau", "untied_pairs", "checked"):
        print(
            f"robustness.{key}: stored {stored['robustness'].get(key)}, "
            f"fresh {fresh['robustness'].get(key)}"
        )
    print(
        f"leaderboard: stored {[row['simulator'] for row in stored['leaderboard']]}, "
        f"fresh {[row['simulator'] for row in fresh['leaderboard']]}"
    )
    for key in ("helps", "held_out_gain", "best_single"):
        print(f"mixture.{key}: stored {stored['mixture'][key]}, fresh {fresh['mixture'][key]}")


def _cell(value: float | None, spec: str) -> str:
    """`value` formatted, or "-" at the same width when the document has none."""
    width = int(spec.split(".")[0])
    return format(value, spec) if value is not None else "-".rjust(width)


def _rounded(timings: dict[str, float]) -> list[tuple[str, float]]:
    return [(name, round(value, 2)) for name, value in timings.items() if value >= 0.005]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="an analyzed run directory to measure")
    parser.add_argument("--sources", type=int, nargs="+", default=[5, 10, 25])
    parser.add_argument("--per-source", type=int, default=80)
    parser.add_argument("--compare", type=Path, help="a run directory to re-measure")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--workers", type=int, default=2, help="processes measuring simulators (the stage's: 2)"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.compare:
        compare(args.compare, args.workers)
        return
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = args.run or make_run(Path(scratch), max(args.sources), args.per_source)
        inputs = run_inputs(run_dir)
        print(f"{machine()}; {load()}")
        print(f"{'sources':>7} {'rows':>6} {'wall s':>7} {'CPU s':>7}  seconds per internal stage")
        for count in args.sources:
            chosen = subset(inputs, count)
            if count == max(args.sources) and args.profile:
                profiler = cProfile.Profile()
                seconds, cpu, result = profiler.runcall(timed_measure, chosen, args.workers)
            else:
                seconds, cpu, result = timed_measure(chosen, args.workers)
            rows = len(chosen["sources"])
            print(
                f"{count:>7} {rows:>6} {seconds:7.2f} {cpu:7.2f}  {_rounded(result.timings)}",
                flush=True,
            )
        if args.profile:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()

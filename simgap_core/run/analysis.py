"""`analyze`: the whole analysis into a run directory, resumable and listed in its manifest.

It makes the parts `AnalysisParams` names (or takes part objects), checks the output folder,
and hands a `Context` to `pipeline.run_stages`, which brings each stage up to date; then it
writes `params.json` (the parameters, inputs, versions and what this pass recomputed). Parts
come from the registry (`simgap_core.parts`); embedders made from it are wrapped in
`CachedEmbedder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simgap_core import parts
from simgap_core.errors import SimgapError
from simgap_core.io.inputs import InputSpec, describe_inputs, load_inputs
from simgap_core.run.directory import (
    RUN_FORMAT_VERSION,
    Manifest,
    Run,
    check_output_directory,
    package_versions,
    recording,
    write_json,
)
from simgap_core.run.params import AnalysisParams, make_part
from simgap_core.run.pipeline import Outcome, run_stages
from simgap_core.run.records import StageBook
from simgap_core.run.stages.base import Context, NoticeCallback, Parts, ProgressCallback
from simgap_core.run.stages.cluster import cluster_mass
from simgap_core.run.stages.project import cluster_space

__all__ = [
    "AnalysisParams",
    "InputSpec",
    "NoticeCallback",
    "ProgressCallback",
    "analyze",
    "cluster_mass",
    "cluster_space",
    "load_inputs",
    "make_part",
]


def analyze(
    inputs: Sequence[InputSpec],
    out: str | Path,
    params: AnalysisParams | None = None,
    *,
    progress: ProgressCallback | None = None,
    notice: NoticeCallback | None = None,
    annotator: Any = None,
    embedder: Any = None,
    reducer: Any = None,
    clusterer: Any = None,
    quantizer: Any = None,
    namer: Any = None,
) -> Run:
    """Run (or resume) the whole analysis into `out`, recomputing only stale stages.

    Parts passed as objects replace the ones `params` names (an `embedder` object is used as
    given: wrap it in `CachedEmbedder` to cache its vectors). `notice(message)` hears about
    artifacts found missing or unreadable and recomputed.
    """
    params = params or AnalysisParams()
    params.validate()
    if not inputs:
        raise SimgapError("no inputs: give at least one real and one simulated file")
    run = Run(out)
    check_output_directory(run.path)
    report = progress or (lambda stage, done, total: None)
    given = {
        "annotator": annotator,
        "embedder": embedder,
        "reducer": reducer,
        "clusterer": clusterer,
        "quantizer": quantizer,
        "namer": namer,
    }
    chosen = _parts(params, report, given)
    run.path.mkdir(parents=True, exist_ok=True)
    # Every file written from here on is listed in the run's manifest (the first, stages.json,
    # creates it): the manifest makes the folder a run and says what a rerun may replace.
    with recording(Manifest.read(run.path) or Manifest(run.path)):
        book = StageBook(run)
        book.start()
        context = Context(
            run=run,
            params=params,
            inputs=inputs,
            input_records=describe_inputs(inputs),
            parts=chosen,
            report=report,
            tell=notice or (lambda message: None),
        )
        outcome = run_stages(context, book)
        _write_params(context, outcome)
    return run


def _parts(params: AnalysisParams, report: ProgressCallback, given: dict[str, Any]) -> Parts:
    """The parts given as objects, and the ones `params` names for the rest: all made before
    any work, so a bad parameter or a missing endpoint fails first."""
    from simgap_core.represent import BASELINE_FACETS

    chosen = {kind: part for kind, part in given.items() if part is not None}
    if params.facet in BASELINE_FACETS:
        chosen["annotator"] = None  # the text is the conversation's own: nothing to describe
    elif "annotator" not in chosen:
        chosen["annotator"] = _made(params, "annotator", report)
    for kind in ("embedder", "reducer", "clusterer", "quantizer", "namer"):
        if kind not in chosen:
            chosen[kind] = _made(params, kind, report)
    if "embedder" not in given or given["embedder"] is None:
        from simgap_core.embed import CachedEmbedder

        chosen["embedder"] = CachedEmbedder(
            chosen["embedder"], progress=lambda done, total: report("embed", done, total)
        )
    return Parts(**chosen)


def _made(params: AnalysisParams, kind: str, report: ProgressCallback) -> Any:
    """The part `params` names for `kind`; one with slow set-up of its own reports it."""
    stage = parts.part_class(kind, getattr(params, kind)).progress_stage
    if stage is None:
        return make_part(params, kind)
    return make_part(params, kind, progress=lambda done, total: report(stage, done, total))


def _write_params(context: Context, outcome: Outcome) -> None:
    run, params, corpus = context.run, context.params, context.corpus
    try:
        previous = run.params if run.exists() else None
    except SimgapError:
        previous = None  # an unreadable params.json is rewritten whole below
    now = datetime.now(UTC).isoformat(timespec="seconds")
    history = dict(previous.stage_timings_s) if previous else {}
    history.update(outcome.timings)
    document = {
        "format_version": RUN_FORMAT_VERSION,
        "created": previous.created if previous else now,
        "updated": now,
        "params": params.as_record(),
        "inputs": context.input_records,
        "sources": {
            source: int(count)
            for source, count in corpus.conversations["source"].value_counts(sort=False).items()
        },
        "versions": package_versions(),
        "stages": context.fingerprints,
        "recomputed": outcome.recomputed,
        "notices": outcome.notices,
        "stage_timings_s": history,
    }
    write_json(run.path / "params.json", document)

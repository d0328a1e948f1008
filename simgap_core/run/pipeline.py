"""The order of the stages and the one loop that decides, stage by stage, what to recompute.

The stages, in order: corpus (load the inputs), features (behaviour features per conversation
and their gaps per simulator: they read only the corpus, so a new clustering reuses them),
describe (an annotator's behaviour texts; behaviour facets only), represent (one text per
conversation), embed (an embedder), project (a reducer), cluster (a clusterer), behaviour (a
name and description per cluster), measure (the gap). Each stage (`stages/`) declares its
inputs, parts, parameters and artifacts; its `StageRecord` fingerprints them together with the
fingerprints of its inputs. A stage is reused when its saved fingerprint matches, none of its
inputs was recomputed in this run, and its artifacts read back whole; otherwise it is
recomputed, with a notice saying why when artifacts were missing or unreadable. `StageBook`
forgets a stage's record before it recomputes and writes the new one last, so an interrupted
run never vouches for half-written artifacts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from simgap_core.errors import RunDirectoryError
from simgap_core.run.records import StageBook
from simgap_core.run.stages.base import Context, Stage
from simgap_core.run.stages.behaviour import BehaviourStage
from simgap_core.run.stages.cluster import ClusterStage
from simgap_core.run.stages.corpus import CorpusStage
from simgap_core.run.stages.describe import DescribeStage
from simgap_core.run.stages.embed import EmbedStage
from simgap_core.run.stages.features import FeaturesStage
from simgap_core.run.stages.measure import MeasureStage
from simgap_core.run.stages.project import ProjectStage
from simgap_core.run.stages.represent import RepresentStage

STAGES: tuple[Stage, ...] = (
    CorpusStage(),
    FeaturesStage(),
    DescribeStage(),
    RepresentStage(),
    EmbedStage(),
    ProjectStage(),
    ClusterStage(),
    BehaviourStage(),
    MeasureStage(),
)


@dataclass
class Outcome:
    """What one pass over the stages did."""

    recomputed: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


def run_stages(context: Context, book: StageBook, stages: tuple[Stage, ...] = STAGES) -> Outcome:
    """Bring every active stage of `context`'s run up to date, in order."""
    outcome = Outcome()
    for stage in stages:
        if not stage.active(context):
            continue
        record = stage.record(context)
        context.fingerprints[record.name] = record.fingerprint
        saved = book.saved(record.name)
        upstream_redone = any(name in outcome.recomputed for name in record.inputs)
        fresh = saved is not None and saved.get("fingerprint") == record.fingerprint
        if fresh and not upstream_redone and _reloaded(stage, context, outcome):
            stage.check(context)
            continue
        book.forget(record.name)
        started = time.perf_counter()
        facts = stage.compute(context)
        seconds = round(time.perf_counter() - started, 3)
        book.record(record, facts, seconds)
        outcome.recomputed.append(record.name)
        outcome.timings[record.name] = seconds
        stage.check(context)
    return outcome


def _reloaded(stage: Stage, context: Context, outcome: Outcome) -> bool:
    """Read `stage`'s artifacts back; False (with a notice) when one is missing or unreadable."""
    try:
        stage.load(context)
    except RunDirectoryError as error:  # missing, or unreadable (ArtifactError)
        message = f"{stage.name}: {error}; recomputing the stage"
        outcome.notices.append(message)
        context.tell(message)
        return False
    return True

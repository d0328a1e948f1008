"""What every stage shares: the `Context` it reads and fills, and the `Stage` contract.

A stage is a small object that declares its name, the upstream stages whose fingerprints it
depends on (`inputs`), its artifacts, and, from the context, the part identities and
parameters that change its output. From those declarations `record()` builds its
`StageRecord`, whose fingerprint decides whether saved artifacts are still true. `compute()`
writes the artifacts (and returns what it learnt: the facts), `load()` reads them back. Which
stages run, in which order, and whether one is reused or recomputed is `pipeline.py`'s alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from simgap_core.io.inputs import InputSpec
from simgap_core.model import Corpus
from simgap_core.run.directory import Run
from simgap_core.run.params import AnalysisParams
from simgap_core.run.records import StageRecord, part_identity

ProgressCallback = Callable[[str, int, int], None]
"""progress(stage, done, total): called as a stage advances; total 0 means unknown."""

NoticeCallback = Callable[[str], None]
"""notice(message): something the user should know, e.g. a broken artifact being recomputed."""


@dataclass(frozen=True)
class Parts:
    """The parts an analysis uses; `annotator` and `namer` are None when not needed."""

    embedder: Any
    reducer: Any
    clusterer: Any
    quantizer: Any
    namer: Any
    annotator: Any = None


@dataclass
class Context:
    """One analysis: its run directory, parameters, parts and callbacks, and what the stages
    have computed or read back so far (each field is filled by the stage of that name)."""

    run: Run
    params: AnalysisParams
    inputs: Sequence[InputSpec]
    input_records: list[dict[str, Any]]
    parts: Parts
    report: ProgressCallback
    tell: NoticeCallback
    fingerprints: dict[str, str] = field(default_factory=dict)
    corpus: Corpus | None = None
    features: pd.DataFrame | None = None
    descriptions: pd.DataFrame | None = None
    representations: pd.DataFrame | None = None
    embeddings: np.ndarray | None = None
    projection: pd.DataFrame | None = None
    clusters: pd.DataFrame | None = None

    def artifact(self, name: str):
        """The path of artifact `name` in the run directory."""
        return self.run.path / name


class Stage:
    """One step of the analysis; subclasses set the class attributes and implement
    `compute` and `load` (and `params` / `parts` when they have any)."""

    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]] = ()  # upstream stages; those that ran count
    artifacts: ClassVar[tuple[str, ...]] = ()

    def active(self, context: Context) -> bool:
        """False when this analysis has no such stage (e.g. no annotator for a baseline)."""
        return True

    def params(self, context: Context) -> dict[str, Any]:
        """The stage's own parameters that change its artifacts."""
        return {}

    def parts(self, context: Context) -> dict[str, Any]:
        """The parts the stage uses, by role: their identities enter the fingerprint."""
        return {}

    def record(self, context: Context) -> StageRecord:
        upstream = {
            name: context.fingerprints[name] for name in self.inputs if name in context.fingerprints
        }
        return StageRecord(
            self.name,
            upstream,
            parts={role: part_identity(part) for role, part in self.parts(context).items()},
            params=self.params(context),
            artifacts=list(self.artifacts),
        )

    def compute(self, context: Context) -> dict[str, Any]:
        """Write the artifacts, fill the context; return the facts learnt (JSON-able)."""
        raise NotImplementedError

    def load(self, context: Context) -> None:
        """Read the artifacts back into the context; raise `RunDirectoryError` if unreadable."""
        raise NotImplementedError

    def check(self, context: Context) -> None:
        """Validate what the stage produced, computed or loaded (raise `SimgapError`)."""

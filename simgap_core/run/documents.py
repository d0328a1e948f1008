"""The run directory's own records, typed: `params.json` (what the analysis was asked to do, on
which inputs, with which versions) and `stages.json` (what each stage used and learnt).

Every reader (CLI, dashboard, report, benchmarks) goes through these models, never through
raw keys, so a field renamed or missing is one validation error naming the file, not a
`KeyError` or a silently wrong label on some page. Models accept fields they do not know, so
a run from a newer simgap still opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Document(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class RecordedParams(_Document):
    """`AnalysisParams` as recorded (URLs redacted); defaults are the ones older runs had."""

    reference: str = "real"
    facet: str = "combined"
    annotator: str = "heuristic"
    llm_model: str | None = None
    namer: str = "offline"
    embedder: str = "sentence-transformers"
    embedding_model: str = "all-MiniLM-L6-v2"
    embed_model: str | None = None
    precision: str = "auto"
    seed: int = 0
    reducer: str = "umap"
    clusterer: str = "hdbscan"
    quantizer: str = "paper"
    min_cluster_size: int | None = None
    k: int | None = None
    k_rule: str = "common"
    pair_bins: str = "shared"
    bootstrap: int = 200


class InputRecord(_Document):
    """One input file or folder as the run read it."""

    path: str = ""
    source: str | None = None
    format: str | None = None
    sha256: str | None = None


class RunRecord(_Document):
    """`params.json`."""

    format_version: int = 1
    created: str = "—"
    updated: str = "—"
    params: RecordedParams = Field(default_factory=RecordedParams)
    inputs: list[InputRecord] = []
    sources: dict[str, int] = {}
    versions: dict[str, str] = {}
    stages: dict[str, str] = {}
    recomputed: list[str] = []
    notices: list[str] = []
    stage_timings_s: dict[str, float] = {}


class StageEntry(_Document):
    """One stage's record in `stages.json`."""

    fingerprint: str
    inputs: dict[str, str] = {}
    parts: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {}
    artifacts: list[str] = []
    facts: dict[str, Any] = {}
    seconds: float = 0.0

    def part_label(self, role: str) -> str | None:
        """'openai (text-embedding-3-small)': the part a stage used, as a person names it."""
        identity = self.parts.get(role)
        if not identity:
            return None
        model = identity.get("model")
        return f"{identity.get('name', '?')}" + (f" ({model})" if model else "")


class StagesRecord(_Document):
    """`stages.json`."""

    simgap_stages: int
    stages: dict[str, StageEntry] = {}


@dataclass(frozen=True)
class Representation:
    """Which representation a run's results used: what every page and the report name."""

    facet: str
    baseline: bool
    annotator: str
    llm_model: str | None
    embedding_model: str
    precision: str | None

    def text(self) -> str:
        """'facet combined · heuristic annotator · embedding all-MiniLM-L6-v2, fp32'."""
        annotator = (
            f"LLM ({self.llm_model})"
            if self.annotator == "llm" and self.llm_model
            else (self.annotator)
        )
        precision = f", {self.precision}" if self.precision else ""
        return (
            f"facet {self.facet} · {annotator} annotator · embedding "
            f"{self.embedding_model}{precision}"
        )


def representation(record: RunRecord, stages: dict[str, StageEntry]) -> Representation:
    """The representation of a run, the embedding model read from what the embed stage used
    (a run made with `--embedder openai` names its server's model, not the default's)."""
    from simgap_core.represent import BASELINE_FACETS

    params = record.params
    embed = stages.get("embed")
    identity = embed.parts.get("embedder", {}) if embed else {}
    model = identity.get("model") or identity.get("name") or params.embedding_model
    precision = (embed.facts.get("precision") if embed else None) or (
        params.precision if params.embedder == "sentence-transformers" else None
    )
    return Representation(
        facet=params.facet,
        baseline=params.facet in BASELINE_FACETS,
        annotator=params.annotator,
        llm_model=params.llm_model,
        embedding_model=str(model),
        precision=precision,
    )

"""`AnalysisParams`: every parameter of an analysis, validated in one place, and the parts
they configure (`make_part`).

Field names mirror the method's vocabulary. What a stage learns while running is never written
back here: it goes into that stage's record in `stages.json` (`Run.facts`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from simgap_core import parts
from simgap_core.errors import SimgapError
from simgap_core.vocabulary import K_RULES, PAIR_BINS, PRECISIONS

# The AnalysisParams fields that name a registered part, by kind.
PART_FIELDS = ("annotator", "embedder", "reducer", "clusterer", "quantizer", "namer")


@dataclass
class AnalysisParams:
    """Every parameter of an analysis. Field names mirror the method's vocabulary.

    `annotator`, `embedder`, `reducer` and `clusterer` name registered parts; the fields below
    each configure the built-in part of that name, and `part_options[kind]` passes keyword
    options to any part (they override the fields). `namer` names clusters "offline" or by
    "llm" (`LLMNamer`, on the annotator's `llm_*` endpoint). Nothing here is written by a
    stage: what stages learn is in `stages.json` (see `Run.facts`).
    """

    reference: str = "real"
    facet: str = "combined"
    annotator: str = "heuristic"
    llm_base_url: str | list[str] | None = None
    llm_model: str | None = None
    llm_concurrency: int = 4
    namer: str = "offline"
    embedding_model: str = "all-MiniLM-L6-v2"
    precision: str = "auto"
    seed: int = 42
    n_neighbors: int = 15
    min_dist: float = 0.1
    cluster_dims: int = 5
    balance_sources: bool = False
    min_cluster_size: int | None = None
    min_samples: int | None = None
    cluster_method: str = "eom"
    measure: bool = True
    k: int | None = None
    k_rule: str = "common"
    pair_bins: str = "shared"
    match_n: bool = False
    bootstrap: int = 200
    floor_repeats: int = 50
    permutations: int = 1000
    embedder: str = "sentence-transformers"
    embed_base_url: list[str] = field(default_factory=list)
    embed_model: str | None = None
    embed_dim: int | None = None
    reducer: str = "umap"
    clusterer: str = "hdbscan"
    quantizer: str = "paper"
    part_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def validate(self, *, n_reference: int | None = None) -> None:
        """Check every parameter, with the allowed range in the message.

        `n_reference` (the reference source's conversations, known once the inputs are loaded)
        bounds what only the data can tell: k-means cannot make more clusters than points.
        """
        from simgap_core.represent import FACETS

        bounds = {
            "seed": (self.seed, 0),
            "n_neighbors": (self.n_neighbors, 2),
            "bootstrap": (self.bootstrap, 1),
            "floor_repeats": (self.floor_repeats, 1),
            "permutations": (self.permutations, 1),
            "llm_concurrency": (self.llm_concurrency, 1),
        }
        if self.k is not None:
            bounds["k"] = (self.k, 1)
        if self.min_samples is not None:
            bounds["min_samples"] = (self.min_samples, 1)
        for name, (value, low) in bounds.items():
            if value < low:
                raise SimgapError(f"{name} must be at least {low}, got {value}")
        if self.precision not in PRECISIONS:
            raise SimgapError(f"unknown precision {self.precision!r}; choose auto, fp32 or bf16")
        if self.k_rule not in K_RULES:
            raise SimgapError(f"unknown k rule {self.k_rule!r}; choose common or pair")
        if self.pair_bins not in PAIR_BINS:
            raise SimgapError(f"unknown pair bins {self.pair_bins!r}; choose shared or each")
        if n_reference is not None and self.k is not None and self.k > n_reference:
            raise SimgapError(
                f"k = {self.k} is larger than the {n_reference} {self.reference} conversations; "
                f"choose k between 1 and {n_reference}"
            )
        if self.facet not in FACETS:
            raise SimgapError(f"unknown facet {self.facet!r}; choose one of {', '.join(FACETS)}")
        for kind in PART_FIELDS:
            name = getattr(self, kind)
            if name not in parts.available(kind):
                raise parts.PartError(
                    f"unknown {kind} {name!r}; registered: {', '.join(parts.available(kind))}"
                )
        unknown = set(self.part_options) - set(parts.KINDS)
        if unknown:
            raise parts.PartError(
                f"part_options names unknown kinds {sorted(unknown)}; use {', '.join(parts.KINDS)}"
            )

    def embedding_model_name(self) -> str:
        """The embedding model the run names: the model of the built-in embedders, else the
        embedder's registered name."""
        if self.embedder == "sentence-transformers":
            return self.embedding_model
        if self.embedder == "openai":
            return str(self.embed_model)
        return self.embedder

    def as_record(self) -> dict[str, Any]:
        """The parameters for params.json, which the report, dashboard and exports show: every
        URL in them is redacted (base URLs may carry `user:password@` or `?api_key=`)."""
        return _redacted(asdict(self))


def _redacted(value: Any) -> Any:
    """`value` (JSON-like) with `redact_urls` applied to every string in it."""
    from simgap_core.http import redact_urls

    if isinstance(value, str):
        return redact_urls(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


def make_part(params: AnalysisParams, kind: str, **extra: Any) -> Any:
    """The part of `kind` that `params` names, configured from `params`: the options the part
    reads from them (`Part.options_from`), overridden by `params.part_options[kind]`."""
    name = getattr(params, kind)
    options = {
        **parts.part_class(kind, name).options_from(params),
        **params.part_options.get(kind, {}),
    }
    return parts.create(kind, name, **options, **extra)

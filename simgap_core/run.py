"""The run directory: one analysis, every stage saved with the parameters that made it.

The run directory is the contract between the CLI, the dashboard and the report. Each stage
writes its artifacts and records a fingerprint (a hash of its own parameters and its inputs'
fingerprints) in `stages.json`; a rerun recomputes a stage only when its fingerprint changed,
so changing clustering parameters reuses the representations, embeddings and projection.

Layout::

    params.json            every parameter, package versions, seed, input file hashes
    stages.json            fingerprint per stage
    corpus/                conversations.parquet, turns.parquet (the canonical tables)
    skipped.json           records skipped while loading, with reasons
    descriptions.parquet   behaviour descriptions per conversation (behaviour facets only)
    representations.parquet  conversation_id, source, facet, text
    embeddings.npy         float32, L2-normalized, rows in representations order
    projection.parquet     conversation_id, source, x, y, c0..c4 (the clustering space)
    clusters.parquet       conversation_id, source, cluster (-1 = noise)
    cluster_mass.csv       cluster, source, count, share of that source's total
    metrics.json, paper_histograms.csv, clusters_summary.csv, misalignment.parquet
"""

from __future__ import annotations

import hashlib
import json
import pickle
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simgap_core import __version__
from simgap_core.errors import EmptySourceError, RunDirectoryError, SimgapError
from simgap_core.io.inputs import InputSpec, load_inputs
from simgap_core.model import Corpus

ProgressCallback = Callable[[str, int, int], None]
"""progress(stage, done, total): called as a stage advances; total 0 means unknown."""

RUN_FORMAT_VERSION = 1
PACKAGES = (
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "scipy",
    "umap-learn",
    "hdbscan",
    "sentence-transformers",
    "torch",
    "transformers",
)


@dataclass
class AnalysisParams:
    """Every parameter of an analysis. Field names mirror the method's vocabulary."""

    reference: str = "real"
    facet: str = "combined"
    annotator: str = "heuristic"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_concurrency: int = 4
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
    match_n: bool = False
    bootstrap: int = 200
    floor_repeats: int = 50
    permutations: int = 1000
    extra: dict[str, Any] = field(default_factory=dict)

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
        if self.precision not in ("auto", "fp32", "bf16"):
            raise SimgapError(f"unknown precision {self.precision!r}; choose auto, fp32 or bf16")
        if n_reference is not None and self.k is not None and self.k > n_reference:
            raise SimgapError(
                f"k = {self.k} is larger than the {n_reference} {self.reference} conversations; "
                f"choose k between 1 and {n_reference}"
            )

        if self.facet not in FACETS:
            raise SimgapError(f"unknown facet {self.facet!r}; choose one of {', '.join(FACETS)}")
        if self.annotator not in ("heuristic", "llm"):
            raise SimgapError(f"unknown annotator {self.annotator!r}; choose heuristic or llm")
        if self.cluster_dims < 2:
            raise SimgapError("cluster_dims must be at least 2")
        if self.min_cluster_size is not None and self.min_cluster_size < 2:
            raise SimgapError("min_cluster_size must be at least 2")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def package_versions() -> dict[str, str]:
    versions = {"simgap": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


class Run:
    """A run directory: read artifacts lazily, by name."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory)

    def exists(self) -> bool:
        return (self.path / "params.json").is_file()

    def require(self, name: str) -> Path:
        target = self.path / name
        if not target.exists():
            raise RunDirectoryError(
                f"{self.path} has no {name}: run `simgap analyze --out {self.path}` first"
            )
        return target

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.require("params.json").read_text())

    @property
    def stages(self) -> dict[str, str]:
        path = self.path / "stages.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def corpus(self) -> Corpus:
        self.require("corpus")
        return Corpus.read(self.path / "corpus")

    def skipped(self) -> list[dict[str, str]]:
        return json.loads(self.require("skipped.json").read_text())

    def representations(self) -> pd.DataFrame:
        return pd.read_parquet(self.require("representations.parquet"))

    def embeddings(self) -> np.ndarray:
        return np.load(self.require("embeddings.npy"))

    def projection(self) -> pd.DataFrame:
        return pd.read_parquet(self.require("projection.parquet"))

    def clusters(self) -> pd.DataFrame:
        return pd.read_parquet(self.require("clusters.parquet"))

    def cluster_mass(self) -> pd.DataFrame:
        return pd.read_csv(self.require("cluster_mass.csv"))

    def metrics(self) -> dict[str, Any]:
        return json.loads(self.require("metrics.json").read_text())

    def paper_histograms(self) -> pd.DataFrame:
        return pd.read_csv(self.require("paper_histograms.csv"))

    def clusters_summary(self) -> pd.DataFrame:
        return pd.read_csv(self.require("clusters_summary.csv"))

    def misalignment(self) -> pd.DataFrame:
        return pd.read_parquet(self.require("misalignment.parquet"))


def cluster_mass(clusters: pd.DataFrame) -> pd.DataFrame:
    """Per (cluster, source): count and share of that source's total (noise included as -1)."""
    counts = clusters.groupby(["cluster", "source"]).size().rename("count").reset_index()
    totals = clusters.groupby("source").size()
    counts["share"] = counts["count"] / counts["source"].map(totals).astype(float)
    return counts.sort_values(["cluster", "source"]).reset_index(drop=True)


class _Stages:
    """Fingerprint bookkeeping for one run directory."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.saved = run.stages
        self.current: dict[str, str] = {}
        self.timings: dict[str, float] = {}
        self.recomputed: list[str] = []

    def fresh(self, stage: str, key: str, artifacts: Sequence[str]) -> bool:
        """True when the stage's saved fingerprint equals `key` and its artifacts exist."""
        self.current[stage] = key
        return self.saved.get(stage) == key and all(
            (self.run.path / name).exists() for name in artifacts
        )

    def done(self, stage: str, started: float) -> None:
        self.timings[stage] = round(time.perf_counter() - started, 3)
        self.recomputed.append(stage)
        self.saved[stage] = self.current[stage]
        # Written after every stage so an interrupted run keeps what it finished.
        (self.run.path / "stages.json").write_text(json.dumps(self.saved, indent=2))


def _make_annotator(params: AnalysisParams):
    if params.annotator == "llm":
        from simgap_core.represent.llm import LLMAnnotator

        return LLMAnnotator(
            params.llm_base_url, params.llm_model, concurrency=params.llm_concurrency
        )
    from simgap_core.represent.heuristic import HeuristicAnnotator

    return HeuristicAnnotator()


def analyze(
    inputs: Sequence[InputSpec],
    out: str | Path,
    params: AnalysisParams | None = None,
    *,
    progress: ProgressCallback | None = None,
    embedder: Any = None,
) -> Run:
    """Run (or resume) the whole analysis into `out`, recomputing only stale stages.

    `embedder` replaces the default `simgap_core.embed.Embedder` (anything with `encode`).
    """
    params = params or AnalysisParams()
    params.validate()
    if not inputs:
        raise SimgapError("no inputs: give at least one real and one simulated file")
    run = Run(out)
    run.path.mkdir(parents=True, exist_ok=True)
    stages = _Stages(run)
    report = progress or (lambda stage, done, total: None)

    input_records = [
        {
            "path": str(spec.path),
            "source": spec.source,
            "format": spec.format,
            "sha256": file_sha256(Path(spec.path)) if Path(spec.path).is_file() else None,
        }
        for spec in inputs
    ]

    corpus_key = _fingerprint("corpus", input_records)
    started = time.perf_counter()
    if stages.fresh("corpus", corpus_key, ["corpus/conversations.parquet", "skipped.json"]):
        corpus = run.corpus()
    else:
        report("load", 0, len(inputs))
        corpus = load_inputs(inputs)
        corpus.save(run.path / "corpus")
        (run.path / "skipped.json").write_text(
            json.dumps([s.to_dict() for s in corpus.skipped], indent=2)
        )
        report("load", len(inputs), len(inputs))
        stages.done("corpus", started)
    sources = corpus.sources
    if params.reference not in sources:
        raise EmptySourceError(
            f"the reference source {params.reference!r} has no conversations "
            f"(sources loaded: {', '.join(sources)})"
        )
    if len(sources) < 2:
        raise EmptySourceError("only one source loaded: give at least one simulator to compare")
    params.validate(n_reference=int((corpus.conversations["source"] == params.reference).sum()))

    representations = _represent_stage(run, stages, corpus, corpus_key, params, report)
    embed_key = _fingerprint(
        "embed",
        stages.current["represent"],
        params.embedding_model,
        params.precision,
        None if embedder is None else type(embedder).__name__,
    )
    embeddings = _embed_stage(run, stages, representations, embed_key, params, report, embedder)
    projection_key = _fingerprint(
        "project",
        embed_key,
        params.n_neighbors,
        params.min_dist,
        params.cluster_dims,
        params.seed,
        params.balance_sources,
    )
    projection = _project_stage(
        run, stages, representations, embeddings, projection_key, params, report
    )
    cluster_key = _fingerprint(
        "cluster",
        projection_key,
        params.min_cluster_size,
        params.min_samples,
        params.cluster_method,
    )
    clusters = _cluster_stage(run, stages, projection, cluster_key, params, report)
    if params.measure:
        measure_key = _fingerprint(
            "measure",
            embed_key,
            cluster_key,
            params.reference,
            params.k,
            params.bootstrap,
            params.floor_repeats,
            params.permutations,
            params.seed,
        )
        _measure_stage(
            run,
            stages,
            corpus=corpus,
            representations=representations,
            embeddings=embeddings,
            projection=projection,
            clusters=clusters,
            key=measure_key,
            params=params,
            report=report,
        )

    _write_params(run, params, input_records, corpus, stages)
    return run


def _represent_stage(run, stages, corpus, corpus_key, params, report) -> pd.DataFrame:
    from simgap_core.represent import BASELINE_FACETS, represent

    needs_annotator = params.facet not in BASELINE_FACETS
    annotator = _make_annotator(params) if needs_annotator else None
    describe_key = _fingerprint(
        "describe",
        corpus_key,
        annotator.name if annotator else None,
        annotator.version if annotator else None,
        params.llm_model if needs_annotator else None,
    )
    descriptions = None
    if needs_annotator:
        started = time.perf_counter()
        if stages.fresh("describe", describe_key, ["descriptions.parquet"]):
            descriptions = pd.read_parquet(run.path / "descriptions.parquet")
        else:
            descriptions = annotator.describe(
                corpus, progress=lambda done, total: report("describe", done, total)
            )
            descriptions.to_parquet(run.path / "descriptions.parquet", index=False)
            failures = getattr(annotator, "failures", None)
            if failures:
                (run.path / "annotation_failures.json").write_text(
                    json.dumps([list(map(str, f)) for f in failures], indent=2)
                )
            stages.done("describe", started)
    represent_key = _fingerprint("represent", describe_key, params.facet)
    started = time.perf_counter()
    if stages.fresh("represent", represent_key, ["representations.parquet"]):
        return pd.read_parquet(run.path / "representations.parquet")
    report("represent", 0, len(corpus))
    if descriptions is not None:
        annotated = set(descriptions["conversation_id"])
        corpus = corpus.subset(
            cid for cid in corpus.conversations["conversation_id"] if cid in annotated
        )
    representations = represent(
        corpus, params.facet, annotator=annotator, descriptions=descriptions
    )
    representations.to_parquet(run.path / "representations.parquet", index=False)
    report("represent", len(corpus), len(corpus))
    stages.done("represent", started)
    return representations


def _embed_stage(run, stages, representations, embed_key, params, report, embedder) -> np.ndarray:
    started = time.perf_counter()
    if stages.fresh("embed", embed_key, ["embeddings.npy"]):
        embeddings = np.load(run.path / "embeddings.npy")
        if len(embeddings) == len(representations):
            return embeddings
    if embedder is None:
        from simgap_core.embed import Embedder

        embedder = Embedder(
            params.embedding_model,
            precision=params.precision,
            progress=lambda done, total: report("embed", done, total),
        )
    embeddings = np.asarray(embedder.encode(representations["text"].tolist()), dtype=np.float32)
    np.save(run.path / "embeddings.npy", embeddings)
    params.extra["embedding_precision"] = getattr(embedder, "precision", None)
    params.extra["embedded_texts"] = getattr(embedder, "embedded_count", None)
    stages.done("embed", started)
    return embeddings


def _project_stage(run, stages, representations, embeddings, key, params, report) -> pd.DataFrame:
    started = time.perf_counter()
    if stages.fresh("project", key, ["projection.parquet"]):
        return pd.read_parquet(run.path / "projection.parquet")
    from simgap_core.map import layout as mapping

    report("project", 0, 2)
    sources = representations["source"].to_numpy()
    fit_indices = (
        mapping.balance_sources(sources, seed=params.seed) if params.balance_sources else None
    )
    result = mapping.build_map(
        embeddings,
        seed=params.seed,
        n_neighbors=params.n_neighbors,
        min_dist=params.min_dist,
        cluster_dims=params.cluster_dims,
        fit_indices=fit_indices,
    )
    params.extra["map"] = result.params
    report("project", 2, 2)
    projection = pd.DataFrame(
        {
            "conversation_id": representations["conversation_id"].to_numpy(),
            "source": sources,
            "x": result.xy[:, 0],
            "y": result.xy[:, 1],
        }
    )
    for dim in range(result.cluster_coords.shape[1]):
        projection[f"c{dim}"] = result.cluster_coords[:, dim]
    projection.to_parquet(run.path / "projection.parquet", index=False)
    stages.done("project", started)
    return projection


def _cluster_stage(run, stages, projection, key, params, report) -> pd.DataFrame:
    started = time.perf_counter()
    if stages.fresh("cluster", key, ["clusters.parquet", "cluster_mass.csv"]):
        return pd.read_parquet(run.path / "clusters.parquet")
    from simgap_core.map import layout as mapping

    report("cluster", 0, 1)
    min_cluster_size = params.min_cluster_size or mapping.default_min_cluster_size(len(projection))
    labels = mapping.cluster(
        _cluster_space(projection),
        min_cluster_size=min_cluster_size,
        min_samples=params.min_samples,
        method=params.cluster_method,
    )
    params.extra["min_cluster_size_used"] = int(min_cluster_size)
    clusters = pd.DataFrame(
        {
            "conversation_id": projection["conversation_id"],
            "source": projection["source"],
            "cluster": labels.astype(np.int32),
        }
    )
    clusters.to_parquet(run.path / "clusters.parquet", index=False)
    cluster_mass(clusters).to_csv(run.path / "cluster_mass.csv", index=False)
    report("cluster", 1, 1)
    stages.done("cluster", started)
    return clusters


class _DiskMemo:
    """Memoize a pure function of arrays and keywords in a folder, keyed by content hash.

    Used for the paper quantization and the classifier test: a rerun with new clustering
    parameters calls them with the same embeddings, so their (expensive) results are reused.
    """

    def __init__(self, function: Callable[..., Any], folder: Path) -> None:
        self.function = function
        self.folder = folder
        self.hits = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        digest = hashlib.sha256(self.function.__qualname__.encode())
        for value in args:
            array = np.ascontiguousarray(value)
            digest.update(str((array.dtype, array.shape)).encode())
            digest.update(array.tobytes())
        digest.update(json.dumps(kwargs, sort_keys=True, default=str).encode())
        path = self.folder / f"{self.function.__name__}-{digest.hexdigest()[:24]}.pkl"
        if path.is_file():
            self.hits += 1
            with open(path, "rb") as handle:
                return pickle.load(handle)
        result = self.function(*args, **kwargs)
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        with open(partial, "wb") as handle:
            pickle.dump(result, handle)
        partial.replace(path)
        return result


def _cluster_space(projection: pd.DataFrame) -> np.ndarray:
    """The clustering coordinates (c0, c1, ...) of the projection, as float32."""
    columns = [c for c in projection.columns if c.startswith("c") and c[1:].isdigit()]
    return projection[columns].to_numpy(dtype=np.float32)


MEASURE_ARTIFACTS = (
    "metrics.json",
    "paper_histograms.csv",
    "clusters_summary.csv",
    "misalignment.parquet",
)


def _measure_stage(
    run: Run,
    stages: _Stages,
    *,
    corpus: Corpus,
    representations: pd.DataFrame,
    embeddings: np.ndarray,
    projection: pd.DataFrame,
    clusters: pd.DataFrame,
    key: str,
    params: AnalysisParams,
    report: ProgressCallback,
) -> None:
    started = time.perf_counter()
    if stages.fresh("measure", key, MEASURE_ARTIFACTS):
        return
    from simgap_core.measure.classifier import classifier_test
    from simgap_core.measure.compare import measure
    from simgap_core.measure.quantize import quantize

    report("measure", 0, 1)
    user_text = (
        corpus.user_turns()
        .groupby("conversation_id", sort=False)["text"]
        .agg(lambda texts: "\n".join(texts.astype(str)))
    )
    memo_folder = run.path / "cache"
    result = measure(
        embeddings,
        representations["source"].tolist(),
        clusters["cluster"].to_numpy(),
        reference=params.reference,
        representation_texts=representations["text"].tolist(),
        user_texts=representations["conversation_id"].map(user_text).fillna("").tolist(),
        map_coords=_cluster_space(projection),
        pair_ids=representations["conversation_id"]
        .map(corpus.conversations.set_index("conversation_id").get("pair_id", pd.Series(dtype=str)))
        .tolist(),
        conversation_ids=representations["conversation_id"].astype(str).tolist(),
        k=params.k,
        k_rule=params.k_rule,
        match_n=params.match_n,
        bootstrap=params.bootstrap,
        floor_repeats=params.floor_repeats,
        permutations=params.permutations,
        seed=params.seed,
        quantizer=_DiskMemo(quantize, memo_folder),
        classifier=_DiskMemo(classifier_test, memo_folder),
    )
    metrics = dict(result.metrics)
    metrics["representation"] = {
        "facet": params.facet,
        "annotator": params.annotator,
        "embedding_model": params.embedding_model,
    }
    (run.path / "metrics.json").write_text(json.dumps(metrics, indent=2))
    result.paper_histograms.to_csv(run.path / "paper_histograms.csv", index=False)
    result.clusters_summary.to_csv(run.path / "clusters_summary.csv", index=False)
    misalignment = result.misalignment.copy()
    misalignment.insert(0, "conversation_id", representations["conversation_id"].to_numpy())
    misalignment.insert(1, "source", representations["source"].to_numpy())
    misalignment.to_parquet(run.path / "misalignment.parquet", index=False)
    params.extra["measure_timings_s"] = {k: round(v, 3) for k, v in result.timings.items()}
    report("measure", 1, 1)
    stages.done("measure", started)


def _write_params(run: Run, params: AnalysisParams, input_records, corpus: Corpus, stages) -> None:
    previous = run.params if run.exists() else {}
    history = previous.get("stage_timings_s", {})
    history.update(stages.timings)
    # Facts recorded by stages that this rerun reused (e.g. the embedding precision) persist.
    recorded = previous.get("params", {}).get("extra", {})
    params.extra = {**recorded, **params.extra}
    document = {
        "format_version": RUN_FORMAT_VERSION,
        "created": previous.get("created", datetime.now(UTC).isoformat(timespec="seconds")),
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": asdict(params),
        "inputs": input_records,
        "sources": {
            source: int(count)
            for source, count in corpus.conversations["source"].value_counts(sort=False).items()
        },
        "versions": package_versions(),
        "stages": stages.current,
        "recomputed": stages.recomputed,
        "stage_timings_s": history,
    }
    (run.path / "params.json").write_text(json.dumps(document, indent=2))

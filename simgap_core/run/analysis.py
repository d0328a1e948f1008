"""`analyze`: the whole pipeline as a loop over stage records, resumable in a run directory.

The stages, in order: corpus (load the inputs), features (behaviour features per conversation
and their gaps per simulator: they read only the corpus, so a new clustering reuses them),
describe (an annotator's behaviour texts; behaviour facets only), represent (one text per
conversation), embed (an embedder), project (a reducer), cluster (a clusterer), behaviour (a
name and description per cluster, offline or by the LLM namer, `cluster_names.csv`, joined
into the clusters summary by `Run.clusters_summary`), measure (the gap). Each is a
`StageRecord` (its inputs, part identities, parameters and artifacts) plus a function that
computes its artifacts and one that reads them back. A stage is reused when its saved
fingerprint matches, nothing upstream was recomputed in this run, and its artifacts read back
whole; otherwise it is recomputed, with a notice saying why when artifacts were missing or
unreadable.

Parts come from the registry (`simgap_core.parts`) by the names in `AnalysisParams`, or are
passed in as objects; embedders made from the registry are wrapped in `CachedEmbedder`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simgap_core import parts
from simgap_core.errors import EmptySourceError, RunDirectoryError, SimgapError
from simgap_core.io.inputs import InputSpec, describe_inputs, load_inputs
from simgap_core.model import Corpus
from simgap_core.run.directory import (
    RUN_FORMAT_VERSION,
    ArtifactError,
    Run,
    check_output_directory,
    package_versions,
    storage_precision,
    write_corpus,
    write_csv,
    write_json,
    write_npy,
    write_parquet,
)
from simgap_core.run.memo import DiskMemo
from simgap_core.run.stages import StageBook, StageRecord, part_identity

BEHAVIOUR_MIN_RESAMPLES = 200
"""Feature-gap intervals and p-values draw at least this many resamples, whatever a fast test
run asks of the divergence bootstrap: 95% percentile bounds from fewer are too noisy to print."""
NAME_MIN_Z = 0.5  # see `simgap_core.behaviour.name_clusters`
NAMERS = ("offline", "llm")  # llm: `simgap_core.behaviour.llm_names.LLMNamer`

ProgressCallback = Callable[[str, int, int], None]
"""progress(stage, done, total): called as a stage advances; total 0 means unknown."""

NoticeCallback = Callable[[str], None]
"""notice(message): something the user should know, e.g. a broken artifact being recomputed."""


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
        if self.precision not in ("auto", "fp32", "bf16"):
            raise SimgapError(f"unknown precision {self.precision!r}; choose auto, fp32 or bf16")
        if self.namer not in NAMERS:
            raise SimgapError(f"unknown namer {self.namer!r}; choose {' or '.join(NAMERS)}")
        if self.k_rule not in ("common", "pair"):
            raise SimgapError(f"unknown k rule {self.k_rule!r}; choose common or pair")
        if n_reference is not None and self.k is not None and self.k > n_reference:
            raise SimgapError(
                f"k = {self.k} is larger than the {n_reference} {self.reference} conversations; "
                f"choose k between 1 and {n_reference}"
            )
        if self.facet not in FACETS:
            raise SimgapError(f"unknown facet {self.facet!r}; choose one of {', '.join(FACETS)}")
        for kind in ("annotator", "embedder", "reducer", "clusterer"):
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

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def _builtin_options(params: AnalysisParams, kind: str, name: str) -> dict[str, Any]:
    """The `AnalysisParams` fields that configure the built-in part `name` of `kind`."""
    options: dict[tuple[str, str], dict[str, Any]] = {
        ("annotator", "llm"): {
            "base_url": params.llm_base_url,
            "model": params.llm_model,
            "concurrency": params.llm_concurrency,
        },
        ("embedder", "sentence-transformers"): {
            "model": params.embedding_model,
            "precision": params.precision,
        },
        ("embedder", "static"): {"model": params.embedding_model},
        ("embedder", "openai"): {
            "model": params.embed_model,
            "base_urls": params.embed_base_url,
            "dim": params.embed_dim,
        },
        ("reducer", "umap"): {
            "n_neighbors": params.n_neighbors,
            "min_dist": params.min_dist,
            "cluster_dims": params.cluster_dims,
            "seed": params.seed,
            "balance_sources": params.balance_sources,
        },
        ("clusterer", "hdbscan"): {
            "min_cluster_size": params.min_cluster_size,
            "min_samples": params.min_samples,
            "method": params.cluster_method,
        },
    }
    return {**options.get((kind, name), {}), **params.part_options.get(kind, {})}


def make_part(params: AnalysisParams, kind: str, **extra: Any) -> Any:
    """The part of `kind` that `params` names, configured from `params`."""
    name = getattr(params, kind)
    return parts.create(kind, name, **_builtin_options(params, kind, name), **extra)


def cluster_mass(clusters: pd.DataFrame) -> pd.DataFrame:
    """Per (cluster, source): count and share of that source's total (noise included as -1)."""
    counts = clusters.groupby(["cluster", "source"]).size().rename("count").reset_index()
    totals = clusters.groupby("source").size()
    counts["share"] = counts["count"] / counts["source"].map(totals).astype(float)
    return counts.sort_values(["cluster", "source"]).reset_index(drop=True)


@dataclass
class _Stage:
    """A stage record plus how to compute its artifacts and how to read them back."""

    record: StageRecord
    compute: Callable[[], dict[str, Any]]  # writes the artifacts, returns the facts learnt
    load: Callable[[], None]  # reads the artifacts into the shared state; raises if unreadable


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
    tell = notice or (lambda message: None)

    from simgap_core.represent import BASELINE_FACETS

    needs_annotator = params.facet not in BASELINE_FACETS
    if needs_annotator and annotator is None:
        annotator = make_part(params, "annotator")
    if embedder is None:
        from simgap_core.embed import CachedEmbedder

        # The static embedder distils its model on first use: that gets a bar of its own.
        distil = {"progress": lambda done, total: report("distil", done, total)}
        embedder = CachedEmbedder(
            make_part(params, "embedder", **(distil if params.embedder == "static" else {})),
            progress=lambda done, total: report("embed", done, total),
        )
    reducer = reducer if reducer is not None else make_part(params, "reducer")
    clusterer = clusterer if clusterer is not None else make_part(params, "clusterer")
    namer = None
    if params.namer == "llm":  # made now: a missing endpoint fails before any work
        from simgap_core.behaviour.llm_names import LLMNamer

        namer = LLMNamer(
            params.llm_base_url,
            params.llm_model,
            concurrency=params.llm_concurrency,
            seed=params.seed,
        )

    run.path.mkdir(parents=True, exist_ok=True)
    book = StageBook(run)
    book.start()
    input_records = describe_inputs(inputs)
    state: dict[str, Any] = {}
    plan = _plan(
        run,
        params,
        inputs,
        input_records,
        state,
        report,
        annotator,
        embedder,
        reducer,
        clusterer,
        namer,
        tell,
    )

    fingerprints: dict[str, str] = {}
    recomputed: list[str] = []
    timings: dict[str, float] = {}
    notices: list[str] = []
    for make_stage in plan:
        stage = make_stage(fingerprints)
        if stage is None:
            continue
        record = stage.record
        fingerprints[record.name] = record.fingerprint
        saved = book.saved(record.name)
        upstream_redone = any(name in recomputed for name in record.inputs)
        if saved and saved.get("fingerprint") == record.fingerprint and not upstream_redone:
            try:
                stage.load()
                continue
            except RunDirectoryError as error:  # missing, or unreadable (ArtifactError)
                message = f"{record.name}: {error}; recomputing the stage"
                notices.append(message)
                tell(message)
        book.forget(record.name)
        started = time.perf_counter()
        facts = stage.compute()
        seconds = round(time.perf_counter() - started, 3)
        book.record(record, facts, seconds)
        recomputed.append(record.name)
        timings[record.name] = seconds

    _write_params(
        run, params, input_records, state["corpus"], fingerprints, recomputed, timings, notices
    )
    return run


def _plan(
    run,
    params,
    inputs,
    input_records,
    state,
    report,
    annotator,
    embedder,
    reducer,
    clusterer,
    namer,
    tell,
):
    """The stages in order, each a function of the fingerprints so far (None: stage skipped)."""
    from simgap_core.represent import represent

    path = run.path

    def corpus_stage(_: dict[str, str]) -> _Stage:
        def compute() -> dict[str, Any]:
            report("load", 0, len(inputs))
            corpus = load_inputs(inputs)
            write_corpus(path / "corpus", corpus)
            write_json(path / "skipped.json", [s.to_dict() for s in corpus.skipped])
            write_json(path / "repairs.json", [str(repair) for repair in corpus.repairs])
            report("load", len(inputs), len(inputs))
            state["corpus"] = corpus
            return {
                "conversations": len(corpus),
                "skipped": len(corpus.skipped),
                "repaired": len(corpus.repairs),
                "sampling": corpus.sampling,
            }

        def load() -> None:
            state["corpus"] = run.corpus()
            run.skipped()

        record = StageRecord(
            "corpus",
            {},
            params={"inputs": input_records},
            artifacts=[
                "corpus/conversations.parquet",
                "corpus/turns.parquet",
                "skipped.json",
                "repairs.json",
            ],
        )
        return _Stage(record, compute, load)

    def check_sources(_: dict[str, str]) -> None:
        sources = state["corpus"].sources
        if params.reference not in sources:
            raise EmptySourceError(
                f"the reference source {params.reference!r} has no conversations "
                f"(sources loaded: {', '.join(sources)})"
            )
        if len(sources) < 2:
            raise EmptySourceError("only one source loaded: give at least one simulator to compare")
        conversations = state["corpus"].conversations
        params.validate(n_reference=int((conversations["source"] == params.reference).sum()))
        return None

    def features_stage(fingerprints: dict[str, str]) -> _Stage:
        def compute() -> dict[str, Any]:
            from simgap_core.behaviour import compute_features, feature_gaps
            from simgap_core.behaviour.gaps import SIGNIFICANCE

            corpus = state["corpus"]
            report("features", 0, 2)
            features = compute_features(corpus)
            report("features", 1, 2)
            gaps = feature_gaps(
                features,
                reference=params.reference,
                seed=params.seed,
                bootstrap=max(params.bootstrap, BEHAVIOUR_MIN_RESAMPLES),
                permutations=max(params.permutations, BEHAVIOUR_MIN_RESAMPLES),
            )
            write_parquet(path / "features.parquet", features)
            write_csv(path / "feature_gaps.csv", gaps)
            report("features", 2, 2)
            state["features"] = features
            significant = gaps["q_value"] <= SIGNIFICANCE
            return {
                "conversations": len(features),
                "gaps": len(gaps),
                "significant_gaps": int(significant.sum()),
            }

        def load() -> None:
            state["features"] = run.features()
            run.feature_gaps()

        from simgap_core.behaviour import BEHAVIOUR_VERSION

        record = StageRecord(
            "features",
            {"corpus": fingerprints["corpus"]},
            params={
                "version": BEHAVIOUR_VERSION,
                "reference": params.reference,
                "seed": params.seed,
                "bootstrap": max(params.bootstrap, BEHAVIOUR_MIN_RESAMPLES),
                "permutations": max(params.permutations, BEHAVIOUR_MIN_RESAMPLES),
            },
            artifacts=["features.parquet", "feature_gaps.csv"],
        )
        return _Stage(record, compute, load)

    def describe_stage(fingerprints: dict[str, str]) -> _Stage | None:
        if annotator is None:
            return None

        def compute() -> dict[str, Any]:
            descriptions = annotator.describe(
                state["corpus"], progress=lambda done, total: report("describe", done, total)
            )
            write_parquet(path / "descriptions.parquet", descriptions)
            failures = getattr(annotator, "failures", None) or []
            failures_file = path / "annotation_failures.json"
            if failures:
                write_json(failures_file, [list(map(str, f)) for f in failures])
            else:
                failures_file.unlink(missing_ok=True)
            state["descriptions"] = descriptions
            return {"described": len(descriptions), "failures": len(failures)}

        def load() -> None:
            state["descriptions"] = run.descriptions()

        record = StageRecord(
            "describe",
            {"corpus": fingerprints["corpus"]},
            parts={"annotator": part_identity(annotator)},
            artifacts=["descriptions.parquet"],
        )
        return _Stage(record, compute, load)

    def represent_stage(fingerprints: dict[str, str]) -> _Stage:
        def compute() -> dict[str, Any]:
            corpus = state["corpus"]
            report("represent", 0, len(corpus))
            descriptions = state.get("descriptions")
            if descriptions is not None:
                annotated = set(descriptions["conversation_id"])
                corpus = corpus.subset(
                    cid for cid in corpus.conversations["conversation_id"] if cid in annotated
                )
            frame = represent(corpus, params.facet, annotator=annotator, descriptions=descriptions)
            write_parquet(path / "representations.parquet", frame)
            report("represent", len(corpus), len(corpus))
            state["representations"] = frame
            return {"texts": len(frame), "distinct_texts": int(frame["text"].nunique())}

        def load() -> None:
            state["representations"] = run.representations()

        upstream = {
            name: fingerprints[name] for name in ("corpus", "describe") if name in fingerprints
        }
        record = StageRecord(
            "represent",
            upstream,
            params={"facet": params.facet},
            artifacts=["representations.parquet"],
        )
        return _Stage(record, compute, load)

    def embed_stage(fingerprints: dict[str, str]) -> _Stage:
        def compute() -> dict[str, Any]:
            texts = state["representations"]["text"].tolist()
            vectors = np.asarray(embedder.encode(texts), dtype=np.float32)
            stored = storage_precision(vectors)
            write_npy(path / "embeddings.npy", stored)
            # What was stored is what every later stage uses, so a rerun that reads the
            # file back measures exactly what this run measured.
            state["embeddings"] = stored.astype(np.float32)
            facts = embedder.facts() if callable(getattr(embedder, "facts", None)) else {}
            if "embedded_texts" not in facts and hasattr(embedder, "embedded_count"):
                facts["embedded_texts"] = embedder.embedded_count
            return {**facts, "dimension": int(vectors.shape[1])}

        def load() -> None:
            vectors = np.asarray(run.embeddings(), dtype=np.float32)
            if len(vectors) != len(state["representations"]):
                raise ArtifactError(
                    f"{path / 'embeddings.npy'} has {len(vectors)} rows for "
                    f"{len(state['representations'])} representations"
                )
            state["embeddings"] = vectors

        record = StageRecord(
            "embed",
            {"represent": fingerprints["represent"]},
            parts={"embedder": part_identity(embedder)},
            artifacts=["embeddings.npy"],
        )
        return _Stage(record, compute, load)

    def project_stage(fingerprints: dict[str, str]) -> _Stage:
        def compute() -> dict[str, Any]:
            representations = state["representations"]
            report("project", 0, 2)
            sources = representations["source"].to_numpy()
            reduced = reducer.reduce(state["embeddings"], sources)
            report("project", 2, 2)
            projection = pd.DataFrame(
                {
                    "conversation_id": representations["conversation_id"].to_numpy(),
                    "source": sources,
                    "x": reduced.xy[:, 0],
                    "y": reduced.xy[:, 1],
                }
            )
            for dim in range(reduced.cluster_coords.shape[1]):
                projection[f"c{dim}"] = reduced.cluster_coords[:, dim]
            write_parquet(path / "projection.parquet", projection)
            state["projection"] = projection
            return dict(reduced.facts)

        def load() -> None:
            state["projection"] = run.projection()

        record = StageRecord(
            "project",
            {"embed": fingerprints["embed"]},
            parts={"reducer": part_identity(reducer)},
            artifacts=["projection.parquet"],
        )
        return _Stage(record, compute, load)

    def cluster_stage(fingerprints: dict[str, str]) -> _Stage:
        def compute() -> dict[str, Any]:
            projection = state["projection"]
            report("cluster", 0, 1)
            labels = np.asarray(
                clusterer.fit_predict(
                    cluster_space(projection), projection["source"].astype(str).to_numpy()
                )
            )
            clusters = pd.DataFrame(
                {
                    "conversation_id": projection["conversation_id"],
                    "source": projection["source"],
                    "cluster": labels.astype(np.int32),
                }
            )
            write_parquet(path / "clusters.parquet", clusters)
            write_csv(path / "cluster_mass.csv", cluster_mass(clusters))
            report("cluster", 1, 1)
            state["clusters"] = clusters
            facts = clusterer.facts() if callable(getattr(clusterer, "facts", None)) else {}
            found = labels[labels >= 0]
            return {
                **facts,
                "clusters": int(len(np.unique(found))),
                "noise_share": float(np.mean(labels < 0)) if len(labels) else 0.0,
            }

        def load() -> None:
            state["clusters"] = run.clusters()
            run.cluster_mass()

        record = StageRecord(
            "cluster",
            {"project": fingerprints["project"]},
            parts={"clusterer": part_identity(clusterer)},
            artifacts=["clusters.parquet", "cluster_mass.csv"],
        )
        return _Stage(record, compute, load)

    def behaviour_stage(fingerprints: dict[str, str]) -> _Stage:
        def compute() -> dict[str, Any]:
            from simgap_core.behaviour import name_clusters

            report("behaviour", 0, 1)
            names = name_clusters(
                state["features"], state["clusters"], state["representations"], min_z=NAME_MIN_Z
            )
            facts: dict[str, Any] = {}
            if namer is not None:
                names = namer.name_clusters(
                    names,
                    state["features"],
                    state["clusters"],
                    state["representations"],
                    coordinates=pd.DataFrame(
                        cluster_space(state["projection"]),
                        index=state["projection"]["conversation_id"],
                    ),
                )
                facts = {
                    "llm_requests": namer.requests_made,
                    "llm_cache_hits": namer.cache_hits,
                    "offline_fallbacks": [f._asdict() for f in namer.fallbacks],
                }
                if namer.fallbacks:
                    tell(
                        f"behaviour: {len(namer.fallbacks)} cluster(s) kept their offline name: "
                        + "; ".join(map(str, namer.fallbacks[:3]))
                    )
            write_csv(path / "cluster_names.csv", names)
            report("behaviour", 1, 1)
            return {"named_clusters": int((names["cluster"] >= 0).sum()), **facts}

        def load() -> None:
            run.cluster_names()

        from simgap_core.behaviour import BEHAVIOUR_VERSION

        # The offline namer's record is as it was before namers existed: older runs stay fresh.
        record = StageRecord(
            "behaviour",
            {name: fingerprints[name] for name in ("features", "represent", "cluster")},
            parts={"namer": namer.identity()} if namer is not None else {},
            params={"version": BEHAVIOUR_VERSION, "min_z": NAME_MIN_Z},
            artifacts=["cluster_names.csv"],
        )
        return _Stage(record, compute, load)

    def measure_stage(fingerprints: dict[str, str]) -> _Stage | None:
        if not params.measure:
            return None

        def load() -> None:
            run.metrics()
            run.paper_histograms()
            run.clusters_summary()
            run.misalignment()

        record = StageRecord(
            "measure",
            {
                name: fingerprints[name]
                for name in ("corpus", "represent", "embed", "project", "cluster")
            },
            params={
                "reference": params.reference,
                "k": params.k,
                "k_rule": params.k_rule,
                "match_n": params.match_n,
                "bootstrap": params.bootstrap,
                "floor_repeats": params.floor_repeats,
                "permutations": params.permutations,
                "seed": params.seed,
            },
            artifacts=list(MEASURE_ARTIFACTS),
        )
        compute = lambda: _measure_stage(run, state, params=params, report=report)  # noqa: E731
        return _Stage(record, compute, load)

    return [
        corpus_stage,
        check_sources,
        features_stage,
        describe_stage,
        represent_stage,
        embed_stage,
        project_stage,
        cluster_stage,
        behaviour_stage,
        measure_stage,
    ]


def cluster_space(projection: pd.DataFrame) -> np.ndarray:
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
    state: dict[str, Any],
    *,
    params: AnalysisParams,
    report: ProgressCallback,
) -> dict[str, Any]:
    """Measure the gap and write the measure artifacts; the facts it learnt (timings).

    The call to `measure(...)` and the writing of its outputs stay together here.
    """
    from simgap_core.measure.classifier import ClassifierTest, classifier_test
    from simgap_core.measure.compare import measure
    from simgap_core.measure.quantize import Quantization, quantize

    corpus: Corpus = state["corpus"]
    representations: pd.DataFrame = state["representations"]
    report("measure", 0, 1)
    user_text = (
        corpus.user_turns()
        .groupby("conversation_id", sort=False)["text"]
        .agg(lambda texts: "\n".join(texts.astype(str)))
    )
    memo_folder = run.path / "cache"
    result = measure(
        state["embeddings"],
        representations["source"].tolist(),
        state["clusters"]["cluster"].to_numpy(),
        reference=params.reference,
        representation_texts=representations["text"].tolist(),
        user_texts=representations["conversation_id"].map(user_text).fillna("").tolist(),
        map_coords=cluster_space(state["projection"]),
        pair_ids=_none_for_missing(
            representations["conversation_id"].map(
                corpus.conversations.set_index("conversation_id")["pair_id"]
            )
        ),
        conversation_ids=representations["conversation_id"].astype(str).tolist(),
        k=params.k,
        k_rule=params.k_rule,
        match_n=params.match_n,
        bootstrap=params.bootstrap,
        floor_repeats=params.floor_repeats,
        permutations=params.permutations,
        seed=params.seed,
        quantizer=DiskMemo(quantize, Quantization, memo_folder),
        classifier=DiskMemo(classifier_test, ClassifierTest, memo_folder),
    )
    document = result.document.model_copy(
        update={
            "representation": {
                "facet": params.facet,
                "annotator": params.annotator,
                "embedding_model": _embedding_model_name(params),
            }
        }
    )
    misalignment = result.misalignment.copy()
    misalignment.insert(0, "conversation_id", representations["conversation_id"].to_numpy())
    misalignment.insert(1, "source", representations["source"].to_numpy())
    write_json(run.path / "metrics.json", document.model_dump(mode="json"))
    write_csv(run.path / "paper_histograms.csv", result.paper_histograms)
    write_csv(run.path / "clusters_summary.csv", result.clusters_summary)
    write_parquet(run.path / "misalignment.parquet", misalignment)
    report("measure", 1, 1)
    return {"measure_timings_s": {k: round(v, 3) for k, v in result.timings.items()}}


def _none_for_missing(values: pd.Series) -> list[Any]:
    """The values as a list with every missing one (None, NaN, pd.NA) as None: an Arrow-backed
    string column yields pd.NA, whose truth value the measure's checks cannot take."""
    return [None if pd.isna(value) else value for value in values.tolist()]


def _embedding_model_name(params: AnalysisParams) -> str:
    if params.embedder == "sentence-transformers":
        return params.embedding_model
    if params.embedder == "static":
        return f"{params.embedding_model} (static, distilled)"
    if params.embedder == "openai":
        return str(params.embed_model)
    return params.embedder


def _compatible_extra(run: Run) -> dict[str, Any]:
    """params.json's former `params.extra`, now assembled from the stage records' facts.

    Readers written before stage records existed (the report, the dashboard) find the same
    keys there; new code reads `Run.facts(stage)`.
    """
    embed, project = run.facts("embed"), run.facts("project")
    cluster, measure = run.facts("cluster"), run.facts("measure")
    extra: dict[str, Any] = {}
    if embed:
        extra["embedding_precision"] = embed.get("precision")
        extra["embedded_texts"] = embed.get("embedded_texts")
    if "map" in project:
        extra["map"] = project["map"]
    if cluster.get("min_cluster_size_used") is not None:
        extra["min_cluster_size_used"] = cluster["min_cluster_size_used"]
    if measure.get("measure_timings_s"):
        extra["measure_timings_s"] = measure["measure_timings_s"]
    return extra


def _write_params(
    run: Run,
    params: AnalysisParams,
    input_records: list[dict[str, Any]],
    corpus: Corpus,
    fingerprints: dict[str, str],
    recomputed: list[str],
    timings: dict[str, float],
    notices: list[str],
) -> None:
    try:
        previous = run.params if run.exists() else {}
    except SimgapError:
        previous = {}  # an unreadable params.json is rewritten whole below
    history = dict(previous.get("stage_timings_s", {}))
    history.update(timings)
    document = {
        "format_version": RUN_FORMAT_VERSION,
        "created": previous.get("created", datetime.now(UTC).isoformat(timespec="seconds")),
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": {**params.as_record(), "extra": _compatible_extra(run)},
        "inputs": input_records,
        "sources": {
            source: int(count)
            for source, count in corpus.conversations["source"].value_counts(sort=False).items()
        },
        "versions": package_versions(),
        "stages": fingerprints,
        "recomputed": recomputed,
        "notices": notices,
        "stage_timings_s": history,
    }
    write_json(run.path / "params.json", document)

"""The run directory: the artifacts of one analysis, read lazily and written atomically.

The run directory is the contract between the CLI, the dashboard and the report. Layout::

    params.json            every parameter, package versions, seed, input file hashes
    stages.json            one record per stage: inputs, part identities, parameters,
                           artifacts, fingerprint, and the facts the stage learnt
    corpus/                conversations.parquet, turns.parquet (the canonical tables)
    skipped.json           records skipped while loading, with reasons
    features.parquet       conversation_id, source, language, one column per behaviour feature
    feature_gaps.csv       per (feature, simulator): real, sim, effect, interval, q-value
    descriptions.parquet   behaviour descriptions per conversation (behaviour facets only)
    representations.parquet  conversation_id, source, facet, text
    embeddings.npy         float16 (float32 if a value exceeds float16's range), memory-mapped
                           when read; L2-normalized, rows in representations order
    projection.parquet     conversation_id, source, x, y, c0..c4 (the clustering space)
    clusters.parquet       conversation_id, source, cluster (-1 = noise)
    cluster_mass.csv       cluster, source, count, share of that source's total
    cluster_names.csv      cluster, name, description (a short behaviour name per cluster)
    metrics.json, paper_histograms.csv, clusters_summary.csv, misalignment.parquet
    manifest.json          every file simgap wrote here, with its size and sha256

Every artifact is written under a temporary name in the same folder and renamed into place,
so a reader (or a rerun after a kill) sees a whole file or none; a stage records its
fingerprint only after all its artifacts are in place.

The manifest (`Manifest`) is what makes a folder a run, and what simgap may replace: a folder
without a valid manifest.json is not a run (a planted params.json does not make one), and a
run overwrites or deletes only files its manifest lists, so a user's own file in the folder,
`corpus/` included, survives every recompute. CSV cells are escaped against formula
injection (`simgap_core.untrusted.csv_text`) and read back unescaped.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from simgap_core import __version__
from simgap_core.errors import RunDirectoryError
from simgap_core.model import Corpus
from simgap_core.run.documents import (
    Representation,
    RunRecord,
    StageEntry,
    StagesRecord,
    representation,
)
from simgap_core.untrusted import csv_text, read_csv

RUN_FORMAT_VERSION = 1
STAGES_FORMAT = 2  # stages.json: {"simgap_stages": 2, "stages": {name: record}}
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1  # manifest.json: {"simgap_manifest": 1, "files": {name: {size, sha256}}}
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
# Every artifact a complete run holds, in pipeline order (descriptions only for behaviour facets).
ARTIFACTS = (
    "params.json",
    "stages.json",
    "corpus/conversations.parquet",
    "corpus/turns.parquet",
    "skipped.json",
    "repairs.json",
    "features.parquet",
    "feature_gaps.csv",
    "descriptions.parquet",
    "representations.parquet",
    "embeddings.npy",
    "projection.parquet",
    "clusters.parquet",
    "cluster_mass.csv",
    "cluster_names.csv",
    "metrics.json",
    "paper_histograms.csv",
    "clusters_summary.csv",
    "misalignment.parquet",
)

if TYPE_CHECKING:
    from simgap_core.schema import Metrics

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class ArtifactError(RunDirectoryError):
    """An artifact is missing or cannot be read (truncated, invalid JSON, wrong shape)."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"simgap": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _temporary(path: Path) -> Path:
    # Same folder (so the rename is atomic), a dot name (so no reader lists it), the pid
    # (so two processes never share one).
    return path.parent / f".{path.name}.{os.getpid()}.tmp"


def _replace_whole(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(temporary_path)`, then rename the temporary file onto `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _temporary(path)
    try:
        write(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


class Manifest:
    """The files simgap wrote into one folder (a run), each with its size and sha256.

    A file is listed (size and hash null) before it is written and its size and hash are
    filled in once it is in place, so a write interrupted at any point leaves it listed and a
    rerun may replace it. A listed file may be missing: it was removed after the run (as
    `make demo-run` removes embeddings.npy and cache/); readers treat it as any missing
    artifact and a rerun writes it again. An unlisted file that exists is never overwritten
    (unless `force`) nor deleted.
    """

    def __init__(
        self, root: Path, files: dict[str, dict[str, Any]] | None = None, *, force: bool = False
    ) -> None:
        self.root = Path(root)
        self.files: dict[str, dict[str, Any]] = dict(files or {})
        self.force = force

    @classmethod
    def read(cls, root: Path) -> Manifest | None:
        """The manifest of `root`; None when it has none or it is not a simgap manifest."""
        document = _json_object(Path(root) / MANIFEST)
        if document is None or document.get("simgap_manifest") != MANIFEST_FORMAT:
            return None
        files = document.get("files")
        if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
            return None
        return cls(root, files)

    def name(self, path: Path) -> str | None:
        """`path` relative to the root (POSIX), or None when it lies outside it."""
        try:
            relative = Path(path).resolve().relative_to(self.root.resolve())
        except ValueError:
            return None
        return None if relative == Path(MANIFEST) else relative.as_posix()

    def lists(self, path: Path) -> bool:
        return self.name(path) in self.files

    def claim(self, path: Path) -> None:
        """List `path` before it is written; refuse when it exists and simgap did not write it."""
        name = self.name(path)
        if name is None or name in self.files:
            return
        if path.exists() and not self.force:
            raise RunDirectoryError(
                f"{path} exists and simgap did not write it (it is not in "
                f"{self.root / MANIFEST}); move it away and rerun (it was left untouched)"
            )
        self.files[name] = {"size": None, "sha256": None}
        self.save()

    def record(self, path: Path) -> None:
        """`path` is in place: note its size and hash."""
        name = self.name(path)
        if name is not None:
            self.files[name] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
            self.save()

    def remove(self, path: Path) -> None:
        """Delete `path` if simgap wrote it (else leave it); it is then no longer listed."""
        name = self.name(path)
        if name in self.files:
            path.unlink(missing_ok=True)
            del self.files[name]
            self.save()

    def save(self) -> None:
        document = {"simgap_manifest": MANIFEST_FORMAT, "files": dict(sorted(self.files.items()))}
        text = json.dumps(document, indent=2) + "\n"
        _replace_whole(
            self.root / MANIFEST, lambda partial: partial.write_text(text, encoding="utf-8")
        )


# The manifest that files written now are listed in (`recording`); None: no run folder.
_recording: ContextVar[Manifest | None] = ContextVar("simgap_manifest", default=None)


@contextmanager
def recording(manifest: Manifest) -> Iterator[Manifest]:
    """List every file that `write_atomic` writes under `manifest.root` in `manifest`."""
    token = _recording.set(manifest)
    try:
        yield manifest
    finally:
        _recording.reset(token)


def recording_into(folder: Path, *, force: bool = False) -> Any:
    """`recording` the manifest of `folder` when it is a run (a report written into a run is
    listed in it, so the next report may replace it); a context that records nothing else."""
    manifest = Manifest.read(folder)
    if manifest is None:
        return nullcontext()
    manifest.force = force
    return recording(manifest)


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(temporary_path)`, then rename the temporary file onto `path`.

    Inside `recording`, `path` is listed in the run's manifest (and refused when it exists
    unlisted: a file simgap did not write).
    """
    manifest = _recording.get()
    if manifest is not None and manifest.name(path) is None:
        manifest = None
    if manifest is not None:
        manifest.claim(path)
    _replace_whole(path, write)
    if manifest is not None:
        manifest.record(path)


def remove_artifact(path: Path) -> None:
    """Delete an artifact that is no longer true, if the run's manifest lists it."""
    manifest = _recording.get()
    if manifest is not None:
        manifest.remove(path)


def write_json(path: Path, document: Any) -> None:
    """JSON, atomically."""
    text = json.dumps(document, indent=2)
    write_atomic(path, lambda partial: partial.write_text(text, encoding="utf-8"))


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    write_atomic(path, lambda partial: frame.to_parquet(partial, index=False))


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """CSV with formula-like text cells escaped (`untrusted.csv_text`), atomically."""
    text = csv_text(frame)
    write_atomic(path, lambda partial: partial.write_text(text, encoding="utf-8"))


def storage_precision(vectors: np.ndarray) -> np.ndarray:
    """`vectors` as stored in embeddings.npy: float16, which halves the file and the memory a
    memory-mapped read takes (125,000 x 1,024 dims: 256 MB instead of 512 MB), and changes a
    unit vector's cosine to itself by about 1e-7; float32 when a value would overflow float16
    (an embedder that does not normalize)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.size and float(np.abs(vectors).max()) >= float(np.finfo(np.float16).max):
        return vectors
    return vectors.astype(np.float16)


def write_npy(path: Path, array: np.ndarray) -> None:
    def save(partial: Path) -> None:
        with open(partial, "wb") as handle:  # a handle, so numpy adds no ".npy" to the name
            np.save(handle, array)

    write_atomic(path, save)


def write_corpus(folder: Path, corpus: Corpus) -> None:
    """The corpus tables, each replaced atomically: only the two files, never the folder, so a
    file of the user's in it survives. The stage record (written after both) vouches for them
    as a pair."""
    staging = _temporary(folder)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        corpus.save(staging)
        for name in ("conversations.parquet", "turns.parquet"):
            staged = staging / name
            write_atomic(folder / name, lambda partial, staged=staged: os.replace(staged, partial))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def is_run_directory(path: Path) -> bool:
    """True when `path` holds a simgap run: a valid manifest.json, written from its first file
    on (so a run interrupted after any write is one too)."""
    return Manifest.read(path) is not None


UPLOADS = "inputs"


def check_output_directory(path: Path) -> None:
    """Refuse an `--out` that is a file, or a non-empty folder that is not a simgap run.

    A run writes `metrics.json`, `stages.json`, `params.json` and more: in someone's own
    folder it would overwrite their files without a word.
    """
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"--out {path} is a file; give a folder for the run")
    # `inputs/` is where the dashboard keeps uploads for the run it is about to start; no run
    # artifact is written there, so a folder holding only it loses nothing.
    others = [entry for entry in path.iterdir() if entry.name != UPLOADS] if path.is_dir() else []
    if others and not is_run_directory(path):
        raise RunDirectoryError(
            f"--out {path} is a non-empty folder that is not a simgap run (it has no valid "
            f"{MANIFEST}); give a new or empty folder (nothing was written)"
        )


def check_output_file(path: Path, *, force: bool) -> None:
    """Refuse to write file `path` when its folder is missing (simgap never creates it
    silently) or when it exists, unless `force` or the run it lies in lists it."""
    if not path.parent.is_dir():
        raise RunDirectoryError(
            f"the folder {path.parent} does not exist (create it first); {path} was not written"
        )
    if path.exists() and not force:
        manifest = Manifest.read(path.parent)
        if manifest is None or not manifest.lists(path):
            raise RunDirectoryError(f"{path} exists; pass --force to overwrite it")


class Run:
    """A run directory: read artifacts lazily, by name.

    A missing artifact raises `RunDirectoryError`; an unreadable one (half a parquet, invalid
    JSON) raises `ArtifactError` naming the file, never a parser's traceback.
    """

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

    def read(self, name: str, reader: Callable[[Path], T]) -> T:
        """`reader(path)` of artifact `name`; `ArtifactError` when it cannot be read."""
        path = self.require(name)
        try:
            return reader(path)
        except (OSError, ValueError, KeyError, TypeError, EOFError) as error:
            raise ArtifactError(
                f"{path} is unreadable ({type(error).__name__}: {str(error)[:200]}); rerun "
                f"`simgap analyze --out {self.path}` to recompute it"
            ) from None
        except Exception as error:  # pyarrow's errors do not share a base with the above
            if type(error).__module__.startswith("pyarrow"):
                raise ArtifactError(
                    f"{path} is unreadable ({type(error).__name__}: {str(error)[:200]}); rerun "
                    f"`simgap analyze --out {self.path}` to recompute it"
                ) from None
            raise

    def _json(self, name: str, kind: type = dict) -> Any:
        def parse(path: Path) -> Any:
            value = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(value, kind):
                raise ValueError(f"expected a JSON {kind.__name__}, found {type(value).__name__}")
            return value

        return self.read(name, parse)

    @property
    def params(self) -> RunRecord:
        """`params.json`, typed: what the analysis was asked, its inputs, versions, timings."""
        return self._model("params.json", RunRecord)

    @property
    def stages(self) -> dict[str, StageEntry]:
        """The stage records of `stages.json` by stage name; {} for none or an older run."""
        document = _json_object(self.path / "stages.json") or {}
        if "simgap_stages" not in document:
            return {}
        try:
            return StagesRecord.model_validate(document).stages
        except ValidationError:
            return {}  # a broken record vouches for nothing: every stage is recomputed

    def facts(self, stage: str) -> dict[str, Any]:
        """What `stage` learnt when it ran (e.g. the embedding precision used); {} if unknown."""
        entry = self.stages.get(stage)
        return dict(entry.facts) if entry else {}

    def representation(self) -> Representation:
        """Facet, annotator and embedding model the run's results used, as the pages name them."""
        return representation(self.params, self.stages)

    def _model(self, name: str, model: type[M]) -> M:
        def parse(path: Path) -> M:
            return model.model_validate(json.loads(path.read_text(encoding="utf-8")))

        return self.read(name, parse)

    def corpus(self) -> Corpus:
        self.require("corpus")
        return self.read("corpus", Corpus.read)

    def skipped(self) -> list[dict[str, str]]:
        return self._json("skipped.json", list)

    def descriptions(self) -> pd.DataFrame:
        return self.read("descriptions.parquet", pd.read_parquet)

    def representations(self) -> pd.DataFrame:
        return self.read("representations.parquet", pd.read_parquet)

    def embeddings(self) -> np.ndarray:
        """The stored vectors, memory-mapped read-only (float16, or float32 in older runs and
        for embedders that do not normalize): cast with `np.asarray(v, dtype=np.float32)`."""
        return self.read("embeddings.npy", lambda file: np.load(file, mmap_mode="r"))

    def projection(self) -> pd.DataFrame:
        return self.read("projection.parquet", pd.read_parquet)

    def clusters(self) -> pd.DataFrame:
        return self.read("clusters.parquet", pd.read_parquet)

    def cluster_mass(self) -> pd.DataFrame:
        return self.read("cluster_mass.csv", read_csv)

    def metrics(self) -> Metrics:
        """`metrics.json` read and checked through the typed schema (`simgap_core.schema`)."""
        from simgap_core.schema import read_metrics

        return read_metrics(self.path)

    def paper_histograms(self) -> pd.DataFrame:
        return self.read("paper_histograms.csv", read_csv)

    def features(self) -> pd.DataFrame:
        """Behaviour features per conversation (`simgap_core.behaviour.FEATURES`)."""
        return self.read("features.parquet", pd.read_parquet)

    def feature_gaps(self) -> pd.DataFrame:
        """Per (feature, simulator) gap, significant rows first (`behaviour.GAP_COLUMNS`)."""
        return self.read("feature_gaps.csv", read_csv)

    def cluster_names(self) -> pd.DataFrame:
        """cluster, name, description: one row per cluster, noise (-1) included."""
        return self.read(
            "cluster_names.csv",
            lambda path: read_csv(path, keep_default_na=False, dtype={"name": str}),
        )

    def clusters_summary(self) -> pd.DataFrame:
        """`clusters_summary.csv` with each cluster's `name` and `description` joined in.

        The names live in `cluster_names.csv` (the behaviour stage, after clustering) rather
        than in the summary (the measure stage) so that naming never waits for, or reruns,
        the measurement. A run made before names existed gets the columns empty.
        """
        summary = self.read("clusters_summary.csv", read_csv)
        if (self.path / "cluster_names.csv").is_file():
            names = self.cluster_names()[["cluster", "name", "description"]]
            summary = summary.drop(columns=["name", "description"], errors="ignore").merge(
                names, on="cluster", how="left"
            )
        for column in ("name", "description"):
            if column not in summary:
                summary[column] = ""
            summary[column] = summary[column].astype(object).where(summary[column].notna(), "")
            summary[column] = summary[column].astype(str)
        # The name reads first, right after the number it names.
        rest = [c for c in summary.columns if c not in ("cluster", "name", "description")]
        return summary[["cluster", "name", "description", *rest]]

    def cluster_names_by_number(self) -> dict[int, str]:
        """{cluster: name} from `cluster_names.csv`; {} for a run made before names existed."""
        if not (self.path / "cluster_names.csv").is_file():
            return {}
        names = self.cluster_names()
        return dict(zip(names["cluster"].astype(int), names["name"].astype(str), strict=True))

    def misalignment(self) -> pd.DataFrame:
        return self.read("misalignment.parquet", pd.read_parquet)

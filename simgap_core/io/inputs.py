"""Input specs: which files make up which source, parsed once for the CLI and the Data page.

An input is a file, a directory (every supported file inside it, recursively, sorted; hidden
files and other suffixes are left out; an entry that cannot be read, such as a broken link, a
named pipe or a file without read permission, is an error naming it, never left out unseen) or
a glob pattern (`'shards/*.parquet'`, quoted so the
shell leaves it alone). `--real PATH` and `--sim NAME=PATH` on the command line and the Data
page's `SOURCE=PATH` lines and uploads all become `InputSpec`s here, and `load_inputs` loads
them into one corpus.

Documented handling of repeats: the same file given twice for the same source (`--sim s=x
--sim s=x`, or a file matched by two patterns) is an `InputError` naming the file and both
specs; a conversation id repeated across different files of one source is loaded once, the
later copies listed as skipped with the place of the first. The reference source's name
(`real`) cannot be a simulator's.

`--sample N` keeps a seeded random sample of N conversations per source (each source on its
own, so a huge real corpus does not crowd out a small simulator), recorded in
`Corpus.sampling` and in `describe_inputs`.
"""

from __future__ import annotations

import glob
import hashlib
import os
import unicodedata
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simgap_core.errors import EmptySourceError, InputError, MissingFileError, SimgapError
from simgap_core.io.loaders import drop_repeated_ids, load_file
from simgap_core.io.reading import JSON_SUFFIXES, PARQUET_SUFFIXES, TABLE_SUFFIXES, unreadable
from simgap_core.model import Corpus

REFERENCE = "real"
SUPPORTED_SUFFIXES = (*JSON_SUFFIXES, *TABLE_SUFFIXES, *PARQUET_SUFFIXES)
MAX_SOURCE_NAME = 100
_GLOB_CHARACTERS = set("*?[")


class InputSpecError(SimgapError):
    """An input spec (`--real`, `--sim NAME=PATH`, a Data page line) is malformed."""


@dataclass(frozen=True)
class InputSpec:
    """One input (a file, a directory or a glob pattern) and the source its conversations get.

    `source` None keeps each file's own default (a table's `source` column, else the file
    stem). `sample` keeps N conversations per source, drawn with `seed`.
    """

    path: Path
    source: str | None
    format: str | None = None
    sample: int | None = None
    seed: int = 42
    columns: tuple[tuple[str, str], ...] = ()
    """A table's column mapping, THEIRS -> OURS (`--column speaker=role`)."""

    def files(self) -> list[Path]:
        """The files this spec stands for, sorted; a pattern or folder matching none is an
        error naming it."""
        return expand_path(self.path)

    def default_source(self) -> str | None:
        """The source name given; None keeps each file's own (its stem or `source` column),
        also inside a folder, so files whose ids repeat (tau-bench tasks) never collide."""
        return self.source


# --- parsing ----------------------------------------------------------------------------------


def source_name(text: str, where: str) -> str:
    """A source name as given, checked: not empty, no control characters, at most 100 long."""
    name = text.strip()
    if not name:
        raise InputSpecError(f"{where}: the source name is empty")
    if len(name) > MAX_SOURCE_NAME:
        raise InputSpecError(f"{where}: the source name is over {MAX_SOURCE_NAME} characters")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise InputSpecError(f"{where}: the source name {name!r} holds control characters")
    return name


def parse_assignment(text: str, where: str, shape: str = "NAME=PATH") -> tuple[str, Path]:
    """`NAME=PATH` -> (checked name, path). The first '=' splits, so paths may hold '='."""
    name, sep, path = text.partition("=")
    if not sep or not path.strip():
        raise InputSpecError(f"{where} takes {shape}, got {text!r}")
    return source_name(name, f"{where} {text!r}"), Path(path.strip()).expanduser()


def parse_sim(
    text: str,
    *,
    format: str | None = None,
    sample: int | None = None,
    seed: int = 42,
    reference: str = REFERENCE,
) -> InputSpec:
    """`--sim NAME=PATH`; a simulator cannot take the reference population's name."""
    name, path = parse_assignment(text, "--sim")
    if name == reference:
        raise InputSpecError(
            f"--sim {text!r}: {reference!r} is the reference population (real users), not a "
            f"simulator name; give real users' files with --real PATH and name the simulator "
            "otherwise"
        )
    return InputSpec(path, name, format, sample, seed)


def cli_inputs(
    real: Sequence[Path | str],
    sim: Sequence[str],
    *,
    format: str | None = None,
    sample: int | None = None,
    seed: int = 42,
    reference: str = REFERENCE,
) -> list[InputSpec]:
    """The specs of `--real PATH` (repeatable) and `--sim NAME=PATH` (repeatable)."""
    _check_sample(sample)
    specs = [InputSpec(Path(p).expanduser(), reference, format, sample, seed) for p in real]
    specs += [
        parse_sim(value, format=format, sample=sample, seed=seed, reference=reference)
        for value in sim
    ]
    return specs


def parse_lines(text: str, *, format: str | None = None) -> list[InputSpec]:
    """The Data page's `SOURCE=PATH` lines (blank lines ignored); each path must exist here."""
    specs = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        name, sep, path_text = line.partition("=")
        if not sep or not name.strip() or not path_text.strip():
            raise InputSpecError(f"line {number}: write SOURCE=PATH, got {line!r}")
        path = Path(path_text.strip()).expanduser()
        if not path.exists() and not _is_pattern(path):
            raise InputSpecError(f"line {number}: {path} is not a file on this machine")
        spec = InputSpec(path, source_name(name, f"line {number}"), format)
        spec.files()  # a folder without transcripts or a pattern matching nothing fails here
        specs.append(spec)
    return specs


def save_uploads(
    folder: Path, uploads: Iterable[tuple[str, bytes, str]], *, format: str | None = None
) -> list[InputSpec]:
    """Write uploaded (file name, bytes, source) into `folder` and return their specs.

    Only the file name's last part is used (no path from the browser reaches the disk); two
    uploads of one name are refused rather than one overwriting the other.
    """
    items = list(uploads)
    names = [Path(name).name for name, _, _ in items]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputSpecError(f"two uploaded files are named {repeated[0]!r}: rename one")
    folder.mkdir(parents=True, exist_ok=True)
    specs = []
    for name, (_, data, source) in zip(names, items, strict=True):
        if not name or name in {".", ".."}:
            raise InputSpecError(f"an uploaded file has no usable name ({name!r})")
        (folder / name).write_bytes(data)
        specs.append(InputSpec(folder / name, source_name(source, f"source of {name}"), format))
    return specs


def _check_sample(sample: int | None) -> None:
    if sample is not None and sample < 1:
        raise InputSpecError(
            f"--sample takes a number of conversations of at least 1, got {sample}"
        )


# --- expanding paths --------------------------------------------------------------------------


def _is_pattern(path: Path) -> bool:
    return not path.exists() and bool(_GLOB_CHARACTERS & set(str(path)))


def _supported(name: str) -> bool:
    return not name.startswith(".") and name.lower().removesuffix(".gz").endswith(
        SUPPORTED_SUFFIXES
    )


def _folder_files(folder: Path) -> Iterator[Path]:
    """The transcript files under `folder`, hidden files and folders left out.

    Every entry named like a transcript that is not a folder is kept, also a broken link or
    a named pipe: loading it then names the problem, where leaving it out would drop its
    conversations unseen. A subfolder that cannot be listed is an error for the same reason.
    """

    def cannot_list(exc: OSError) -> None:
        raise InputError(
            exc.filename or folder, f"is a folder that cannot be listed: {exc.strerror or exc}"
        )

    for root, folders, names in os.walk(folder, onerror=cannot_list):
        folders[:] = [name for name in folders if not name.startswith(".")]
        yield from (Path(root) / name for name in names if _supported(name))


def expand_path(path: Path) -> list[Path]:
    """A file as is; a directory's supported files (recursively, sorted); a pattern's matches."""
    if path.is_dir():
        found = sorted(_folder_files(path))
        if not found:
            suffixes = ", ".join(SUPPORTED_SUFFIXES)
            raise MissingFileError(path, f"is a folder with no transcript file ({suffixes}, .gz)")
        return found
    if _is_pattern(path):
        found = sorted(
            Path(p) for p in glob.glob(str(path), recursive=True) if not Path(p).is_dir()
        )
        if not found:
            raise MissingFileError(path, "the pattern matches no file")
        return found
    return [path]


# --- loading ----------------------------------------------------------------------------------


def load_inputs(inputs: Sequence[InputSpec], *, failures: list[InputError] | None = None) -> Corpus:
    """Load every input under its source name (see the module docstring for repeats and
    sampling); raise when a named source ends up empty.

    With a `failures` list, a file (or pattern) that cannot be loaded is appended to it and the
    others still load (what `simgap load` wants: show everything at once); without, the first
    failure is raised.
    """
    planned: list[tuple[InputSpec, Path, str | None]] = []
    owner: dict[tuple[str | None, Path], InputSpec] = {}
    for spec in inputs:
        source = spec.default_source()
        try:
            files = spec.files()
        except InputError as error:
            if failures is None:
                raise
            failures.append(error)
            continue
        for file in files:
            key = (source, _identity(file))
            if key in owner:
                raise InputError(
                    file,
                    f"is given twice for source {source!r} (by {owner[key].path} and by "
                    f"{spec.path}); give it once",
                )
            owner[key] = spec
            planned.append((spec, file, source))
    corpora = []
    for spec, file, source in planned:
        try:
            corpora.append(
                load_file(file, format=spec.format, source=source, column_map=dict(spec.columns))
            )
        except (InputError, ValueError) as error:
            if failures is None:
                raise
            failures.append(
                error if isinstance(error, InputError) else InputError(file, str(error))
            )
    corpus = drop_repeated_ids(corpora)
    present = set(corpus.sources)
    for spec in inputs:
        if failures is None and spec.source is not None and spec.source not in present:
            raise EmptySourceError(f"source {spec.source!r} ({spec.path}) has no conversations")
    samples = {s.default_source(): s for s in inputs if s.sample is not None}
    return sample_per_source(corpus, samples) if samples else corpus


def _identity(file: Path) -> Path:
    """The file's real path, to find one file given twice; a link that loops has none (its
    load then says so), so its own absolute path stands in."""
    try:
        return file.resolve()
    except (OSError, RuntimeError):  # RuntimeError: Python < 3.13 on a symlink loop
        return file.absolute()


def sample_per_source(corpus: Corpus, specs: dict[str | None, InputSpec]) -> Corpus:
    """Keep `spec.sample` conversations of each source, drawn with the spec's seed and the
    source's name (so one source's draw does not depend on the others)."""
    keep: list[str] = []
    sampling: dict[str, dict[str, int]] = {}
    frame = corpus.conversations
    for source in corpus.sources:
        ids = frame.loc[frame["source"] == source, "conversation_id"].astype(str).to_numpy()
        spec = specs.get(source) or next((s for k, s in specs.items() if k is None), None)
        if spec is None or spec.sample is None or spec.sample >= len(ids):
            keep.extend(ids)
            if spec is not None:
                sampling[source] = {"kept": len(ids), "of": len(ids), "seed": spec.seed}
            continue
        rng = np.random.default_rng([spec.seed, zlib.crc32(source.encode("utf-8"))])
        chosen = np.sort(rng.choice(len(ids), size=spec.sample, replace=False))
        keep.extend(ids[chosen])
        sampling[source] = {"kept": spec.sample, "of": len(ids), "seed": spec.seed}
    sampled = corpus.subset(keep)
    sampled.sampling = sampling
    return sampled


def describe_inputs(inputs: Sequence[InputSpec]) -> list[dict[str, object]]:
    """What `params.json` records per input (and what the corpus fingerprint hashes): the
    spec, the sample, and every file it stands for with its SHA-256."""
    records = []
    for spec in inputs:
        files = spec.files() if spec.path.exists() or _is_pattern(spec.path) else [spec.path]
        records.append(
            {
                "path": str(spec.path),
                "source": spec.source,
                "format": spec.format,
                "sample": spec.sample,
                "seed": spec.seed if spec.sample is not None else None,
                "sha256": _sha256(files[0]) if files == [spec.path] else None,
                "files": [{"path": str(f), "sha256": _sha256(f)} for f in files],
            }
        )
    return records


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise unreadable(path, exc) from exc
    return digest.hexdigest()

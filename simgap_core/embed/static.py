"""The static embedder: a model2vec model distilled once from a sentence-transformers model.

Distillation (model2vec's recipe, Tulkens & van Dongen 2024) runs the source model once over
every token of its own vocabulary, each token alone between the tokenizer's special tokens,
and keeps the model's output vector per token; PCA reduces those vectors to `dims`
dimensions and each token is weighted by SIF on a Zipf estimate of its frequency from its
rank in the vocabulary (`sif / (sif + p(rank))`), so frequent tokens count less. A text is
then the mean of its tokens' vectors, normalized: no transformer at inference, hence its speed.

The recipe is simgap's own code rather than `model2vec.distill`: that module needs
`skeletoken` and declares transformers < 5.4 (simgap pins a later one), it runs the bare
transformer rather than the sentence-transformers pipeline (pooling, dense layers,
normalization of the configured model), and it reports progress only to a tqdm bar.
Inference and the stored format are model2vec's (`StaticModel`), so a distilled folder also
loads with `StaticModel.from_pretrained`.

The distilled model lives in `$SIMGAP_CACHE_DIR/static/NAME-KEY/`, KEY hashing the source
model's name and file contents, its vocabulary size, the dimensions, model2vec's version and
`DISTILL_VERSION`. It is written to a temporary folder and renamed, with `simgap.json` (every
file's size and sha256) written last; a folder whose manifest or files do not match is
distilled again, never used. Only safetensors and JSON are stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from simgap_core import cache_root
from simgap_core.embed import Embedder, check_texts, unit_rows
from simgap_core.embed.local import (
    DEFAULT_MODEL,
    ModelLoadError,
    load_sentence_transformer,
    resolve_model,
)
from simgap_core.parts import PartError, identity_key, register

# Bump when the recipe below changes what a distilled model contains: old folders are not reused.
DISTILL_VERSION = 1
DEFAULT_DIMS = 256
# model2vec's default SIF coefficient: a token at Zipf probability p keeps sif / (sif + p).
SIF_COEFFICIENT = 1e-4
# BERT's placeholder tokens: no text tokenizes to them, so they neither shape the PCA nor take
# a Zipf rank (as model2vec drops them); their vectors are zero.
UNUSED_TOKEN = re.compile(r"\[unused\d+\]")
MANIFEST = "simgap.json"
MODEL_FILES = ("model.safetensors", "tokenizer.json", "config.json")
# The tensor (besides model2vec's "embeddings") holding the vector of a text with no known token.
EMPTY_TENSOR = "empty_text"

_content_digests: dict[tuple[Any, ...], str] = {}


class DistilledModelError(Exception):
    """A stored distilled model is incomplete or altered (caught: the model is distilled again)."""


def source_digest(path: Path) -> str:
    """sha256 over the relative path and bytes of every file of a model directory.

    Memoized per process by the files' paths, sizes and change times (ctime, which no tool
    sets back as it can mtime), so a long-lived process (the dashboard) hashes weights once.
    """
    files = sorted(p for p in path.rglob("*") if p.is_file())
    stats = [f.stat() for f in files]
    listing = tuple(
        (str(f), s.st_size, s.st_mtime_ns, s.st_ctime_ns) for f, s in zip(files, stats, strict=True)
    )
    if listing not in _content_digests:
        digest = hashlib.sha256()
        for file in files:
            digest.update(f"{file.relative_to(path)}\0{file.stat().st_size}\0".encode())
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        _content_digests[listing] = digest.hexdigest()
    return _content_digests[listing]


def vocabulary_size(path: Path) -> int | None:
    """Tokens in the model's fast tokenizer (the shallowest `tokenizer.json`), if it has one."""
    from tokenizers import Tokenizer

    found = sorted(path.rglob("tokenizer.json"), key=lambda p: (len(p.parts), str(p)))
    return Tokenizer.from_file(str(found[0])).get_vocab_size() if found else None


def zipf_sif_weights(count: int, sif: float = SIF_COEFFICIENT) -> np.ndarray:
    """SIF weights of `count` tokens whose frequency rank is their order (model2vec's estimate:
    p proportional to 1 / (rank + 1))."""
    inverse_rank = 1.0 / np.arange(2, count + 2, dtype=np.float64)
    probability = inverse_rank / inverse_rank.sum()
    return sif / (sif + probability)


def pca(vectors: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the first `dims` principal axes (rows) of `vectors`, float64.

    Each axis's sign is fixed so that the row with the largest absolute score on it scores
    positive (as model2vec does): the same vectors always give the same axes.
    """
    data = np.asarray(vectors, dtype=np.float64)
    mean = data.mean(axis=0)
    centred = data - mean
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred / max(len(data) - 1, 1))
    axes = eigenvectors[:, np.argsort(eigenvalues)[::-1][:dims]].T
    scores = centred @ axes.T
    largest = np.abs(scores).argmax(axis=0)
    signs = np.sign(scores[largest, np.arange(len(axes))])
    return mean, axes * np.where(signs == 0, 1.0, signs)[:, None]


@register
class StaticEmbedder(Embedder):
    """Embed texts with a model2vec static model distilled from a sentence-transformers model.

    `model` is the source, chosen as for the `sentence-transformers` embedder (the default
    all-MiniLM-L6-v2 from its package, a local directory, or a hub name already in the local
    cache). The first `encode` loads the distilled model from `cache_dir` (default
    `$SIMGAP_CACHE_DIR/static`) or distills it, reporting `progress(done, total)` in tokens.
    `.distillations` counts distillations made by this object, `.distill_reason` says why the
    last one was needed.
    """

    name = "static"
    output_neutral = frozenset({"batch_size", "progress", "threads", "cache_dir"})
    progress_stage = "distil"  # the first use distils the model: a progress bar of its own

    @classmethod
    def options_from(cls, params: Any) -> dict[str, Any]:
        return {"model": params.embedding_model}

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        dims: int = DEFAULT_DIMS,
        batch_size: int = 512,
        progress: Callable[[int, int], None] | None = None,
        threads: int | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        for option, value in (("dims", dims), ("batch_size", batch_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise PartError(f"{option} must be an integer of at least 1, got {value!r}")
        if threads is not None and threads < 1:
            raise PartError(f"threads must be at least 1, got {threads}")
        self.model = model
        self.source = resolve_model(model)
        self.dims = dims
        self.batch_size = batch_size
        self.progress = progress
        self.threads = threads
        self.cache_dir = Path(cache_dir) if cache_dir is not None else cache_root() / "static"
        self.distillation: dict[str, Any] = {
            "source": model,
            "source_sha256": source_digest(self.source.path),
            "vocabulary": vocabulary_size(self.source.path),
            "dims": dims,
            "sif_coefficient": SIF_COEFFICIENT,
            "model2vec": package_version("model2vec"),
            "distill_version": DISTILL_VERSION,
        }
        slug = re.sub(r"[^A-Za-z0-9.-]+", "-", Path(model).name or model)[-40:].strip("-.")
        self.folder = self.cache_dir / f"{slug or 'model'}-{identity_key(self.distillation)}"
        self.distillations = 0
        self.distill_reason: str | None = None
        self.distill_seconds: float | None = None
        self._static: Any = None
        self._empty: np.ndarray | None = None

    def params(self) -> dict[str, Any]:
        """The source model's files and every setting of the distillation."""
        return {
            "model": self.source.identity,
            "dims": self.dims,
            "distilled": identity_key(self.distillation),
        }

    def facts(self) -> dict[str, Any]:
        return {
            "static_model": str(self.folder),
            "distilled_now": self.distillations > 0,
            "distill_reason": self.distill_reason,
            "distill_seconds": self.distill_seconds,
        }

    @property
    def dimension(self) -> int:
        """Length of the vectors: `dims`, or the source's own length when that is smaller."""
        return int(self._load().dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for `texts`, float32 (len(texts), dimension), in input order.

        A text with no token in the vocabulary (empty, or only unknown characters) gets the
        distilled vector of the source model's empty text, so every row has length 1.
        """
        texts = check_texts(texts)
        static = self._load()
        if not texts:
            return np.zeros((0, static.dim), dtype=np.float32)
        vectors = np.asarray(
            static.encode(texts, show_progress_bar=False, normalize=False), dtype=np.float32
        )
        empty = ~np.any(vectors, axis=1)
        vectors[empty] = self._empty
        return unit_rows(vectors)

    def _load(self) -> Any:
        if self._static is None:
            try:
                self._static, self._empty = self._read(self.folder)
            except DistilledModelError as problem:
                self.distill_reason = str(problem)
                self._write(self._distil())
                self._static, self._empty = self._read(self.folder)
        return self._static

    def _read(self, folder: Path) -> tuple[Any, np.ndarray]:
        """The stored model and its empty-text vector; `DistilledModelError` unless every file
        is the one the manifest names and the manifest is this distillation's."""
        from model2vec import StaticModel
        from safetensors.numpy import load_file

        if not folder.is_dir():
            raise DistilledModelError(f"no distilled model in {folder} yet")
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DistilledModelError(f"{folder / MANIFEST} is missing or unreadable") from error
        if manifest.get("distillation") != self.distillation:
            raise DistilledModelError(f"{folder / MANIFEST} describes another distillation")
        for name in MODEL_FILES:
            if _file_record(folder / name) != manifest.get("files", {}).get(name):
                raise DistilledModelError(f"{folder / name} is missing or altered")
        try:
            static = StaticModel.from_pretrained(folder, max_length=None, force_download=False)
            empty = load_file(str(folder / "model.safetensors"))[EMPTY_TENSOR]
        except Exception as error:  # noqa: BLE001 - checksums held, yet model2vec cannot read it
            raise DistilledModelError(f"model2vec cannot load {folder}: {error}") from error
        if static.embedding.shape != tuple(manifest["shape"]):
            raise DistilledModelError(f"{folder} holds vectors of shape {static.embedding.shape}")
        return static, empty

    def _distil(self) -> dict[str, Any]:
        """Run the source model over its vocabulary: vectors, the empty-text vector, tokenizer."""
        started = time.perf_counter()
        model = load_sentence_transformer(self.model, self.source, threads=self.threads)
        tokenizer = _static_tokenizer(self.model, model)
        tokens = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
        if [index for _, index in tokens] != list(range(len(tokens))):
            raise ModelLoadError(f"{self.model!r} does not number its vocabulary 0..n-1")
        prefix, suffix = _special_tokens(self.model, model)
        outputs = self._forward(model, [[*prefix, i, *suffix] for i in range(len(tokens))])
        empty = self._forward(model, [[*prefix, *suffix]], report=False)[0]
        kept = np.array([UNUSED_TOKEN.fullmatch(token) is None for token, _ in tokens])
        mean, axes = pca(outputs[kept], min(self.dims, outputs.shape[1]))
        vectors = np.zeros((len(tokens), len(axes)), dtype=np.float64)
        weights = zipf_sif_weights(int(kept.sum()))
        vectors[kept] = ((outputs[kept] - mean) @ axes.T) * weights[:, None]
        self.distillations += 1
        self.distill_seconds = time.perf_counter() - started
        return {
            "embeddings": vectors.astype(np.float32),
            EMPTY_TENSOR: ((empty - mean) @ axes.T).astype(np.float32),
            "tokenizer": tokenizer,
        }

    def _forward(
        self, model: Any, sequences: list[list[int]], *, report: bool = True
    ) -> np.ndarray:
        """The source model's output vector per token sequence (all of one length), float64."""
        import torch

        template = model.preprocess(["a"])
        extra = {k: v for k, v in template.items() if not isinstance(v, torch.Tensor)}
        rows = []
        if report and self.progress is not None:
            self.progress(0, len(sequences))
        with torch.inference_mode():
            for start in range(0, len(sequences), self.batch_size):
                ids = torch.tensor(sequences[start : start + self.batch_size], dtype=torch.long)
                features = {"input_ids": ids, "attention_mask": torch.ones_like(ids), **extra}
                if "token_type_ids" in template:
                    features["token_type_ids"] = torch.zeros_like(ids)
                try:
                    output = model(features)["sentence_embedding"]
                except (IndexError, KeyError, RuntimeError) as error:
                    raise ModelLoadError(
                        f"cannot run {self.model!r} over its vocabulary to distil it: {error}"
                    ) from error
                rows.append(output.float().numpy().astype(np.float64))
                if report and self.progress is not None:
                    self.progress(min(start + self.batch_size, len(sequences)), len(sequences))
        return np.concatenate(rows)

    def _write(self, distilled: dict[str, Any]) -> None:
        """Store `distilled` in `self.folder`: a temporary folder, renamed when complete."""
        from safetensors.numpy import save_file

        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = self.cache_dir / f".{self.folder.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        partial.mkdir()
        try:
            embeddings = distilled["embeddings"]
            save_file(
                {"embeddings": embeddings, EMPTY_TENSOR: distilled[EMPTY_TENSOR]},
                str(partial / "model.safetensors"),
            )
            distilled["tokenizer"].save(str(partial / "tokenizer.json"))
            config = {
                "model_type": "model2vec",
                "architectures": ["StaticModel"],
                "tokenizer_name": self.model,
                "apply_pca": self.dims,
                "sif_coefficient": SIF_COEFFICIENT,
                "hidden_dim": int(embeddings.shape[1]),
                "seq_length": 1000000,
                "normalize": True,
                "pooling": "mean",
                "embedding_dtype": "float32",
            }
            (partial / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
            manifest = {
                "distillation": self.distillation,
                "shape": list(embeddings.shape),
                "seconds": self.distill_seconds,
                "files": {name: _file_record(partial / name) for name in MODEL_FILES},
            }
            (partial / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            self._publish(partial)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def _publish(self, partial: Path) -> None:
        """Rename `partial` to `self.folder`, first moving aside a broken folder of that name.

        A complete folder put there meanwhile by another process is kept (it is the same model).
        """
        for _ in range(3):
            try:
                partial.rename(self.folder)
                return
            except OSError:
                try:
                    self._read(self.folder)
                    return
                except DistilledModelError:
                    broken = self.folder.with_name(f".{self.folder.name}.{uuid.uuid4().hex}.broken")
                    try:
                        self.folder.rename(broken)
                    except FileNotFoundError:
                        continue
                    shutil.rmtree(broken, ignore_errors=True)
        raise OSError(f"cannot store the distilled model in {self.folder}")


def _file_record(path: Path) -> dict[str, Any] | None:
    """Size and sha256 of a file, or None when it is missing."""
    if not path.is_file():
        return None
    return {"size": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _static_tokenizer(name: str, model: Any) -> Any:
    """A copy of the source model's fast tokenizer that neither pads nor truncates."""
    from tokenizers import Tokenizer

    backend = getattr(getattr(model, "tokenizer", None), "backend_tokenizer", None)
    if backend is None:
        raise ModelLoadError(f"{name!r} has no fast (Rust) tokenizer, which distillation needs")
    tokenizer = Tokenizer.from_str(backend.to_str())
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _special_tokens(name: str, model: Any) -> tuple[list[int], list[int]]:
    """The ids the model's tokenizer puts before and after a text (e.g. [CLS] and [SEP])."""
    plain = list(model.tokenizer("a", add_special_tokens=False)["input_ids"])
    full = [int(i) for i in model.preprocess(["a"])["input_ids"][0]]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start], full[start + len(plain) :]
    raise ModelLoadError(f"cannot find where {name!r}'s tokenizer places a text among its tokens")

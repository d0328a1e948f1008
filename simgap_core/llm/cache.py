"""Chat models' answers on disk: one JSON file per answer, keyed by what changes it.

A key is the SHA-256 of (model, prompt version, digest of the content the prompt was made
from), so a rerun asks nothing it asked before, another model or a bumped prompt version asks
again, and the server (and any credential in its URL) is never part of it. The format is the
one the LLM annotator and the LLM namer have always written, so their caches carry over:

    <folder>/<key[:2]>/<key>.json
    {"model": ..., "prompt_version": ..., "<content>_digest": ..., <the answer's fields>}

where <content> is what the digest is of ("conversation" for the annotator, whose prompt is
built from the conversation's turns; "prompt" for the namer, whose digest is of the messages).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def content_digest(value: Any) -> str:
    """SHA-256 of the canonical JSON of `value` (turns, messages: what a prompt is made of)."""
    canonical = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def answer_key(**parts: str) -> str:
    """The cache key of an answer: SHA-256 of everything that changes it (model, prompt
    version, the digest of what was sent)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class AnswerCache:
    """Model answers on disk as JSON, one file per `answer_key`, sharded by its first two digits.

    An entry is written as soon as its answer arrives (tmp + os.replace, so a reader or a
    resumed run never sees half a file); one that cannot be read counts as missing and is
    asked again and overwritten.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def read(self, key: str) -> dict[str, Any] | None:
        try:
            entry = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return entry if isinstance(entry, dict) else None

    def write(self, key: str, entry: dict[str, Any]) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(entry, file, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class VersionedAnswers:
    """The answers of one `model` to one `prompt_version` of a prompt, in an `AnswerCache`.

    `content` names what the digests are of (see the module docstring). An entry written for
    another model or prompt version is never served, even if its file were found.
    """

    def __init__(self, folder: Path, *, model: str, prompt_version: str, content: str) -> None:
        self.store = AnswerCache(folder)
        self.model = model
        self.prompt_version = prompt_version
        self.content = content

    def key(self, digest: str) -> str:
        """The key of the answer to a prompt made from content with this digest."""
        parts = {"model": self.model, "prompt_version": self.prompt_version}
        return answer_key(**parts, **{self.content: digest})

    def read(self, key: str) -> dict[str, Any] | None:
        """The entry under `key` when it was written for this model and prompt version."""
        entry = self.store.read(key)
        if (
            entry is None
            or entry.get("model") != self.model
            or entry.get("prompt_version") != self.prompt_version
        ):
            return None
        return entry

    def write(self, key: str, digest: str, fields: dict[str, Any]) -> None:
        """Store an answer's `fields` under `key`, with what it answers."""
        entry = {
            "model": self.model,
            "prompt_version": self.prompt_version,
            f"{self.content}_digest": digest,
            **fields,
        }
        self.store.write(key, entry)

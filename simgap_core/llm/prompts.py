"""Prompts as data: a TOML file of format templates beside the module that sends them.

A prompt read as prose is easier to review and edit than one glued from Python string
literals; the file holds its own `version`, which the sender puts into every cache key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from importlib import resources
from typing import Any


def load_prompts(package: str, filename: str, keys: Iterable[str]) -> dict[str, Any]:
    """The TOML file `filename` of `package`; `RuntimeError` when it lacks a key in `keys`
    or `version` (a broken install or a bad edit must fail at import, not mid-run)."""
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    prompts = tomllib.loads(text)
    missing = [key for key in ("version", *keys) if key not in prompts]
    if missing:
        raise RuntimeError(f"{package}/{filename} lacks {', '.join(missing)}")
    return prompts

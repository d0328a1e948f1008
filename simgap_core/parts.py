"""Swappable parts of the pipeline: one interface per stage and a registry of implementations.

Every stage of an analysis is done by a *part* (an annotator, an embedder, a reducer, a
clusterer, a quantizer), in the spirit of scikit-learn estimators and BERTopic's swappable
components. A part is a small object whose constructor takes its own keyword parameters and
validates them (raising `PartError` with the allowed range), and whose `identity()` names it
with every parameter that changes its output. Identities are what cache keys and provenance
are made of, so two configurations of one class never share a cache entry.

The registry maps (kind, name) to a constructor, so the CLI and the dashboard offer whatever is
registered::

    from simgap_core import parts

    @parts.register
    class MyClusterer(parts.Part):
        kind = "clusterer"
        name = "mine"
        ...

    clusterer = parts.create("clusterer", "mine", min_size=5)

Implementations register themselves when their module is imported; `create` and `available`
import the built-in modules first (`BUILTIN_MODULES`), so nothing heavy is imported before a
part is asked for.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from simgap_core.errors import SimgapError

KINDS = ("annotator", "embedder", "reducer", "clusterer", "quantizer", "namer")

# Modules whose import registers the built-in parts of each kind.
BUILTIN_MODULES: dict[str, tuple[str, ...]] = {
    "annotator": ("simgap_core.represent.heuristic", "simgap_core.represent.llm"),
    "embedder": ("simgap_core.embed.local", "simgap_core.embed.openai", "simgap_core.embed.static"),
    "reducer": ("simgap_core.map.parts",),
    "clusterer": ("simgap_core.map.parts",),
    "quantizer": ("simgap_core.measure.quantize",),
    "namer": ("simgap_core.behaviour.names", "simgap_core.behaviour.llm_names"),
}


class PartError(SimgapError):
    """A part is unknown, or a part's parameter is outside its allowed range."""


class Part:
    """Base class of every part: a kind, a registered name, and an identity.

    Subclasses set `kind` and `name` and implement `params()`: the parameters that change
    the part's output (not progress callbacks, thread counts or cache folders).
    """

    kind: ClassVar[str]
    name: ClassVar[str]
    # Constructor parameters that do not change the output (where it runs, how fast, where
    # it caches, progress). Every other constructor parameter must be named in `identity()`:
    # tests/test_part_contract.py checks it for every registered part.
    output_neutral: ClassVar[frozenset[str]] = frozenset()
    # A part whose set-up is slow work of its own (e.g. distilling a model) names a progress
    # stage; the analysis then passes it `progress=` and shows that stage's bar.
    progress_stage: ClassVar[str | None] = None

    @classmethod
    def options_from(cls, params: Any) -> dict[str, Any]:
        """The constructor options an analysis's parameters (`AnalysisParams`) give this part,
        e.g. the UMAP reducer reads `n_neighbors` and `seed`. `--part-option KIND.KEY=VALUE`
        (`params.part_options`) overrides them. None by default: a new part needs no field of
        its own in `AnalysisParams` to be a full option of the CLI and the dashboard."""
        return {}

    def params(self) -> dict[str, Any]:
        """Every parameter that changes this part's output, JSON-able."""
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        """Kind, name and `params()`: what cache keys and provenance record."""
        return {"kind": self.kind, "name": self.name, **self.params()}

    def identity_key(self) -> str:
        """A short, stable hash of `identity()`."""
        return identity_key(self.identity())

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={value!r}" for key, value in self.params().items())
        return f"{type(self).__name__}({settings})"


def identity_key(identity: Any) -> str:
    """sha256 (first 16 hex digits) of an identity's canonical JSON."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


P = TypeVar("P", bound=type[Part])
_REGISTRY: dict[str, dict[str, Callable[..., Part]]] = {kind: {} for kind in KINDS}


def register(cls: P) -> P:
    """Class decorator: register `cls` under (`cls.kind`, `cls.name`)."""
    kind, name = getattr(cls, "kind", None), getattr(cls, "name", None)
    if kind not in KINDS:
        raise PartError(f"{cls.__name__}.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(name, str) or not name:
        raise PartError(f"{cls.__name__}.name must be a non-empty string")
    existing = _REGISTRY[kind].get(name)
    if existing is not None and existing is not cls:
        raise PartError(f"a {kind} named {name!r} is already registered ({existing.__name__})")
    _REGISTRY[kind][name] = cls
    return cls


ENTRY_POINT_GROUP = "simgap.parts"
_plugins_loaded = False


def _load_builtins(kind: str) -> None:
    """Import the built-in parts of `kind`, and once every installed package's plugin modules:
    a package declares `[project.entry-points."simgap.parts"] NAME = "its.module"`."""
    global _plugins_loaded
    if kind not in KINDS:
        raise PartError(f"unknown kind of part {kind!r}; choose one of {', '.join(KINDS)}")
    for module in BUILTIN_MODULES[kind]:
        importlib.import_module(module)
    if not _plugins_loaded:
        _plugins_loaded = True
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                entry_point.load()
            except Exception as error:  # a broken plugin must not take simgap down
                raise PartError(
                    f"the simgap plugin {entry_point.name!r} ({entry_point.value}) failed to "
                    f"load: {error}"
                ) from error


def available(kind: str) -> list[str]:
    """Names registered for `kind`, sorted."""
    _load_builtins(kind)
    return sorted(_REGISTRY[kind])


def part_class(kind: str, name: str) -> Callable[..., Part]:
    """The class registered as `name` of `kind`; PartError naming the choices when unknown."""
    _load_builtins(kind)
    constructor = _REGISTRY[kind].get(name)
    if constructor is None:
        raise PartError(
            f"unknown {kind} {name!r}; registered: {', '.join(sorted(_REGISTRY[kind])) or 'none'}"
        )
    return constructor


def create(kind: str, name: str, **options: Any) -> Part:
    """A new part of `kind` registered as `name`, built with `options` (validated by it)."""
    constructor = part_class(kind, name)
    try:
        return constructor(**options)
    except TypeError as error:
        raise PartError(f"{kind} {name!r}: {error}") from None

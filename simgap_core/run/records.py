"""Stages as data: one record per stage, saved in `stages.json` with the stage's artifacts.

A `StageRecord` names a stage's inputs (upstream stage keys), the identities of the parts it
uses, its own parameters and its artifacts. Its fingerprint hashes all of that together with
the fingerprints of its inputs, so freshness follows from identities: change a part's
parameter and that stage and everything downstream is recomputed, nothing else. What a stage
learns while running (the embedding precision chosen, the `min_cluster_size` used, timings)
goes into the record's `facts`, never into the analysis parameters.

`StageBook` keeps `stages.json` honest across interruptions: before a stage recomputes, its
old record is removed from the file; only after all its artifacts are renamed into place is
the new record written. A run killed half-way therefore never leaves a record that vouches
for artifacts it did not finish.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simgap_core.run.directory import STAGES_FORMAT, Run, write_json


def part_identity(part: Any) -> dict[str, Any]:
    """A part's `identity()`; for a plain object (not a registered part), its class's path."""
    identity = getattr(part, "identity", None)
    if callable(identity):
        return identity()
    cls = type(part)
    return {"name": f"{cls.__module__}.{cls.__qualname__}"}


@dataclass
class StageRecord:
    """One stage: what it reads, which parts and parameters make it, what it writes."""

    name: str
    inputs: dict[str, str]  # upstream stage -> that stage's fingerprint
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        document = [self.name, self.inputs, self.parts, self.params, self.artifacts]
        text = json.dumps(document, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self, facts: dict[str, Any], seconds: float) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "inputs": self.inputs,
            "parts": self.parts,
            "params": self.params,
            "artifacts": self.artifacts,
            "facts": facts,
            "seconds": seconds,
        }


class StageBook:
    """The stage records of one run directory, rewritten atomically after every change."""

    def __init__(self, run: Run) -> None:
        self.path: Path = run.path / "stages.json"
        self.records: dict[str, dict[str, Any]] = {
            name: entry.model_dump() for name, entry in run.stages.items()
        }

    def saved(self, name: str) -> dict[str, Any] | None:
        return self.records.get(name)

    def forget(self, name: str) -> None:
        """Drop `name`'s record (before its artifacts are overwritten)."""
        self.records.pop(name, None)
        self._write()

    def record(self, record: StageRecord, facts: dict[str, Any], seconds: float) -> None:
        """Save `record` with its facts: called last, once every artifact is in place."""
        self.records[record.name] = record.to_dict(facts, seconds)
        self._write()

    def start(self) -> None:
        """Write the file now, marking the folder as a simgap run before any artifact."""
        self._write()

    def _write(self) -> None:
        write_json(self.path, {"simgap_stages": STAGES_FORMAT, "stages": self.records})

"""The run's own records read through their typed models: labels from what the run used, and a
broken record named, never a KeyError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simgap_core.errors import RunDirectoryError
from simgap_core.run import Run
from simgap_core.run.documents import RunRecord, StageEntry, representation


def test_the_embedding_model_named_is_the_one_the_embed_stage_used() -> None:
    record = RunRecord.model_validate(
        {"params": {"embedder": "openai", "embed_model": "text-embedding-3-small"}}
    )
    stages = {
        "embed": StageEntry(
            fingerprint="f",
            parts={
                "embedder": {
                    "kind": "embedder",
                    "name": "openai",
                    "model": "text-embedding-3-small",
                }
            },
            facts={"native_dimension": 1536},
        )
    }
    shown = representation(record, stages)
    assert shown.embedding_model == "text-embedding-3-small" and shown.precision is None
    assert "embedding text-embedding-3-small" in shown.text()
    assert "MiniLM" not in shown.text()


def test_a_local_model_is_named_with_the_precision_it_ran_at() -> None:
    record = RunRecord.model_validate({"params": {"facet": "user_turns", "annotator": "llm"}})
    stages = {
        "embed": StageEntry(
            fingerprint="f",
            parts={"embedder": {"name": "sentence-transformers", "model": "all-MiniLM-L6-v2@pkg"}},
            facts={"precision": "fp32"},
        )
    }
    shown = representation(record, stages)
    assert shown.baseline and shown.text().endswith("embedding all-MiniLM-L6-v2@pkg, fp32")
    assert StageEntry.model_validate(stages["embed"].model_dump()).part_label("embedder") == (
        "sentence-transformers (all-MiniLM-L6-v2@pkg)"
    )


@pytest.mark.parametrize("content", ['{"sources": "many"}', "[1, 2]", "{"])
def test_a_broken_params_json_is_named(tmp_path: Path, content: str) -> None:
    (tmp_path / "params.json").write_text(content)
    with pytest.raises(RunDirectoryError, match="params.json is unreadable"):
        _ = Run(tmp_path).params


def test_a_broken_stages_json_vouches_for_no_stage(tmp_path: Path) -> None:
    (tmp_path / "stages.json").write_text(json.dumps({"simgap_stages": 1, "stages": {"embed": 3}}))
    assert Run(tmp_path).stages == {}
    assert Run(tmp_path).facts("embed") == {}

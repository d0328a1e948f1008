"""A tiny run whose conversation ids, source names and texts are hostile (shared by tests).

Built through the public API with a deterministic stand-in embedder (no model), in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

from test_run import HashEmbedder

from simgap_core.demo import generate_demo
from simgap_core.run import AnalysisParams, InputSpec, Run, analyze

# Rendered as HTML or Markdown, each would fetch from 127.0.0.1:9 (nothing listens there) or
# style the output; shown literally, they are harmless text.
HOSTILE_ID = '<span style="background:url(http://127.0.0.1:9/y)">x</span>'
HOSTILE_IMG = "<img src=http://127.0.0.1:9/x>"
HOSTILE_MD = "![x](http://127.0.0.1:9/z)"
HOSTILE_MARKUP = "[/bold]"
HOSTILE_TEXT = f"{HOSTILE_IMG} {HOSTILE_ID} {HOSTILE_MD} {HOSTILE_MARKUP}"
# A simulator name: sources become column names and file-free labels, never paths.
HOSTILE_SOURCE = "<img src=http://127.0.0.1:9/s>![s](http://127.0.0.1:9/t)[/bold]"
HOSTILE_IDS = [HOSTILE_ID, HOSTILE_IMG, HOSTILE_MD, HOSTILE_MARKUP]


def build_hostile_run(
    folder: Path, *, per_source: int = 40, min_cluster_size: int = 5, seed: int = 5
) -> Run:
    """Real and one simulator (named `HOSTILE_SOURCE`); the first records of each source have
    hostile ids and a hostile first user turn. `min_cluster_size` above the run's size makes
    HDBSCAN find no cluster at all."""
    data = generate_demo(seed=seed, per_source=per_source)
    inputs = []
    for source, name in (("real", "real"), ("close_sim", HOSTILE_SOURCE)):
        records = [dict(r) for r in data.records[source]]
        for record, hostile in zip(records, HOSTILE_IDS, strict=False):
            record["id"] = hostile
            messages = [dict(m) for m in record["messages"]]
            first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
            messages[first_user]["content"] = HOSTILE_TEXT
            record["messages"] = messages
        path = folder / f"{source}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        inputs.append(InputSpec(path, name, "openai"))
    params = AnalysisParams(
        bootstrap=20,
        floor_repeats=5,
        permutations=50,
        min_cluster_size=min_cluster_size,
        # The default (25) is for thousands of conversations: at 80 nothing would cluster.
        min_samples=5,
    )
    return analyze(inputs, folder / "run", params, embedder=HashEmbedder())

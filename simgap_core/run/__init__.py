"""Stage 5: a run directory holding one analysis, and `analyze`, which fills it.

- `directory`: the `Run` reader, the list of artifacts, the manifest, atomic writes, the
  `--out` check;
- `params`: `AnalysisParams` (every parameter, validated) and `make_part`;
- `records`: stage records (inputs, part identities, parameters, artifacts, facts) and
  `stages.json`;
- `stages/`: one module per stage (what it reads, its parts, parameters and artifacts);
- `pipeline`: the stages' order and the loop that reuses or recomputes each;
- `analysis`: `analyze`, which makes the parts and runs the pipeline into a run directory;
- `memo`: the measure stage's signed, pickle-free disk memo.
"""

from simgap_core.run.analysis import (
    AnalysisParams,
    InputSpec,
    NoticeCallback,
    ProgressCallback,
    analyze,
    cluster_mass,
    load_inputs,
    make_part,
)
from simgap_core.run.directory import (
    ARTIFACTS,
    ArtifactError,
    Run,
    file_sha256,
    is_run_directory,
    package_versions,
)
from simgap_core.run.records import StageRecord

__all__ = [
    "ARTIFACTS",
    "AnalysisParams",
    "ArtifactError",
    "InputSpec",
    "NoticeCallback",
    "ProgressCallback",
    "Run",
    "StageRecord",
    "analyze",
    "cluster_mass",
    "file_sha256",
    "is_run_directory",
    "load_inputs",
    "make_part",
    "package_versions",
]

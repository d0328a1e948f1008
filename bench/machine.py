"""What every benchmark prints beside its figures: the machine, its load and the CPU's vector
units (rounding, and so near-ties, differ between AVX2 and AVX-512 machines).

Imported by the benches as `from machine import ...`: bench/ is on sys.path when a bench runs
as a script.
"""

from __future__ import annotations

import os
from pathlib import Path

_VECTOR_FLAGS = ("avx512f", "avx512_bf16", "amx_tile", "avx2")


def machine() -> str:
    """'AMD EPYC ..., 2 cores, avx2' from /proc/cpuinfo."""
    name, flags = "unknown CPU", set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name") and name == "unknown CPU":
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    units = [flag for flag in _VECTOR_FLAGS if flag in flags]
    return f"{name}, {os.cpu_count()} cores" + (f", {' '.join(units)}" if units else "")


def load() -> str:
    """The 1-minute load average: figures from a loaded machine are upper bounds."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"

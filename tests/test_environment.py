"""Environment defaults: set once for every entry point, never over a user's own value."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT

from simgap_core.environment import DEFAULTS, apply_defaults


def test_defaults_are_set_when_absent_and_never_override(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "true")
    apply_defaults()
    assert os.environ["TOKENIZERS_PARALLELISM"] == "true"
    for name, value in DEFAULTS.items():
        if name != "TOKENIZERS_PARALLELISM":
            assert os.environ[name] == value


def test_makefile_exports_the_same_defaults() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    exported = dict(re.findall(r"^export (\w+) := (\S+)$", makefile, re.MULTILINE))
    assert exported == dict(DEFAULTS)


def test_the_cli_applies_the_defaults_on_import() -> None:
    environment = {k: v for k, v in os.environ.items() if k not in DEFAULTS}
    script = (
        "import os, simgap_core.cli; "
        "print(repr({k: os.environ.get(k) for k in simgap_core.environment.DEFAULTS}))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.strip() == repr(dict(DEFAULTS))

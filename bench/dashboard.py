"""How long the dashboard takes to show its first map: `python bench/dashboard.py`.

    python bench/dashboard.py [--repeats 3] [--chromium /usr/bin/chromium]

Per repeat, in a fresh `streamlit run app.py` process (the committed demo run, 6,000
conversations in 4 sources):
- `server`: from launching the process to its health endpoint answering;
- `first map`: from then to the Map page's plot drawn in headless Chromium (its drag layer
  attached, as the browser tests wait for it), the page opened directly at /map;
- `total`: the two together, what a user waits after `make run` once the browser is open;
- `again`: the Map page opened a second time in the same server (Streamlit's caches warm).
Figures are seconds on this machine (printed with its core count and load average); the
target of issue 13 is a first map within 10 s of the start.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from machine import load, machine  # bench/ is on sys.path when a bench runs as a script

ROOT = Path(__file__).resolve().parent.parent
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
MAP_READY = ".js-plotly-plot .nsewdrag"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    args = parser.parse_args()
    if not args.chromium.exists():
        sys.exit(f"no Chromium at {args.chromium} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    print(f"machine: {machine()}; {load()}")
    print(f"{'repeat':>6} {'server s':>9} {'first map s':>12} {'total s':>8} {'again s':>8}")
    rows = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as scratch:
        browser = playwright.chromium.launch(
            executable_path=str(args.chromium), headless=True, args=CHROMIUM_ARGS
        )
        for repeat in range(args.repeats):
            port = free_port()
            started = time.perf_counter()
            process = launch(port, Path(scratch))
            try:
                base = wait_healthy(port, process)
                healthy = time.perf_counter()
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(120_000)
                page.goto(f"{base}/map")
                page.wait_for_selector(MAP_READY, state="attached")
                drawn = time.perf_counter()
                page.close()
                again_page = browser.new_page(viewport={"width": 1400, "height": 1000})
                again_start = time.perf_counter()
                again_page.goto(f"{base}/map")
                again_page.wait_for_selector(MAP_READY, state="attached")
                again = time.perf_counter() - again_start
                again_page.close()
            finally:
                process.terminate()
                process.wait(timeout=20)
            row = (healthy - started, drawn - healthy, drawn - started, again)
            rows.append(row)
            cells = zip(row, (9, 12, 8, 8), strict=True)
            print(f"{repeat + 1:>6} " + " ".join(f"{value:>{width}.1f}" for value, width in cells))
        browser.close()
    best = min(rows, key=lambda row: row[2])
    print(f"best total {best[2]:.1f} s, median {sorted(r[2] for r in rows)[len(rows) // 2]:.1f} s")


def launch(port: int, scratch: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "SIMGAP_RUNS_DIR": str(scratch / "runs"),
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "app.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]
    log = open(scratch / f"streamlit-{port}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)


def wait_healthy(port: int, process: subprocess.Popen) -> str:
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return base
        except (urllib.error.URLError, ConnectionError):
            pass
        if process.poll() is not None:
            break
        time.sleep(0.05)
    sys.exit("streamlit did not start")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    main()

"""Deep links in a real browser: a link to a cluster of a run directory outside the dashboard's
runs folder lands on that run, simulator and cluster, and a reload keeps them; `simgap
dashboard RUN_DIR`, started from another folder, opens on its run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import Dashboard, free_port, wait_until_serving

from simgap_core.present.links import ViewLink, format_query, view_url
from simgap_core.run import Run

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
DEMO_RUN = ROOT / "data" / "demo_run"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def outside_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo run (with its manifest) in a folder no runs list names, its name
    holding characters a URL must encode."""
    if not (DEMO_RUN / "params.json").is_file():
        pytest.skip("data/demo_run is missing")
    target = tmp_path_factory.mktemp("elsewhere") / "my run #1&x=y"
    shutil.copytree(DEMO_RUN, target)
    return target


def _new_page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.set_default_timeout(60_000)
    return page


def test_a_deep_link_lands_on_a_cluster_of_a_run_outside_runs(
    dashboard: Dashboard, browser, outside_run: Path
) -> None:
    assert not outside_run.is_relative_to(dashboard.runs)
    run = Run(outside_run)
    metrics = run.metrics()
    simulator = metrics.simulator_names[-1]
    summary = run.clusters_summary().set_index("cluster")
    # Not the cluster the page would preselect: the largest-gap one is first.
    cluster = int(summary.index[summary.index >= 0][-1])
    name = summary.at[cluster, "name"]
    url = view_url(
        dashboard.url,
        "clusters",
        format_query(ViewLink(run=outside_run, simulator=simulator, cluster=cluster)),
    )
    members = run.clusters().merge(run.projection()[["conversation_id", "source"]])
    counts = members.loc[members["cluster"] == cluster, "source"].value_counts()
    expected = "In this cluster: " + ", ".join(
        f"{source} {int(counts.get(source, 0)):,}"
        for source in [run.params.params.reference, *metrics.simulator_names]
    )

    page = _new_page(browser)
    try:
        for attempt in ("link", "reload"):
            if attempt == "link":
                page.goto(url)
            else:
                page.reload()
            page.get_by_text(expected, exact=True).wait_for()
            assert page.locator("h1").first.inner_text().endswith("Clusters")
            sidebar = page.locator("[data-testid='stSidebar']")
            assert f"Run: {outside_run.name}" in sidebar.inner_text()
            chosen = page.get_by_test_id("stSelectbox").filter(
                has=page.get_by_text("Cluster (largest gap first)", exact=True)
            )
            # A selectbox shows its value in its combobox input.
            value = chosen.get_by_role("combobox").input_value()
            assert value.startswith(f"{cluster} · {name} · "), value
            simulator_box = page.get_by_test_id("stSelectbox").filter(
                has=page.get_by_text("Simulator", exact=True)
            )
            assert simulator_box.get_by_role("combobox").input_value() == simulator
            # The link to this view names the same run, simulator and cluster.
            link = sidebar.get_by_test_id("stCode").inner_text().replace("\n", "")
            assert link == url
            assert page.locator("[data-testid='stException']").count() == 0
            assert page.locator("[data-testid='stAlertContentError']").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "deep-link-cluster.png"))
    finally:
        page.close()


def test_simgap_dashboard_opens_on_its_run_from_any_folder(
    browser, outside_run: Path, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "dashboard.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SIMGAP_RUNS_DIR": str(tmp_path / "runs")}
    env.pop("SIMGAP_RUN", None)
    command = [sys.executable, "-m", "simgap_core.cli", "dashboard", str(outside_run)]
    command += ["--port", str(port), "--headless"]
    with open(log, "wb") as output:
        # From a folder that is neither the project nor the run's parent.
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=output, stderr=output)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_serving(process, base, log, "simgap dashboard")
            page = _new_page(browser)
            try:
                # The plain address, no query: the run comes from the command line.
                page.goto(base + "/")
                page.get_by_text(f"Run {outside_run.name} ·", exact=False).first.wait_for()
                best = Run(outside_run).metrics().simulator_names[0]
                assert page.locator("h1").first.inner_text().endswith("Overview")
                assert page.get_by_text(f"{best}: place 1 of", exact=False).first.is_visible()
                assert page.locator("[data-testid='stException']").count() == 0
            finally:
                page.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert f"dashboard on {outside_run}" in log.read_text()
    # Stopping the command stopped the server: it was the command's process, not an orphan.
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"{base}/_stcore/health", timeout=5)

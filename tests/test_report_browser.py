"""The report in a real headless Chromium with every network request blocked: it must still draw."""

from __future__ import annotations

import json
from pathlib import Path

import metrics_fixtures
import pytest

from simgap_core.present.report import write_report
from simgap_core.schema import SCHEMA_VERSION, read_metrics

pytestmark = pytest.mark.browser

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_RUN = PROJECT_ROOT / "data" / "demo_run"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
ALL_DRAWN = """() => {
  const divs = Array.from(document.querySelectorAll('.plotly-graph-div'));
  return divs.length > 0 && divs.every(d => d._fullLayout && d.querySelector('.main-svg'));
}"""


def read_metrics_version(run_dir: Path) -> object:
    return json.loads((run_dir / "metrics.json").read_text()).get("schema_version")


def test_report_renders_offline_without_errors(browser, tmp_path) -> None:
    run_dir = DEMO_RUN
    if read_metrics_version(DEMO_RUN) != SCHEMA_VERSION:
        # The committed demo run still holds a v1 metrics.json: a copy with a v2 one.
        run_dir = metrics_fixtures.demo_run(tmp_path / "demo_run")
    report = write_report(run_dir, tmp_path / "report.html")
    url = report.resolve().as_uri()
    requested, blocked, errors = [], [], []

    page = browser.new_page(viewport={"width": 1280, "height": 900})

    def only_the_report(route) -> None:
        if route.request.url == url:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_report)
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(url, wait_until="load")
    page.wait_for_function(ALL_DRAWN, timeout=30_000)
    figures = page.evaluate(
        """() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => ({
            id: d.id, drawn: !!d._fullLayout, svgs: d.querySelectorAll('.main-svg').length,
            text: Array.from(d.querySelectorAll('text')).map(t => t.textContent).join(' ')}))"""
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "html-report.png"), full_page=True)
    page.close()

    assert [f["id"] for f in figures] == [
        "fig-features-0",
        "fig-features-1",
        "fig-features-2",
        "fig-leaderboard",
        "fig-map-source",
        "fig-map-cluster",
        "fig-difference-0",
        "fig-difference-1",
        "fig-difference-2",
        "fig-gaps-0",
        "fig-gaps-1",
        "fig-gaps-2",
        "fig-pairwise",
        "fig-mixture",
    ]
    assert all(f["drawn"] and f["svgs"] >= 1 for f in figures)
    assert not errors, errors
    assert requested == [url] and not blocked, blocked

    # The heatmap writes every pairwise JS of metrics.json in its cells, as the figure formats it.
    heatmap = next(f["text"] for f in figures if f["id"] == "fig-pairwise")
    pairwise = read_metrics(run_dir).pairwise.js
    for row in pairwise:
        for value in row:
            assert f"{value:.3f}" in heatmap
    legend = next(f["text"] for f in figures if f["id"] == "fig-map-source")
    assert "real (1,500)" in legend and "chatty_sim (1,500)" in legend

"""Hostile ids, names and texts in a real browser, with every outside request blocked (issue 11).

A tiny run whose conversation ids, simulator name and first user turns hold HTML, Markdown and
rich markup that would fetch from 127.0.0.1:9 if rendered (defects 4 and 5). The HTML report
(file://) and the dashboard's Map page (streamlit on its own 127.0.0.1 port) are opened with
every other request aborted and recorded; the hostile points are hovered where plotly draws
them. Any attempted request fails the test, and the hostile text must be shown literally.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import Dashboard
from hostile_run import HOSTILE_IDS, HOSTILE_IMG, HOSTILE_SOURCE, build_hostile_run
from test_browser import _choose_option

import simgap_core.map.layout  # noqa: F401  (fixes NUMBA_CACHE_DIR before a test moves the cache)
from simgap_core.model import conversation_key
from simgap_core.present.report import write_report

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
RUN_NAME = "hostile"
# Blocked by every guard below (nothing listens on port 9): the request `_settle` waits for.
SETTLE = "http://127.0.0.1:9/settle"
# The pixel position of the point drawn at the conversation's map position (`x`, `y` from
# projection.parquet), in page coordinates, from plotly's own axes: the conversation's own point,
# or the point of every conversation at that spot (drawn once). By position, since a group's
# point carries only its first member's id, and the report's map no id at all.
POINT_POSITION = """(args) => {
  const gd = document.querySelector(args.selector);
  const layout = gd._fullLayout;
  const near = (a, b) => Math.abs(a - b) <= 1e-4 * (1 + Math.abs(b));
  for (const trace of gd._fullData) {
    if (trace.type !== 'scattergl' || !trace.x) continue;
    const xs = Array.from(trace.x), ys = Array.from(trace.y);
    const i = xs.findIndex((x, k) => x !== null && near(x, args.x) && near(ys[k], args.y));
    if (i < 0) continue;
    const box = gd.querySelector('.main-svg').getBoundingClientRect();
    return {
      x: box.left + layout.xaxis._offset + layout.xaxis.d2p(trace.x[i]),
      y: box.top + layout.yaxis._offset + layout.yaxis.d2p(trace.y[i]),
    };
  }
  return null;
}"""
HOVER_LABEL = """(selector) => {
  const layer = document.querySelector(selector).querySelector('.hoverlayer');
  if (!layer) return null;
  const styled = Array.from(layer.querySelectorAll('[style]'))
    .filter(e => /url\\(/i.test(e.getAttribute('style'))).length;
  return {
    text: layer.textContent,
    links: layer.querySelectorAll('a').length,
    images: layer.querySelectorAll('image, img').length,
    styled: styled,
  };
}"""


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory, chromium_path: Path) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    folder = runs / "inputs"
    folder.mkdir()
    run = build_hostile_run(folder, min_cluster_size=5)
    target = runs / RUN_NAME
    run.path.rename(target)
    return target


def _guard(page, allowed) -> list[str]:
    """Abort and record every request `allowed(url)` refuses; returns the record."""
    blocked: list[str] = []

    def route(route) -> None:
        if allowed(route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return blocked


def _settle(page, blocked: list[str]) -> None:
    """Wait until a request started now has reached the guard (`_guard`), and remove it from
    `blocked`: requests the page started before it have reached the guard by then too. An
    event to wait for, not a sleep that a loaded machine can outlast."""
    page.evaluate("(url) => { new Image().src = url; }", SETTLE)
    deadline = time.monotonic() + 30
    while SETTLE not in blocked:
        assert time.monotonic() < deadline, "the settling request never reached the guard"
        page.wait_for_timeout(50)
    blocked.remove(SETTLE)


def _hover_each(page, selector: str, ids: list[str], run: Path) -> list[dict]:
    """Hover the point of every conversation of `ids` (of `run`) in the figure `selector`; the
    hover label each one drew."""
    spots = pd.read_parquet(run / "projection.parquet").set_index("conversation_id")
    labels = []
    for conversation_id in ids:
        x, y = (float(v) for v in spots.loc[conversation_id, ["x", "y"]])
        position = page.evaluate(POINT_POSITION, {"selector": selector, "x": x, "y": y})
        assert position is not None, f"{conversation_id!r} is not in {selector}"
        page.mouse.move(position["x"] + 30, position["y"] + 30)
        page.mouse.move(position["x"], position["y"], steps=3)
        page.wait_for_function(
            "(s) => { const l = document.querySelector(s).querySelector('.hoverlayer');"
            " return l && l.textContent.length > 0; }",
            arg=selector,
            timeout=10_000,
        )
        page.wait_for_timeout(150)
        labels.append({"id": conversation_id, **page.evaluate(HOVER_LABEL, selector)})
    return labels


def _check_labels(labels: list[dict]) -> None:
    for label in labels:
        assert label["links"] == 0 and label["images"] == 0 and label["styled"] == 0, label
    # The point under the mouse is a hostile one: its id, or its user's hostile first turn (a
    # point of several conversations at one spot shows its first member's words and the count per
    # source), shown literally, as typed. A larger point drawn next to a hostile one can take
    # the hover (plotly picks by distance to the marker's edge): two such strays are allowed.
    hostile = {label["id"] for label in labels} | {HOSTILE_IMG}
    strays = [(x["id"], x["text"]) for x in labels if not any(h in x["text"] for h in hostile)]
    assert len(strays) <= 2, strays
    own = [
        label for label in labels if label["id"] in label["text"] or HOSTILE_IMG in label["text"]
    ]
    assert len(own) >= len(labels) // 2, [(x["id"], x["text"]) for x in labels if x not in own]


def test_report_hover_on_hostile_points_requests_nothing(
    browser, hostile_run: Path, tmp_path: Path
) -> None:
    report = write_report(hostile_run, tmp_path / "report.html")
    url = report.resolve().as_uri()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    blocked = _guard(page, lambda requested: requested == url)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url, wait_until="load")
    page.wait_for_function(
        "() => ['fig-map-source', 'fig-map-cluster'].every(id => "
        "document.getElementById(id) && document.getElementById(id)._fullLayout)",
        timeout=30_000,
    )
    ids = [
        conversation_key(source, hostile)
        for source in ("real", HOSTILE_SOURCE)
        for hostile in HOSTILE_IDS
    ]
    labels = []
    for figure in ("#fig-map-source", "#fig-map-cluster"):
        page.locator(figure).scroll_into_view_if_needed()
        labels += _hover_each(page, figure, ids, hostile_run)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "hostile-report-hover.png"))
    body = page.evaluate("() => document.body.innerText")
    _settle(page, blocked)
    page.close()

    assert blocked == [], blocked
    assert not errors, errors
    _check_labels(labels)
    assert HOSTILE_SOURCE in body  # the simulator's name, shown as text


@pytest.fixture(scope="module")
def server(hostile_run: Path, dashboard: Dashboard) -> str:
    """The shared dashboard with the hostile run in its runs folder; its base URL."""
    shutil.copytree(hostile_run, dashboard.runs / RUN_NAME)
    return dashboard.url


def test_dashboard_map_hover_on_hostile_points_requests_nothing(
    browser, server: str, hostile_run: Path
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.set_default_timeout(30_000)
    blocked = _guard(page, lambda requested: requested.startswith(f"{server}/"))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Choose the hostile run on the Data page, then open the Map through the navigation.
    page.goto(f"{server}/data")
    page.wait_for_selector("[data-testid='stChatMessage']", state="attached")
    _choose_option(page, RUN_NAME)
    page.get_by_text(f"Run {RUN_NAME} ·", exact=False).first.wait_for()
    page.locator("[data-testid='stSidebarNav'] a", has_text="Map").click()
    page.wait_for_selector(".js-plotly-plot .nsewdrag", state="attached")
    page.wait_for_function("() => document.querySelector('.js-plotly-plot')._fullLayout")
    page.wait_for_timeout(500)
    ids = [
        conversation_key(source, hostile)
        for source in ("real", HOSTILE_SOURCE)
        for hostile in HOSTILE_IDS
    ]
    labels = _hover_each(page, ".js-plotly-plot", ids, hostile_run)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "hostile-map-hover.png"))
    main = page.locator("[data-testid='stMain']")
    images = main.locator("img[src*='127.0.0.1:9']").count()
    legend = page.evaluate(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot .legendtext'))"
        ".map(t => t.textContent)"
    )
    _settle(page, blocked)
    page.close()

    assert blocked == [], blocked
    assert not errors, errors
    assert images == 0
    _check_labels(labels)
    assert any(HOSTILE_SOURCE in text for text in legend), legend

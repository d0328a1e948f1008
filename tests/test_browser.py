"""The dashboard in a real browser: `streamlit run app.py` driven by Chromium through playwright.

Visits every page, box-selects on the map, checks that transcript HTML runs nothing, and saves
screenshots under test-artifacts/. Without Chromium these tests skip, except in CI (CI=true),
where they fail: there they are required.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Dashboard
from many_sources import build_many_sources_run

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
DEMO_RUN = ROOT / "data" / "demo_run"
ARTIFACTS = ROOT / "test-artifacts"
XSS_RUN = "xss-demo"
OLD_RUN = "old-version"
MANY_RUN = "many-sources"
# Executed, any of these would set the flag or open a dialog; rendered as Markdown, the image
# and the link would become elements.
PAYLOAD = (
    "<script>window.__simgap_xss = 'script'; alert('script')</script> "
    "<img src=x onerror=\"window.__simgap_xss = 'img'; alert('img')\"> "
    "![pixel](http://127.0.0.1:9/pixel.png) [click](javascript:alert('link'))"
)
# (url path, title, a selector that is present once the page has finished rendering). The map
# comes first: the first script run of a fresh server is a deep link, which Streamlit would run
# in its legacy pages/ mode without app.py (ui.open_run reruns it through app.py).
NAVIGATION = ["Overview", "Data", "Map", "Clusters", "Simulators", "Examples", "Report"]
PAGES = [
    ("map", "Map", ".js-plotly-plot .nsewdrag"),
    ("", "Overview", "[data-testid='stExpander']"),
    ("data", "Data", "[data-testid='stChatMessage']"),
    ("clusters", "Clusters", "[data-testid='stChatMessage']"),
    ("simulators", "Simulators", ".js-plotly-plot >> nth=2"),
    ("examples", "Examples", "[data-testid='stChatMessage']"),
    ("report", "Report", "[data-testid='stDownloadButton']"),
]


@pytest.fixture(scope="module")
def server(dashboard: Dashboard) -> str:
    """The shared dashboard, its runs folder holding the demo run with the payload in its first
    real user turn, a run from an older simgap and a run of 25 sources; its base URL."""
    if not (DEMO_RUN / "params.json").is_file():
        pytest.skip("data/demo_run is missing")
    target = dashboard.runs / XSS_RUN
    shutil.copytree(DEMO_RUN, target)
    conversations = pd.read_parquet(target / "corpus" / "conversations.parquet")
    first = conversations.loc[conversations["source"] == "real", "conversation_id"].iloc[0]
    table = pq.read_table(target / "corpus" / "turns.parquet")
    turns = table.to_pandas()
    row = turns[(turns["conversation_id"] == first) & (turns["role"] == "user")].index[0]
    turns.loc[row, "text"] = PAYLOAD
    pq.write_table(
        pa.Table.from_pandas(turns, schema=table.schema), target / "corpus" / "turns.parquet"
    )
    # A run whose metrics.json lacks a section this version reads (as an older simgap's might).
    old = dashboard.runs / OLD_RUN
    shutil.copytree(DEMO_RUN, old)
    metrics = json.loads((old / "metrics.json").read_text())
    del metrics["mixture"]
    (old / "metrics.json").write_text(json.dumps(metrics))
    # Real users and 24 simulators (tests/many_sources.py).
    build_many_sources_run(dashboard.runs / MANY_RUN)
    return dashboard.url


@pytest.fixture(scope="module")
def browser_context(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2200}, accept_downloads=True)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        page.close()


def _watch_dialogs(page) -> list[str]:
    """Every alert/confirm the page opens from now on (dismissed)."""
    opened: list[str] = []

    def dismiss(dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return opened


def _open(page, base: str, path: str, ready: str) -> float:
    """Load a page and wait until its last element is drawn; returns the seconds taken."""
    started = time.perf_counter()
    page.goto(f"{base}/{path}")
    page.wait_for_selector(ready, state="attached")
    return time.perf_counter() - started


def _settle_image_errors(page) -> None:
    """Wait until an image that fails to load, started now, has fired its error handler; an
    image of the page that was to fail (the payload's src=x) has failed by then too. An event
    to wait for, not a sleep that a loaded machine can outlast."""
    page.evaluate(
        """() => {
            window.__simgap_settled = false;
            const probe = new Image();
            probe.onerror = () => { window.__simgap_settled = true; };
            probe.src = 'x';
        }"""
    )
    page.wait_for_function("() => window.__simgap_settled === true")


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_every_page_renders_in_the_browser(server: str, page) -> None:
    dialogs = _watch_dialogs(page)
    for path, title, ready in PAGES:
        seconds = _open(page, server, path, ready)
        heading = page.locator("h1").first.inner_text()
        assert heading.endswith(title), heading
        navigation = page.locator("[data-testid='stSidebarNav'] a").all_inner_texts()
        assert [n.split()[-1] for n in navigation] == NAVIGATION
        assert page.get_by_text("representation:").first.is_visible()
        assert page.locator("[data-testid='stException']").count() == 0
        _shot(page, path or "overview")
        if path == "map":
            # Recorded, not asserted: a wall-clock bound fails on a loaded machine (the issue's
            # budget for the first informative screen is 20 s; bench/ measures it).
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / "map-first-screen-seconds.txt").write_text(f"{seconds:.1f}\n")
    assert dialogs == []


def test_box_selection_lists_exactly_the_conversations_in_the_box(server: str, page) -> None:
    _open(page, server, "map", ".js-plotly-plot .nsewdrag")
    drag = page.locator(".js-plotly-plot .nsewdrag").first
    box = drag.bounding_box()
    corners = [(0.35, 0.35), (0.65, 0.65)]
    (x0, y0), (x1, y1) = (
        (box["x"] + box["width"] * u, box["y"] + box["height"] * v) for u, v in corners
    )
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=8)
    page.mouse.up()
    heading = page.locator("h3", has_text="selected conversations")
    heading.wait_for()
    shown = int(heading.inner_text().split()[0].replace(",", ""))

    # The dragged rectangle in data coordinates, through plotly's own axis conversion.
    pixels = {
        "x": sorted([x0 - box["x"], x1 - box["x"]]),
        "y": sorted([y0 - box["y"], y1 - box["y"]]),
    }
    ranges = page.evaluate(
        """(pixels) => {
            const layout = document.querySelector('.js-plotly-plot')._fullLayout;
            return {
                x: pixels.x.map(p => layout.xaxis.p2d(p)),
                y: pixels.y.map(p => layout.yaxis.p2d(p)),
            };
        }""",
        pixels,
    )
    projection = pd.read_parquet(DEMO_RUN / "projection.parquet")
    x_low, x_high = sorted(ranges["x"])
    y_low, y_high = sorted(ranges["y"])
    # Two pixels of slack either way for points on the border: WebGL selects on float32
    # coordinates, which can round a border point across the edge.
    slack_x = (x_high - x_low) / (pixels["x"][1] - pixels["x"][0]) * 2
    slack_y = (y_high - y_low) / (pixels["y"][1] - pixels["y"][0]) * 2

    def inside(pad_x: float, pad_y: float) -> pd.DataFrame:
        return projection[
            projection["x"].between(x_low - pad_x, x_high + pad_x)
            & projection["y"].between(y_low - pad_y, y_high + pad_y)
        ]

    surely_inside, maybe_inside = inside(-slack_x, -slack_y), inside(slack_x, slack_y)
    assert len(surely_inside) > 20
    assert len(surely_inside) <= shown <= len(maybe_inside)
    page.wait_for_function(
        """() => {
            const grids = document.querySelectorAll("[data-testid='stDataFrame']");
            const last = grids[grids.length - 1];
            return grids.length > 1 && /[a-z_]+:[a-z_]+-[0-9]+/.test(last.innerHTML);
        }"""
    )
    listing = page.locator("[data-testid='stDataFrame']").last
    listed = set(re.findall(r"[a-z_]+:[a-z_]+-\d+", listing.inner_html()))
    # The grid renders its visible rows: each is a conversation inside the box.
    assert len(listed) >= min(shown, 5)
    assert listed <= set(maybe_inside["conversation_id"])
    _shot(page, "map-selection")

    # The selection travels to the Examples page.
    page.get_by_role("button", name="Read them side by side on the Examples page").click()
    page.get_by_text(f"{shown:,} conversations selected on the Map page").wait_for()
    page.locator("[data-testid='stChatMessage']").first.wait_for()
    _shot(page, "examples-from-selection")


def test_transcript_html_is_shown_as_text_and_executes_nothing(server: str, page) -> None:
    dialogs = _watch_dialogs(page)
    _choose_run(page, server, XSS_RUN)
    payload = page.get_by_text("window.__simgap_xss = 'script'", exact=False)
    payload.first.wait_for()
    _settle_image_errors(page)
    assert PAYLOAD in payload.first.inner_text()
    assert page.evaluate("window.__simgap_xss") is None
    assert dialogs == []
    main = page.locator("[data-testid='stMain']")
    assert main.locator("img[src='x'], img[src*='pixel.png']").count() == 0
    assert main.locator("a[href^='javascript:']").count() == 0
    assert main.locator("script", has_text="__simgap_xss").count() == 0
    _shot(page, "transcript-payload")


def _choose_option(page, name: str, attempts: int = 4) -> None:
    """Open the run picker and pick `name`. A rerun of the page that lands between the
    click and the choice closes the list (the sidebar's controls can trigger one as the page
    settles), so the list is opened again until the option can be picked."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # The run picker by its label: while the page still renders, the first selectbox in the
    # document can be another one (in the collapsed new-analysis form), never visible.
    picker = (
        page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Run", exact=True)).first
    )
    for attempt in range(attempts):
        picker.click()
        try:
            page.get_by_role("option", name=name).click(timeout=15_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
            page.wait_for_timeout(1_000)


def _choose_run(page, base: str, name: str) -> None:
    _open(page, base, "data", "[data-testid='stChatMessage']")
    _choose_option(page, name)
    page.get_by_text(f"Run {name} ·", exact=False).first.wait_for()


def test_a_run_missing_a_metrics_section_gets_a_message_not_a_traceback(server: str, page) -> None:
    _choose_run(page, server, OLD_RUN)
    page.locator("[data-testid='stSidebarNav'] a", has_text="Simulators").click()
    error = page.locator("[data-testid='stAlertContentError']")
    error.wait_for()
    assert "field 'mixture'" in error.inner_text()
    assert "simgap analyze --out" in error.inner_text()
    assert page.locator("[data-testid='stException']").count() == 0


def test_report_downloads_the_run_files(server: str, page) -> None:
    _open(page, server, "report", "[data-testid='stDownloadButton']")
    with page.expect_download() as download:
        page.get_by_role("button", name="metrics.json").click()
    saved = Path(download.value.path())
    assert saved.read_bytes() == (DEMO_RUN / "metrics.json").read_bytes()
    assert download.value.suggested_filename == "demo_run_metrics.json"


def test_the_simulators_page_holds_25_sources(server: str, page) -> None:
    _choose_run(page, server, MANY_RUN)
    page.locator("[data-testid='stSidebarNav'] a", has_text="Simulators").click()
    page.get_by_text("8 of 24 simulators shown, closest first").first.wait_for()
    # The leaderboard chart (plug-in JS, no-gap band) and the pairwise heatmap of plug-ins are
    # in labelled details: open them.
    for label in ("details: every leaderboard number", "details: pairwise plug-in JS"):
        page.get_by_text(label).first.click()
    # Leaderboard, the detail's forest plot and cluster gaps, pairwise heatmap, mixture.
    page.locator(".js-plotly-plot >> nth=4").wait_for()
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
            .every(d => d._fullLayout && d.querySelector('.main-svg'))"""
    )
    sidebar = page.locator("[data-testid='stSidebar']")
    assert sidebar.get_by_text("Simulators shown", exact=True).is_visible()
    chips = sidebar.locator("[data-testid='stMultiSelectTagsContainer'] [data-tag]")
    chips = [chip.get_attribute("aria-label") for chip in chips.all()]
    assert chips == [f"close_{i:02d}" for i in range(1, 9)]
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    # The leaderboard draws the 8 shown; the heatmap has real and those 8, families together.
    rows = page.evaluate(
        "() => document.querySelectorAll('.js-plotly-plot')[0]._fullLayout.yaxis._categories"
    )
    assert sorted(rows) == [f"close_{i:02d}" for i in range(1, 9)]
    # All 25 sources in the pairwise heatmap: three families of eight, each together.
    page.get_by_text("All 25 sources (not only those shown)").click()
    ticks = """() => {
        const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
        const heatmap = plots.find(d => d._fullData && d._fullData.some(t => t.type === 'heatmap'));
        return heatmap ? heatmap._fullLayout.xaxis2.ticktext : null;
    }"""
    page.wait_for_function(f"() => (({ticks})() || []).length === 25")
    order = page.evaluate(ticks)
    families = [name.split("_")[0] for name in order if name != "real"]
    assert sum(a != b for a, b in zip(families, families[1:], strict=False)) == 2, order
    # The whole page in one picture: the viewport as tall as the page's content.
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 40, 12_000)})
    page.wait_for_timeout(1500)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "simulators-25-sources.png"), full_page=True)

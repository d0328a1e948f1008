"""Tiny runs built in the test: HDBSCAN finding no cluster (defect 7) and hostile names, ids and
texts (defects 4, 5, 10) through the report, the CLI and every dashboard page (AppTest)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hostile_run import HOSTILE_ID, HOSTILE_SOURCE, build_hostile_run
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

import simgap_core.map.layout  # noqa: F401  (fixes NUMBA_CACHE_DIR before a test moves the cache)
from simgap_core.cli import app as cli
from simgap_core.present.report import build_report, clusters_lede
from simgap_core.run import Run

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
PAGES = ("overview", "data", "map", "clusters", "simulators", "examples", "report")
# A Markdown image, link or HTML tag built from data: what rendering untrusted text would make.
# Code spans show their content literally, so they are left out of the check.
RENDERED_FROM_DATA = re.compile(r"(?<!\\)(!\[|\]\(|<img|<span)")
CODE_SPAN = re.compile(r"`[^`]*`")


@pytest.fixture(scope="module")
def noise_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """All noise: min_cluster_size above the 80 conversations."""
    run = build_hostile_run(tmp_path_factory.mktemp("noise"), min_cluster_size=500)
    assert set(run.clusters()["cluster"]) == {-1}
    return run


@pytest.fixture(scope="module")
def clustered_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = build_hostile_run(tmp_path_factory.mktemp("clustered"), min_cluster_size=5)
    assert (run.clusters()["cluster"] >= 0).any()
    return run


def test_report_of_a_run_without_clusters_says_so(noise_run: Run) -> None:
    html = build_report(noise_run.path)
    assert 'id="no-cluster"' in html
    assert "HDBSCAN found no cluster" in html
    assert "no behaviour\ncan be missed or invented" in html
    assert 'id="fig-gaps-0"' not in html  # no per-cluster figure of the noise bin alone
    assert 'id="fig-map-cluster"' in html  # the map is still drawn


def test_report_counts_the_clusters_it_shows(clustered_run: Run) -> None:
    """Issue 20: "the 12 clusters (of 2, plus noise)" in a run with two clusters."""
    from html import escape

    summary = clustered_run.clusters_summary()
    clusters = int((summary["cluster"] >= 0).sum())
    said = clusters_lede(
        clusters=clusters, noise=bool((summary["cluster"] == -1).any()), top=12, reference="real"
    )
    assert clusters < 12 and "the 12 of" not in said
    assert escape(said) in build_report(clustered_run.path)


def test_cli_report_compare_export_of_a_run_without_clusters(noise_run: Run, tmp_path) -> None:
    for command in (
        ["report", str(noise_run.path), "-o", str(tmp_path)],
        ["compare", str(noise_run.path)],
        ["export", str(noise_run.path), "--to", str(tmp_path / "tables")],
    ):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0, (command, result.output)
        assert "Traceback" not in result.output
    assert (tmp_path / "report.html").is_file()


def test_report_shows_hostile_ids_names_and_texts_escaped(clustered_run: Run) -> None:
    html = build_report(clustered_run.path)
    body = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert "<img src=http://127.0.0.1:9" not in body
    assert '<span style="background:url(http://127.0.0.1:9' not in body
    assert "&lt;img src=http://127.0.0.1:9/s&gt;" in body  # the simulator name, as text
    # Figures: tests/test_figures.py (labels escaped), test_report_browser.py (hovered).


def _page(page: str, run: Path) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.session_state["run_path"] = str(run)
    app.run()
    if page != "overview":
        app.switch_page(f"pages/{page}.py").run()
    return app


def _markdown_texts(app: AppTest) -> list[str]:
    """Every Markdown string the page renders, widget labels included."""
    texts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "subheader"):
        texts += [element.value for element in app.get(kind)]
    for kind in ("selectbox", "radio", "multiselect", "text_input", "metric", "expander"):
        texts += [getattr(element, "label", "") or "" for element in app.get(kind)]
    return texts


@pytest.mark.parametrize("page", PAGES)
def test_every_page_handles_no_cluster_and_hostile_names(noise_run: Run, page: str) -> None:
    app = _page(page, noise_run.path)
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    if page in ("map", "clusters"):
        assert any("HDBSCAN found no cluster" in i.value for i in app.info)
    for text in _markdown_texts(app):
        assert not RENDERED_FROM_DATA.search(CODE_SPAN.sub("", text)), text


@pytest.mark.parametrize("page", PAGES)
def test_hostile_names_reach_markdown_only_escaped(clustered_run: Run, page: str) -> None:
    app = _page(page, clustered_run.path)
    assert not app.exception, [e.value for e in app.exception]
    texts = _markdown_texts(app)
    for text in texts:
        assert not RENDERED_FROM_DATA.search(CODE_SPAN.sub("", text)), text
    if page in ("clusters", "examples", "simulators"):
        # The simulator's name is shown somewhere, escaped, not dropped.
        assert any("\\<img src=http://127.0.0.1:9/s\\>" in text for text in texts), texts
    assert HOSTILE_ID and HOSTILE_SOURCE

"""A simulator with a single conversation: `measure` writes a metrics.json its own reader
accepts (no interval, no held-out gain, the reasons in `skipped`), and every front end says so
instead of failing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_run import SMALL, HashEmbedder, write_sources
from typer.testing import CliRunner

import simgap_core.map.layout  # noqa: F401  (fixes NUMBA_CACHE_DIR before a test moves the cache)
from simgap_core.cli import app as cli
from simgap_core.io.inputs import InputSpec
from simgap_core.present.report import build_report
from simgap_core.present.verdicts import NO_INTERVAL, verdicts
from simgap_core.run import AnalysisParams, Run, analyze
from simgap_core.schema import Metrics, read_metrics

APP = Path(__file__).resolve().parent.parent / "app.py"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("tiny")
    inputs = write_sources(folder, per_source=30)
    first = inputs[1].path.read_text().splitlines()[0]
    (folder / "one.jsonl").write_text(first + "\n")
    inputs.append(InputSpec(folder / "one.jsonl", "one_sim", "openai"))
    return analyze(inputs, folder / "run", AnalysisParams(**SMALL), embedder=HashEmbedder())


def test_the_written_metrics_parse_and_say_what_was_not_computed(tiny_run: Run) -> None:
    metrics = read_metrics(tiny_run.path)
    assert isinstance(metrics, Metrics)
    one = metrics.simulators["one_sim"]
    assert one.n == 1 and not one.reliable
    assert one.paper.js_ci is None and one.paper.p_value is None
    assert metrics.mixture is not None
    assert metrics.mixture.held_out_gain is None and not metrics.mixture.helps
    reasons = {(s.simulator, s.statistic) for s in metrics.skipped}
    assert {("one_sim", "bootstrap"), ("one_sim", "mixture held out")} <= reasons
    # The file is the schema's own dump: reading and dumping again changes nothing.
    stored = json.loads((tiny_run.path / "metrics.json").read_text())
    assert metrics.model_dump(mode="json") == stored


def test_sentences_say_there_is_no_interval_and_no_mixing_claim(tiny_run: Run) -> None:
    said = verdicts(read_metrics(tiny_run.path))
    assert "could not be judged on held-out conversations" in said.mixture
    assert "Mixing helps" not in said.mixture
    html = build_report(tiny_run.path)
    assert NO_INTERVAL in html
    assert "not judged: a source is too small to halve" in html


def test_cli_compare_report_export_work(tiny_run: Run, tmp_path: Path) -> None:
    for command in (
        ["compare", str(tiny_run.path)],
        ["report", str(tiny_run.path), "-o", str(tmp_path / "report.html")],
        ["export", str(tiny_run.path), "--to", str(tmp_path / "tables")],
    ):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0, (command, result.output)
        assert "Traceback" not in result.output


@pytest.mark.parametrize("page", ["overview", "data", "simulators", "report"])
def test_pages_show_the_run_without_failing(tiny_run: Run, page: str) -> None:
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.session_state["run_path"] = str(tiny_run.path)
    app.run()
    if page != "overview":
        app.switch_page(f"pages/{page}.py").run()
    assert not app.exception, [e.value for e in app.exception]
    if page == "simulators":
        assert any(m.value == "not judged" for m in app.get("metric"))

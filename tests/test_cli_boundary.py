"""The CLI's error boundary: one line on stderr, status 2, never a traceback (issue 11).

Covers defects 10 (rich markup in names), 11 (parameters validated at the edge, with the
allowed range), 14 (skipped records summarised by `analyze`) and 17 (`report FILE`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_run import HashEmbedder
from typer.testing import CliRunner

import simgap_core.map.layout  # noqa: F401  (fixes NUMBA_CACHE_DIR before a test moves the cache)
from simgap_core.cli import app
from simgap_core.demo import generate_demo

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
DEMO_RUN = ROOT / "data" / "demo_run"
MARKUP_NAME = "[/bold]"
SMALL = ["--bootstrap", "20", "--min-cluster-size", "5"]


def _one_error_line(result) -> str:
    """The single `error:` line of a failed command; fails on a traceback or a wrapped line."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    # Besides the error, stderr may hold analyze's progress bars (drawn before the failure).
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1, result.stderr
    assert result.stderr.rstrip().endswith(lines[0])
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def _write_sources(folder: Path, per_source: int = 40) -> dict[str, Path]:
    data = generate_demo(seed=5, per_source=per_source)
    paths = {}
    for source in ("real", "close_sim"):
        path = folder / f"{source}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in data.records[source]))
        paths[source] = path
    return paths


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _write_sources(tmp_path_factory.mktemp("sources"))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--sim", " =f"], "the source name is empty"),
        (["--sim", "name= "], "--sim takes NAME=PATH"),
        (["--k", "0"], "'--k': Input should be greater than or equal to 1"),
        (["--bootstrap", "0"], "'--bootstrap': Input should be greater than or equal to 1"),
        (["--n-neighbors", "1"], "'--n-neighbors': Input should be greater than or equal to 2"),
        (["--min-cluster-size", "1"], "Input should be greater than or equal to 2"),
        (["--precision", "fp64"], "'--precision': 'fp64' is not one of 'auto', 'fp32', 'bf16'"),
        (
            ["--annotator", "gpt"],
            "--annotator 'gpt' is not registered; choose one of heuristic, llm",
        ),
        (["--seed", "-1"], "'--seed': Input should be greater than or equal to 0"),
        (["--seed", str(2**32)], "'--seed': Input should be less than or equal to 4294967295"),
    ],
)
def test_bad_analyze_options_are_one_line_with_the_allowed_range(
    tmp_path: Path, sources: dict[str, Path], options: list[str], expected: str
) -> None:
    command = ["analyze", "--out", str(tmp_path / "run"), "--real", str(sources["real"])]
    line = _one_error_line(runner.invoke(app, [*command, *options]))
    assert expected in line
    assert not (tmp_path / "run").exists()


def test_out_pointing_at_a_file_is_refused(tmp_path: Path, sources: dict[str, Path]) -> None:
    target = tmp_path / "taken.txt"
    target.write_text("mine")
    result = runner.invoke(app, ["analyze", "--out", str(target), "--real", str(sources["real"])])
    line = _one_error_line(result)
    assert "taken.txt" in line and "is a file" in line
    assert target.read_text() == "mine"


def test_k_larger_than_the_reference_source_is_refused_after_loading(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    result = runner.invoke(
        app,
        [
            "analyze",
            "--out",
            str(tmp_path / "run"),
            "--real",
            str(sources["real"]),
            "--sim",
            f"close={sources['close_sim']}",
            "--k",
            "41",
        ],
    )
    line = _one_error_line(result)
    assert "k = 41 is larger than the 40 real conversations" in line
    assert "between 1 and 40" in line


@pytest.mark.parametrize("command", ["report", "compare", "export"])
def test_a_file_given_as_run_directory_is_named_as_a_file(tmp_path: Path, command: str) -> None:
    # Defect 17: it used to say "does not exist" for a file that does.
    target = tmp_path / "metrics.json"
    target.write_text("{}")
    extra = ["--to", str(tmp_path / "tables")] if command == "export" else []
    line = _one_error_line(runner.invoke(app, [command, str(target), *extra]))
    assert f"{target} is a file, not a run directory" in line


def test_export_to_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "tables.csv"
    target.write_text("mine")
    line = _one_error_line(runner.invoke(app, ["export", str(DEMO_RUN), "--to", str(target)]))
    assert "tables.csv" in line and "is a file" in line
    assert target.read_text() == "mine"


def test_report_into_a_folder_writes_report_html_inside_it(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    result = runner.invoke(app, ["report", str(DEMO_RUN), "-o", str(folder)])
    assert result.exit_code == 0, result.output
    assert (folder / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_a_usage_error_is_one_line_naming_the_help(tmp_path: Path) -> None:
    line = _one_error_line(runner.invoke(app, ["analyze", "--out", str(tmp_path), "--bogus"]))
    assert "No such option: --bogus" in line
    assert "analyze --help" in line


def test_an_unexpected_exception_is_one_line_and_debug_shows_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simgap_core.demo

    def broken(*args, **kwargs):
        raise RuntimeError("planted bug")

    monkeypatch.setattr(simgap_core.demo, "write_demo", broken)
    line = _one_error_line(runner.invoke(app, ["demo", "--out", str(tmp_path / "d")]))
    assert "RuntimeError: planted bug" in line and "rerun with --debug" in line

    result = runner.invoke(app, ["--debug", "demo", "--out", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "in broken" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: RuntimeError: planted bug")


def test_debug_shows_the_traceback_of_a_simgap_error(tmp_path: Path) -> None:
    quiet = runner.invoke(app, ["report", str(tmp_path / "absent")])
    assert "absent does not exist" in _one_error_line(quiet)
    missing = runner.invoke(app, ["load", str(tmp_path / "absent.jsonl")])
    assert "absent.jsonl" in _one_error_line(missing)


@pytest.mark.parametrize("name", [MARKUP_NAME, "[red]x", "[link=http://x]y"])
def test_markup_in_a_source_name_is_printed_literally(
    tmp_path: Path, sources: dict[str, Path], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simgap_core.cli as cli

    # Defect 10: `[/bold]` as a source name raised rich's MarkupError. Wide enough that the
    # table never folds the name, whatever terminal runs the tests (it did at 60 columns).
    monkeypatch.setattr(cli.console, "width", 200)
    result = runner.invoke(app, ["load", str(sources["close_sim"]), "--source", name])
    assert result.exit_code == 0, result.output
    assert name in result.stdout
    assert "\x1b[" not in result.stdout  # no style escape codes came from the name


def test_markup_in_a_csv_source_and_a_file_name_is_printed_literally(tmp_path: Path) -> None:
    path = tmp_path / "[red]chats.csv"
    path.write_text(
        "conversation_id,turn,role,text,source\n"
        f"c1,0,user,hello there,{MARKUP_NAME}\n"
        f"c1,1,assistant,hi,{MARKUP_NAME}\n"
        "c2,0,assistant,only the assistant,x\n"
    )
    result = runner.invoke(app, ["load", str(path)])
    assert result.exit_code == 0, result.output
    assert MARKUP_NAME in result.stdout
    assert "[red]chats.csv" in result.stdout  # the skipped record's file, as typed


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A run made by the CLI from 40 + 40 conversations, 2 bad lines, a simulator named [/bold]."""
    folder = tmp_path_factory.mktemp("tiny")
    paths = _write_sources(folder)
    with paths["real"].open("a", encoding="utf-8") as handle:
        handle.write('{"id": "broken", "messages": [\n')
        handle.write('{"id": "mute", "messages": [{"role": "assistant", "content": "hi"}]}\n')
    monkeypatch = pytest.MonkeyPatch()
    import simgap_core.embed

    monkeypatch.setattr(simgap_core.embed, "Embedder", lambda *a, **k: HashEmbedder())
    try:
        result = runner.invoke(
            app,
            [
                "analyze",
                "--out",
                str(folder / "run"),
                "--real",
                str(paths["real"]),
                "--sim",
                f"{MARKUP_NAME}={paths['close_sim']}",
                "--facet",
                "user_turns",
                *SMALL,
            ],
        )
    finally:
        monkeypatch.undo()
    return folder / "run", result


def test_analyze_summarises_the_skipped_records(tiny_run) -> None:
    # Defect 14: analyze used to print nothing about them.
    run, result = tiny_run
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    summary = f"2 of 82 records skipped (see {run / 'skipped.json'} or `simgap load`)"
    assert summary in lines, result.stdout
    reasons = [line for line in lines if line.startswith("  ") and "real.jsonl, line" in line]
    assert len(reasons) == 2
    assert "line 41" in reasons[0] and "line 42" in reasons[1]
    skipped = json.loads((run / "skipped.json").read_text())
    assert len(skipped) == 2


def test_a_simulator_named_with_markup_is_printed_literally(
    tiny_run, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simgap_core.cli as cli

    run, result = tiny_run
    assert result.exit_code == 0, result.output  # it used to raise rich's MarkupError
    # Wide enough for the whole leaderboard, whatever the terminal running the tests.
    monkeypatch.setattr(cli.console, "width", 400)
    compared = runner.invoke(app, ["compare", str(run)])
    assert compared.exit_code == 0, compared.output
    header = next(line for line in compared.stdout.splitlines() if "simulator" in line)
    column = [cell.strip() for cell in header.split("┃")].index("simulator")
    rows = [line.split("│") for line in compared.stdout.splitlines() if "│" in line]
    names = [cells[column].strip() for cells in rows if cells[column].strip()]
    assert names == [MARKUP_NAME]
    assert "\x1b[" not in compared.stdout


def test_load_table_prints_counts_as_integers(sources: dict[str, Path]) -> None:
    # Defect 17: iterrows() upcast the counts to float, so the table said "40.0".
    result = runner.invoke(app, ["load", str(sources["real"])])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ real"))
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    assert cells[:2] == ["real", "40"], cells
    assert "40.0" not in result.stdout

"""Untrusted text on its way out (issue 17, "Trust II"): terminals, CSV files, Ctrl-C.

Every hostile input is written here: names with terminal control sequences and bidi controls
(reaching `load`, skipped-record lines, `compare` and `error:` lines), and cells a spreadsheet
would run as formulas (in the run's CSVs and `simgap export`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import unicodedata
from pathlib import Path

import metrics_fixtures as fixtures
import pandas as pd
import pytest
from test_run import SMALL, HashEmbedder
from typer.testing import CliRunner

from simgap_core.cli import app
from simgap_core.demo import generate_demo
from simgap_core.run import AnalysisParams, InputSpec, Run, analyze
from simgap_core.run.directory import Manifest
from simgap_core.untrusted import csv_cell, csv_text, read_csv, terminal_safe, uncsv_cell

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

# Clear screen, set the window title (OSC ... BEL), reverse the line (U+202E), a C1 CSI
# (U+009B), a new line and a carriage return that would overwrite what came before.
HOSTILE_NAME = "a\x1b[2Jb\x1b]0;pwned\x07c\u202ed\u2066e\x9b31mf\ng\rh"
ORDINARY = "café 東京 👩‍💻 🏴󠁧󠁢󠁳󠁣󠁴󠁿 ✓"  # accents, CJK, a ZWJ emoji and a tag-sequence flag
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def _raw_controls(text: str) -> list[str]:
    """Characters a terminal would obey (new lines between output lines excepted)."""
    return [
        char
        for char in text
        if char != "\n" and (unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in BIDI)
    ]


def test_terminal_safe_escapes_controls_and_keeps_ordinary_unicode() -> None:
    assert terminal_safe(ORDINARY) == ORDINARY
    assert terminal_safe("[/bold] plain") == "[/bold] plain"
    escaped = terminal_safe(HOSTILE_NAME)
    assert escaped == ("a\\u001b[2Jb\\u001b]0;pwned\\u0007c\\u202ed\\u2066e\\u009b31mf\\ng\\rh")
    assert _raw_controls(escaped) == []
    every_bidi = terminal_safe(BIDI)
    assert every_bidi == "".join(f"\\u{ord(c):04x}" for c in BIDI)
    # Line separators, DEL, a lone surrogate (an undecodable file name byte) and a tab.
    assert terminal_safe("x\u2028y\u2029z\x7f\udcff\t") == "x\\u2028y\\u2029z\\u007f\\udcff\\t"
    # Escapes are JSON escapes of the same characters: escaped JSON parses to the same data.
    document = json.dumps({"name": HOSTILE_NAME + "\x85"}, ensure_ascii=False)
    assert json.loads(terminal_safe(document)) == {"name": HOSTILE_NAME + "\x85"}


@pytest.fixture
def hostile_csv(tmp_path: Path) -> Path:
    """A long table whose `source` column and file name carry control sequences."""
    path = tmp_path / "chats\x1b[31m\u202e.csv"
    path.write_text(
        "conversation_id,turn,role,text,source\n"
        f'c1,0,user,hello there,"{HOSTILE_NAME}"\n'
        f'c1,1,assistant,hi,"{HOSTILE_NAME}"\n'
        f'c3,0,user,bonjour,"{ORDINARY}"\n'
        "c2,0,assistant,only the assistant,x\n",
        encoding="utf-8",
    )
    return path


def test_load_shows_control_characters_in_names_and_skip_lines_escaped(
    hostile_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simgap_core.cli as cli

    monkeypatch.setattr(cli.console, "width", 300)  # no name folded, whatever the terminal
    result = runner.invoke(app, ["load", str(hostile_csv)])
    assert result.exit_code == 0, result.output
    assert _raw_controls(result.stdout) == [], repr(result.stdout)
    assert terminal_safe(HOSTILE_NAME) in result.stdout
    assert ORDINARY in result.stdout
    # The skipped record's line names the file, escaped, on one line.
    # (line 7: the name's quoted new line and carriage return span lines of the file)
    skip = [line for line in result.stdout.splitlines() if "conversation 'c2'" in line]
    assert len(skip) == 1 and "chats\\u001b[31m\\u202e.csv, line 7: " in skip[0]


def test_load_json_escapes_controls_and_parses_to_the_same_names(hostile_csv: Path) -> None:
    result = runner.invoke(app, ["load", "--json", str(hostile_csv)])
    assert result.exit_code == 0, result.output
    assert _raw_controls(result.stdout) == []
    document = json.loads(result.stdout)
    assert set(document["sources"]) == {HOSTILE_NAME, ORDINARY}
    assert document["skipped"][0]["file"] == str(hostile_csv)


def test_error_lines_show_control_characters_escaped(tmp_path: Path) -> None:
    missing = tmp_path / "gone\x1b]0;title\x07\u202etxt.jsonl"
    result = runner.invoke(app, ["load", str(missing)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "gone\\u001b]0;title\\u0007\\u202etxt.jsonl" in lines[0]
    assert _raw_controls(result.stderr) == []


def test_compare_shows_a_hostile_simulator_name_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simgap_core.cli as cli

    monkeypatch.setattr(cli.console, "width", 400)
    encoded = json.dumps(HOSTILE_NAME)[1:-1]  # the name as it sits inside a JSON string
    text = json.dumps(fixtures.single()).replace("sim_a", encoded)
    run = tmp_path / "run"
    run.mkdir()
    (run / "params.json").write_text("{}")
    (run / "metrics.json").write_text(text, encoding="utf-8")
    Manifest(run).record(run / "metrics.json")
    result = runner.invoke(app, ["compare", str(run)])
    assert result.exit_code == 0, result.output
    assert _raw_controls(result.stdout) == [], repr(result.stdout)
    assert terminal_safe(HOSTILE_NAME) in result.stdout
    # The narrow layout (one block per simulator) is escaped too.
    monkeypatch.setattr(cli.console, "width", 60)
    narrow = runner.invoke(app, ["compare", str(run)])
    assert narrow.exit_code == 0, narrow.output
    assert _raw_controls(narrow.stdout) == []


# CSV formula injection (OWASP): = + - @, tab and carriage return start a formula.
FORMULA_SIM = '=cmd|"/C calc"!A0'  # DDE: runs a program in old spreadsheets
FORMULA_IDS = ["@SUM(1+1)", "+1+1", "-2+3", "\t=1+1", "\r=1+1", "'=quoted already"]


def test_csv_cells_are_escaped_and_read_back_exactly(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "name": [*FORMULA_IDS, "plain", "-"],
            "value": [-0.5, -1.0, 2.0, -3.25, 0.0, 1.0, -7.0, 8.0],
            "cluster": [-1, 0, 1, 2, 3, 4, 5, 6],
        }
    )
    frame[FORMULA_SIM] = "x"  # a header cell from a source name
    path = tmp_path / "t.csv"
    path.write_text(csv_text(frame), encoding="utf-8")
    raw = pd.read_csv(path, keep_default_na=False)
    assert raw["name"].tolist() == [f"'{v}" for v in FORMULA_IDS] + ["plain", "'-"]
    assert f"'{FORMULA_SIM}" in raw.columns
    # Numbers stay numbers: no "'-0.5" text, the negative values read back as floats and ints.
    assert raw["value"].dtype.kind == "f" and raw["value"].tolist()[0] == pytest.approx(-0.5)
    assert raw["cluster"].dtype.kind == "i" and raw["cluster"].min() == -1
    back = read_csv(path, keep_default_na=False)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert all(uncsv_cell(csv_cell(v)) == v for v in [*FORMULA_IDS, "x", 3, None])


@pytest.fixture(scope="module")
def formula_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A run whose simulator name and conversation ids are spreadsheet formulas."""
    folder = tmp_path_factory.mktemp("formula")
    data = generate_demo(seed=5, per_source=40)
    inputs = []
    for source, name in (("real", "real"), ("close_sim", FORMULA_SIM)):
        records = [dict(r) for r in data.records[source]]
        for record, hostile in zip(records, FORMULA_IDS, strict=False):
            record["id"] = hostile
        path = folder / f"{source}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        inputs.append(InputSpec(path, name, "openai"))
    return analyze(inputs, folder / "run", AnalysisParams(**SMALL), embedder=HashEmbedder())


def test_run_csvs_escape_formulas_and_the_run_reads_them_back_unchanged(formula_run: Run) -> None:
    mass = pd.read_csv(formula_run.path / "cluster_mass.csv")
    assert set(mass["source"]) == {"real", f"'{FORMULA_SIM}"}
    assert mass["cluster"].dtype.kind == "i" and mass["share"].dtype.kind == "f"
    assert set(formula_run.cluster_mass()["source"]) == {"real", FORMULA_SIM}
    gaps = pd.read_csv(formula_run.path / "feature_gaps.csv")
    assert set(gaps["simulator"]) == {f"'{FORMULA_SIM}"}
    assert set(formula_run.feature_gaps()["simulator"]) == {FORMULA_SIM}
    summary = formula_run.clusters_summary()
    assert f"category_{FORMULA_SIM}" in summary.columns
    assert summary["cluster"].dtype.kind == "i"
    # Parquet artifacts keep the exact values (ids are prefixed with their source).
    ids = set(formula_run.clusters()["conversation_id"])
    assert f"{FORMULA_SIM}:@SUM(1+1)" in ids and "real:@SUM(1+1)" in ids


def test_export_escapes_csv_cells_and_keeps_parquet_exact(formula_run: Run, tmp_path) -> None:
    target = tmp_path / "tables"
    result = runner.invoke(app, ["export", str(formula_run.path), "--to", str(target)])
    assert result.exit_code == 0, result.output
    board = pd.read_csv(target / "leaderboard.csv")
    assert board["simulator"].tolist() == [f"'{FORMULA_SIM}"]
    assert pd.read_parquet(target / "leaderboard.parquet")["simulator"].tolist() == [FORMULA_SIM]
    table = pd.read_csv(target / "assignments.csv", keep_default_na=False)
    assert f"'{FORMULA_SIM}:+1+1" in set(table["conversation_id"])
    assert set(table["source"]) == {"real", f"'{FORMULA_SIM}"}
    text = table.select_dtypes(exclude="number").stack()
    assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in text)
    assert table["x"].dtype.kind == "f" and table["cluster"].dtype.kind == "i"
    assert (table["x"] < 0).any() or (table["y"] < 0).any() or table["cluster"].min() == -1
    exact = pd.read_parquet(target / "assignments.parquet")
    assert f"{FORMULA_SIM}:+1+1" in set(exact["conversation_id"])
    assert set(exact["source"]) == {"real", FORMULA_SIM}


def test_ctrl_c_prints_one_error_line_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simgap_core.demo

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(simgap_core.demo, "write_demo", interrupted)
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d")])
    assert result.exit_code == 130
    assert result.stderr.strip() == "error: interrupted"
    assert "Traceback" not in result.output


def test_a_real_sigint_prints_one_error_line_and_exits_130(tmp_path: Path) -> None:
    script = (
        "import signal, sys, time\n"
        # A suite started in the background (`cmd &`, nohup) hands its children SIGINT ignored,
        # and Python then installs no handler; a user's terminal gives the default one.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "import simgap_core.demo\n"
        "def slow(*a, **k):\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "simgap_core.demo.write_demo = slow\n"
        "from simgap_core.cli import main\n"
        "sys.argv = ['simgap', 'demo', '--out', sys.argv[1]]\n"
        "main()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert stderr.strip() == "error: interrupted"


def test_an_export_interrupted_mid_file_leaves_no_partial_table(
    formula_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", interrupted)
    target = tmp_path / "tables"
    result = runner.invoke(app, ["export", str(formula_run.path), "--to", str(target)])
    assert result.exit_code == 130
    assert result.stderr.strip() == "error: interrupted"
    # The CSV before it is whole; the Parquet being written is not there, nor its temporary.
    assert sorted(p.name for p in target.iterdir()) == ["leaderboard.csv"]

"""The `simgap` command line, through typer's runner (same code path as the console script)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simgap_core.cli import app

runner = CliRunner()

# Records per shared corpus file, from ../shared/corpora/README.md.
CORPUS_RECORDS = {
    "real/wildchat/wildchat.jsonl": 588,
    "real/oasst/oasst.jsonl": 50,
    "real/simulatorarena/document_creation_annotations_for_benchmarking.json": 51,
    "real/simulatorarena/math_tutoring_annotations_redacted_for_benchmarking.json": 50,
    "real/hh_rlhf/test.jsonl.gz": 2312,
    "simulated/taubench/gpt-4o-airline.json": 200,
}


def _write_openai(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("relative", sorted(CORPUS_RECORDS))
def test_load_json_reports_the_readme_counts(shared_corpora: Path, relative: str) -> None:
    result = runner.invoke(app, ["load", str(shared_corpora / relative), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    loaded = sum(s["conversations"] for s in document["sources"].values())
    assert loaded + len(document["skipped"]) == CORPUS_RECORDS[relative]
    for skipped in document["skipped"]:
        assert skipped["reason"] and skipped["record"]
        assert skipped["file"].endswith(Path(relative).name)
    for summary in document["sources"].values():
        assert summary["user_turns"] >= summary["conversations"]


def test_load_json_over_all_tau_trait_files(shared_corpora: Path) -> None:
    files = sorted((shared_corpora / "simulated" / "tau_trait").glob("*.json"))
    assert len(files) == 16
    result = runner.invoke(app, ["load", *map(str, files), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    loaded = sum(s["conversations"] for s in document["sources"].values())
    assert loaded + len(document["skipped"]) == 670
    assert len(document["sources"]) == 16  # one source per file: the file stem


def test_load_json_schema_and_source_override(tmp_path: Path) -> None:
    path = _write_openai(
        tmp_path / "chats.jsonl",
        [
            {
                "id": "a",
                "messages": [
                    {"role": "user", "content": "hello there"},
                    {"role": "assistant", "content": "hi"},
                ],
            },
            {"id": "b", "messages": [{"role": "assistant", "content": "only me"}]},
        ],
    )
    result = runner.invoke(app, ["load", str(path), "--source", "mine", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["sources"] == {
        "mine": {"conversations": 1, "user_turns": 1, "mean_words_per_user_turn": 2.0}
    }
    assert len(document["skipped"]) == 1
    skipped = document["skipped"][0]
    assert skipped["file"].endswith("chats.jsonl")
    assert "2" in skipped["record"]
    assert "user" in skipped["reason"]


def test_load_table_lists_skipped_records(tmp_path: Path, monkeypatch) -> None:
    # A narrow terminal: a skip line must never be wrapped, whatever the terminal width or the
    # temporary folder's length (it used to break as "line\n2" on long temp paths).
    import simgap_core.cli as cli

    # The CLI's own console (its markup and wrapping settings), made narrow.
    monkeypatch.setattr(cli.console, "width", 30)
    path = _write_openai(
        tmp_path / "chats.jsonl",
        [{"id": "a", "messages": [{"role": "user", "content": "one two three"}]}],
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "b", "messages": [\n')
    result = runner.invoke(app, ["load", str(path)])
    assert result.exit_code == 0, result.output
    assert "chats" in result.stdout
    assert "1 records skipped" in result.stdout
    skip_lines = [line for line in result.stdout.splitlines() if f"{path}, line 2: " in line]
    assert len(skip_lines) == 1, result.stdout


def test_load_exits_2_with_one_line_error_when_nothing_loads(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = runner.invoke(app, ["load", str(empty)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "empty.jsonl" in lines[0]

    missing = tmp_path / "nope.jsonl"
    result = runner.invoke(app, ["load", str(missing), "--json"])
    assert result.exit_code == 2
    assert "nope.jsonl" in result.stderr


def test_demo_command_writes_the_dataset(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--seed", "3"])
    assert result.exit_code == 0, result.output
    from simgap_core.demo import DEMO_SOURCES

    for name in DEMO_SOURCES:
        assert (out / f"{name}.jsonl").is_file()
    truth = json.loads((out / "truth.json").read_text())
    assert truth["seed"] == 3


def test_analyze_without_inputs_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "--demo" in result.stderr


def test_analyze_rejects_malformed_sim(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", "--out", str(tmp_path / "run"), "--sim", "noequals"])
    assert result.exit_code == 2
    assert "NAME=PATH" in result.stderr


def test_load_maps_table_columns(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("chat,idx,speaker,utterance\nc1,0,user,hi there friend\nc1,1,assistant,hello\n")
    result = runner.invoke(
        app,
        [
            "load",
            str(path),
            "--json",
            "--column",
            "chat=conversation_id",
            "--column",
            "idx=turn",
            "--column",
            "speaker=role",
            "--column",
            "utterance=text",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sources"]["long"]["user_turns"] == 1


def test_compare_on_a_narrow_terminal_prints_one_readable_block_per_simulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import simgap_core.cli as cli
    from simgap_core.present.leaderboard import leaderboard_cells
    from simgap_core.schema import read_metrics

    demo_run = Path(__file__).resolve().parent.parent / "data" / "demo_run"
    cells = leaderboard_cells(read_metrics(demo_run))
    monkeypatch.setattr(cli.console, "width", 80)
    result = runner.invoke(app, ["compare", str(demo_run)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    # Every cell of the leaderboard is on one line beside its column name, unbroken.
    for row in cells.to_dict("records"):
        assert f"{row['#']}. {row['simulator']}" in lines
        for column, value in row.items():
            if column not in ("#", "simulator"):
                assert any(column in line and value in line for line in lines), (column, value)
    monkeypatch.setattr(cli.console, "width", 250)
    wide = runner.invoke(app, ["compare", str(demo_run)]).stdout
    assert "1. close_sim" not in wide and "┃ simulator" in wide

"""Input specs (issue 13 item 1, issue 11: 8, 16, 17): files, folders, globs, --sample, repeats,
the reference name, and what `simgap load` prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_io_formats import wildchat_records, write_wildchat_parquet
from typer.testing import CliRunner

from simgap_core.cli import app
from simgap_core.errors import InputError, MissingFileError
from simgap_core.io.inputs import (
    InputSpec,
    InputSpecError,
    cli_inputs,
    describe_inputs,
    load_inputs,
    parse_lines,
    save_uploads,
)

runner = CliRunner()


def write_openai(path: Path, count: int, start: int = 0, words: int = 3) -> Path:
    path.write_text(
        "".join(
            json.dumps(
                {"id": f"c{i}", "messages": [{"role": "user", "content": " ".join(["w"] * words)}]}
            )
            + "\n"
            for i in range(start, start + count)
        ),
        encoding="utf-8",
    )
    return path


def shards(folder: Path) -> Path:
    """Three WildChat Parquet shards of 10, 10 and 5 conversations, and a README beside them."""
    folder.mkdir()
    write_wildchat_parquet(folder / "train-00000-of-00003.parquet", wildchat_records(10, 0))
    write_wildchat_parquet(folder / "train-00001-of-00003.parquet", wildchat_records(10, 10))
    write_wildchat_parquet(folder / "train-00002-of-00003.parquet", wildchat_records(5, 20))
    (folder / "README.md").write_text("# not a transcript\n")
    return folder


def test_a_folder_loads_every_shard_in_order_under_one_source(tmp_path: Path) -> None:
    folder = shards(tmp_path / "wildchat")
    corpus = load_inputs([InputSpec(folder, "real")])
    assert len(corpus) == 25 and corpus.sources == ["real"]
    assert corpus.conversations["original_id"].tolist() == [f"h{i}" for i in range(25)]
    # Without a name, each file keeps its own (its stem), as when the files are listed.
    assert load_inputs([InputSpec(folder, None)]).sources == [
        f"train-0000{i}-of-00003" for i in range(3)
    ]


def test_a_glob_pattern_loads_its_matches(tmp_path: Path) -> None:
    folder = shards(tmp_path / "wildchat")
    corpus = load_inputs([InputSpec(folder / "train-0000[01]-*.parquet", "real")])
    assert len(corpus) == 20
    with pytest.raises(MissingFileError, match=r"nope-\*\.parquet: the pattern matches no file"):
        load_inputs([InputSpec(folder / "nope-*.parquet", "real")])


def test_sample_is_seeded_stratified_and_recorded(tmp_path: Path) -> None:
    real = write_openai(tmp_path / "real.jsonl", 200)
    sim = write_openai(tmp_path / "sim.jsonl", 30)
    specs = cli_inputs([real], [f"s={sim}"], sample=50, seed=7)
    corpus = load_inputs(specs)
    counts = corpus.conversations["source"].value_counts().to_dict()
    assert counts == {"real": 50, "s": 30}  # per source: the small one is kept whole
    assert corpus.sampling == {
        "real": {"kept": 50, "of": 200, "seed": 7},
        "s": {"kept": 30, "of": 30, "seed": 7},
    }
    again = load_inputs(specs)
    assert again.conversations["conversation_id"].tolist() == (
        corpus.conversations["conversation_id"].tolist()
    )
    other = load_inputs(cli_inputs([real], [f"s={sim}"], sample=50, seed=8))
    assert set(other.conversations["conversation_id"]) != set(
        corpus.conversations["conversation_id"]
    )
    assert set(corpus.turns["conversation_id"]) == set(corpus.conversations["conversation_id"])
    with pytest.raises(InputSpecError, match="at least 1"):
        cli_inputs([real], [], sample=0)


def test_the_same_file_twice_for_one_source_is_an_error_naming_it(tmp_path: Path) -> None:
    sim = write_openai(tmp_path / "x.jsonl", 3)
    with pytest.raises(InputError, match=r"x\.jsonl: is given twice for source 's'"):
        load_inputs(cli_inputs([], [f"s={sim}", f"s={sim}"]))
    # A folder and a file inside it, for one source: the same.
    with pytest.raises(InputError, match="is given twice"):
        load_inputs([InputSpec(tmp_path, "s"), InputSpec(sim, "s")])
    # One file as the reference and as a simulator is a legitimate sanity check.
    corpus = load_inputs(cli_inputs([sim], [f"s={sim}"]))
    assert corpus.conversations["source"].value_counts().to_dict() == {"real": 3, "s": 3}


def test_an_id_repeated_across_files_of_one_source_is_skipped_with_both_places(
    tmp_path: Path,
) -> None:
    first = write_openai(tmp_path / "a.jsonl", 3)
    second = write_openai(tmp_path / "b.jsonl", 3, start=2)  # c2 repeats
    corpus = load_inputs([InputSpec(first, "real"), InputSpec(second, "real")])
    assert len(corpus) == 5
    [skipped] = corpus.skipped
    assert (skipped.file, skipped.record) == (str(second), "line 1")
    assert skipped.reason == f"duplicate id 'c2' in source 'real': {first}, line 3 has the same id"


def test_a_simulator_named_like_the_reference_is_refused(tmp_path: Path) -> None:
    sim = write_openai(tmp_path / "x.jsonl", 3)
    with pytest.raises(InputSpecError, match=r"'real' is the reference population"):
        cli_inputs([], [f"real={sim}"])
    result = runner.invoke(
        app, ["analyze", "--out", str(tmp_path / "run"), "--real", str(sim), "--sim", f"real={sim}"]
    )
    assert result.exit_code == 2
    assert "'real' is the reference population" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", [" =f", "=f", "name=", "noequals"])
def test_malformed_sim_values_are_one_line_errors(tmp_path: Path, value: str) -> None:
    result = runner.invoke(app, ["analyze", "--out", str(tmp_path / "run"), "--sim", value])
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_analyze_with_the_same_sim_twice_fails_cleanly(tmp_path: Path) -> None:
    real = write_openai(tmp_path / "r.jsonl", 6)
    sim = write_openai(tmp_path / "x.jsonl", 6)
    result = runner.invoke(
        app,
        ["analyze", "--out", str(tmp_path / "run"), "--real", str(real)]
        + ["--sim", f"s={sim}", "--sim", f"s={sim}"],
    )
    assert result.exit_code == 2, result.output
    assert f"{sim}: is given twice for source 's'" in result.stderr


def test_data_page_lines_and_uploads_go_through_the_same_specs(tmp_path: Path) -> None:
    real = write_openai(tmp_path / "real.jsonl", 4)
    specs = parse_lines(f"\nreal={real}\nsim={tmp_path}/*.jsonl\n", format="openai")
    assert [(s.source, s.format) for s in specs] == [("real", "openai"), ("sim", "openai")]
    with pytest.raises(InputSpecError, match="line 1: write SOURCE=PATH"):
        parse_lines("just a path")
    with pytest.raises(InputSpecError, match="line 2: /nope.jsonl is not a file on this machine"):
        parse_lines(f"real={real}\nsim=/nope.jsonl")
    uploaded = save_uploads(
        tmp_path / "inputs", [("../../evil/sim.jsonl", real.read_bytes(), "sim")]
    )
    assert uploaded == [InputSpec(tmp_path / "inputs" / "sim.jsonl", "sim")]
    with pytest.raises(InputSpecError, match="two uploaded files are named 'a.jsonl'"):
        save_uploads(tmp_path / "more", [("a.jsonl", b"", "x"), ("dir/a.jsonl", b"", "y")])


def test_describe_inputs_records_every_file_and_the_sample(tmp_path: Path) -> None:
    folder = shards(tmp_path / "wildchat")
    [record] = describe_inputs([InputSpec(folder, "real", sample=5, seed=3)])
    assert record["sample"] == 5 and record["seed"] == 3 and record["sha256"] is None
    assert [Path(f["path"]).name for f in record["files"]] == [
        f"train-0000{i}-of-00003.parquet" for i in range(3)
    ]
    assert all(len(f["sha256"]) == 64 for f in record["files"])


# --- simgap load ---------------------------------------------------------------------------


def test_load_prints_integer_counts(tmp_path: Path) -> None:
    path = write_openai(tmp_path / "forty.jsonl", 40, words=5)
    result = runner.invoke(app, ["load", str(path)])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "forty" in line)
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells == ["forty", "40", "40", "5.0"], row


def test_load_shows_repairs_skips_and_the_sample(tmp_path: Path, monkeypatch) -> None:
    from rich.console import Console

    import simgap_core.cli as cli

    monkeypatch.setattr(cli, "console", Console(width=30))
    path = tmp_path / "chats.jsonl"
    write_openai(path, 5)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "z", "messages": [{"role": "user", "content": "[/bold] \\ud83d"}]}\n')
        handle.write("{not json\n")
    result = runner.invoke(app, ["load", str(path), "--sample", "4", "--seed", "1"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "chats: sampled 4 of 6 conversations (seed 1)" in lines
    repaired = (
        f"  {path}, line 6: 1 lone surrogate escape (half of a UTF-16 pair, e.g. \\ud83d) "
        "replaced by U+FFFD"
    )
    assert repaired in lines
    assert any(line.startswith(f"  {path}, line 7: invalid JSON") for line in lines)

    document = json.loads(runner.invoke(app, ["load", str(path), "--json"]).stdout)
    assert document["sources"]["chats"]["conversations"] == 6
    assert [r["record"] for r in document["repairs"]] == ["line 6"]
    assert [s["record"] for s in document["skipped"]] == ["line 7"]


def test_load_takes_a_folder_and_reports_a_bad_file_beside_the_good(tmp_path: Path) -> None:
    folder = shards(tmp_path / "wildchat")
    (folder / "broken.jsonl").write_text("")
    result = runner.invoke(app, ["load", str(folder), "--source", "wildchat", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["sources"]["wildchat"]["conversations"] == 25
    assert len(document["errors"]) == 1 and "broken.jsonl" in document["errors"][0]


def test_shared_tau_trait_folder_keeps_one_source_per_file(shared_corpora: Path) -> None:
    corpus = load_inputs([InputSpec(shared_corpora / "simulated" / "tau_trait", None)])
    assert len(corpus) == 670 and corpus.skipped == [] and len(corpus.sources) == 16


def test_shared_wildchat_folder_loads_588_and_samples(shared_corpora: Path) -> None:
    folder = shared_corpora / "real" / "wildchat"
    assert len(load_inputs([InputSpec(folder, "real")])) == 588
    sampled = load_inputs([InputSpec(folder, "real", sample=100, seed=0)])
    assert len(sampled) == 100 and sampled.sampling["real"] == {"kept": 100, "of": 588, "seed": 0}

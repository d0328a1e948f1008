"""The metrics.json v2 schema, the metric registry, and the verdict sentences built on them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import metrics_fixtures as fixtures
import pytest

from simgap_core.errors import RunDirectoryError
from simgap_core.present.leaderboard import cell_text, header, leaderboard, leaderboard_cells
from simgap_core.present.verdicts import verdicts
from simgap_core.run.directory import Manifest
from simgap_core.schema import (
    METRICS,
    SCHEMA_VERSION,
    Metric,
    Metrics,
    metric,
    parse_metrics,
    read_metrics,
    register_metric,
    unregister_metric,
)

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("build", [fixtures.realistic, fixtures.single, fixtures.all_tied])
def test_fixtures_read_through_the_schema_keep_every_number(tmp_path, build) -> None:
    document = build()
    metrics = read_metrics(write(tmp_path, document))
    assert metrics.schema_version == SCHEMA_VERSION == 2
    assert metrics.simulator_names == [e["simulator"] for e in document["leaderboard"]]
    for name, entry in document["simulators"].items():
        paper = metrics.simulators[name].paper
        assert paper.js == entry["paper"]["js"]
        assert list(paper.js_ci) == entry["paper"]["js_ci"]
        assert paper.js_ci[0] <= paper.js <= paper.js_ci[1]
        assert metrics.simulators[name].reliable == entry["reliable"]
    assert (metrics.mixture is None) == (document["mixture"] is None)
    # A run directory reads the same as its file.
    assert Metrics.load(tmp_path) == metrics


def test_a_v1_file_names_its_version_and_the_command_to_rerun(tmp_path) -> None:
    document = fixtures.realistic()
    del document["schema_version"]
    path = write(tmp_path, document)
    with pytest.raises(RunDirectoryError) as error:
        read_metrics(path)
    message = str(error.value)
    assert str(path) in message
    assert "older simgap (metrics schema version 1)" in message
    assert f"rerun `simgap analyze --out {tmp_path}`" in message


def test_the_committed_demo_run_reads_as_the_current_schema() -> None:
    document = json.loads((ROOT / "data" / "demo_run" / "metrics.json").read_text())
    assert document["schema_version"] == SCHEMA_VERSION
    assert read_metrics(ROOT / "data" / "demo_run").schema_version == SCHEMA_VERSION


def test_a_newer_version_says_so(tmp_path) -> None:
    document = {**fixtures.realistic(), "schema_version": 3}
    with pytest.raises(RunDirectoryError, match="newer simgap \\(metrics schema version 3"):
        read_metrics(write(tmp_path, document))


def test_missing_and_invalid_files_are_named(tmp_path) -> None:
    with pytest.raises(
        RunDirectoryError, match=f"{tmp_path} has no metrics.json: run `simgap analyze --out"
    ):
        read_metrics(tmp_path)
    path = tmp_path / "metrics.json"
    path.write_text("{not json")
    with pytest.raises(RunDirectoryError, match="is not valid JSON"):
        read_metrics(path)
    path.write_text("[1, 2]")
    with pytest.raises(RunDirectoryError, match="is not a metrics document"):
        read_metrics(path)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["simulators"]["sim_a"]["paper"].pop("js_ci"), "simulators.sim_a.paper.js_ci"),
        (lambda d: d["simulators"]["sim_b"].update(reliable="maybe"), "simulators.sim_b.reliable"),
        (lambda d: d["settings"].pop("alpha"), "settings.alpha"),
        (lambda d: d.pop("mixture"), "mixture"),
        (lambda d: d["simulators"]["sim_c"].pop("classifier"), "simulators.sim_c.classifier"),
        (lambda d: d["mixture"].update(helps=True), "mixture"),
        (
            lambda d: d["simulators"]["sim_a"]["paper"].update(js=0.5),
            "simulators.sim_a.paper",
        ),
    ],
)
def test_a_wrongly_shaped_file_names_the_field(tmp_path, change, field) -> None:
    document = fixtures.realistic()
    change(document)
    with pytest.raises(RunDirectoryError) as error:
        read_metrics(write(tmp_path, document))
    assert f"field '{field}" in str(error.value)
    assert "metrics schema version 2" in str(error.value)


def test_a_leaderboard_out_of_order_is_rejected() -> None:
    document = fixtures.realistic()
    document["leaderboard"].reverse()
    with pytest.raises(RunDirectoryError, match="closest first"):
        parse_metrics(document)


def test_js_outside_its_interval_is_rejected_with_both_numbers() -> None:
    document = fixtures.realistic()
    document["simulators"]["sim_a"]["paper"]["js"] = 0.5
    with pytest.raises(RunDirectoryError, match="js = 0.5 lies outside its own interval"):
        parse_metrics(document)


def test_leaderboard_columns_come_from_the_registry_and_equal_the_stored_values() -> None:
    document = fixtures.realistic()
    metrics = parse_metrics(document)
    board = leaderboard(metrics)
    assert board["simulator"].tolist() == ["sim_a", "sim_b", "sim_c"]
    for m in METRICS:
        assert m.key in board
        assert (m.key + "_low" in board) == (m.kind == "estimate")
    for row in board.itertuples():
        stored = document["simulators"][row.simulator]
        assert row.js == stored["paper"]["js"]
        assert (row.js_low, row.js_high) == tuple(stored["paper"]["js_ci"])
        assert row.js_plugin == stored["paper"]["js_plugin"]
        assert row.p_adjusted == stored["paper"]["p_value_adjusted"]
        assert row.reliable == stored["reliable"]
    assert board.loc[board.simulator == "sim_c", "auc"].isna().all()
    assert board.loc[board.simulator == "sim_a", "tied_with"].item() == "sim_b"


def test_cells_show_intervals_descriptive_labels_skips_and_reliability() -> None:
    metrics = parse_metrics(fixtures.realistic())
    cells = leaderboard_cells(metrics).set_index("simulator")
    assert cells.at["sim_a", "JS"] == "0.0120 [0.0040, 0.0210]"
    assert cells.at["sim_a", "plug-in JS (descriptive)"] == "0.0320"
    assert cells.at["sim_c", "AUC"] == (
        "skipped: needs at least 200 conversations per class, has 150"
    )
    assert cells.at["sim_c", "reliability"] == (
        "unreliable: sizes differ by more than 2x (150 vs 1500)"
    )
    assert cells.at["sim_a", "reliability"] == "reliable"
    # The reliability column sits right after the JS.
    assert list(cells.columns[1:3]) == ["JS", "reliability"]


def test_a_registered_metric_appears_in_every_table() -> None:
    toy = Metric(
        "js_matched",
        "JS matched",
        ".4f",
        "JS at matched sizes (toy registration in a test).",
        lambda s: s.paper.matched.js,
        kind="estimate",
        interval=lambda s: s.paper.matched.js_ci,
    )
    document = fixtures.realistic()
    document["simulators"]["sim_a"]["paper"]["matched"] = {
        "n": 150,
        "repeats": 10,
        "js": 0.02,
        "js_ci": [0.01, 0.03],
    }
    metrics = parse_metrics(document)
    register_metric(toy, after="js")
    try:
        assert metric("js_matched") is toy
        board = leaderboard(metrics)
        assert (
            board.columns.tolist().index("js_matched")
            == board.columns.tolist().index("js_high") + 1
        )
        assert board.set_index("simulator").at["sim_a", "js_matched_high"] == 0.03
        cells = leaderboard_cells(metrics).set_index("simulator")
        assert cells.at["sim_a", "JS matched"] == "0.0200 [0.0100, 0.0300]"
        assert cells.at["sim_b", "JS matched"] == "—"
        with pytest.raises(ValueError, match="already registered"):
            register_metric(toy)
    finally:
        unregister_metric("js_matched")
    assert "js_matched" not in leaderboard(metrics)


def test_an_estimate_without_interval_cannot_be_defined() -> None:
    with pytest.raises(ValueError, match="needs an interval"):
        Metric("x", "x", ".3f", "help", lambda s: 0.0, kind="estimate")


def test_unknown_fields_are_kept_for_a_metric_to_read() -> None:
    document = fixtures.realistic()
    document["simulators"]["sim_a"]["paper"]["tv"] = 0.07
    metrics = parse_metrics(document)
    toy = Metric("tv", "TV", ".2f", "total variation", lambda s: s.paper.tv)
    assert cell_text(toy, metrics, "sim_a") == "0.07"
    assert header(toy) == "TV (descriptive)"
    assert cell_text(toy, metrics, "sim_b") == "—"


# Verdicts: each sentence appears exactly under its condition.


def test_tied_simulators_are_said_tied_instead_of_one_crowned() -> None:
    said = verdicts(parse_metrics(fixtures.realistic()))
    assert said.ranking.startswith("sim_a and sim_b are statistically tied for closest")
    assert "is the closest" not in " ".join(said.lines())
    assert said.ties == [
        "sim_a and sim_b are statistically tied: the difference in JS -0.0030 "
        "(95% interval -0.0110 – 0.0060) includes 0."
    ]


def test_an_untied_closest_simulator_is_crowned_with_its_interval() -> None:
    document = fixtures.realistic()
    for name in ("sim_a", "sim_b"):
        document["simulators"][name]["tied_with"] = []
    document["ties"][0]["tied"] = False
    said = verdicts(parse_metrics(document))
    assert said.ranking == (
        "sim_a is the closest of the 3 simulators to real users: JS 0.0120 "
        "(95% interval 0.0040 – 0.0210), bias-corrected, and no other simulator is tied with it."
    )
    assert said.ties == []


def test_all_tied_says_none_is_closer() -> None:
    said = verdicts(parse_metrics(fixtures.all_tied()))
    assert said.ranking.startswith("All 3 simulators are statistically tied")
    assert "sim_c: JS 0.0120 (95% interval 0.0020 – 0.0220)" in said.ranking
    # Ten tied: their range in one sentence, not ten intervals.
    names = [f"sim_{i}" for i in range(10)]
    document = fixtures.document(
        {
            name: fixtures.simulator(
                0.01 + 0.001 * i,
                (0.0, 0.03),
                tied_with=tuple(n for n in names if n != name),
            )
            for i, name in enumerate(names)
        },
        ties=[],
        mixture=None,
        robustness=None,
    )
    ranking = verdicts(parse_metrics(document)).ranking
    assert ranking == (
        "All 10 simulators are statistically tied: none is closer to real users than the others "
        "beyond noise (JS 0.0100 to 0.0190, bias-corrected; the leaderboard gives each with its "
        "interval)."
    )
    assert len(said.ties) == 3


def test_no_gap_sentence_follows_the_holm_adjusted_test_only() -> None:
    document = fixtures.realistic()
    said = verdicts(parse_metrics(document)).no_gap
    closeness = "as close to real users as they are to each other"
    assert closeness in said["sim_a"]  # p_adjusted 0.12 > alpha 0.05
    assert closeness not in said["sim_b"]  # p_adjusted 0.03
    assert "differs from real users beyond noise" in said["sim_b"]
    # The split-half floor never drives it: a JS far below the floor still gets no such sentence
    # when the test rejects.
    document["noise_floor"]["paper"]["js"] = 0.9
    said = verdicts(parse_metrics(document)).no_gap
    assert closeness not in said["sim_b"]
    # ... and at p_adjusted exactly alpha the test rejects.
    document["simulators"]["sim_a"]["paper"]["p_value_adjusted"] = 0.05
    assert closeness not in verdicts(parse_metrics(document)).no_gap["sim_a"]


def test_mixing_helps_only_when_the_held_out_interval_is_above_zero() -> None:
    plain = verdicts(parse_metrics(fixtures.realistic())).mixture
    assert plain.startswith("No mixture beats the best single simulator beyond noise")
    assert "Mixing helps" not in plain
    helping = verdicts(parse_metrics(fixtures.helping_mixture(fixtures.realistic()))).mixture
    assert helping.startswith("Mixing helps: 62% sim_a + 38% sim_b beats sim_a alone")
    assert "0.0040" in helping and "0.0012 – 0.0069" in helping
    single = verdicts(parse_metrics(fixtures.single())).mixture
    assert single == "One simulator only: there is no mixture to weigh."


def test_robustness_line_names_the_variant_that_changes_the_ranking() -> None:
    steady = verdicts(parse_metrics(fixtures.realistic()))
    assert steady.robustness == (
        "The ranking holds when the same conversations are quantized again with 5 k-means seeds "
        "and k/2, 2k (min Kendall tau 1.00): it does not hang on the k-means seed or k (a check "
        "of the quantization, not of sampling)."
    )
    # With every simulator tied there is no order to check, and nothing is said.
    document = fixtures.realistic()
    document["robustness"]["untied_pairs"] = 0
    assert verdicts(parse_metrics(document)).robustness is None
    document["robustness"]["untied_pairs"] = 2
    assert verdicts(parse_metrics(document)).robustness.startswith(
        "The order of the 2 pairs of simulators that are not tied holds"
    )
    # Only the pairs closest to changing were quantized again: said so, with the others.
    document["robustness"]["untied_pairs_all"] = 3
    assert verdicts(parse_metrics(document)).robustness.startswith(
        "The order of the 2 pairs of simulators whose order is closest to changing (neighbours "
        "in the ranking or less than an interval apart; the other 1 untied pair is farther "
        "apart) holds"
    )
    # A variant that quantized only some simulators again is judged on those alone.
    document["robustness"]["variants"][-1]["js"] = {"sim_b": 0.01, "sim_a": 0.02}
    document["robustness"]["ranking_holds"] = False
    assert "2k (sim_b, sim_a)" in verdicts(parse_metrics(document)).robustness
    document["robustness"]["variants"][-1]["js"] = {"sim_a": 0.01, "sim_b": 0.02}
    assert "order the simulators differently" not in verdicts(parse_metrics(document)).robustness
    assert steady.map_agreement == "The map clusters rank the simulators the same way."
    shaky = verdicts(parse_metrics(fixtures.unstable(fixtures.realistic())))
    assert "does not hold" in shaky.robustness
    assert "2k (sim_b, sim_a, sim_c)" in shaky.robustness
    assert "seed 43" not in shaky.robustness
    assert shaky.map_agreement == (
        "The map clusters rank the simulators differently (sim_b, sim_a, sim_c, closest first)."
    )


def test_one_simulator_has_no_ranking_to_hold() -> None:
    """Issue 20: "ranking holds" was printed for a run with one simulator (a run whose
    robustness record predates `untied_pairs`, as `single()` is)."""
    document = fixtures.single()
    said = verdicts(parse_metrics(document))
    assert said.robustness is None and said.map_agreement is None
    document["robustness"] = None
    document["skipped"] = [{"simulator": None, "statistic": "robustness", "reason": "too small"}]
    assert verdicts(parse_metrics(document)).robustness is None
    # Two simulators with the same record: the sentence is said.
    two = fixtures.realistic()
    assert verdicts(parse_metrics(two)).robustness.startswith("The ranking holds")


def test_unreliable_and_skipped_are_listed_with_their_reasons() -> None:
    said = verdicts(parse_metrics(fixtures.realistic()))
    assert said.reliability == ["sim_c: unreliable: sizes differ by more than 2x (150 vs 1500)"]
    assert said.skipped == [
        "sim_c: classifier skipped: needs at least 200 conversations per class, has 150"
    ]
    clean = verdicts(parse_metrics(fixtures.single()))
    assert clean.reliability == [] and clean.skipped == []


def test_verdicts_among_some_simulators_keep_only_their_sentences() -> None:
    metrics = parse_metrics(fixtures.realistic())
    everything = verdicts(metrics)
    shown = verdicts(metrics, among=["sim_a", "sim_c"])
    # The tie of sim_a with the hidden sim_b, and sim_b's own sentence, are left out.
    assert everything.ties and shown.ties == []
    assert list(shown.no_gap) == ["sim_a", "sim_c"]
    assert shown.no_gap["sim_a"] == everything.no_gap["sim_a"]
    assert shown.reliability == everything.reliability  # sim_c's
    assert shown.skipped == everything.skipped
    hidden_c = verdicts(metrics, among=["sim_a", "sim_b"])
    assert hidden_c.ties == everything.ties
    assert hidden_c.reliability == [] and hidden_c.skipped == []
    # About the whole run either way.
    for name in ("ranking", "mixture", "robustness", "map_agreement", "floor"):
        assert getattr(hidden_c, name) == getattr(everything, name)


def test_the_floor_is_labelled_descriptive() -> None:
    said = verdicts(parse_metrics(fixtures.realistic()))
    assert said.floor.startswith("Noise floor (descriptive; no verdict uses it): JS 0.0543")


def test_every_sentence_is_in_lines_once() -> None:
    document = copy.deepcopy(fixtures.realistic())
    said = verdicts(parse_metrics(document))
    lines = said.lines()
    assert len(lines) == len(set(lines))
    assert said.ranking in lines and said.mixture in lines and said.floor in lines


# The CLI: `simgap compare` prints the registry's columns and the verdicts, or a clear error.


def _run_dir(tmp_path: Path, document: dict) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "params.json").write_text("{}")
    (run / "metrics.json").write_text(json.dumps(document))
    manifest = Manifest(run)  # what makes the folder a run
    for name in ("params.json", "metrics.json"):
        manifest.record(run / name)
    return run


def test_cli_compare_prints_each_number_as_stored_with_reliability_and_verdicts(
    tmp_path, monkeypatch
) -> None:
    from typer.testing import CliRunner

    import simgap_core.cli as cli
    from simgap_core.cli import app

    monkeypatch.setattr(cli.console, "width", 400)

    document = fixtures.realistic()
    result = CliRunner().invoke(
        app, ["compare", str(_run_dir(tmp_path, document))], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    metrics = parse_metrics(document)
    for row in leaderboard_cells(metrics).to_dict("records"):
        for value in row.values():
            assert " ".join(value.split()) in out, value
    sim_c = next(line for line in result.stdout.splitlines() if " sim_c " in line)
    assert "0.0610 [0.0320, 0.0940]" in sim_c
    assert "unreliable: sizes differ by more than 2x (150 vs 1500)" in sim_c
    for line in verdicts(metrics).lines():
        assert " ".join(line.split()) in out, line


def test_cli_compare_of_a_v1_run_names_its_version(tmp_path) -> None:
    from typer.testing import CliRunner

    from simgap_core.cli import app

    document = fixtures.realistic()
    del document["schema_version"]
    run = _run_dir(tmp_path, document)
    result = CliRunner().invoke(app, ["compare", str(run)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "made by an older simgap (metrics schema version 1)" in result.stderr
    assert f"rerun `simgap analyze --out {run}`" in result.stderr


def test_cli_compare_of_a_folder_that_is_not_a_run(tmp_path) -> None:
    from typer.testing import CliRunner

    from simgap_core.cli import app

    result = CliRunner().invoke(app, ["compare", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path} is not a run directory" in result.stderr

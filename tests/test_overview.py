"""The Overview's words (`present/overview.py`), the upload form's default reference, and the
`simgap dashboard` command line: each equals what the run stores."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ui
from simgap_core import cli
from simgap_core.present.overview import detectable_sentence, simulator_cards
from simgap_core.present.verdicts import no_gap_sentence
from simgap_core.run import Run
from simgap_core.schema import Detectable, Metrics

ROOT = Path(__file__).resolve().parent.parent
DEMO_RUN = ROOT / "data" / "demo_run"


@pytest.fixture(scope="module")
def demo() -> Run:
    if not (DEMO_RUN / "metrics.json").is_file():
        pytest.skip("data/demo_run is missing")
    return Run(DEMO_RUN)


def with_detectable(metrics: Metrics, simulator: str, detectable: Detectable | None) -> Metrics:
    entry = metrics.simulators[simulator]
    paper = entry.paper.model_copy(update={"detectable": detectable})
    simulators = {**metrics.simulators, simulator: entry.model_copy(update={"paper": paper})}
    return metrics.model_copy(update={"simulators": simulators})


def test_each_card_leads_with_the_corrected_js_and_the_combined_verdict(demo: Run) -> None:
    metrics, summary = demo.metrics(), demo.clusters_summary()
    cards = simulator_cards(metrics, summary)
    assert [c.simulator for c in cards] == metrics.simulator_names
    for place, card in enumerate(cards, start=1):
        paper = metrics.simulators[card.simulator].paper
        low, high = paper.js_ci
        assert card.headline == (
            f"{card.simulator}: place {place} of {len(cards)}, JS {paper.js:.4f} "
            f"(95% interval {low:.4f} – {high:.4f})"
        )
        # The one number: the plug-in JS is not in the headline, only in the labelled details.
        assert f"{paper.js_plugin:.4f}" not in card.headline
        assert card.verdict == no_gap_sentence(metrics, card.simulator)
        details = dict(card.details)
        assert details["plug-in JS (descriptive)"] == f"{paper.js_plugin:.4f}"
        assert details["no-gap JS (descriptive)"] == f"{paper.null_js.mean:.4f}"
        assert details["noise floor, real vs real (descriptive)"] == (
            f"{metrics.noise_floor.paper.js:.4f}"
        )
        assert details["JS"] == f"{paper.js:.4f} [{low:.4f}, {high:.4f}]"


def test_the_missed_and_invented_behaviours_are_the_largest_significant(demo: Run) -> None:
    metrics, summary = demo.metrics(), demo.clusters_summary()
    card = next(c for c in simulator_cards(metrics, summary) if c.simulator == "chatty_sim")
    rows = summary.set_index("cluster")
    rows = rows[rows.index >= 0]
    for sentence, category, verb in (
        (card.missed, "missed", "Misses"),
        (card.invented, "hallucinated", "Invents"),
    ):
        flagged = rows[rows["category_chatty_sim"] == category]
        top = flagged["diff_chatty_sim"].abs().idxmax()
        assert sentence.startswith(f"{verb} most: {top} · {rows.at[top, 'name']}: ")
        assert (
            f"{rows.at[top, 'share_real']:.1%} of real conversations vs "
            f"{rows.at[top, 'share_chatty_sim']:.1%} of chatty_sim's" in sentence
        )
    close = next(c for c in simulator_cards(metrics, summary) if c.simulator == "close_sim")
    if metrics.simulators["close_sim"].clusters.missed == 0:
        assert close.missed == "Misses no behaviour cluster significantly."
    # `among` keeps the shown simulators only, in leaderboard order.
    among = simulator_cards(metrics, summary, among=["chatty_sim", "close_sim"])
    assert [c.simulator for c in among] == [
        n for n in metrics.simulator_names if n in ("chatty_sim", "close_sim")
    ]


def test_the_detectable_gap_is_said_with_its_power_or_why_not(demo: Run) -> None:
    metrics = demo.metrics()
    found = Detectable(missing_share=0.083, power=0.84, alpha=0.05, reps=200)
    said = detectable_sentence(with_detectable(metrics, "close_sim", found), "close_sim")
    assert said.startswith(
        "This run would detect a simulator missing a behaviour of 8% of real conversations "
        "(84% of the time, alpha 0.05, Holm)"
    )
    none = Detectable(missing_share=None, alpha=0.05, reps=200)
    said = detectable_sentence(with_detectable(metrics, "close_sim", none), "close_sim")
    assert "could not detect even a simulator missing half of real behaviour" in said
    said = detectable_sentence(with_detectable(metrics, "close_sim", None), "close_sim")
    assert said.startswith("Detectable gap not computed")


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (["sim_a", "real", "Real_users"], "real"),
        (["sim_a", "Real_users", "b"], "Real_users"),
        (["sim_a", "sim_b"], "sim_a"),
        ([], None),
    ],
)
def test_the_upload_form_preselects_a_source_named_like_real(
    sources: list[str], expected: str | None
) -> None:
    assert ui.default_reference(sources) == expected


def test_dashboard_command_opens_the_run_from_the_apps_folder(tmp_path: Path) -> None:
    run = tmp_path / "elsewhere" / "run"
    command, env = cli.dashboard_command(ROOT / "app.py", run, port=8765, headless=True)
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
    assert command[command.index("--server.port") + 1] == "8765"
    assert command[command.index("--server.headless") + 1] == "true"
    assert env["SIMGAP_RUN"] == str(run)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)


def test_dashboard_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli.app, ["dashboard", str(tmp_path)])
    assert result.exit_code == 2
    assert f"error: {tmp_path} is not a run directory" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(cli.app, ["dashboard", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_a_tied_simulator_is_said_tied_for_its_place(demo: Run) -> None:
    from simgap_core.present.overview import headline_sentence

    metrics = demo.metrics()
    name = metrics.simulator_names[1]
    said = headline_sentence(metrics, name, "=1")
    assert said.startswith(f"{name}: tied for place 1 of {len(metrics.simulator_names)}, JS ")

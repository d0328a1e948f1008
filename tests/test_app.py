"""Every dashboard page on the demo run (AppTest): no exceptions, and shown values = the run's.

While the committed demo run still holds a v1 metrics.json, the pages run on a copy of it with
a v2 metrics.json over the same sources (`metrics_fixtures.demo_run`); once the demo run is
regenerated they run on it directly.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path
from typing import Any

import metrics_fixtures
import numpy as np
import pandas as pd
import pytest
from many_sources import build_many_sources_run
from streamlit.testing.v1 import AppTest

from simgap_core.present.leaderboard import shared_ranks
from simgap_core.present.selection import expand_ids, map_points, stack_members, stack_points
from simgap_core.present.verdicts import verdicts
from simgap_core.run import Run
from simgap_core.schema import METRICS, SCHEMA_VERSION, read_metrics

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
DEMO_RUN = ROOT / "data" / "demo_run"
PAGES = ("overview", "data", "map", "clusters", "simulators", "examples", "report")


# The run the pages open by default: the demo run, or its v2 copy (see the module docstring).
DEFAULT_RUN = {"path": DEMO_RUN}


def _is_v2(run_dir: Path) -> bool:
    document = json.loads((run_dir / "metrics.json").read_text())
    return document.get("schema_version") == SCHEMA_VERSION


@pytest.fixture(scope="module", autouse=True)
def demo(tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = Run(DEMO_RUN)
    if not run.exists():
        pytest.skip("data/demo_run is missing: run `simgap analyze --demo --out data/demo_run`")
    if not _is_v2(DEMO_RUN):
        run = Run(metrics_fixtures.demo_run(tmp_path_factory.mktemp("v2") / "demo_run"))
    DEFAULT_RUN["path"] = run.path
    return run


def open_page(page: str, *, run: Path | None = None, **state: Any) -> AppTest:
    """The app with `run` (default: the demo run) chosen and `state` set, switched to `page`."""
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.session_state["run_path"] = str(run or DEFAULT_RUN["path"])
    for key, value in state.items():
        app.session_state[key] = value
    app.run()
    if page != "overview":
        app.switch_page(f"pages/{page}.py").run()
    return app


def shown(markdown: str) -> str:
    """Markdown as the browser shows it: backslash escapes (`ui.md`) removed."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def no_failures(app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


def chart_specs(app: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def decoded(value: Any) -> np.ndarray:
    """A plotly JSON array: plain list, or plotly's typed-array encoding {dtype, bdata}."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return array.reshape([int(n) for n in str(shape).split(",")]) if shape else array
    return np.asarray(value)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_and_names_the_representation(demo: Run, page: str) -> None:
    app = open_page(page)
    no_failures(app)
    analysis = demo.params.params
    header = (
        app.caption[0].value
        if page != "data"
        else next(c.value for c in app.caption if c.value.startswith("Run "))
    )
    assert f"facet {analysis.facet}" in header
    assert f"{analysis.annotator} annotator" in header
    assert f"embedding {analysis.embedding_model}" in header
    assert demo.representation().text() in shown(header)
    assert f"{sum(demo.params.sources.values()):,} conversations" in header


def test_data_page_shows_each_source_and_the_js_of_each_simulator(demo: Run) -> None:
    app = open_page("data")
    metrics = read_metrics(demo.path)
    shown_metrics = {shown(m.label): m.value for m in app.metric}
    for name, entry in metrics.simulators.items():
        assert shown_metrics[name] == f"JS {entry.paper.js:.3f}"
    # One number per simulator beside each other; the noise floor only in the labelled details.
    (details,) = [e for e in app.expander if e.label == "details: descriptive numbers"]
    (floor,) = details.metric
    assert shown(floor.label) == "noise floor, real vs real (descriptive)"
    assert floor.value == f"JS {metrics.noise_floor.paper.js:.3f}"
    assert len(shown_metrics) == len(metrics.simulators) + 1
    per_source = app.dataframe[0].value.set_index("source")["conversations"].to_dict()
    assert per_source == demo.params.sources
    # The default conversation is read as plain text, turn by turn.
    corpus = demo.corpus()
    first = corpus.conversations["conversation_id"].iloc[0]
    assert [t.value for t in app.text] == [text for _, text in corpus.transcript(first)]


def test_simulators_page_equals_metrics(demo: Run) -> None:
    app = open_page("simulators")
    no_failures(app)
    metrics = read_metrics(demo.path)
    board = app.dataframe[0].value.set_index("simulator")
    assert board.index.tolist() == metrics.simulator_names
    # Every registered metric is a column, with its interval next to an estimate.
    for metric in METRICS:
        assert metric.key in board
    for name, entry in metrics.simulators.items():
        paper = entry.paper
        assert board.at[name, "js"] == paper.js
        assert (board.at[name, "js_low"], board.at[name, "js_high"]) == paper.js_ci
        assert board.at[name, "js_plugin"] == paper.js_plugin
        assert board.at[name, "no_gap_js"] == paper.null_js.mean
        assert board.at[name, "p_adjusted"] == paper.p_value_adjusted
        assert board.at[name, "kl_forward"] == paper.kl_forward
        assert board.at[name, "auc"] == entry.classifier.auc
        assert (board.at[name, "auc_low"], board.at[name, "auc_high"]) == entry.classifier.auc_ci
        assert board.at[name, "missed"] == entry.clusters.missed
        assert board.at[name, "reliable"] == entry.reliable
    said = verdicts(metrics)
    text = [unescaped(m.value) for m in app.markdown]
    assert said.ranking in text
    for sentence in said.no_gap.values():
        assert f"- {sentence}" in text
    assert said.mixture in text
    mixture = metrics.mixture
    shown_metrics = {shown(m.label): m.value for m in app.metric}
    assert shown_metrics["held-out gain of the mixture"] == f"{mixture.held_out_gain:.4f}"
    assert shown_metrics["in-sample gain (descriptive)"] == f"{mixture.in_sample_gain:.4f}"
    assert shown_metrics[f"best single simulator ({mixture.best_single}, descriptive)"] == (
        f"{mixture.best_single_js:.4f}"
    )
    low, high = mixture.held_out_gain_ci
    assert f"95% interval {low:.4f} – {high:.4f}" in [c.value for c in app.caption]
    # Leaderboard, the detail's forest plot and cluster gaps, pairwise heatmap, mixture weights.
    leaderboard, _, _, pairwise, weights = chart_specs(app)
    intervals = [t for t in leaderboard["data"] if t.get("legendgroup") == "interval"]
    assert [tuple(decoded(t["x"])) for t in intervals] == [
        metrics.simulators[name].paper.js_ci for name in metrics.simulator_names
    ]
    # The stored pairwise JS, rows and columns in the order of its hierarchical clustering.
    (heatmap,) = [t for t in pairwise["data"] if t["type"] == "heatmap"]
    order = pairwise["layout"]["xaxis2"]["ticktext"]
    stored = pd.DataFrame(metrics.pairwise.js, metrics.pairwise.sources, metrics.pairwise.sources)
    assert sorted(order) == sorted(metrics.pairwise.sources)
    np.testing.assert_array_equal(decoded(heatmap["z"]), stored.loc[order, order].to_numpy())
    bars = weights["data"][0]
    assert dict(zip(bars["x"], decoded(bars["y"]), strict=True)) == pytest.approx(mixture.weights)


def unescaped(markdown: str) -> str:
    """Markdown source back to its text (the pages escape every Markdown character)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def test_simulators_page_shows_ties_unreliable_and_skipped(tmp_path: Path, demo: Run) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo.path, run, ignore=shutil.ignore_patterns("corpus"))
    document = json.loads((run / "metrics.json").read_text())
    first, second, third = (e["simulator"] for e in document["leaderboard"])
    document["simulators"][first]["tied_with"] = [second]
    document["simulators"][second]["tied_with"] = [first]
    document["ties"] = [
        {"a": first, "b": second, "diff": -0.01, "diff_ci": [-0.03, 0.01], "tied": True}
    ]
    document["simulators"][third].update(
        reliable=False, reliability_notes=["sizes differ by more than 2x (150 vs 1500)"]
    )
    document["simulators"][third]["classifier"] = None
    document["skipped"] = [
        {"simulator": third, "statistic": "classifier", "reason": "needs 5 per side, has 3"}
    ]
    document["mixture"].update(held_out_gain=0.004, held_out_gain_ci=[0.001, 0.007], helps=True)
    (run / "metrics.json").write_text(json.dumps(document))
    app = open_page("simulators", run=run)
    no_failures(app)
    text = [unescaped(m.value) for m in app.markdown]
    assert text[0].startswith(f"{first} and {second} are statistically tied for closest")
    assert f"{first} and {second} are statistically tied: the difference in JS -0.0100" in " ".join(
        text
    )
    assert [unescaped(w.value) for w in app.warning] == [
        f"{third}: unreliable: sizes differ by more than 2x (150 vs 1500)"
    ]
    board = app.dataframe[0].value.set_index("simulator")
    assert board.at[third, "reliability"] == (
        "unreliable: sizes differ by more than 2x (150 vs 1500)"
    )
    assert np.isnan(board.at[third, "auc"])
    captions = [unescaped(c.value) for c in app.caption]
    assert f"{third}: classifier skipped: needs 5 per side, has 3" in captions
    assert any(t.startswith("Mixing helps: ") for t in text)
    assert not any("No mixture beats" in t for t in text)


def test_a_v1_run_gets_a_message_naming_its_version(tmp_path: Path, demo: Run) -> None:
    run = tmp_path / "old"
    shutil.copytree(demo.path, run, ignore=shutil.ignore_patterns("corpus"))
    document = json.loads((run / "metrics.json").read_text())
    del document["schema_version"]
    (run / "metrics.json").write_text(json.dumps(document))
    for page in ("simulators", "clusters", "report"):
        app = open_page(page, run=run)
        assert not app.exception
        assert any(
            "made by an older simgap (metrics schema version 1); rerun `simgap analyze --out"
            in shown(e.value)
            for e in app.error
        ), [e.value for e in app.error]


def test_clusters_page_equals_the_summary_and_lists_a_clusters_conversations(demo: Run) -> None:
    app = open_page("clusters")
    no_failures(app)
    metrics = read_metrics(demo.path)
    simulator = app.selectbox(key="clusters_simulator").value
    counts = metrics.simulators[simulator].clusters
    shown_metrics = {shown(m.label): m.value for m in app.metric}
    for category in ("missed", "hallucinated", "captured"):
        assert shown_metrics[f"{category} clusters"] == str(getattr(counts, category))
    # Preselected: the simulator with the most missed + hallucinated clusters.
    most = max(
        metrics.simulator_names,
        key=lambda s: (
            metrics.simulators[s].clusters.missed + metrics.simulators[s].clusters.hallucinated
        ),
    )
    assert simulator == most

    summary = demo.clusters_summary().set_index("cluster")
    table = app.dataframe[0].value
    assert len(table) == len(summary)
    gaps = table["diff"].abs().tolist()
    assert gaps == sorted(gaps, reverse=True)
    for _, row in table.iterrows():
        # "noise", "11 · a behaviour name", or "cluster 11" for a cluster without a name.
        name = row["name"]
        if name == "noise":
            cluster = -1
        elif "·" in name:
            cluster = int(name.split("·")[0])
        else:
            cluster = int(name.split()[1])
        assert row["diff"] == pytest.approx(100 * summary.at[cluster, f"diff_{simulator}"])
        assert row["diff_low"] == pytest.approx(100 * summary.at[cluster, f"diff_low_{simulator}"])
        assert row["category"] == summary.at[cluster, f"category_{simulator}"]

    # Only the missed clusters: the table holds exactly as many as metrics.json counts.
    app.get("button_group")[0].set_value(["missed"]).run()
    no_failures(app)
    missed = app.dataframe[0].value
    assert len(missed) == counts.missed and set(missed["category"]) == {"missed"}
    app.get("button_group")[0].set_value(["missed", "hallucinated", "captured"]).run()

    chosen = app.selectbox(key="clusters_chosen").options[2]
    app.selectbox(key="clusters_chosen").select_index(2).run()
    no_failures(app)
    if chosen.startswith("noise"):
        cluster = -1
    elif "·" in chosen:
        cluster = int(chosen.split("·")[0])
    else:
        cluster = int(chosen.split()[1])
    clusters = demo.clusters()
    members = app.dataframe[1].value
    assert sorted(members["conversation_id"]) == sorted(
        clusters.loc[clusters["cluster"] == cluster, "conversation_id"]
    )


def test_map_lists_the_conversations_of_a_selection_event(demo: Run) -> None:
    # Every conversation is behind exactly one point (alone, or in its spot's group).
    app = open_page("map")
    no_failures(app)
    (spec,) = chart_specs(app)
    ids = [cid for trace in spec["data"] for cid in trace["customdata"] if cid is not None]
    projection = demo.projection()
    stacks = stack_points(
        map_points(projection, demo.clusters()),
        demo.representations()[["conversation_id", "text"]],
    )
    assert sorted(expand_ids(ids, stack_members(stacks))) == sorted(projection["conversation_id"])

    # Points that stand for one conversation each: the selection is exactly their ids.
    alone = stacks[stacks["count"] == 1]
    first_sim = alone[alone["source"] != "real"]["conversation_id"].iloc[0]
    reals = alone[alone["source"] == "real"]["conversation_id"].iloc[:2].tolist()
    chosen = [reals[1], first_sim, reals[0]]
    app.session_state["map_chart"] = {
        "selection": {
            "points": [{"point_index": 0, "curve_number": 0, "customdata": c} for c in chosen],
            "point_indices": [0],
            "box": [],
            "lasso": [],
        }
    }
    app.run()
    no_failures(app)
    assert app.subheader[0].value == "3 selected conversations"
    counts = app.dataframe[0].value.set_index("source")["selected"]
    assert counts["real"] == 2 and counts[first_sim.split(":")[0]] == 1
    assert counts.sum() == 3
    listed = app.dataframe[1].value["conversation_id"].tolist()
    assert (
        listed == projection[projection["conversation_id"].isin(chosen)]["conversation_id"].tolist()
    )
    assert app.session_state["map_selection"]["ids"] == chosen


def test_the_map_search_rings_the_conversations_whose_users_wrote_it(demo: Run) -> None:
    turns = demo.corpus().turns
    users = turns[turns["role"] == "user"]
    found = users.loc[users["text"].str.contains("rabbit", case=False), "conversation_id"]
    assert 0 < found.nunique() < len(demo.projection())
    app = open_page("map")
    app.text_input(key="map_search").input("RaBBit").run()
    no_failures(app)
    (spec,) = chart_specs(app)
    ringed = spec["data"][-1]  # drawn last: on top of every point
    assert ringed["name"] == f"matches “RaBBit” ({found.nunique():,})"
    projection = demo.projection().set_index("conversation_id")
    xs, ys = decoded(ringed["x"]), decoded(ringed["y"])
    spots = {(float(x), float(y)) for x, y in zip(xs, ys, strict=True)}
    expected = {tuple(map(float, projection.loc[c, ["x", "y"]])) for c in set(found)}
    assert spots == expected
    assert f"{found.nunique():,} shown conversations contain" in app.caption[2].value


def test_a_stacked_map_point_selects_every_conversation_it_stands_for(demo: Run) -> None:
    stacks = stack_points(
        map_points(demo.projection(), demo.clusters()),
        demo.representations()[["conversation_id", "text"]],
    )
    app = open_page("map")
    no_failures(app)
    (spec,) = chart_specs(app)
    ids = [cid for trace in spec["data"] for cid in trace["customdata"] if cid is not None]
    assert sorted(ids) == sorted(stacks["conversation_id"])
    assert len(ids) < len(demo.projection())  # the demo has identical representations
    assert stacks["count"].sum() == len(demo.projection())

    biggest = stacks.sort_values("count", ascending=False, kind="stable").iloc[0]
    single = stacks[stacks["count"] == 1].iloc[0]
    chosen = [biggest["conversation_id"], single["conversation_id"]]
    app.session_state["map_chart"] = {"selection": {"points": [{"customdata": c} for c in chosen]}}
    app.run()
    no_failures(app)
    expected = [*biggest["members"], single["conversation_id"]]
    assert app.subheader[0].value == f"{len(expected):,} selected conversations"
    assert app.session_state["map_selection"]["ids"] == expected

    app.radio(key="map_view").set_value("Difference (real − simulator)").run()
    no_failures(app)
    assert "total variation distance" in app.caption[1].value


def test_examples_rank_a_map_selection_and_a_cluster_by_misalignment(demo: Run) -> None:
    scores = demo.misalignment().merge(demo.clusters()[["conversation_id", "cluster"]])
    chosen = scores["conversation_id"].iloc[::97].tolist()
    app = open_page(
        "examples",
        map_selection={"run": str(demo.path), "ids": chosen},
        examples_selection=True,
    )
    no_failures(app)
    simulator = app.selectbox(key="examples_simulator").value
    column = f"misalignment_{simulator}"
    real, simulated = app.dataframe[0].value, app.dataframe[1].value
    in_selection = scores[scores["conversation_id"].isin(chosen)]
    expected_real = in_selection[in_selection["source"] == "real"].sort_values(
        [column, "conversation_id"], ascending=[False, True]
    )
    assert real["conversation_id"].tolist() == expected_real["conversation_id"].tolist()
    assert real[column].tolist() == expected_real[column].tolist()
    assert set(simulated["conversation_id"]) == set(
        in_selection.loc[in_selection["source"] == simulator, "conversation_id"]
    )

    app.radio(key="examples_scope").set_value("A cluster").run()
    no_failures(app)
    cluster = app.selectbox(key="examples_cluster_choice").value
    top_real = app.dataframe[0].value.iloc[0]
    members = scores[(scores["cluster"] == cluster) & (scores["source"] == "real")]
    assert top_real[column] == members[column].max()
    # Each side reads its top conversation as a chat of plain-text turns.
    assert len(app.chat_message) > 0 and len(app.text) > 0


def test_report_page_offers_the_run_files(demo: Run) -> None:
    app = open_page("report")
    no_failures(app)
    assert [b.label for b in app.download_button] == [
        "⬇️ Download the HTML report",
        "metrics.json",
        "clusters_summary.csv",
        "leaderboard.csv",
        "pairwise_js.csv",
        "params.json",
    ]
    metrics = read_metrics(demo.path)
    best = metrics.simulator_names[0]
    assert f"JS {metrics.simulators[best].paper.js:.4f}" in app.markdown[0].value


@pytest.fixture
def broken_runs(tmp_path: Path, demo: Run) -> Path:
    """Copies of the demo run with one artifact missing or corrupt."""
    for name, damage in (
        ("no_metrics", lambda path: (path / "metrics.json").unlink()),
        ("bad_summary", lambda path: (path / "clusters_summary.csv").write_text("")),
        ("no_projection", lambda path: (path / "projection.parquet").unlink()),
    ):
        target = tmp_path / name
        shutil.copytree(demo.path, target, ignore=shutil.ignore_patterns("corpus"))
        damage(target)
    return tmp_path


@pytest.mark.parametrize(
    ("run_name", "page", "message"),
    [
        ("no_metrics", "simulators", "has no metrics.json: run `simgap analyze --out"),
        ("bad_summary", "clusters", "Could not read clusters_summary.csv"),
        ("no_projection", "map", "has no projection.parquet"),
        ("no_metrics", "report", "has no metrics.json"),
    ],
)
def test_a_broken_run_gives_a_message_not_a_traceback(
    broken_runs: Path, run_name: str, page: str, message: str
) -> None:
    app = open_page(page, run=broken_runs / run_name)
    assert not app.exception
    assert any(message in shown(e.value) for e in app.error), [e.value for e in app.error]


def test_a_folder_that_is_not_a_run_is_named(tmp_path: Path) -> None:
    app = open_page("clusters", run=tmp_path)
    assert not app.exception
    assert f"{tmp_path} is not a simgap run directory" in shown(app.error[0].value)


def _submit(app: AppTest, *, disk: str = "", name: str | None = None) -> AppTest:
    """Fill the new-analysis form of the Data page and press Start."""
    if name is not None:
        app.text_input(key="new_run_name").set_value(name)
    app.text_area(key="new_run_disk").set_value(disk)
    app.button(key="new_run_start").click().run()
    return app


def test_new_analysis_rejects_bad_input_with_messages(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIMGAP_RUNS_DIR", str(tmp_path))
    app = _submit(open_page("data"), disk="real=/nonexistent/real.jsonl")
    assert not app.exception
    assert "/nonexistent/real.jsonl is not a file on this machine" in shown(app.error[0].value)

    app = _submit(open_page("data"), disk="just a path")
    assert "write SOURCE=PATH" in shown(app.error[0].value)

    demo_sim = ROOT / "data" / "demo" / "close_sim.jsonl"
    app = _submit(open_page("data"), disk=f"close_sim={demo_sim}")
    assert "Give files of at least two sources" in shown(app.error[0].value)
    assert "(sources given: close_sim)" in shown(app.error[0].value)
    app = _submit(open_page("data"), disk=f"close_sim={demo_sim}", name="../escape")
    assert "The run name may hold" in app.error[0].value
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_new_analysis_from_uploads_runs_with_progress_and_becomes_the_run(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("SIMGAP_RUNS_DIR", str(tmp_path / "runs"))
    demo_data = ROOT / "data" / "demo"
    files = []
    for name in ("real", "chatty_sim"):
        lines = (demo_data / f"{name}.jsonl").read_text().splitlines()[:40]
        if name == "real":
            lines.insert(3, "{this line is not json")
        files.append((f"{name}.jsonl", ("\n".join(lines) + "\n").encode(), "application/json"))
    app = open_page("data")
    app.text_input(key="new_run_name").set_value("tiny")
    app.file_uploader(key="new_run_uploads").set_value(files)
    app.run()
    sources = [w.value for w in app.text_input if w.key and w.key.startswith("new_run_source_")]
    assert sources == ["real", "chatty_sim"]
    # Generous: on a fresh clone the run compiles numba and checks the embedding precision.
    app.button(key="new_run_start").click().run(timeout=600)
    no_failures(app)
    out = tmp_path / "runs" / "tiny"
    assert app.session_state["run_path"] == str(out)
    assert app.success[0].value.startswith("Run tiny is ready and selected")
    params = Run(out).params
    assert params.sources == {"real": 40, "chatty_sim": 40}
    assert {Path(i.path).name for i in params.inputs} == {"real.jsonl", "chatty_sim.jsonl"}
    shown_labels = {shown(m.label) for m in app.metric}
    assert "chatty_sim" in shown_labels
    assert pd.read_parquet(out / "projection.parquet").shape[0] == 80
    # The bad line was skipped and is listed with its file, line and reason.
    assert any("1 records skipped while loading" in e.label for e in app.expander)
    skipped = next(d.value for d in app.dataframe if "reason" in d.value.columns)
    assert skipped["file"].str.endswith("real.jsonl").all() and len(skipped) == 1
    assert "line 4" in skipped["record"].iloc[0]


def test_the_sidebar_choice_of_simulators_holds_on_every_page(demo: Run) -> None:
    metrics = read_metrics(demo.path)
    app = open_page("simulators")
    picker = app.multiselect(key="shown_simulators_picker")
    # Three simulators: all shown by default, closest first.
    assert picker.options == picker.value == metrics.simulator_names
    picker.set_value(["narrow_sim"]).run()
    no_failures(app)
    assert app.dataframe[0].value["simulator"].tolist() == ["narrow_sim"]
    assert app.selectbox(key="simulators_feature_sim").options == ["narrow_sim"]
    pairwise = next(s for s in chart_specs(app) if s["data"][-1]["type"] == "heatmap")
    assert sorted(pairwise["layout"]["xaxis2"]["ticktext"]) == ["narrow_sim", "real"]
    # "All 4 sources" brings the hidden ones back into the heatmap.
    app.toggle(key="simulators_pairwise_all").set_value(True).run()
    pairwise = next(s for s in chart_specs(app) if s["data"][-1]["type"] == "heatmap")
    assert sorted(pairwise["layout"]["xaxis2"]["ticktext"]) == sorted(metrics.pairwise.sources)

    app.switch_page("pages/clusters.py").run()
    no_failures(app)
    assert app.multiselect(key="shown_simulators_picker").value == ["narrow_sim"]
    assert app.selectbox(key="clusters_simulator").options == ["narrow_sim"]
    assert set(app.dataframe[1].value["source"]) <= {"real", "narrow_sim"}

    app.switch_page("pages/map.py").run()
    no_failures(app)
    (sources,) = [m for m in app.multiselect if m.key.startswith("map_sources")]
    assert sources.options == sources.value == ["real", "narrow_sim"]
    (spec,) = chart_specs(app)
    ids = [c for trace in spec["data"] for c in trace["customdata"] if c is not None]
    assert {cid.split(":")[0] for cid in ids} == {"real", "narrow_sim"}

    app.switch_page("pages/examples.py").run()
    no_failures(app)
    assert app.selectbox(key="examples_simulator").options == ["narrow_sim", "all simulators"]

    app.switch_page("pages/data.py").run()
    no_failures(app)
    glance = [shown(m.label) for m in app.metric]
    assert glance == ["narrow_sim", "noise floor, real vs real (descriptive)"]
    assert app.selectbox(key="data_source").options == ["real", "narrow_sim"]

    # Emptied, the choice falls back to the default.
    app.multiselect(key="shown_simulators_picker").set_value([]).run()
    assert app.multiselect(key="shown_simulators_picker").value == metrics.simulator_names


@pytest.fixture(scope="module")
def many_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_many_sources_run(tmp_path_factory.mktemp("many") / "run")


def test_with_24_simulators_the_pages_show_the_8_closest_until_asked(many_run: Path) -> None:
    metrics = read_metrics(many_run)
    ranked = metrics.simulator_names
    for page in PAGES:
        app = open_page(page, run=many_run)
        no_failures(app)
        assert app.multiselect(key="shown_simulators_picker").value == ranked[:8], page
    # The Simulators page: the leaderboard of the 8 closest first, their ranks as in the run.
    app = open_page("simulators", run=many_run)
    board = app.dataframe[0].value
    assert board["simulator"].tolist() == ranked[:8]
    ranks = shared_ranks(metrics)
    assert board["rank"].tolist() == [ranks[name] for name in ranked[:8]]
    assert "8 of 24 simulators shown" in app.caption[1].value
    # Eight unreliable comparisons shown: one warning listing them.
    assert [w.value.split(":")[0] for w in app.warning] == ["8 comparisons are unreliable"]
    detail = app.selectbox(key="simulators_feature_sim")
    assert detail.options == ranked[:8]
    # One simulator in detail (forest plot, cluster gaps), not one of each per simulator:
    # leaderboard, forest, cluster gaps, pairwise, mixture.
    specs = chart_specs(app)
    assert len(specs) == 5
    assert f"What {detail.value} users do differently" in specs[1]["layout"]["title"]["text"]
    detail.set_value(ranked[3]).run()
    no_failures(app)
    _, forest, gaps, pairwise, _ = chart_specs(app)
    assert f"What {ranked[3]} users do differently" in forest["layout"]["title"]["text"]
    assert {t["name"] for t in gaps["data"]} >= {"real", ranked[3]}
    # The heatmap of the sources shown, in families (the close family ranks first).
    order = pairwise["layout"]["xaxis2"]["ticktext"]
    assert sorted(order) == sorted(["real", *ranked[:8]])
    # "All" shows every simulator, on this page and the next.
    app.button(key="shown_simulators_all").click().run()
    no_failures(app)
    assert app.dataframe[0].value["simulator"].tolist() == ranked
    app.switch_page("pages/clusters.py").run()
    assert app.selectbox(key="clusters_simulator").options == ranked
    app.button(key="shown_simulators_closest").click().run()
    assert app.selectbox(key="clusters_simulator").options == ranked[:8]


def test_the_overview_says_each_simulators_finding_first_in_words(demo: Run) -> None:
    from simgap_core.present.overview import simulator_cards

    app = open_page("overview")
    no_failures(app)
    metrics = read_metrics(demo.path)
    cards = simulator_cards(metrics, demo.clusters_summary())
    text = [unescaped(m.value) for m in app.markdown]
    # The finding first: the ranking in words, then per simulator its one number and verdict.
    assert text[0] == f"**{verdicts(metrics).ranking}**"
    for card in cards:
        headline = text.index(f"#### {card.headline}")
        assert text[headline + 1] == card.verdict
        assert text[headline + 2] == f"- {card.missed}\n- {card.invented}\n- {card.detectable}"
    # Every other number one click away, labelled; the plug-in JS nowhere outside them.
    for card in cards:
        label = f"details: every number for {card.simulator}"
        (details,) = [e for e in app.expander if shown(e.label) == label]
        table = details.dataframe[0].value
        assert list(zip(table["number"], table["value"], strict=True)) == card.details
        plugin = f"{metrics.simulators[card.simulator].paper.js_plugin:.4f}"
        assert not any(plugin in line for line in text)


def test_the_upload_form_picks_the_reference_among_the_uploaded_sources(
    tmp_path: Path, monkeypatch
) -> None:
    import simgap_core.run
    from simgap_core.errors import SimgapError

    monkeypatch.setenv("SIMGAP_RUNS_DIR", str(tmp_path / "runs"))
    started: list[Any] = []

    def recorded(inputs, out, params, progress=None):
        started.append((sorted(spec.source for spec in inputs), params))
        raise SimgapError("stopped by the test")

    monkeypatch.setattr(simgap_core.run, "analyze", recorded)
    line = (ROOT / "data" / "demo" / "real.jsonl").read_text().splitlines()[0] + "\n"
    app = open_page("data")
    app.file_uploader(key="new_run_uploads").set_value(
        [
            ("sim_a.jsonl", line.encode(), "application/json"),
            ("Users-Real.jsonl", line.encode(), "application/json"),
        ]
    )
    app.run()
    (picker,) = [s for s in app.selectbox if s.key and s.key.startswith("new_run_ref:")]
    # Sources are named after the files; the one named like "real" is preselected.
    assert picker.options == ["sim_a", "Users-Real"]
    assert picker.value == "Users-Real"
    picker.set_value("sim_a")
    app.number_input(key="new_run_min_cluster_size").set_value(7)
    # One click starts the analysis with the reference and clustering picked.
    app.button(key="new_run_start").click().run()
    assert not app.exception
    ((sources, params),) = started
    assert sources == ["Users-Real", "sim_a"]
    assert (params.reference, params.min_cluster_size, params.min_samples) == ("sim_a", 7, None)
    assert "stopped by the test" in app.error[0].value


def test_a_deep_link_opens_its_run_simulator_and_cluster(tmp_path: Path, demo: Run) -> None:
    run = tmp_path / "anywhere" / "my run"
    shutil.copytree(demo.path, run)
    metrics = read_metrics(run)
    simulator = metrics.simulator_names[-1]
    summary = demo.clusters_summary()
    cluster = int(summary.loc[summary["cluster"] >= 0, "cluster"].iloc[-1])
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.query_params.update(run=str(run), simulator=simulator, cluster=str(cluster))
    app.switch_page("pages/clusters.py").run()
    no_failures(app)
    assert app.session_state["run_path"] == str(run)
    assert app.selectbox(key="clusters_simulator").value == simulator
    assert app.selectbox(key="clusters_chosen").value == cluster
    # The view is written back: the link to it names the run, simulator and cluster.
    (link,) = app.code
    assert "/clusters?" in link.value and f"cluster={cluster}" in link.value
    # A later choice rules over the link (the link applies once).
    other = app.selectbox(key="clusters_simulator").options[0]
    app.selectbox(key="clusters_simulator").set_value(other).run()
    assert app.selectbox(key="clusters_simulator").value == other


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"run": "/etc"}, "/etc is not a simgap run directory"),
        ({"run": "x\x00y"}, "holds control characters"),
        ({"cluster": "<script>"}, "is not a cluster number"),
        ({"simulator": "nobody"}, "simulator nobody is not in this view"),
    ],
)
def test_a_hostile_link_gets_a_message_and_the_demo_run(
    query: dict[str, str], message: str
) -> None:
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.query_params.update(query)
    app.switch_page("pages/clusters.py").run()
    assert not app.exception
    said = [shown(e.value) for e in [*app.error, *app.warning]]
    assert any(message in line for line in said), said
    assert app.selectbox(key="clusters_simulator").value  # the page still shows the demo run

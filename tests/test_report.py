"""The stakeholder report: its numbers, its self-containment, its escaping, and the CLI commands."""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import markupsafe
import metrics_fixtures
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from _behaviour_demo import ARCHETYPE_KEYWORDS
from many_sources import MIXED_IN, build_many_sources_run
from plotly.offline import get_plotlyjs
from typer.testing import CliRunner

from simgap_core.cli import app
from simgap_core.errors import RunDirectoryError
from simgap_core.measure.interpret import CategoryThresholds
from simgap_core.present import formatting
from simgap_core.present.export import assignments
from simgap_core.present.findings import (
    EXCERPT_CHARS,
    attach_excerpts,
    cluster_cards,
    detailed_simulators,
    excerpt,
)
from simgap_core.present.formatting import format_js, format_share
from simgap_core.present.leaderboard import leaderboard_cells
from simgap_core.present.report import (
    MAX_MAP_POINTS,
    _map_figures,
    build_report,
    figure_html,
    plotly_js_payload,
    subsample_points,
)
from simgap_core.present.verdicts import verdicts
from simgap_core.run import Run
from simgap_core.schema import SCHEMA_VERSION, Metrics, parse_metrics, read_metrics

DEMO_RUN = Path(__file__).resolve().parent.parent / "data" / "demo_run"
PAYLOADS = (
    '<script>alert("pwned")</script>',
    "<img src=x onerror=alert(1)>",
    "</div></section><b>broken out</b>",
)
runner = CliRunner()


class _Document(HTMLParser):
    """Every start tag with its attributes, every end tag, the text of every <style> block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ends: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self.ends.append(tag)
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def _parse(html: str) -> _Document:
    document = _Document()
    document.feed(html)
    return document


@pytest.fixture(scope="module")
def v2_run(tmp_path_factory) -> Path:
    """The demo run, or while it still holds a v1 metrics.json, a copy with a v2 one."""
    if json.loads((DEMO_RUN / "metrics.json").read_text()).get("schema_version") == SCHEMA_VERSION:
        return DEMO_RUN
    return metrics_fixtures.demo_run(tmp_path_factory.mktemp("v2") / "demo_run")


@pytest.fixture(scope="module")
def demo_html(v2_run) -> str:
    return build_report(v2_run)


@pytest.fixture(scope="module")
def demo_metrics(v2_run) -> Metrics:
    return read_metrics(v2_run)


def _page(html: str) -> str:
    """The report without its scripts: the figures' JSON holds the raw floats, whose digits
    would match a formatted number by prefix."""
    page = re.sub(r"<script\b.*?</script>", "", html, flags=re.S)
    assert len(page) < len(html) // 10
    return page


def _text(html: str) -> str:
    """The page's text with tags dropped, entities decoded and white space collapsed."""
    text = re.sub(r"<[^>]+>", " ", _page(html))
    return re.sub(r"\s+", " ", unescape(text))


def test_report_shows_every_headline_number_of_metrics_json(demo_html, demo_metrics) -> None:
    text = _text(demo_html)
    # Every cell of the registry-built leaderboard, exactly as the CLI prints it.
    cells = leaderboard_cells(demo_metrics)
    expected = [value for row in cells.to_dict("records") for value in row.values()]
    mixture = demo_metrics.mixture
    expected += [format_share(w) for w in mixture.weights.values()]
    expected += [
        format_js(value) for value in (mixture.js, mixture.best_single_js, mixture.in_sample_gain)
    ]
    low, high = mixture.held_out_gain_ci
    expected.append(f"{format_js(mixture.held_out_gain)} [{format_js(low)}, {format_js(high)}]")
    expected += [f"{n:,} conversations" for n in demo_metrics.n.values()]
    missing = [value for value in expected if value not in text]
    assert not missing, f"numbers of metrics.json absent from the report: {missing}"


def test_every_verdict_sentence_is_in_the_report(demo_html, demo_metrics) -> None:
    text = _text(demo_html)
    missing = [line for line in verdicts(demo_metrics).lines() if line not in text]
    assert not missing


def test_summary_names_the_closest_simulator_and_its_largest_gaps(demo_html) -> None:
    start = demo_html.index('<section id="summary">')
    summary = demo_html[start : demo_html.index("</section>", start)]
    # close_sim is the demo's planted near-copy of real users.
    assert re.search(r"close_sim is the closest of the 3 simulators", summary)
    # Each simulator's most missed and most invented behaviour is named in words, and for a
    # simulator with planted gaps the names are those of archetypes whose true shares differ
    # by the report's own rule (1 point and a factor 2): the planted ones, and those a planted
    # invention dilutes (chatty_sim's non-English users: 7% of real users, 2% of its own).
    truth = json.loads((DEMO_RUN.parent / "demo" / "truth.json").read_text())
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", summary)))
    for category in ("missed", "hallucinated"):
        for simulator in ("narrow_sim", "chatty_sim"):
            planted = _true_gaps(truth, simulator, category)
            assert set(truth[category][simulator]) <= planted
            keywords = [k for a in planted for k in ARCHETYPE_KEYWORDS.get(a, ())]
            if not planted:
                continue
            names = [
                name
                for name in _cluster_names(DEMO_RUN)
                if name in text and any(k in name.lower() for k in keywords)
            ]
            assert names, (simulator, category, text)
    # The split-half floor is descriptive: no sentence compares a simulator with it.
    assert "below the noise floor" not in summary
    assert "Noise floor (descriptive)" in summary


def _true_gaps(truth: dict, simulator: str, category: str) -> set[str]:
    """The archetypes `simulator` truly misses or invents by the report's rule."""
    real, sim = truth["true_shares"]["real"], truth["true_shares"][simulator]
    rule = CategoryThresholds()
    gaps = set()
    for archetype in truth["archetypes"]:
        more, less = (real, sim) if category == "missed" else (sim, real)
        ratio = np.log(more[archetype] / less[archetype]) if less[archetype] else np.inf
        if more[archetype] - less[archetype] >= rule.min_share_diff and ratio >= rule.min_log_ratio:
            gaps.add(archetype)
    return gaps


def _cluster_names(run_dir: Path) -> list[str]:
    return pd.read_csv(run_dir / "cluster_names.csv")["name"].tolist()


def _variant(run_dir: Path, target: Path, change) -> str:
    """The report of a copy of `run_dir` whose metrics.json went through `change`."""
    shutil.copytree(run_dir, target)
    document = json.loads((target / "metrics.json").read_text())
    change(document)
    (target / "metrics.json").write_text(json.dumps(document))
    return _text(build_report(target))


def test_ties_unreliable_skipped_and_helping_mixture_are_said(v2_run, tmp_path) -> None:
    def change(document: dict) -> None:
        first, second, third = (e["simulator"] for e in document["leaderboard"])
        document["simulators"][first]["tied_with"] = [second]
        document["simulators"][second]["tied_with"] = [first]
        document["ties"] = [
            {"a": first, "b": second, "diff": -0.02, "diff_ci": [-0.05, 0.01], "tied": True}
        ]
        document["simulators"][third].update(
            reliable=False, reliability_notes=["sizes differ by more than 2x (150 vs 1500)"]
        )
        document["simulators"][third]["classifier"] = None
        document["skipped"] = [
            {"simulator": third, "statistic": "classifier", "reason": "needs 5 per side, has 3"}
        ]
        document["mixture"].update(held_out_gain=0.004, held_out_gain_ci=[0.001, 0.007], helps=True)
        document["simulators"][first]["paper"]["p_value_adjusted"] = 0.3
        # "As close" needs the probe and the map to agree with the permutation test.
        document["simulators"][first]["classifier"].update(p_value=0.5, p_value_adjusted=0.5)
        document["simulators"][first]["map"].update(p_value=0.4, p_value_adjusted=0.4)
        document["simulators"][first]["paper"]["detectable"] = {
            "missing_share": 0.05,
            "power": 0.9,
            "alpha": 0.0167,
            "reps": 200,
        }

    text = _variant(v2_run, tmp_path / "run", change)
    first, second, _ = (e["simulator"] for e in read_metrics(v2_run).model_dump()["leaderboard"])
    assert f"{first} and {second} are statistically tied for closest to real users" in text
    assert "is the closest" not in text
    assert f"{first} and {second} are statistically tied: the difference in JS -0.0200" in text
    assert "unreliable: sizes differ by more than 2x (150 vs 1500)" in text
    assert "skipped: needs 5 per side, has 3" in text
    assert "Mixing helps: " in text and "No mixture beats" not in text
    assert f"{first} is as close to real users as they are to each other" in text
    assert f"{second} is as close to real users" not in text


def test_an_unhelpful_mixture_and_a_rejecting_test_are_said(v2_run, tmp_path) -> None:
    def change(document: dict) -> None:
        document["mixture"].update(
            held_out_gain=0.001, held_out_gain_ci=[-0.004, 0.006], helps=False
        )

    text = _variant(v2_run, tmp_path / "run", change)
    assert "No mixture beats the best single simulator beyond noise" in text
    assert "Mixing helps" not in text
    assert "as close to real users as they are to each other" not in text
    assert "close_sim differs from real users beyond noise" in text
    assert "quantized again with 5 k-means seeds and k/2, 2k (min Kendall tau 1.00)" in text


def test_an_unstable_ranking_names_the_variant(v2_run, tmp_path) -> None:
    def change(document: dict) -> None:
        robustness = document["robustness"]
        two_k = next(v for v in robustness["variants"] if v["name"] == "2k")
        js = two_k["js"]
        js["close_sim"], js["narrow_sim"] = js["narrow_sim"], js["close_sim"]
        robustness.update(
            ranking_holds=False,
            min_kendall_tau=-0.33,
            map_agrees=False,
            map_ranking=["chatty_sim", "close_sim", "narrow_sim"],
        )

    text = _variant(v2_run, tmp_path / "run", change)
    js = next(v for v in read_metrics(tmp_path / "run").robustness.variants if v.name == "2k").js
    order = ", ".join(sorted(js, key=js.get))
    assert "The ranking does not hold in every variant" in text
    assert f"2k ({order}) order the simulators differently" in text
    assert "The map clusters rank the simulators differently (chatty_sim, close_sim" in text


def test_report_references_nothing_outside_the_file(demo_html) -> None:
    document = _parse(demo_html)
    scripts = [attrs for tag, attrs in document.tags if tag == "script"]
    assert scripts and all("src" not in attrs for attrs in scripts)
    assert not [attrs for tag, attrs in document.tags if tag == "link"]
    for tag, attrs in document.tags:
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            value = attrs.get(name) or ""
            assert "http://" not in value and "https://" not in value, (tag, name, value)
            assert not value.startswith("//"), (tag, name, value)
    hrefs = [attrs["href"] for tag, attrs in document.tags if tag == "a"]
    assert hrefs and all(href.startswith("#") for href in hrefs)
    css = "\n".join(document.styles)
    assert "@import" not in css and "@font-face" not in css
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", css)
    # plotly.js is inlined exactly once, compressed: the payload unpacks to plotly.js itself.
    payloads = re.findall(
        r'<script id="plotly-js" type="application/octet-stream">([A-Za-z0-9+/=]+)</script>',
        demo_html,
    )
    assert len(payloads) == 1
    assert gzip.decompress(base64.b64decode(payloads[0])).decode("utf-8") == get_plotlyjs()
    assert get_plotlyjs()[:2000] not in demo_html
    # Compressed, it leaves the demo run's report at 3.2 MB (6.0 MB with plotly.js as text).
    assert len(demo_html.encode("utf-8")) < 4_000_000


def test_every_figure_gets_its_own_div_and_script(demo_html, v2_run) -> None:
    document = _parse(demo_html)
    figures = [
        attrs["id"]
        for tag, attrs in document.tags
        if "plotly-graph-div" in (attrs.get("class") or "")
    ]
    ids = [attrs["id"] for _, attrs in document.tags if attrs.get("id")]
    assert len(ids) == len(set(ids)), "duplicate element ids: a figure would draw into a section"
    # The forest plots need feature_gaps.csv, which a demo run made before the behaviour stages
    # lacks (until the integrator regenerates it).
    with_features = (Path(v2_run) / "feature_gaps.csv").is_file()
    assert figures == [
        *(["fig-features-0", "fig-features-1", "fig-features-2"] if with_features else []),
        "fig-leaderboard",
        "fig-map-source",
        "fig-map-cluster",
        "fig-difference-0",
        "fig-difference-1",
        "fig-difference-2",
        "fig-gaps-0",
        "fig-gaps-1",
        "fig-gaps-2",
        "fig-pairwise",
        "fig-mixture",
    ]
    # plotly.js (compressed) and its loader, then one script per figure.
    assert sum(tag == "script" for tag, _ in document.tags) == 2 + len(figures)


def test_excerpt_collapses_space_and_caps_length() -> None:
    assert excerpt("  hello\n\n  world\t ") == "hello world"
    long = "word " * 200
    capped = excerpt(long)
    assert len(capped) <= EXCERPT_CHARS and capped.endswith("…")
    assert excerpt("x" * 50, limit=10) == "x" * 9 + "…"
    assert excerpt(None) == ""


def test_plotly_hover_text_cannot_close_its_script() -> None:
    figure = go.Figure(
        go.Scatter(x=[1], y=[1], text=[PAYLOADS[0] + "<!--"], customdata=[PAYLOADS[1]])
    )
    html = str(figure_html(figure, "fig-test"))
    assert html.lower().count("</script") == 1
    assert "<script>alert" not in html and "<img" not in html and "<!--" not in html


def test_subsample_keeps_each_source_share_and_is_seeded() -> None:
    points = pd.DataFrame(
        {"source": ["real"] * 300 + ["sim"] * 100, "x": range(400), "y": range(400)}
    )
    kept = subsample_points(points, max_points=100, seed=1)
    assert len(kept) == 100
    assert kept["source"].value_counts().to_dict() == {"real": 75, "sim": 25}
    assert kept.index.is_monotonic_increasing
    assert kept.equals(subsample_points(points, max_points=100, seed=1))
    assert subsample_points(points, max_points=400, seed=1) is points


def test_large_runs_show_a_sample_of_the_map_and_say_so(v2_run, demo_metrics) -> None:
    html = build_report(v2_run, max_map_points=1000)
    total = sum(demo_metrics.n.values())
    assert f"The map shows 1,000 of {total:,}" in html


@pytest.fixture(scope="module")
def payload_run(tmp_path_factory, v2_run) -> tuple[Path, list[str]]:
    """A copy of the demo run whose excerpted conversations and card terms hold HTML payloads."""
    target = tmp_path_factory.mktemp("payload") / "run"
    shutil.copytree(v2_run, target, ignore=shutil.ignore_patterns("cache"))
    run = Run(target)
    metrics = read_metrics(target)
    summary = run.clusters_summary()
    simulators = metrics.simulator_names
    cards = cluster_cards(summary, simulators=simulators, reference=metrics.reference)
    attach_excerpts(
        cards, points=assignments(run), corpus=run.corpus(), reference=metrics.reference
    )
    shown = [e.conversation_id for c in cards for e in [*c.real_excerpts, *c.simulated_excerpts]]
    assert len(shown) >= len(PAYLOADS)

    turns = pd.read_parquet(target / "corpus" / "turns.parquet")
    first_user = (
        turns[turns["role"] == "user"].sort_values("turn").groupby("conversation_id").head(1)
    )
    for i, cid in enumerate(shown):
        row = first_user.index[first_user["conversation_id"] == cid][0]
        turns.loc[row, "text"] = PAYLOADS[i % len(PAYLOADS)]
    turns.to_parquet(target / "corpus" / "turns.parquet", index=False)
    summary.loc[summary["cluster"] == cards[0].cluster, "terms_representation"] = PAYLOADS[0]
    summary.to_csv(target / "clusters_summary.csv", index=False)
    return target, shown


def test_transcript_payloads_appear_escaped(payload_run) -> None:
    run_dir, shown = payload_run
    html = build_report(run_dir)
    for payload in PAYLOADS:
        assert payload not in html
        assert str(markupsafe.escape(payload)) in html
    document = _parse(html)
    assert not [tag for tag, _ in document.tags if tag == "img"]
    inline_scripts = sum(tag == "script" for tag, _ in document.tags)
    figures = sum("plotly-graph-div" in (a.get("class") or "") for _, a in document.tags)
    assert inline_scripts == 2 + figures
    # Structure intact: every section opened is closed where the template closes it.
    for tag in ("section", "div", "blockquote", "p"):
        opened = sum(name == tag for name, _ in document.tags)
        assert opened == document.ends.count(tag), tag
    assert document.ends.count("section") == 10  # + findings, "what they do differently"
    for cid in shown:
        assert cid in html


def test_a_single_simulator_run_has_no_mixture_section(tmp_path, v2_run) -> None:
    def change(metrics: dict) -> None:
        keep = ["real", "narrow_sim"]
        rows = [metrics["pairwise"]["sources"].index(s) for s in keep]
        metrics["simulators"] = {"narrow_sim": metrics["simulators"]["narrow_sim"]}
        metrics["sources"] = keep
        metrics["leaderboard"] = [e for e in metrics["leaderboard"] if e["simulator"] in keep]
        metrics["pairwise"]["sources"] = keep
        metrics["pairwise"]["js"] = [[metrics["pairwise"]["js"][i][j] for j in rows] for i in rows]
        metrics["mixture"], metrics["ties"] = None, []

    target = tmp_path / "run"
    text = _variant(v2_run, target, change)
    html = build_report(target)
    assert "One simulator only: there is no mixture to weigh." in text
    paper = read_metrics(target).simulators["narrow_sim"].paper
    low, high = (format_js(v) for v in paper.js_ci)
    assert (
        f"narrow_sim is the only simulator: JS {format_js(paper.js)} (95% interval {low} – {high})"
        in text
    )
    assert 'id="fig-mixture"' not in html and 'id="fig-gaps-1"' not in html
    assert "Mixture, held-out gain" not in html


def test_report_of_a_missing_or_incomplete_run_raises(tmp_path) -> None:
    with pytest.raises(RunDirectoryError, match="does not exist"):
        build_report(tmp_path / "absent")
    shutil.copy(DEMO_RUN / "params.json", tmp_path / "params.json")
    with pytest.raises(RunDirectoryError, match="no valid manifest.json"):
        build_report(tmp_path)  # a params.json does not make a run: the manifest does
    shutil.copy(DEMO_RUN / "manifest.json", tmp_path / "manifest.json")
    with pytest.raises(RunDirectoryError, match="has no corpus"):
        build_report(tmp_path)


def test_cli_report_writes_the_file(tmp_path, v2_run) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(v2_run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "report written to" in result.stdout and "MB" in result.stdout


@pytest.mark.parametrize("command", ["report", "export"])
def test_cli_fails_with_one_line_on_a_missing_or_incomplete_run(tmp_path, command) -> None:
    extra = ["-o", str(tmp_path / "r.html")] if command == "report" else ["--to", str(tmp_path)]
    missing = runner.invoke(app, [command, str(tmp_path / "absent"), *extra])
    assert missing.exit_code == 2
    assert missing.stderr.strip().count("\n") == 0
    assert missing.stderr.startswith("error:") and "absent" in missing.stderr

    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    shutil.copy(DEMO_RUN / "params.json", incomplete / "params.json")
    result = runner.invoke(app, [command, str(incomplete), *extra])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "simgap analyze" in result.stderr


def test_cli_export_lists_the_written_tables(tmp_path, v2_run) -> None:
    result = runner.invoke(app, ["export", str(v2_run), "--to", str(tmp_path / "tables")])
    assert result.exit_code == 0, result.output
    # One path per line (a temporary folder may hold spaces).
    names = sorted(Path(line).name for line in result.stdout.splitlines() if line.strip())
    assert names == sorted(
        f"{table}.{ext}"
        for table in ("leaderboard", "clusters", "assignments")
        for ext in ("csv", "parquet")
    )


@pytest.mark.parametrize(
    "formatter",
    [
        formatting.format_js,
        formatting.format_share,
        formatting.format_points,
        formatting.format_p,
        formatting.format_score,
    ],
)
def test_a_statistic_skipped_for_a_small_source_is_shown_as_skipped(formatter) -> None:
    # Defect 6: `measure` leaves out what a source is too small for (None in metrics.json, NaN
    # in a table); the report shows "skipped" where it used to crash on the format.
    assert formatter(None) == "skipped"
    assert formatter(float("nan")) == "skipped"
    assert formatting.format_statistic(None, "p") == "p: skipped"
    assert formatter(0.5) != "skipped"


def _ten_simulators(*, helps: bool) -> Metrics:
    """Ten simulators ranked sim_00 (closest) .. sim_09, sim_00 tied with sim_07, a mixture of
    sim_00 and sim_08 whose best single simulator is sim_09 (as a differently quantized fit
    may find)."""
    names = [f"sim_{i:02d}" for i in range(10)]
    sims = {
        name: metrics_fixtures.simulator(0.01 + 0.01 * i, (0.005 + 0.01 * i, 0.02 + 0.01 * i))
        for i, name in enumerate(names)
    }
    sims["sim_00"]["tied_with"] = ["sim_07"]
    sims["sim_07"]["tied_with"] = ["sim_00"]
    mixture = metrics_fixtures.realistic()["mixture"] | {
        "weights": dict.fromkeys(names, 0.0) | {"sim_00": 0.6, "sim_08": 0.4},
        "best_single": "sim_09",
        "helps": helps,
        "held_out_gain": 0.004 if helps else 0.0,
        "held_out_gain_ci": [0.001, 0.007] if helps else [-0.004, 0.003],
    }
    return parse_metrics(metrics_fixtures.document(sims, ties=[], mixture=mixture, robustness=None))


def test_detailed_simulators_are_the_closest_and_those_the_summary_names() -> None:
    few = parse_metrics(metrics_fixtures.realistic())
    assert detailed_simulators(few) == ["sim_a", "sim_b", "sim_c"]
    assert detailed_simulators(few, limit=2) == ["sim_a", "sim_b"]
    helping = _ten_simulators(helps=True)
    closest = [f"sim_{i:02d}" for i in range(6)]
    # Tied for closest (sim_07), the best single (sim_09) and the recipe (sim_08), ranked.
    assert detailed_simulators(helping) == [*closest, "sim_07", "sim_08", "sim_09"]
    # A mixture that does not help names no recipe.
    assert detailed_simulators(_ten_simulators(helps=False)) == [*closest, "sim_07", "sim_09"]
    assert detailed_simulators(helping, limit=10) == helping.simulator_names
    # A tied group larger than the limit is not named one by one: the closest stand for it.
    assert detailed_simulators(helping, limit=1) == ["sim_00", "sim_08", "sim_09"]
    everyone = metrics_fixtures.all_tied()
    everyone["mixture"] = None
    assert detailed_simulators(parse_metrics(everyone), limit=1) == ["sim_a"]
    with pytest.raises(ValueError, match="at least 1"):
        detailed_simulators(helping, limit=0)


@pytest.fixture(scope="module")
def many_run(tmp_path_factory) -> Path:
    return build_many_sources_run(tmp_path_factory.mktemp("many") / "run")


def test_a_25_source_report_details_a_few_lists_all_and_stays_small(many_run) -> None:
    html = build_report(many_run)
    metrics = read_metrics(many_run)
    simulators = metrics.simulator_names
    assert len(simulators) == 24
    # Under 10 MB (plotly.js alone is ~1.9 MB compressed), every figure one div and its script.
    assert len(html.encode("utf-8")) < 10_000_000
    document = _parse(html)
    figures = [a["id"] for t, a in document.tags if "plotly-graph-div" in (a.get("class") or "")]
    ids = [attrs["id"] for _, attrs in document.tags if attrs.get("id")]
    assert len(ids) == len(set(ids))
    # plotly.js (compressed) and its loader, then one script per figure.
    assert sum(tag == "script" for tag, _ in document.tags) == 2 + len(figures)
    # The six closest and narrow_02, which the summary names (it is in the helping mixture).
    detailed = [*simulators[:6], MIXED_IN]
    assert simulators.index(MIXED_IN) > 6
    per_simulator = range(len(detailed))
    assert figures == [
        *(f"fig-features-{i}" for i in per_simulator),
        "fig-leaderboard",
        "fig-map-source",
        "fig-map-cluster",
        *(f"fig-difference-{i}" for i in per_simulator),
        *(f"fig-gaps-{i}" for i in per_simulator),
        "fig-pairwise",
        "fig-mixture",
    ]
    text = _text(html)
    others = [name for name in simulators if name not in detailed]
    assert (
        f"With 24 simulators, this report details 7: the 6 closest ({', '.join(detailed[:6])}) "
        f"and the one the summary names ({MIXED_IN})." in text
    )
    assert f"the other 17 ({', '.join(others)}) are on the dashboard's Simulators" in text
    assert "simgap export" in text
    # Findings cards for the detailed simulators only; the tables list every simulator.
    cards = re.findall(
        r'<div class="card simulator-findings" id="findings-\d+">\s*<h3>.*?</h3>', html
    )
    assert [re.sub(r"<[^>]+>", "", card).strip() for card in cards] == detailed
    start = html.index('<table class="board">')
    board = html[start : html.index("</table>", start)]
    assert all(f"{name}</td>" in board for name in simulators)
    assert "k = 19 for every simulator" in text
    assert "<title>simgap report: 24 simulators vs real</title>" in html


def test_the_maps_of_a_large_run_stay_within_the_reports_size_budget() -> None:
    # The paper's scale (125,000 conversations, 25 sources) is sampled down to MAX_MAP_POINTS;
    # with WildChat-like ids (41 characters) and long cluster names the two maps stay near
    # 2.8 MB, so the report (plotly.js is 1.9 MB compressed) stays well under 10 MB.
    rng = np.random.default_rng(0)
    sources = ["real", *(f"simulator_{i:02d}" for i in range(24))]
    n = MAX_MAP_POINTS
    points = pd.DataFrame(
        {
            "conversation_id": [f"wildchat:{i:032x}" for i in range(n)],
            "source": rng.choice(sources, n),
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "cluster": rng.integers(-1, 60, n),
        }
    )
    names = {c: f"pasted error logs, frustrated angry complaints, group {c}" for c in range(60)}
    maps = _map_figures(points, reference="real", names=names, contour_sources=sources[:8])
    assert sum(len(str(html)) for html in maps.values()) < 3_000_000
    assert len(plotly_js_payload()) < 2_200_000

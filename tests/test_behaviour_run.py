"""The behaviour stages inside a run: features and their gaps, cluster names, reuse on rerun."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_run import HashEmbedder

import simgap_core.map.layout  # noqa: F401  (fixes NUMBA_CACHE_DIR before a test moves the cache)
from simgap_core.behaviour import FEATURE_NAMES, compute_features
from simgap_core.demo import generate_demo
from simgap_core.run import ARTIFACTS, AnalysisParams, InputSpec, Run, analyze

SMALL = {"bootstrap": 20, "floor_repeats": 5, "permutations": 50, "min_cluster_size": 5}


def _inputs(folder: Path) -> list[InputSpec]:
    data = generate_demo(seed=5, per_source=60)
    inputs = []
    for source in ("real", "chatty_sim"):
        path = folder / f"{source}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in data.records[source]))
        inputs.append(InputSpec(path, source, "openai"))
    return inputs


@pytest.fixture(scope="module")
def behaviour_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[InputSpec], Run]:
    folder = tmp_path_factory.mktemp("behaviour")
    inputs = _inputs(folder)
    return inputs, analyze(inputs, folder / "run", AnalysisParams(**SMALL), embedder=HashEmbedder())


def test_a_run_holds_the_behaviour_artifacts(behaviour_run) -> None:
    _, run = behaviour_run
    for name in ("features.parquet", "feature_gaps.csv", "cluster_names.csv"):
        assert name in ARTIFACTS
        assert (run.path / name).is_file()
    features = run.features()
    # The stored table is the features of the stored corpus, recomputed independently.
    expected = compute_features(run.corpus())
    pd.testing.assert_frame_equal(
        features[list(FEATURE_NAMES)].reset_index(drop=True),
        expected[list(FEATURE_NAMES)].reset_index(drop=True),
    )
    assert features.groupby("source").size().to_dict() == {"real": 60, "chatty_sim": 60}
    gaps = run.feature_gaps()
    assert set(gaps["simulator"]) == {"chatty_sim"}
    assert sorted(gaps["feature"]) == sorted(FEATURE_NAMES)
    # The planted over-thanking of chatty_sim is a significant gap, in the right direction.
    thanks = gaps.set_index("feature").loc["gratitude"]
    assert thanks["sim"] > thanks["real"]
    assert thanks["q_value"] <= 0.05 and thanks["ci_low"] > 1.0
    real_rate = features.loc[features["source"] == "real", "gratitude"].mean()
    assert thanks["real"] == pytest.approx(real_rate)
    assert run.facts("features")["significant_gaps"] == int((gaps["q_value"] <= 0.05).sum())


def test_every_cluster_has_a_unique_name_in_the_summary(behaviour_run) -> None:
    _, run = behaviour_run
    summary = run.clusters_summary()
    clustered = set(run.clusters()["cluster"]) - {-1}
    assert clustered, "the small run should find clusters"
    named = summary[summary["cluster"] >= 0]
    assert set(named["cluster"]) == clustered
    assert (named["name"].str.len() > 0).all() and (named["description"].str.len() > 0).all()
    assert named["name"].is_unique
    stored = pd.read_csv(run.path / "cluster_names.csv")
    assert dict(zip(named["cluster"], named["name"], strict=True)) == {
        c: n for c, n in zip(stored["cluster"], stored["name"], strict=True) if c >= 0
    }
    assert run.cluster_names_by_number() == dict(
        zip(stored["cluster"], stored["name"], strict=True)
    )


def test_a_new_clustering_renames_clusters_but_reuses_the_features(
    behaviour_run, tmp_path: Path
) -> None:
    inputs, run = behaviour_run
    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy)
    features_before = (copy / "features.parquet").read_bytes()
    gaps_before = (copy / "feature_gaps.csv").read_bytes()
    rerun = analyze(
        inputs,
        copy,
        AnalysisParams(**{**SMALL, "min_cluster_size": 12}),
        embedder=HashEmbedder(),
    )
    assert rerun.params.recomputed == ["cluster", "behaviour", "measure"]
    assert (copy / "features.parquet").read_bytes() == features_before
    assert (copy / "feature_gaps.csv").read_bytes() == gaps_before
    names = rerun.cluster_names()
    assert set(names["cluster"]) == set(rerun.clusters()["cluster"])


def test_a_run_made_before_names_reads_with_empty_names(behaviour_run, tmp_path: Path) -> None:
    _, run = behaviour_run
    old = tmp_path / "old"
    old.mkdir()
    (old / "clusters_summary.csv").write_bytes((run.path / "clusters_summary.csv").read_bytes())
    summary = Run(old).clusters_summary()
    assert (summary["name"] == "").all()
    assert Run(old).cluster_names_by_number() == {}


def test_the_report_leads_with_the_stored_findings(behaviour_run) -> None:
    from html import escape

    from simgap_core.behaviour import gap_sentence
    from simgap_core.present.report import build_report
    from simgap_core.present.selection import cluster_gaps, top_feature_gaps

    _, run = behaviour_run
    html = build_report(run.path)
    body = html[html.index("<main") :]
    findings = body[: body.index('<section id="summary">')]
    # The findings come first: before the summary, the leaderboard and every figure.
    assert body.index('<section id="findings">') < body.index('<section id="summary">')
    assert "plotly-graph-div" not in findings
    top = top_feature_gaps(run.feature_gaps(), simulator="chatty_sim", top=3)
    assert len(top) == 3, "the planted chatty_sim gaps should give three significant features"
    for _, row in top.iterrows():
        assert escape(gap_sentence(row), quote=True) in findings
    # The most missed / invented named behaviour, as stored, with escaped excerpts.
    summary = run.clusters_summary()
    gaps = cluster_gaps(summary, simulator="chatty_sim", reference="real")
    for category, said in (("missed", "most missed"), ("hallucinated", "most invented")):
        chosen = gaps[(gaps["category"] == category) & (gaps["cluster"] >= 0)]
        if len(chosen):
            assert said in findings
            assert escape(chosen["name"].iloc[0], quote=True) in findings
    assert findings.count("<blockquote") <= 2 * 2 * 2
    # The behaviour-gap section shows every stored row of the simulator, values as stored.
    section = body[body.index('<section id="differently">') :]
    section = section[: section.index("</section>")]
    stored = run.feature_gaps()
    stored = stored[stored["simulator"] == "chatty_sim"]
    assert section.count('<tr class="') == len(stored)
    from simgap_core.behaviour.gaps import effect_text

    for _, row in stored.iterrows():
        # The cell says what the sentence next to it says (a simulator that never does it: 0×).
        assert f"<td>{escape(effect_text(row))}</td>" in section

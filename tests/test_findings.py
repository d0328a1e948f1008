"""The findings layer on hand-made tables: which clusters each simulator misses or invents, the
cards and per-simulator findings built from them, the excerpts quoted as evidence, and how the
numbers are written (`formatting`). No run directory, no figure, no template."""

from __future__ import annotations

import metrics_fixtures
import numpy as np
import pandas as pd
import pytest

from simgap_core.model import Conversation, Corpus
from simgap_core.present import formatting
from simgap_core.present.findings import (
    cluster_cards,
    cluster_label,
    feature_gap_sentences,
    headlines,
    most_gapped,
    notable_findings,
    quote_examples,
    simulator_findings,
)
from simgap_core.present.verdicts import verdicts
from simgap_core.schema import parse_metrics

# (cluster, {simulator: (diff, category)}): noise has the largest gap of all, and is no finding.
GAPS = {
    -1: {"sim_a": (0.20, "missed"), "sim_b": (0.0, "captured"), "sim_c": (0.0, "captured")},
    0: {"sim_a": (0.10, "missed"), "sim_b": (0.05, "missed"), "sim_c": (0.0, "captured")},
    1: {"sim_a": (0.04, "missed"), "sim_b": (0.0, "captured"), "sim_c": (0.0, "captured")},
    2: {"sim_a": (-0.08, "hallucinated"), "sim_b": (0.0, "captured"), "sim_c": (0.0, "captured")},
    3: {"sim_a": (0.0, "captured"), "sim_b": (-0.12, "hallucinated"), "sim_c": (0.0, "captured")},
}
NAMES = {0: "terse requests", 1: "pasted logs", 2: "formal thanks", 3: "long stories"}


def _summary() -> pd.DataFrame:
    rows = []
    for cluster, per_simulator in GAPS.items():
        row: dict[str, object] = {"cluster": cluster, "n": 100, "share_real": 0.2}
        for simulator, (diff, category) in per_simulator.items():
            row |= {
                f"share_{simulator}": 0.2 - diff,
                f"diff_{simulator}": diff,
                f"diff_low_{simulator}": diff - 0.01,
                f"diff_high_{simulator}": diff + 0.01,
                f"log_ratio_{simulator}": 0.0,
                f"q_value_{simulator}": 0.001,
                f"category_{simulator}": category,
            }
        row |= {
            "name": NAMES.get(cluster, ""),
            "description": f"users of cluster {cluster}",
            "terms_representation": "terse, short, direct, blunt, curt" if cluster == 0 else "",
            "terms_user": "fix, error" if cluster != 0 else "",
        }
        rows.append(row)
    return pd.DataFrame(rows)


def test_notable_findings_are_the_largest_gaps_of_a_category_without_noise() -> None:
    summary = _summary()
    missed = notable_findings(summary, simulator="sim_a", reference="real", category="missed")
    assert [f.cluster for f in missed] == [0]
    two = notable_findings(summary, simulator="sim_a", reference="real", category="missed", top=2)
    assert [(f.cluster, f.diff) for f in two] == [
        (0, pytest.approx(0.10)),
        (1, pytest.approx(0.04)),
    ]
    assert two[0].diff_low == pytest.approx(0.09) and two[0].simulator_share == pytest.approx(0.1)
    assert notable_findings(summary, simulator="sim_c", reference="real", category="missed") == []


def test_a_cluster_notable_for_two_simulators_gets_one_card_led_by_the_larger_gap() -> None:
    cards = cluster_cards(_summary(), simulators=["sim_a", "sim_b"], reference="real")
    assert [card.cluster for card in cards] == [3, 0, 2]  # largest primary gap first
    shared = cards[1]
    assert [(f.simulator, f.category) for f in shared.findings] == [
        ("sim_a", "missed"),
        ("sim_b", "missed"),
    ]
    assert shared.primary.simulator == "sim_a"
    assert shared.name == "0 · terse requests"
    assert shared.label == "terse, short, direct, blunt"  # the first four behaviour terms
    assert shared.shares == {
        "real": 0.2,
        "sim_a": pytest.approx(0.1),
        "sim_b": pytest.approx(0.15),
        "sim_c": 0.2,
    }
    assert cards[0].label == "fix, error"  # no behaviour terms: the users' words
    assert cards[0].real_excerpts == cards[0].simulated_excerpts == []


def test_cluster_label_reads_terms_and_is_empty_without_any() -> None:
    assert cluster_label({"terms_representation": " a , b,, c ", "terms_user": "x"}) == "a, b, c"
    assert cluster_label({"terms_representation": float("nan"), "terms_user": "x, y"}) == "x, y"
    assert cluster_label({}) == ""


def _points_and_corpus() -> tuple[pd.DataFrame, Corpus]:
    """Cluster 0 holds three real and two sim_a conversations (and one sim_b), with scores."""
    rows = [
        ("real", "r1", 0, 0.1),
        ("real", "r2", 0, 0.9),
        ("real", "r3", 0, 0.5),
        ("real", "r4", 1, 2.0),
        ("sim_a", "a1", 0, 0.3),
        ("sim_a", "a2", 0, 0.7),
        ("sim_b", "b1", 0, 5.0),
    ]
    points = pd.DataFrame(
        {
            "conversation_id": [f"{source}:{cid}" for source, cid, _, _ in rows],
            "source": [source for source, _, _, _ in rows],
            "cluster": [cluster for _, _, cluster, _ in rows],
            "misalignment_sim_a": [score for _, _, _, score in rows],
        }
    )
    corpus = Corpus.from_conversations(
        [
            Conversation(
                cid,
                source,
                [("system", "ignored"), ("user", f"first   turn of\n{cid} " + "word " * 20)],
            )
            for source, cid, _, _ in rows
        ]
    )
    return points, corpus


def test_quoted_examples_are_the_most_misaligned_first_turns_cut_at_a_word() -> None:
    points, corpus = _points_and_corpus()
    quoted = quote_examples(
        {"key": ("sim_a", 0)}, points=points, corpus=corpus, reference="real", top=2, limit=24
    )
    real, simulated = quoted["key"]
    assert [e.conversation_id for e in real] == ["real:r2", "real:r3"]
    assert [e.misalignment for e in real] == [0.9, 0.5]
    # Only sim_a's rows of the cluster, never sim_b's, however misaligned.
    assert [e.conversation_id for e in simulated] == ["sim_a:a2", "sim_a:a1"]
    assert real[0].text == "first turn of r2 word…"
    assert all(len(e.text) <= 24 for e in real + simulated)


def test_simulator_findings_name_the_most_missed_and_invented_behaviour() -> None:
    points, corpus = _points_and_corpus()
    found = simulator_findings(
        simulators=["sim_a", "sim_c"],
        reference="real",
        summary=_summary(),
        feature_gaps=None,
        points=points,
        corpus=corpus,
        excerpts=1,
    )
    sim_a, sim_c = found
    assert sim_a.gap_sentences == []
    assert sim_a.missed is not None and sim_a.invented is not None
    assert (sim_a.missed.name, sim_a.missed.description) == (
        "0 · terse requests",
        "users of cluster 0",
    )
    assert [e.conversation_id for e in sim_a.missed.real_excerpts] == ["real:r2"]
    assert [e.conversation_id for e in sim_a.missed.simulated_excerpts] == ["sim_a:a2"]
    assert sim_a.invented.finding.cluster == 2 and sim_a.invented.real_excerpts == []
    assert sim_c.missed is None and sim_c.invented is None


def test_feature_gap_sentences_need_feature_gaps() -> None:
    assert feature_gap_sentences(None, simulator="sim_a") == []
    assert feature_gap_sentences(pd.DataFrame(), simulator="sim_a") == []


def test_headlines_follow_the_leaderboard_and_carry_each_ones_verdict() -> None:
    metrics = parse_metrics(metrics_fixtures.realistic())
    rows = headlines(metrics, _summary())
    assert [h.simulator for h in rows] == metrics.simulator_names
    said = verdicts(metrics)
    for row in rows:
        entry = metrics.simulators[row.simulator]
        assert row.js == entry.paper.js and (row.js_lo, row.js_hi) == tuple(entry.paper.js_ci)
        assert row.verdict == said.no_gap[row.simulator]
    by_name = {h.simulator: h for h in rows}
    assert by_name["sim_a"].missed.cluster == 0 and by_name["sim_a"].hallucinated.cluster == 2
    assert by_name["sim_b"].hallucinated.cluster == 3
    assert by_name["sim_c"].missed is None and by_name["sim_c"].reliability.startswith("unreliable")


def test_the_most_gapped_simulator_has_the_most_missed_and_invented_clusters() -> None:
    document = metrics_fixtures.realistic()
    document["simulators"]["sim_b"]["clusters"] = {"captured": 10, "missed": 8, "hallucinated": 2}
    metrics = parse_metrics(document)
    assert most_gapped(metrics, ["sim_a", "sim_b", "sim_c"]) == "sim_b"
    # A tie goes to the first named (the closest, in leaderboard order).
    assert most_gapped(metrics, ["sim_c", "sim_a"]) == "sim_c"
    assert most_gapped(metrics, ["not_measured", "sim_a"]) == "sim_a"


def test_numbers_are_written_the_same_everywhere() -> None:
    assert formatting.format_js(0.012345) == "0.0123"
    assert formatting.format_share(0.125) == "12.5%"
    assert (
        formatting.format_points(0.0321) == "+3.2 pts"
        and formatting.format_points(-0.0321) == "-3.2 pts"
    )
    assert formatting.format_p(0.011) == "0.0110" and formatting.format_p(0.00005) == "< 0.0001"
    assert formatting.format_statistic(0.011, "p") == "p = 0.0110"
    assert formatting.format_statistic(0.00005, "q") == "q < 0.0001"
    assert formatting.format_score(0.91234) == "0.912"
    assert formatting.format_js(np.float64("nan")) == "skipped"

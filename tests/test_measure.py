"""measure(): the metrics.json numbers, a planted gap found, the mixture, on synthetic runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from simgap_core.errors import EmptySourceError
from simgap_core.measure.compare import measure
from simgap_core.measure.quantize import quantize

CLUSTERS, DIMS = 8, 32


def scipy_js(p, q) -> float:
    return float(jensenshannon(p, q, base=math.e) ** 2)


def scipy_kl_smoothed(p, q) -> float:
    """entropy(P || Q) after the paper's smoothing: shares + 1/k, renormalized."""
    k = len(p)
    p_s = np.asarray(p) / np.sum(p) + 1 / k
    q_s = np.asarray(q) / np.sum(q) + 1 / k
    return float(entropy(p_s / p_s.sum(), q_s / q_s.sum()))


def synthetic(weights: dict[str, np.ndarray], n: int, seed: int = 0) -> dict:
    """Clustered unit vectors; map labels are the true clusters with 5% noise."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((CLUSTERS, DIMS)) * 3
    sources, cluster = [], []
    for name, w in weights.items():
        sources += [name] * n
        cluster.append(rng.choice(CLUSTERS, size=n, p=np.asarray(w) / np.sum(w)))
    cluster = np.concatenate(cluster)
    embeddings = centers[cluster] + rng.standard_normal((len(cluster), DIMS))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    words = [f"topic{c} behaviour{c}" for c in range(CLUSTERS)]
    return {
        "embeddings": embeddings,
        "sources": sources,
        "map_labels": np.where(rng.random(len(cluster)) < 0.05, -1, cluster),
        # A distinct id per text: identical texts share a probe fold group, which would put
        # whole behaviours in one fold.
        "texts": [f"{words[c]} request please r{i}" for i, c in enumerate(cluster)],
        "cluster": cluster,
    }


UNIFORM = np.full(CLUSTERS, 1.0)
# sim_a never shows behaviour 0 and produces behaviour 7 four times as often; sim_b is faithful.
GAPPED = np.r_[0.0, np.ones(CLUSTERS - 2), 4.0]


@pytest.fixture(scope="module")
def planted():
    data = synthetic({"real": UNIFORM, "sim_a": GAPPED, "sim_b": UNIFORM}, n=600)
    result = measure(
        data["embeddings"],
        data["sources"],
        data["map_labels"],
        representation_texts=data["texts"],
        user_texts=data["texts"],
        k=40,
    )
    return data, result


def test_metrics_follow_the_schema_and_are_json(planted) -> None:
    _, result = planted
    metrics = json.loads(json.dumps(result.metrics))
    assert metrics["reference"] == "real"
    assert metrics["sources"] == ["real", "sim_a", "sim_b"]
    for name in ("sim_a", "sim_b"):
        entry = metrics["simulators"][name]
        assert {"js", "js_plugin", "kl_forward", "kl_backward", "k", "js_ci"} <= entry[
            "paper"
        ].keys()
        assert {"js", "js_plugin", "kl_forward", "kl_backward", "js_ci"} <= entry["map"].keys()
        assert {"accuracy", "auc", "auc_ci", "p_value"} <= entry["classifier"].keys()
        assert 0 < entry["paper"]["p_value"] <= entry["paper"]["p_value_adjusted"] <= 1
        assert entry["paper"]["js_ci"][0] <= entry["paper"]["js"] <= entry["paper"]["js_ci"][1]
        assert entry["reliable"] is True and entry["reliability_notes"] == []
        assert entry["paper"]["k"] == 40
        assert entry["classifier"]["n_per_class"] == 600
        assert len(entry["paper"]["js_ci"]) == 2
    assert metrics["schema_version"] == 2
    assert metrics["noise_floor"]["descriptive"] is True
    assert metrics["noise_floor"]["paper"]["js"] > 0 and metrics["noise_floor"]["map"]["js"] > 0
    assert metrics["pairwise"]["sources"] == metrics["sources"]
    assert set(metrics["mixture"]["weights"]) == {"sim_a", "sim_b"}
    assert metrics["settings"]["thresholds"]["alpha"] == 0.05
    assert metrics["n"] == {"real": 600, "sim_a": 600, "sim_b": 600}


def test_every_metric_equals_scipy_on_the_returned_histograms(planted) -> None:
    data, result = planted
    sources = np.array(data["sources"])
    for name in ("sim_a", "sim_b"):
        paper = result.metrics["simulators"][name]["paper"]
        rows = result.paper_histograms[result.paper_histograms["simulator"] == name]
        p, q = rows["real_count"].to_numpy(), rows["sim_count"].to_numpy()
        assert p.sum() == 600 and q.sum() == 600 and len(rows) == 40
        assert paper["js_plugin"] == pytest.approx(scipy_js(p, q), abs=1e-9)
        assert paper["js"] == pytest.approx(
            min(max(paper["js_plugin"] - paper["js_bias"], 0.0), math.log(2)), abs=1e-12
        )
        assert paper["kl_forward_plugin"] == pytest.approx(scipy_kl_smoothed(p, q), abs=1e-9)
        assert paper["kl_backward_plugin"] == pytest.approx(scipy_kl_smoothed(q, p), abs=1e-9)

        # The map: noise is one more bin, so k = clusters + 1 in the smoothing.
        shared_map = result.metrics["simulators"][name]["map"]
        labels = data["map_labels"]
        p_map = np.bincount(labels[sources == "real"] + 1, minlength=CLUSTERS + 1)
        q_map = np.bincount(labels[sources == name] + 1, minlength=CLUSTERS + 1)
        assert shared_map["n_bins"] == CLUSTERS + 1
        assert shared_map["js_plugin"] == pytest.approx(scipy_js(p_map, q_map), abs=1e-9)
        assert shared_map["kl_forward"] == pytest.approx(scipy_kl_smoothed(p_map, q_map), abs=1e-9)
        assert shared_map["kl_backward"] == pytest.approx(scipy_kl_smoothed(q_map, p_map), abs=1e-9)


def test_pairwise_and_mixture_use_one_quantization_of_all_sources(planted) -> None:
    data, result = planted
    codes = np.array([["real", "sim_a", "sim_b"].index(s) for s in data["sources"]])
    shared = quantize(data["embeddings"], codes, k=40).histograms
    pairwise = np.array(result.metrics["pairwise"]["js"])
    assert result.metrics["pairwise"]["k"] == 40
    expected = [[scipy_js(a, b) for b in shared] for a in shared]
    np.testing.assert_allclose(pairwise, expected, atol=1e-9)
    np.testing.assert_allclose(pairwise, pairwise.T)
    assert np.all(np.diag(pairwise) == 0)
    mixture = result.metrics["mixture"]
    weights = np.array([mixture["weights"]["sim_a"], mixture["weights"]["sim_b"]])
    shares = shared[1:] / shared[1:].sum(axis=1, keepdims=True)
    assert mixture["js"] == pytest.approx(scipy_js(shared[0], weights @ shares), abs=1e-9)
    assert mixture["best_single_js"] == pytest.approx(min(pairwise[0, 1:]), abs=1e-9)
    assert mixture["js"] <= mixture["best_single_js"] + 1e-12


def test_the_planted_gap_is_found(planted) -> None:
    _, result = planted
    assert result.clusters_summary.columns.tolist() == [
        "cluster",
        "n",
        "share_real",
        "share_sim_a",
        "share_sim_b",
        *(
            f"{column}_{sim}"
            for sim in ("sim_a", "sim_b")
            for column in (
                "diff",
                "diff_low",
                "diff_high",
                "log_ratio",
                "p_value",
                "q_value",
                "category",
            )
        ),
        "terms_representation",
        "terms_user",
    ]
    summary = result.clusters_summary.set_index("cluster")
    assert summary.index.tolist() == list(range(-1, CLUSTERS))
    assert summary.loc[0, "category_sim_a"] == "missed"
    assert summary.loc[7, "category_sim_a"] == "hallucinated"
    assert set(summary.drop(index=[0, 7])["category_sim_a"]) == {"captured"}
    assert set(summary["category_sim_b"]) == {"captured"}
    assert result.metrics["simulators"]["sim_a"]["clusters"] == {
        "captured": CLUSTERS - 1,
        "missed": 1,
        "hallucinated": 1,
    }
    # Shares are of each source's own total; the difference interval brackets the difference.
    assert summary["share_real"].sum() == pytest.approx(1.0)
    assert summary.loc[0, "share_sim_a"] == 0.0
    assert summary.loc[0, "diff_low_sim_a"] <= summary.loc[0, "diff_sim_a"]
    assert summary.loc[0, "diff_sim_a"] <= summary.loc[0, "diff_high_sim_a"]
    assert summary.loc[3, "terms_representation"].startswith(("topic3", "behaviour3"))
    assert "topic0" in summary.loc[0, "terms_user"]

    metrics = result.metrics
    assert [row["simulator"] for row in metrics["leaderboard"]] == ["sim_b", "sim_a"]
    assert metrics["simulators"]["sim_a"]["paper"]["p_value_adjusted"] <= 0.01
    assert metrics["simulators"]["sim_b"]["paper"]["p_value_adjusted"] > 0.05
    assert metrics["ties"] == [{**metrics["ties"][0], "a": "sim_a", "b": "sim_b", "tied": False}]
    assert metrics["ties"][0]["diff_ci"][0] > 0
    assert metrics["simulators"]["sim_a"]["classifier"]["auc"] > 0.6
    assert metrics["simulators"]["sim_b"]["classifier"]["auc"] < 0.6


def test_misalignment_is_one_row_per_conversation_and_points_at_the_gap(planted) -> None:
    data, result = planted
    table = result.misalignment
    assert len(table) == len(data["sources"])
    sources = np.array(data["sources"])
    assert (table["side"] == np.where(sources == "real", "real", "simulated")).all()
    # Real conversations of the behaviour sim_a misses are the most misaligned against sim_a.
    real_vs_a = table[sources == "real"].sort_values("rank_sim_a")
    top = data["cluster"][real_vs_a.index[:50]]
    assert np.mean(top == 0) > 0.9
    assert table["rank_sim_a"].isna().sum() == 600  # sim_b rows are outside the sim_a pair
    assert sorted(table.loc[sources == "real", "rank"]) == list(range(1, 601))


def test_the_mixture_favours_the_simulators_that_cover_real_together() -> None:
    halves = {
        "real": UNIFORM,
        "first_half": np.r_[np.ones(4), np.zeros(4)],
        "second_half": np.r_[np.zeros(4), np.ones(4)],
        "one_behaviour": np.r_[1.0, np.zeros(7)],
    }
    data = synthetic(halves, n=400, seed=1)
    result = measure(
        data["embeddings"],
        data["sources"],
        data["map_labels"],
        k=24,
        bootstrap=50,
        floor_repeats=10,
        permutations=200,
    )
    mixture = result.metrics["mixture"]
    assert mixture["weights"]["first_half"] == pytest.approx(0.5, abs=0.08)
    assert mixture["weights"]["second_half"] == pytest.approx(0.5, abs=0.08)
    assert mixture["weights"]["one_behaviour"] < 0.05
    assert mixture["in_sample_gain"] > 0.2
    # Held out, at matched sizes, the complementary halves still beat any single simulator.
    assert mixture["held_out_gain_ci"][0] > 0.1 and mixture["helps"] is True
    assert mixture["duality_gap"] < 1e-7


def test_same_seed_same_numbers_and_bad_input_is_named() -> None:
    data = synthetic({"real": UNIFORM, "sim": GAPPED}, n=200, seed=3)
    args = (data["embeddings"], data["sources"], data["map_labels"])
    settings = {
        "bootstrap": 30,
        "floor_repeats": 5,
        "permutations": 50,
        "k": 10,
        "classifier_max_per_class": 150,
    }
    first, second = measure(*args, **settings), measure(*args, **settings)
    assert json.dumps(first.metrics) == json.dumps(second.metrics)
    assert first.metrics["simulators"]["sim"]["classifier"]["n_per_class"] == 150
    assert first.metrics["settings"]["classifier_max_per_class"] == 150
    # One simulator: its paper quantization is the shared one.
    paper_js = first.metrics["simulators"]["sim"]["paper"]["js_plugin"]
    assert first.metrics["pairwise"]["js"][0][1] == pytest.approx(paper_js, abs=1e-15)
    with pytest.raises(EmptySourceError, match="'people'"):
        measure(*args, reference="people", **settings)
    with pytest.raises(EmptySourceError, match="no simulated source"):
        measure(data["embeddings"][:200], data["sources"][:200], data["map_labels"][:200])
    with pytest.raises(ValueError, match="map_labels has 3 rows"):
        measure(data["embeddings"], data["sources"], np.zeros(3, int))


def _counting_measure(n_simulators: int, **settings) -> tuple[list[int], dict]:
    weights = {"real": UNIFORM, **{f"sim_{i}": UNIFORM for i in range(n_simulators)}}
    data = synthetic(weights, n=60, seed=4)
    calls: list[int] = []

    def counted(embeddings, groups, **kwargs):
        calls.append(len(embeddings))
        return quantize(embeddings, groups, **kwargs)

    result = measure(
        data["embeddings"],
        data["sources"],
        data["map_labels"],
        quantizer=counted,
        bootstrap=20,
        permutations=50,
        floor_repeats=5,
        mixture_splits=2,
        classifier_permutations=0,
        misalignment_null_repeats=2,
        **settings,
    )
    return calls, result.metrics


def test_one_pooled_fit_per_k_and_seed_serves_every_simulator() -> None:
    # The pair quantizations, the pooled one and the robustness variants: one fit per (k, seed)
    # of all rows, however many simulators (5 seeds + k/2 + 2k = 7).
    few, metrics = _counting_measure(2)
    many, _ = _counting_measure(4)
    assert len(few) == len(many) == 7
    assert set(few) == {180} and set(many) == {300}
    # The pairs' histograms are the pooled fit's rows: pairwise JS equals each pair's plug-in.
    pairwise = metrics["pairwise"]["js"]
    for i, sim in enumerate(["sim_0", "sim_1"], start=1):
        assert metrics["simulators"][sim]["paper"]["js_plugin"] == pytest.approx(pairwise[0][i])
    # The paper's own way, a fit per pair, stays available.
    each, _ = _counting_measure(2, pair_quantization="each")
    assert each.count(120) >= 2 and 180 in each


def test_two_workers_give_the_serial_numbers() -> None:
    data = synthetic({"real": UNIFORM, "sim_a": GAPPED, "sim_b": UNIFORM, "sim_c": UNIFORM}, 80)
    runs = [
        measure(
            data["embeddings"],
            data["sources"],
            data["map_labels"],
            representation_texts=data["texts"],
            bootstrap=30,
            permutations=100,
            floor_repeats=5,
            mixture_splits=2,
            classifier_permutations=20,
            misalignment_null_repeats=3,
            workers=workers,
        )
        for workers in (1, 2)
    ]
    serial, parallel = (json.loads(json.dumps(run.metrics)) for run in runs)
    assert serial["skipped"] == parallel["skipped"]

    def same(a, b, path="") -> None:
        if isinstance(a, dict):
            assert a.keys() == b.keys(), path
            for key in a:
                same(a[key], b[key], f"{path}.{key}")
        elif isinstance(a, list):
            assert len(a) == len(b), path
            for n, (x, y) in enumerate(zip(a, b, strict=True)):
                same(x, y, f"{path}[{n}]")
        elif isinstance(a, float):
            assert b == pytest.approx(a, rel=1e-9, abs=1e-12), path
        else:
            assert a == b, path

    same(serial, parallel)
    for name in ("paper_histograms", "clusters_summary", "misalignment"):
        serial_frame, parallel_frame = (getattr(run, name) for run in runs)
        np.testing.assert_array_equal(serial_frame.columns, parallel_frame.columns)
        assert serial_frame.equals(parallel_frame) or np.allclose(
            serial_frame.select_dtypes("number").to_numpy(dtype=float),
            parallel_frame.select_dtypes("number").to_numpy(dtype=float),
            equal_nan=True,
        )

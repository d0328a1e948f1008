"""Hand-written metrics.json v2 documents (see simgap_core.schema) for the readers' tests.

`realistic()`: three simulators: sim_a and sim_b statistically tied for closest, sim_a not
significantly different from real (Holm-adjusted p above alpha), sim_b different; sim_c small
(150 conversations, unreliable), its classifier skipped; a mixture that does not help.
`single()`: one simulator, so no mixture. `all_tied()`: three simulators all tied.
`demo_run(tmp_path)`: a copy of the committed demo run with a v2 metrics.json over its sources,
for the tests that need a whole run directory until the demo run is regenerated.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

DEMO_RUN = Path(__file__).resolve().parent.parent / "data" / "demo_run"
ALPHA = 0.05


def simulator(
    js: float,
    ci: tuple[float, float],
    *,
    n: int = 1500,
    n_real: int = 1500,
    plugin_gap: float = 0.02,
    p_adjusted: float = 0.001,
    tied_with: tuple[str, ...] = (),
    classifier: bool = True,
    clusters: tuple[int, int, int] = (20, 3, 1),
    k: int = 150,
    probe_p: float = 0.01,
    map_p: float = 0.002,
    detectable: float | None = 0.05,
) -> dict[str, Any]:
    """One simulator's entry; unreliable when the sizes differ by more than 2x."""
    reliable = max(n, n_real) <= 2 * min(n, n_real)
    plugin = js + plugin_gap
    return {
        "n": n,
        "reliable": reliable,
        "reliability_notes": []
        if reliable
        else [f"sizes differ by more than 2x ({n} vs {n_real})"],
        "paper": {
            "k": k,
            "n_components": 14,
            "explained_variance": 0.901,
            "js": js,
            "js_ci": list(ci),
            "js_plugin": plugin,
            "js_bias": plugin_gap,
            "kl_forward": 2 * js + 0.004,
            "kl_forward_ci": [2 * js, 2 * js + 0.011],
            "kl_backward": 2 * js + 0.003,
            "kl_backward_ci": [2 * js, 2 * js + 0.009],
            "null_js": {"mean": plugin_gap * 0.9, "q95": plugin_gap * 1.2},
            "p_value": p_adjusted / 2,
            "p_value_adjusted": p_adjusted,
            "seed_spread": {
                "variants": 5,
                "js_sd": 0.0021,
                "js_min": plugin - 0.003,
                "js_max": plugin + 0.003,
            },
            "matched": None,
            "detectable": {"missing_share": detectable, "power": 0.9, "alpha": 0.05, "reps": 200}
            if detectable is not None
            else None,
        },
        "map": {
            "n_bins": 31,
            "js": js / 2,
            "js_ci": [max(0.0, js / 2 - 0.004), js / 2 + 0.005],
            "js_plugin": js / 2 + 0.006,
            "kl_forward": js,
            "kl_backward": js * 0.9,
            "p_value": map_p,
            "null_js": {"mean": 0.005, "q95": 0.007},
        },
        "classifier": {
            "auc": 0.5 + 3 * js,
            "auc_ci": [0.48 + 3 * js, 0.53 + 3 * js],
            "accuracy": 0.5 + 2.5 * js,
            "p_value": probe_p,
            "n_per_class": min(n, n_real),
            "folds": 5,
            "groups": "identical text and pair_id",
        }
        if classifier
        else None,
        "clusters": dict(zip(("captured", "missed", "hallucinated"), clusters, strict=True)),
        "tied_with": list(tied_with),
    }


def document(
    simulators: dict[str, dict[str, Any]],
    *,
    ties: list[dict[str, Any]],
    mixture: dict[str, Any] | None,
    robustness: dict[str, Any] | None,
    skipped: list[dict[str, str]] = (),
    n_real: int = 1500,
) -> dict[str, Any]:
    """A whole v2 document around `simulators` (leaderboard sorted by js)."""
    names = sorted(simulators)
    sources = ["real", *names]
    ranked = sorted(names, key=lambda s: simulators[s]["paper"]["js"])
    size = len(sources)
    pairwise = [
        [0.0 if i == j else 0.02 + 0.01 * (i + j) for j in range(size)] for i in range(size)
    ]
    return {
        "schema_version": 2,
        "reference": "real",
        "sources": sources,
        "n": {"real": n_real, **{name: simulators[name]["n"] for name in names}},
        "representation": {
            "facet": "combined",
            "annotator": "heuristic",
            "embedding_model": "all-MiniLM-L6-v2",
        },
        "settings": {
            "k_rule": "round(min(n_real, n_sim) / 10)",
            "k": None,
            "ci_level": 0.95,
            "alpha": ALPHA,
            "bootstrap": 200,
            "permutations": 1000,
            "seeds": 5,
            "seed": 42,
            "match_n": None,
            "thresholds": {"min_share_diff": 0.01, "min_log_ratio": 0.6931, "alpha": ALPHA},
        },
        "simulators": simulators,
        "leaderboard": [
            {
                "simulator": name,
                "js": simulators[name]["paper"]["js"],
                "js_ci": simulators[name]["paper"]["js_ci"],
                "tied_with": simulators[name]["tied_with"],
                "reliable": simulators[name]["reliable"],
            }
            for name in ranked
        ],
        "ties": ties,
        "noise_floor": {
            "descriptive": True,
            "paper": {
                "js": 0.0543,
                "js_quantiles": {"0.05": 0.045, "0.5": 0.054, "0.95": 0.065},
                "n_per_half": n_real // 2,
            },
            "map": {
                "js": 0.0121,
                "js_quantiles": {"0.05": 0.009, "0.95": 0.015},
                "n_per_half": 750,
            },
        },
        "pairwise": {
            "sources": sources,
            "js": pairwise,
            "quantization": "paper-style quantization of all sources pooled",
            "k": 150,
        },
        "mixture": mixture,
        "robustness": robustness,
        "skipped": list(skipped),
    }


def _variants(js: dict[str, float], swap: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    variants = []
    for index, name in enumerate(("seed 43", "seed 44", "seed 45", "seed 46", "k/2", "2k")):
        values = {sim: value + 0.001 * index for sim, value in js.items()}
        if swap and name == "2k":
            a, b = swap
            values[a], values[b] = values[b], values[a]
        variants.append(
            {
                "name": name,
                "k": {"k/2": 75, "2k": 300}.get(name, 150),
                "seed": 42 + index + 1 if name.startswith("seed") else 42,
                "js": values,
            }
        )
    return variants


def realistic() -> dict[str, Any]:
    sims = {
        "sim_a": simulator(
            0.012, (0.004, 0.021), p_adjusted=0.12, tied_with=("sim_b",), probe_p=0.4, map_p=0.3
        ),
        "sim_b": simulator(0.015, (0.007, 0.024), p_adjusted=0.03, tied_with=("sim_a",)),
        "sim_c": simulator(0.061, (0.032, 0.094), n=150, plugin_gap=0.05, classifier=False, k=15),
    }
    plugin = {name: entry["paper"]["js_plugin"] for name, entry in sims.items()}
    return document(
        sims,
        ties=[
            {"a": "sim_a", "b": "sim_b", "diff": -0.003, "diff_ci": [-0.011, 0.006], "tied": True},
            {"a": "sim_a", "b": "sim_c", "diff": -0.049, "diff_ci": [-0.08, -0.02], "tied": False},
            {
                "a": "sim_b",
                "b": "sim_c",
                "diff": -0.046,
                "diff_ci": [-0.077, -0.016],
                "tied": False,
            },
        ],
        mixture={
            "weights": {"sim_a": 0.62, "sim_b": 0.38, "sim_c": 0.0},
            "js": 0.0301,
            "best_single": "sim_a",
            "best_single_js": 0.0329,
            "in_sample_gain": 0.0028,
            "held_out_gain": -0.0007,
            "held_out_gain_ci": [-0.0041, 0.0025],
            "helps": False,
            "splits": 20,
            "quantization": "paper-style quantization of all sources pooled",
            "duality_gap": 1e-9,
        },
        robustness={
            "variants": _variants(plugin),
            "min_kendall_tau": 1.0,
            "ranking_holds": True,
            "map_ranking": ["sim_a", "sim_b", "sim_c"],
            "map_agrees": True,
        },
        skipped=[
            {
                "simulator": "sim_c",
                "statistic": "classifier",
                "reason": "needs at least 200 conversations per class, has 150",
            }
        ],
    )


def helping_mixture(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with a mixture whose held-out gain interval lies above 0."""
    doc = copy.deepcopy(doc)
    doc["mixture"].update(held_out_gain=0.004, held_out_gain_ci=[0.0012, 0.0069], helps=True)
    return doc


def unstable(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` whose 2k variant swaps sim_a and sim_b, and whose map ranking disagrees."""
    doc = copy.deepcopy(doc)
    plugin = {name: entry["paper"]["js_plugin"] for name, entry in doc["simulators"].items()}
    doc["robustness"] = {
        "variants": _variants(plugin, swap=("sim_a", "sim_b")),
        "min_kendall_tau": 0.33,
        "ranking_holds": False,
        "map_ranking": ["sim_b", "sim_a", "sim_c"],
        "map_agrees": False,
    }
    return doc


def single() -> dict[str, Any]:
    sims = {"sim_a": simulator(0.021, (0.011, 0.033), p_adjusted=0.001)}
    return document(
        sims,
        ties=[],
        mixture=None,
        robustness={
            "variants": _variants({"sim_a": 0.04}),
            "min_kendall_tau": None,
            "ranking_holds": True,
            "map_ranking": ["sim_a"],
            "map_agrees": True,
        },
    )


def all_tied() -> dict[str, Any]:
    names = ("sim_a", "sim_b", "sim_c")
    sims = {
        name: simulator(
            0.010 + 0.001 * i,
            (0.002, 0.02 + 0.001 * i),
            p_adjusted=0.2,
            tied_with=tuple(other for other in names if other != name),
        )
        for i, name in enumerate(names)
    }
    ties = [
        {"a": a, "b": b, "diff": -0.001, "diff_ci": [-0.01, 0.008], "tied": True}
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    doc = realistic()
    return document(
        sims,
        ties=ties,
        mixture=doc["mixture"],
        robustness={**doc["robustness"], "min_kendall_tau": -0.33, "ranking_holds": False},
    )


def demo_document(run_dir: Path = DEMO_RUN) -> dict[str, Any]:
    """A v2 document over the demo run's sources, its cluster counts from clusters_summary.csv."""
    params = json.loads((run_dir / "params.json").read_text())
    sizes = params["sources"]
    summary = pd.read_csv(run_dir / "clusters_summary.csv")
    names = [name for name in sizes if name != "real"]
    values = {"close_sim": (0.011, (0.002, 0.021)), "narrow_sim": (0.094, (0.081, 0.11))}
    sims = {}
    for i, name in enumerate(sorted(names)):
        js, ci = values.get(name, (0.05 + 0.01 * i, (0.038 + 0.01 * i, 0.064 + 0.01 * i)))
        categories = summary[f"category_{name}"].value_counts()
        counts = tuple(int(categories.get(c, 0)) for c in ("captured", "missed", "hallucinated"))
        sims[name] = simulator(
            js, ci, n=sizes[name], n_real=sizes["real"], clusters=counts, p_adjusted=0.001
        )
    plugin = {name: entry["paper"]["js_plugin"] for name, entry in sims.items()}
    doc = realistic()
    doc["mixture"]["weights"] = {name: 1 / len(names) for name in names}
    doc["mixture"]["best_single"] = min(names, key=lambda s: sims[s]["paper"]["js"])
    return document(
        sims,
        ties=[],
        mixture=doc["mixture"],
        robustness={**doc["robustness"], "variants": _variants(plugin)},
        n_real=sizes["real"],
    )


def demo_run(target: Path) -> Path:
    """A copy of the committed demo run at `target` with a v2 metrics.json."""
    shutil.copytree(DEMO_RUN, target)
    (target / "metrics.json").write_text(json.dumps(demo_document(target), indent=2))
    return target

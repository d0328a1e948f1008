"""A 25-source run (real users and 24 simulators in three families) made from the demo run in
a second, for the tests of what a page or the report does with many sources (issue 13).

The demo run's 1,500 conversations of each of its three simulators are dealt round-robin to
eight simulators per family (`close_01` .. `close_08`, `narrow_01` .., `chatty_01` ..), about
188 each; the map, the clusters, the transcripts and the features stay as analyzed. What the
measure stage would write per simulator is derived, not measured: cluster shares are recounted
per simulator, the rest (cluster intervals and tests, feature gaps, misalignment) copied from
the family. `metrics.json` is a hand-made v2 document (`metrics_fixtures`) whose JS ranks the
close family first, whose pairwise JS keeps each family together, and whose helping mixture
names a simulator ranked outside the closest six (`MIXED_IN`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import metrics_fixtures
import numpy as np
import pandas as pd

from simgap_core.run import cluster_mass

DEMO_RUN = Path(__file__).resolve().parent.parent / "data" / "demo_run"
FAMILIES = ("close_sim", "narrow_sim", "chatty_sim")
PER_FAMILY = 8
# Bias-corrected JS of each family's first simulator; the others step up by JS_STEP.
FAMILY_JS = {"close_sim": 0.011, "narrow_sim": 0.094, "chatty_sim": 0.17}
JS_STEP = 0.002
# In the mixture with close_01, ranked 10th (the second of the narrow family).
MIXED_IN = "narrow_02"
SOURCE_FILES = (
    "corpus/conversations.parquet",
    "projection.parquet",
    "clusters.parquet",
    "representations.parquet",
    "features.parquet",
    "misalignment.parquet",
)
PER_SIMULATOR = ("diff", "diff_low", "diff_high", "log_ratio", "p_value", "q_value", "category")


def simulator_names(family: str, per_family: int = PER_FAMILY) -> list[str]:
    short = family.removesuffix("_sim")
    return [f"{short}_{i + 1:02d}" for i in range(per_family)]


def build_many_sources_run(target: Path, *, per_family: int = PER_FAMILY) -> Path:
    """The run at `target`: real and `3 * per_family` simulators (see the module docstring)."""
    shutil.copytree(DEMO_RUN, target)
    conversations = pd.read_parquet(target / "corpus" / "conversations.parquet")
    family_of: dict[str, str] = {}
    new_source: dict[str, str] = {}
    for family in FAMILIES:
        names = simulator_names(family, per_family)
        family_of.update(dict.fromkeys(names, family))
        ids = conversations.loc[conversations["source"] == family, "conversation_id"]
        for index, conversation_id in enumerate(ids):
            new_source[conversation_id] = names[index % per_family]
    for name in SOURCE_FILES:
        path = target / name
        frame = pd.read_parquet(path)
        frame["source"] = frame["conversation_id"].map(new_source).fillna(frame["source"])
        if name == "misalignment.parquet":
            frame = frame.assign(
                **{f"misalignment_{s}": frame[f"misalignment_{f}"] for s, f in family_of.items()}
            ).drop(columns=[f"misalignment_{f}" for f in FAMILIES])
        frame.to_parquet(path, index=False)

    clusters = pd.read_parquet(target / "clusters.parquet")
    cluster_mass(clusters).to_csv(target / "cluster_mass.csv", index=False)
    sizes = clusters["source"].value_counts()
    _write_summary(target, clusters, family_of)
    gaps = pd.read_csv(target / "feature_gaps.csv")
    gaps = pd.concat(
        [
            gaps[gaps["simulator"] == family].assign(simulator=name, n_sim=int(sizes[name]))
            for name, family in family_of.items()
        ],
        ignore_index=True,
    )
    gaps.to_csv(target / "feature_gaps.csv", index=False)

    params = json.loads((target / "params.json").read_text())
    params["sources"] = {"real": int(sizes["real"])} | {s: int(sizes[s]) for s in family_of}
    by_source = {entry["source"]: entry for entry in params["inputs"]}
    params["inputs"] = [by_source["real"]] + [
        {**by_source[family], "source": name} for name, family in family_of.items()
    ]
    (target / "params.json").write_text(json.dumps(params, indent=2))
    (target / "metrics.json").write_text(json.dumps(_metrics(target, family_of, sizes), indent=2))
    return target


def _write_summary(target: Path, clusters: pd.DataFrame, family_of: dict[str, str]) -> None:
    """clusters_summary.csv with shares recounted per source and each simulator's tests copied
    from its family (the difference moved to the simulator's own share, its interval kept)."""
    summary = pd.read_csv(target / "clusters_summary.csv")
    counts = pd.crosstab(clusters["cluster"], clusters["source"])
    shares = (counts / counts.sum()).reindex(summary["cluster"]).fillna(0.0).to_numpy()
    share = dict(zip(counts.columns, shares.T, strict=True))
    columns: dict[str, object] = {"cluster": summary["cluster"], "n": summary["n"]}
    columns["share_real"] = share["real"]
    columns |= {f"share_{s}": share[s] for s in family_of}
    for name, family in family_of.items():
        diff = share["real"] - share[name]
        for column in PER_SIMULATOR:
            columns[f"{column}_{name}"] = summary[f"{column}_{family}"]
        columns[f"diff_{name}"] = diff
        columns[f"diff_low_{name}"] = diff - (
            summary[f"diff_{family}"] - summary[f"diff_low_{family}"]
        )
        columns[f"diff_high_{name}"] = diff + (
            summary[f"diff_high_{family}"] - summary[f"diff_{family}"]
        )
    for column in ("terms_representation", "terms_user"):
        columns[column] = summary[column]
    pd.DataFrame(columns).to_csv(target / "clusters_summary.csv", index=False)


def _metrics(target: Path, family_of: dict[str, str], sizes: pd.Series) -> dict:
    summary = pd.read_csv(target / "clusters_summary.csv")
    sims = {}
    for name, family in family_of.items():
        step = int(name.rsplit("_", 1)[1]) - 1
        js = FAMILY_JS[family] + JS_STEP * step
        categories = summary[f"category_{name}"].value_counts()
        sims[name] = metrics_fixtures.simulator(
            js,
            (max(0.0, js - 0.006), js + 0.006),
            n=int(sizes[name]),
            n_real=int(sizes["real"]),
            clusters=tuple(
                int(categories.get(c, 0)) for c in ("captured", "missed", "hallucinated")
            ),
            k=19,
        )
    names = list(sims)
    ties = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            diff = sims[a]["paper"]["js"] - sims[b]["paper"]["js"]
            tied = family_of[a] == family_of[b] and abs(diff) < 1.5 * JS_STEP
            ties.append(
                {
                    "a": a,
                    "b": b,
                    "diff": diff,
                    "diff_ci": [diff - 0.004, diff + 0.004],
                    "tied": tied,
                }
            )
            if tied:
                sims[a]["tied_with"].append(b)
                sims[b]["tied_with"].append(a)
    ranked = sorted(names, key=lambda s: sims[s]["paper"]["js"])
    mixture = metrics_fixtures.realistic()["mixture"] | {
        "weights": {name: 0.0 for name in names} | {ranked[0]: 0.7, MIXED_IN: 0.3},
        "best_single": ranked[0],
        "held_out_gain": 0.004,
        "held_out_gain_ci": [0.001, 0.007],
        "helps": True,
    }
    plugin = {name: entry["paper"]["js_plugin"] for name, entry in sims.items()}
    document = metrics_fixtures.document(
        sims,
        ties=ties,
        mixture=mixture,
        robustness={
            "variants": metrics_fixtures._variants(plugin),
            "min_kendall_tau": 0.98,
            "ranking_holds": True,
            "map_ranking": ranked,
            "map_agrees": True,
        },
        n_real=int(sizes["real"]),
    )
    document["pairwise"] = _pairwise(document["sources"], family_of)
    return document


def _pairwise(sources: list[str], family_of: dict[str, str]) -> dict:
    """The demo's pairwise JS between families (real's to each family, and family to family),
    0.01-0.03 within a family, seeded noise on top."""
    demo = json.loads((DEMO_RUN / "metrics.json").read_text())["pairwise"]
    base = pd.DataFrame(demo["js"], index=demo["sources"], columns=demo["sources"])
    rng = np.random.default_rng(13)
    group = {source: family_of.get(source, source) for source in sources}
    values = np.zeros((len(sources), len(sources)))
    for i, a in enumerate(sources):
        for j in range(i + 1, len(sources)):
            b = sources[j]
            if group[a] == group[b]:
                value = rng.uniform(0.01, 0.03)
            else:
                value = base.at[group[a], group[b]] + rng.uniform(-0.01, 0.01)
            values[i, j] = values[j, i] = value
    return {**demo, "sources": sources, "js": values.tolist()}

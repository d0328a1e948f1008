"""Tables read off `metrics.json`: the simulator leaderboard and the pairwise matrix.

The CLI, the dashboard and the report all show these, so they are built once, here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def leaderboard(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per simulator, closest to the reference first (paper JS, natural log).

    `js` is the plug-in JS on the paper quantization, comparable with the paper. Plug-in JS
    is biased upwards on finite samples, so the bootstrap interval (`js_lo`, `js_hi`) is the
    "basic" interval, centred on the bias-corrected `js_corrected`; it can lie below `js`.
    `no_gap_js` is what the plug-in JS averages when the simulator is the same population
    (the permutation null at these sample sizes); `floor_js`, the real-vs-real JS between
    random halves of the real set on that simulator's own quantization.
    """
    rows = []
    for name, entry in metrics["simulators"].items():
        paper, shared_map = entry["paper"], entry["map"]
        rows.append(
            {
                "simulator": name,
                "js": paper["js"],
                "js_corrected": paper["js"] - paper.get("js_bias", 0.0),
                "js_lo": paper["js_ci"][0],
                "js_hi": paper["js_ci"][1],
                "no_gap_js": paper.get("null_js", {}).get("mean", float("nan")),
                "floor_js": paper["noise_floor"]["js"],
                "kl_forward": paper["kl_forward"],
                "kl_backward": paper["kl_backward"],
                "map_js": shared_map["js"],
                "classifier_auc": entry["classifier"]["auc"],
                "p_value": entry["p_value"],
            }
        )
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    return board.sort_values("js", kind="stable").reset_index(drop=True)


def pairwise_matrix(metrics: dict[str, Any]) -> pd.DataFrame:
    """The pairwise JS matrix between all sources (reference included), labelled."""
    sources = metrics["pairwise"]["sources"]
    return pd.DataFrame(metrics["pairwise"]["js"], index=sources, columns=sources)

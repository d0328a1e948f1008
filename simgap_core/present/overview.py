"""What the dashboard's Overview page says about each simulator, finding first, in words.

One card per simulator: its one headline number (the bias-corrected JS with its interval), the
combined verdict (`verdicts.no_gap_sentence`, via `findings.headlines`), its most missed and
most invented behaviour (`findings.headlines`), and what the run could detect (the pair's
minimum detectable gap, `paper.detectable`). Every other number is in `details`, each labelled,
the descriptive ones saying so. Nothing is recomputed: all of it is read from the run's
metrics.json and clusters_summary.csv. Plain text; the page escapes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from simgap_core.present.findings import Headline, headlines
from simgap_core.present.formatting import format_js, format_share
from simgap_core.present.leaderboard import cell_text, header, shared_ranks
from simgap_core.present.selection import cluster_name, summary_names
from simgap_core.present.verdicts import js_with_interval
from simgap_core.schema import METRICS, Metrics


@dataclass(frozen=True)
class SimulatorCard:
    """One simulator on the Overview page (plain text)."""

    simulator: str
    headline: str
    verdict: str
    missed: str
    invented: str
    detectable: str
    details: list[tuple[str, str]]


def headline_sentence(metrics: Metrics, simulator: str, rank: str) -> str:
    """'close_sim: place 1 of 3, JS 0.0120 (95% interval 0.0040 – 0.0210)': the one number,
    the bias-corrected JS that ranks, with its interval."""
    place = f"tied for place {rank[1:]}" if rank.startswith("=") else f"place {rank}"
    return (
        f"{simulator}: {place} of {len(metrics.simulator_names)}, "
        f"{js_with_interval(metrics, simulator)}"
    )


def behaviour_sentence(
    headline: Headline, *, kind: str, reference: str, names: dict[int, str]
) -> str:
    """Its most missed (`kind` "missed") or most invented ("hallucinated") behaviour cluster,
    with both shares, or that none differs significantly."""
    finding = headline.missed if kind == "missed" else headline.hallucinated
    verb = "Misses" if kind == "missed" else "Invents"
    if finding is None:
        return f"{verb} no behaviour cluster significantly."
    return (
        f"{verb} most: {cluster_name(finding.cluster, names)}: "
        f"{format_share(finding.reference_share)} of {reference} conversations vs "
        f"{format_share(finding.simulator_share)} of {headline.simulator}'s."
    )


def detectable_sentence(metrics: Metrics, simulator: str) -> str:
    """What this run could see for the pair: the smallest missing behaviour it detects."""
    reference = metrics.reference
    detectable = metrics.simulators[simulator].paper.detectable
    if detectable is None:
        return "Detectable gap not computed (the run was made before simgap computed it)."
    if detectable.missing_share is None:
        return (
            f"This run could not detect even a simulator missing half of {reference} behaviour: "
            "too few conversations to call any gap absent."
        )
    power = f"{detectable.power:.0%}" if detectable.power is not None else "at least 80%"
    return (
        f"This run would detect a simulator missing a behaviour of "
        f"{detectable.missing_share:.0%} of {reference} conversations ({power} of the time, "
        f"alpha {detectable.alpha:g}, Holm); smaller gaps may go unseen."
    )


def detail_rows(metrics: Metrics, simulator: str) -> list[tuple[str, str]]:
    """Every registered metric of `simulator`, labelled as the leaderboard heads it (descriptive
    ones marked), then the run's split-half noise floor (descriptive)."""
    rows = [(header(metric), cell_text(metric, metrics, simulator)) for metric in METRICS]
    floor = metrics.noise_floor.paper.js
    rows.append(
        (f"noise floor, {metrics.reference} vs {metrics.reference} (descriptive)", format_js(floor))
    )
    return rows


def simulator_cards(
    metrics: Metrics, summary: pd.DataFrame, *, among: list[str] | None = None
) -> list[SimulatorCard]:
    """One card per simulator in leaderboard order (with `among`, only those in it)."""
    ranks, names, reference = shared_ranks(metrics), summary_names(summary), metrics.reference
    return [
        SimulatorCard(
            simulator=line.simulator,
            headline=headline_sentence(metrics, line.simulator, ranks[line.simulator]),
            verdict=line.verdict,
            missed=behaviour_sentence(line, kind="missed", reference=reference, names=names),
            invented=behaviour_sentence(
                line, kind="hallucinated", reference=reference, names=names
            ),
            detectable=detectable_sentence(metrics, line.simulator),
            details=detail_rows(metrics, line.simulator),
        )
        for line in headlines(metrics, summary)
        if among is None or line.simulator in among
    ]

"""How a stored number is written in words, the same in the report, the figures and the pages.

One home for the few number formats every front end shares (a divergence to four decimals, a
share as a percentage, a p-value floored at 0.0001, ...), so a JS reads the same in a sentence,
a figure title, a dashboard metric and the HTML report. A statistic that `measure` left out for
a source too small for it (None or NaN) is written `skipped`, never `nan`.

Plain text only: escaping for HTML, Markdown or plotly is the renderer's job. The sentences
built from these numbers live in `verdicts` and `findings`.
"""

from __future__ import annotations

import math

SKIPPED = "skipped"


def is_skipped(value: float | None) -> bool:
    """A statistic `measure` left out for a source too small for it (None or NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_js(value: float | None) -> str:
    """A divergence (JS or KL, nats): "0.0123"."""
    return SKIPPED if is_skipped(value) else f"{value:.4f}"


def format_share(value: float | None) -> str:
    """A share of a source's conversations, or a mixture weight: "12.5%"."""
    return SKIPPED if is_skipped(value) else f"{value:.1%}"


def format_whole_share(value: float) -> str:
    """A share in whole percent, as a sentence states it: "0%" and "100%" only when exactly so
    (never / every conversation), "<1%" and ">99%" for what would round to them, else "12%".

    Why: a sentence chooses its words ("never", a ratio, "less often") from the numbers it
    shows, so a share that rounds to 0% but is not 0 must not show as 0%."""
    if value <= 0:
        return "0%"
    if value >= 1:
        return "100%"
    shown = f"{value:.0%}"
    return "<1%" if shown == "0%" else ">99%" if shown == "100%" else shown


def format_points(value: float | None) -> str:
    """A difference of two shares, in percentage points, signed: "+3.2 pts"."""
    return SKIPPED if is_skipped(value) else f"{100 * value:+.1f} pts"


def format_p(value: float | None) -> str:
    """A p- or q-value: "0.0110", "< 0.0001"."""
    if is_skipped(value):
        return SKIPPED
    return f"{value:.4f}" if value >= 1e-4 else "< 0.0001"


def format_statistic(value: float | None, name: str) -> str:
    """A p- or q-value with its name: "p = 0.0110", "q < 0.0001", "p: skipped"."""
    shown = format_p(value)
    if shown == SKIPPED:
        return f"{name}: {SKIPPED}"
    return f"{name} {shown}" if shown.startswith("<") else f"{name} = {shown}"


def format_score(value: float | None) -> str:
    """A classifier AUC: "0.912"."""
    return SKIPPED if is_skipped(value) else f"{value:.3f}"

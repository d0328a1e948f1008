"""Where the map's cluster labels go: next to their cluster, never on top of one another.

A label is a box of known size in pixels (estimated from its text: `text_extent`) anchored at
its cluster's centre. `place_labels` puts the boxes greedily, most important first: each takes
the candidate spot (its anchor, then rings of spots around it) that overlaps no box already
placed, stays inside the plot and covers the fewest points, with a small cost per ring so a
label stays close to its cluster; a displaced label is drawn with a leader line to its anchor.
A label with no free spot within reach is left out (its cluster is still in the legend).

Pure numpy, no plotly: the figure converts data coordinates to pixels and back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Estimated glyph box of the label font (12 px, proportional): average width and line height.
CHAR_PX = 7.0
LINE_PX = 15.0
# Empty space kept around every label box.
PAD_PX = 3.0
# Candidate spots: rings `RING_PX` apart, up to `RINGS` rings around the anchor.
RING_PX = 18.0
RINGS = 8
# What one ring further out costs, in covered points (so a label moves off a dense spot, but
# not far for a couple of points).
RING_COST = 1.5
# At most this many points are weighed as obstacles (a seeded sample beyond).
MAX_OBSTACLES = 1500
# A label is wrapped at about this many characters per line, on at most `LABEL_LINES` lines
# (the rest cut with "…").
LABEL_LINE_CHARS = 24
LABEL_LINES = 3


def label_lines(text: str, *, width: int = LABEL_LINE_CHARS, lines: int = LABEL_LINES) -> list[str]:
    """`text` broken at spaces into lines of about `width` characters, at most `lines` of them
    (the last cut with "…" when the text is longer). Plain text: escape each line to draw it."""
    wrapped: list[str] = []
    for word in text.split():
        if wrapped and len(wrapped[-1]) + 1 + len(word) <= width:
            wrapped[-1] += " " + word
        else:
            wrapped.append(word[: 2 * width])
    if len(wrapped) > lines:
        wrapped = [*wrapped[: lines - 1], wrapped[lines - 1][: width - 1] + "…"]
    return wrapped or [""]


def text_extent(lines: Sequence[str]) -> tuple[float, float]:
    """The (width, height) in pixels of a label of `lines` (plain text, before escaping)."""
    longest = max((len(line) for line in lines), default=0)
    return longest * CHAR_PX + 2 * PAD_PX, max(len(lines), 1) * LINE_PX + 2 * PAD_PX


def _candidates() -> np.ndarray:
    """Offsets from the anchor, nearest first: the anchor, then 8 k spots on ring k (spread
    twice as wide as tall, since labels are wider than tall)."""
    offsets = [(0.0, 0.0)]
    for ring in range(1, RINGS + 1):
        angles = np.pi / 2 + np.linspace(0, 2 * np.pi, 8 * ring, endpoint=False)
        radius = ring * RING_PX
        offsets += [(2 * radius * np.cos(a), radius * np.sin(a)) for a in angles]
    return np.asarray(offsets)


def _ring_of(offsets: np.ndarray) -> np.ndarray:
    counts = [1] + [8 * ring for ring in range(1, RINGS + 1)]
    return np.repeat(np.arange(RINGS + 1), counts)


def place_labels(
    anchors: np.ndarray,
    extents: np.ndarray,
    *,
    bounds: tuple[float, float],
    obstacles: np.ndarray | None = None,
) -> list[tuple[float, float] | None]:
    """Each label's centre in pixels (or None when it found no free spot), in input order.

    `anchors` (n, 2) and `extents` (n, 2: width, height) in pixels, most important label first
    (it is placed first, so it gets the spot nearest its anchor). `bounds`: the plot's (width,
    height); label boxes stay inside [0, width] x [0, height]. `obstacles` (m, 2): points the
    labels should rather not cover. Deterministic: the same input gives the same placement.
    No two returned boxes (of the given extents) overlap.
    """
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    extents = np.asarray(extents, dtype=np.float64).reshape(-1, 2)
    points = np.empty((0, 2)) if obstacles is None else np.asarray(obstacles, np.float64)
    if len(points) > MAX_OBSTACLES:
        points = points[np.random.default_rng(0).choice(len(points), MAX_OBSTACLES, False)]
    offsets = _candidates()
    cost_of_ring = RING_COST * _ring_of(offsets)
    width, height = bounds
    placed = np.empty((0, 4))  # x0, x1, y0, y1 of each placed box
    result: list[tuple[float, float] | None] = []
    for anchor, (w, h) in zip(anchors, extents, strict=True):
        centres = anchor + offsets
        half = np.array([-w / 2, w / 2, -h / 2, h / 2])
        boxes = centres[:, [0, 0, 1, 1]] + half
        inside = (boxes[:, 0] >= 0) & (boxes[:, 1] <= width) & (boxes[:, 2] >= 0)
        inside &= boxes[:, 3] <= height
        clash = (
            (boxes[:, None, 0] < placed[None, :, 1])
            & (placed[None, :, 0] < boxes[:, None, 1])
            & (boxes[:, None, 2] < placed[None, :, 3])
            & (placed[None, :, 2] < boxes[:, None, 3])
        ).any(axis=1)
        free = inside & ~clash
        if not free.any():
            result.append(None)
            continue
        covered = (
            (points[None, :, 0] > boxes[:, None, 0])
            & (points[None, :, 0] < boxes[:, None, 1])
            & (points[None, :, 1] > boxes[:, None, 2])
            & (points[None, :, 1] < boxes[:, None, 3])
        ).sum(axis=1)
        cost = np.where(free, covered + cost_of_ring, np.inf)
        best = int(np.argmin(cost))  # the first of equal costs: the nearest spot
        placed = np.vstack([placed, boxes[best]])
        result.append((float(centres[best, 0]), float(centres[best, 1])))
    return result

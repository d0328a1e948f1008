"""Counted wording in the report (issue 20): "the 12 clusters (of 2, plus noise)" was printed
for a run with two clusters."""

from __future__ import annotations

import pytest

from simgap_core.present.report import clusters_lede


@pytest.mark.parametrize(
    ("clusters", "noise", "expected"),
    [
        (1, False, "For each simulator, the only cluster, ordered by"),
        (2, True, "For each simulator, both clusters and the noise, ordered by"),
        (11, True, "For each simulator, all 11 clusters and the noise, ordered by"),
        (12, False, "For each simulator, all 12 clusters, ordered by"),
        (12, True, "For each simulator, the 12 of the 12 clusters and the noise where"),
        (40, True, "For each simulator, the 12 of the 40 clusters and the noise where"),
    ],
)
def test_clusters_lede_counts_what_is_shown(clusters: int, noise: bool, expected: str) -> None:
    said = clusters_lede(clusters=clusters, noise=noise, top=12, reference="real")
    assert said.startswith(expected)
    assert said.endswith("the real share.")

"""Neighbour lists compared as a CPU-independent contract: by sets and distances, not by order.

BLAS, torch and faiss round differently on AVX2, AVX-512 and AMX machines, so two neighbours
whose similarities differ in the last bits may swap places, or the k-th neighbour may be a
different one of several near-tied candidates. Within a tolerance those lists are the same
answer; these helpers accept exactly that and nothing more.
"""

from __future__ import annotations

import numpy as np

# float32 cosine similarities of unit rows differ by a few ulps across CPUs (~1e-7 each);
# 1e-5 leaves room for the sums of 384 products while staying far below any real gap.
DISTANCE_TOLERANCE = 1e-5


def assert_same_neighbours(
    indices: np.ndarray,
    distances: np.ndarray,
    expected_indices: np.ndarray,
    expected_distances: np.ndarray,
    *,
    atol: float = DISTANCE_TOLERANCE,
) -> None:
    """Each row has the same sorted distances (within `atol`) and the same neighbours, except
    that a neighbour tied with the k-th (within `atol`) may be replaced by another tied one."""
    indices, expected_indices = np.asarray(indices), np.asarray(expected_indices)
    assert indices.shape == expected_indices.shape, (indices.shape, expected_indices.shape)
    np.testing.assert_allclose(
        np.sort(distances, axis=1), np.sort(expected_distances, axis=1), atol=atol
    )
    kth = np.max(expected_distances, axis=1)
    for row in range(len(indices)):
        found, wanted = set(indices[row].tolist()), set(expected_indices[row].tolist())
        if found == wanted:
            continue
        clear = {
            int(i)
            for i, d in zip(expected_indices[row], expected_distances[row], strict=True)
            if d < kth[row] - atol
        }
        missing = clear - found
        assert not missing, f"row {row}: neighbours {sorted(missing)} missing from {sorted(found)}"
        assert len(found) == len(wanted), f"row {row}: duplicate neighbours in {indices[row]}"


def assert_self_first(indices: np.ndarray, distances: np.ndarray) -> None:
    """Every row's list starts with the row itself at distance 0."""
    np.testing.assert_array_equal(np.asarray(indices)[:, 0], np.arange(len(indices)))
    np.testing.assert_allclose(np.asarray(distances)[:, 0], 0.0, atol=DISTANCE_TOLERANCE)

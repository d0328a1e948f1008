"""`measure`'s inputs, one row per conversation: checked once, sources coded (the reference 0),
the map's histograms and the probe's groups made once for every pair."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simgap_core.measure.pairs import ordered_sources, probe_groups
from simgap_core.measure.quantize import histograms_from_labels


@dataclass(frozen=True)
class MeasureRows:
    """`measure`'s inputs, one row per conversation, checked and coded once."""

    embeddings: np.ndarray
    codes: np.ndarray  # source codes: 0 = the reference, i = names[i]
    names: list[str]  # the reference first, then the simulators
    sizes: dict[str, int]
    ids: np.ndarray
    groups: np.ndarray | None  # probe groups: identical texts and pair_ids kept together
    map_labels: np.ndarray
    map_hist: np.ndarray  # (sources, clusters + noise) counts on the shared map
    neighbour_points: np.ndarray
    neighbour_metric: str
    representation_texts: Sequence[str] | None
    user_texts: Sequence[str] | None

    @classmethod
    def of(
        cls,
        embeddings: np.ndarray,
        sources: Sequence[str],
        map_labels: np.ndarray,
        *,
        reference: str,
        representation_texts: Sequence[str] | None,
        user_texts: Sequence[str] | None,
        map_coords: np.ndarray | None,
        pair_ids: Sequence[str | None] | None,
        conversation_ids: Sequence[str] | None,
    ) -> MeasureRows:
        embeddings = np.asarray(embeddings)
        sources = np.asarray(sources, dtype=object).astype(str)
        map_labels = np.asarray(map_labels, dtype=np.int64)
        for name, column in (
            ("sources", sources),
            ("map_labels", map_labels),
            ("representation_texts", representation_texts),
            ("user_texts", user_texts),
            ("map_coords", map_coords),
            ("pair_ids", pair_ids),
            ("conversation_ids", conversation_ids),
        ):
            if column is not None and len(column) != len(embeddings):
                raise ValueError(
                    f"{name} has {len(column)} rows, embeddings have {len(embeddings)}"
                )
        names = ordered_sources(sources, reference)
        code_of = {name: i for i, name in enumerate(names)}
        codes = np.array([code_of[s] for s in sources], dtype=np.int64)
        counts = np.bincount(codes)
        n_clusters = int(map_labels.max()) + 1
        return cls(
            embeddings=embeddings,
            codes=codes,
            names=names,
            sizes={name: int(count) for name, count in zip(names, counts, strict=True)},
            ids=np.arange(len(codes)).astype(str)
            if conversation_ids is None
            else np.asarray(conversation_ids, dtype=str),
            groups=probe_groups(len(codes), representation_texts, pair_ids),
            map_labels=map_labels,
            map_hist=histograms_from_labels(map_labels, codes, n_clusters, n_groups=len(names)),
            neighbour_points=embeddings if map_coords is None else np.asarray(map_coords),
            neighbour_metric="cosine" if map_coords is None else "euclidean",
            representation_texts=representation_texts,
            user_texts=user_texts,
        )

    @property
    def reference(self) -> str:
        return self.names[0]

    @property
    def n_clusters(self) -> int:
        return self.map_hist.shape[1] - 1

"""`measure`'s inputs, one row per conversation: checked once, sources coded (the reference 0),
the map's histograms and the probe's groups made once for every pair; and `PairBins`, each
pair's paper quantization."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from simgap_core.measure.pairs import (
    MeasureSettings,
    Timer,
    ordered_sources,
    pair_k,
    probe_groups,
)
from simgap_core.measure.quantize import Quantization, histograms_from_labels


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


class PairBins:
    """The paper quantization of each (reference, simulator) pair, at any k and k-means seed.

    When every pair has the same k (the common rule or an explicit k) and there are several
    simulators, one fit of all sources pooled serves every pair (`shared`): a pair's bins are
    that fit's clusters and its histograms the fit's rows of the reference and the simulator.
    One k-means per (k, seed) instead of one per simulator, so the stage does not grow with
    the number of simulators, and every simulator is judged on the same bins (its JS then
    differs from another's by behaviour only, not by where its own fit put the boundaries).
    Otherwise (`pair_quantization="each"`, the pair rule, a single simulator) each pair is
    fitted on its own rows, as the paper does.
    """

    def __init__(
        self,
        data: MeasureRows,
        settings: MeasureSettings,
        quantizer: Callable[..., Quantization],
        timer: Timer,
    ) -> None:
        self.data, self.settings, self.quantizer, self.timer = data, settings, quantizer, timer
        self.shared = (
            settings.pair_quantization == "shared"
            and (settings.k is not None or settings.k_rule == "common")
            and len(data.names) > 2
        )
        self._pooled: dict[tuple[int, int], Quantization] = {}

    def rows(self, index: int) -> np.ndarray:
        """The rows of the reference and simulator `index`."""
        return np.flatnonzero((self.data.codes == 0) | (self.data.codes == index))

    def max_k(self, index: int) -> int:
        """The most bins the pair's fit can make: its rows (all rows when shared)."""
        return len(self.data.codes) if self.shared else len(self.rows(index))

    def base_k(self, index: int) -> int:
        """The pair's k under the settings' rule, at most `max_k`."""
        data = self.data
        k = pair_k(self.settings, data.sizes, data.reference, data.names[index])
        return min(k, self.max_k(index))

    def pooled(self, k: int, seed: int) -> Quantization:
        """One quantization of all sources pooled, fitted once per (k, seed)."""
        if (k, seed) not in self._pooled:
            with self.timer.stage("quantize"):
                self._pooled[k, seed] = self.quantizer(
                    self.data.embeddings,
                    self.data.codes,
                    n_groups=len(self.data.names),
                    **self.settings.quantize_kwargs(k, seed),
                )
        return self._pooled[k, seed]

    def pair(self, index: int, k: int | None = None, seed: int | None = None) -> Quantization:
        """Simulator `index`'s pair quantization (its base k and the run's seed by default)."""
        k = self.base_k(index) if k is None else k
        seed = self.settings.seed if seed is None else seed
        rows = self.rows(index)
        if self.shared:
            pooled = self.pooled(k, seed)
            return Quantization(
                labels=pooled.labels[rows],
                histograms=pooled.histograms[[0, index]],
                k=pooled.k,
                n_components=pooled.n_components,
                explained_variance=pooled.explained_variance,
            )
        with self.timer.stage("quantize"):
            return self.quantizer(
                self.data.embeddings[rows],
                (self.data.codes[rows] == index).astype(np.int64),
                n_groups=2,
                **self.settings.quantize_kwargs(k, seed),
            )

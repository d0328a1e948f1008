"""Stage `measure`: the gap, from the embeddings, the map's clusters and the corpus.

The paper quantization and the probe do not depend on the map's clusters, so they are
memoized in the run directory (`cache/`, signed data: `run/memo.py`); a rerun with new
clustering parameters reuses them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simgap_core.model import Corpus
from simgap_core.run.directory import write_csv, write_json, write_parquet
from simgap_core.run.memo import DiskMemo
from simgap_core.run.stages.base import Context, Stage
from simgap_core.run.stages.project import cluster_space

MEASURE_ARTIFACTS = (
    "metrics.json",
    "paper_histograms.csv",
    "clusters_summary.csv",
    "misalignment.parquet",
)
# Processes measuring simulators side by side (the numbers do not depend on it).
MEASURE_WORKERS = 2
# The measure method's version, in the stage's fingerprint: a run measured by an earlier method
# is measured again. 2: the per-bin bias correction and its interval (`corrected_js`), one
# quantization of all sources for every pair (`pair_bins`), the probe's sequential stop.
MEASURE_METHOD = 2


class MeasureStage(Stage):
    name = "measure"
    inputs = ("corpus", "represent", "embed", "project", "cluster")
    artifacts = MEASURE_ARTIFACTS

    def active(self, context: Context) -> bool:
        return context.params.measure

    def parts(self, context: Context) -> dict[str, Any]:
        return {"quantizer": context.parts.quantizer}

    def params(self, context: Context) -> dict[str, Any]:
        return {"method": MEASURE_METHOD, **self.settings(context)}

    def settings(self, context: Context) -> dict[str, Any]:
        """The run's parameters of `measure`."""
        params = context.params
        return {
            "reference": params.reference,
            "k": params.k,
            "k_rule": params.k_rule,
            "pair_quantization": params.pair_bins,
            "match_n": params.match_n,
            "bootstrap": params.bootstrap,
            "floor_repeats": params.floor_repeats,
            "permutations": params.permutations,
            "seed": params.seed,
        }

    def compute(self, context: Context) -> dict[str, Any]:
        from simgap_core.measure.classifier import ClassifierTest, classifier_test
        from simgap_core.measure.compare import measure
        from simgap_core.measure.quantize import Quantization

        context.report("measure", 0, 1)
        memo = context.artifact("cache")
        result = measure(
            **measure_inputs(
                context.corpus,
                context.representations,
                context.embeddings,
                context.projection,
                context.clusters,
            ),
            **self.settings(context),
            quantizer=DiskMemo(context.parts.quantizer, Quantization, memo, name="quantize"),
            classifier=DiskMemo(classifier_test, ClassifierTest, memo),
            workers=MEASURE_WORKERS,
        )
        ids = context.representations["conversation_id"]
        document = result.document.model_copy(
            update={"representation": representation_record(context)}
        )
        misalignment = result.misalignment.copy()
        misalignment.insert(0, "conversation_id", ids.to_numpy())
        misalignment.insert(1, "source", context.representations["source"].to_numpy())
        write_json(context.artifact("metrics.json"), document.model_dump(mode="json"))
        write_csv(context.artifact("paper_histograms.csv"), result.paper_histograms)
        write_csv(context.artifact("clusters_summary.csv"), result.clusters_summary)
        write_parquet(context.artifact("misalignment.parquet"), misalignment)
        context.report("measure", 1, 1)
        return {"measure_timings_s": {k: round(v, 3) for k, v in result.timings.items()}}

    def load(self, context: Context) -> None:
        run = context.run
        run.metrics()
        run.paper_histograms()
        run.clusters_summary()
        run.misalignment()


def measure_inputs(
    corpus: Corpus,
    representations: pd.DataFrame,
    embeddings: np.ndarray,
    projection: pd.DataFrame,
    clusters: pd.DataFrame,
) -> dict[str, Any]:
    """`measure`'s row-aligned arguments from a run's artifacts (the stage's and the bench's)."""
    ids = representations["conversation_id"]
    user_text = (
        corpus.user_turns()
        .groupby("conversation_id", sort=False)["text"]
        .agg(lambda texts: "\n".join(texts.astype(str)))
    )
    pair_of = corpus.conversations.set_index("conversation_id")["pair_id"]
    return {
        "embeddings": embeddings,
        "sources": representations["source"].tolist(),
        "map_labels": clusters["cluster"].to_numpy(),
        "representation_texts": representations["text"].tolist(),
        "user_texts": ids.map(user_text).fillna("").tolist(),
        "map_coords": cluster_space(projection),
        "pair_ids": _none_for_missing(ids.map(pair_of)),
        "conversation_ids": ids.astype(str).tolist(),
    }


def representation_record(context: Context) -> dict[str, Any]:
    """What the measured texts were: facet, annotator and embedding model."""
    params = context.params
    return {
        "facet": params.facet,
        "annotator": params.annotator,
        "embedding_model": params.embedding_model_name(),
    }


def _none_for_missing(values: pd.Series) -> list[Any]:
    """The values as a list with every missing one (None, NaN, pd.NA) as None: an Arrow-backed
    string column yields pd.NA, whose truth value the measure's checks cannot take."""
    return [None if pd.isna(value) else value for value in values.tolist()]

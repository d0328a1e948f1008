"""The part contract, checked on every registered part (in the spirit of scikit-learn's
`check_estimator`), and a toy embedder that is a full option from one small class.

Every part: its identity is JSON, names its kind and name, and is the same for two parts built
alike; rebuilding from `params()` gives the same identity (nothing that changes the output is
hidden); `options_from` only names constructor parameters; and a part of each kind does its
job on small data. Parts that need a server are built offline and checked for everything but
the call (their own test files drive them against a fake server).
"""

from __future__ import annotations

import inspect
import json
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_run import SMALL, write_sources
from typer.testing import CliRunner

import simgap_core.map.layout  # noqa: F401  (fixes NUMBA_CACHE_DIR before a test moves the cache)
from simgap_core import parts
from simgap_core.cli import app as cli
from simgap_core.demo import generate_demo
from simgap_core.embed import Embedder, check_texts, unit_rows
from simgap_core.model import Conversation, Corpus
from simgap_core.run import AnalysisParams, Run
from simgap_core.schema import read_metrics

APP = Path(__file__).resolve().parent.parent / "app.py"

# Options that build a part offline: no server is called and no model is fetched.
OFFLINE = {
    ("annotator", "llm"): {"base_url": "http://127.0.0.1:9/v1", "model": "m"},
    ("embedder", "openai"): {"base_urls": ["http://127.0.0.1:9/v1"], "model": "m"},
    ("embedder", "sentence-transformers"): {"precision": "fp32"},
    ("namer", "llm"): {"base_url": "http://127.0.0.1:9/v1", "model": "m"},
}
NEEDS_SERVER = {("annotator", "llm"), ("embedder", "openai"), ("namer", "llm")}


@parts.register
class ToyEmbedder(Embedder):
    """The whole of a new embedder: a class in one module (here, this test)."""

    name = "toy-bag-of-letters"

    def __init__(self, *, scale: float = 1.0) -> None:
        if scale <= 0:
            raise parts.PartError(f"scale must be above 0, got {scale}")
        self.scale = scale

    def params(self) -> dict[str, float]:
        return {"scale": self.scale}

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), 27), dtype=np.float32)
        for row, text in zip(rows, check_texts(texts), strict=True):
            for char in text.lower():
                row[ord(char) - 97 if "a" <= char <= "z" else 26] += self.scale
            row[26] += 1.0  # never all zero
        return unit_rows(rows)


def _constructor_parameters(cls: type) -> set[str]:
    """Every keyword a part's constructor takes, those of a `**options: Unpack[TypedDict]` too."""
    names = set()
    for name, parameter in inspect.signature(cls).parameters.items():
        if parameter.kind is not inspect.Parameter.VAR_KEYWORD:
            names.add(name)
            continue
        hint = typing.get_type_hints(cls.__init__, include_extras=True).get(name)
        for argument in typing.get_args(hint):
            names |= set(typing.get_type_hints(argument))
    return names


def _registered() -> list[tuple[str, str]]:
    return [(kind, name) for kind in parts.KINDS for name in parts.available(kind)]


def _build(kind: str, name: str) -> parts.Part:
    return parts.create(kind, name, **OFFLINE.get((kind, name), {}))


@pytest.mark.parametrize(("kind", "name"), _registered())
def test_identity_is_json_complete_and_stable(kind: str, name: str) -> None:
    part = _build(kind, name)
    identity = part.identity()
    assert json.loads(json.dumps(identity)) == identity
    assert identity["kind"] == kind == part.kind and identity["name"] == name == part.name
    assert _build(kind, name).identity_key() == part.identity_key()
    assert type(part).__name__ in repr(part)
    # Nothing that changes the output is hidden from cache keys: every constructor parameter
    # is named in the identity, or declared as not changing the output.
    accepted = _constructor_parameters(type(part))
    hidden = accepted - set(identity) - type(part).output_neutral
    assert not hidden, f"{type(part).__name__}: {sorted(hidden)} missing from identity()"
    assert type(part).output_neutral <= accepted


@pytest.mark.parametrize(("kind", "name"), _registered())
def test_options_from_the_analysis_parameters_name_constructor_parameters(
    kind: str, name: str
) -> None:
    cls = parts.part_class(kind, name)
    accepted = _constructor_parameters(cls)
    options = cls.options_from(AnalysisParams())
    assert set(options) <= set(accepted), (set(options) - set(accepted), cls)


@pytest.mark.parametrize(("kind", "name"), _registered())
def test_each_part_does_its_job_on_small_data(kind: str, name: str) -> None:
    if (kind, name) in NEEDS_SERVER:
        pytest.skip("needs a server: tests/test_llm_annotator.py, test_llm_namer.py, ...")
    part = _build(kind, name)
    rng = np.random.default_rng(0)
    if kind == "embedder":
        vectors = part.encode(["ask it twice", "then say thanks", "ask it twice"])
        assert vectors.shape[0] == 3 and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    elif kind == "reducer":
        points = np.repeat(rng.normal(size=(3, 16)), 20, axis=0) + 0.05 * rng.normal(size=(60, 16))
        reduced = part.reduce(points.astype(np.float32), np.array(["a", "b"] * 30))
        assert reduced.xy.shape == (60, 2) and np.isfinite(reduced.xy).all()
        assert len(reduced.cluster_coords) == 60 and np.isfinite(reduced.cluster_coords).all()
        json.dumps(reduced.facts)
    elif kind == "clusterer":
        coords = np.repeat(rng.normal(size=(3, 5)) * 10, [30, 20, 10], axis=0)
        labels = np.asarray(part.fit_predict(coords + 0.1 * rng.normal(size=coords.shape)))
        assert labels.shape == (60,) and labels.min() >= -1
        sizes = np.bincount(labels[labels >= 0])
        assert len(sizes) >= 1 and list(sizes) == sorted(sizes, reverse=True)
    elif kind == "quantizer":
        points = rng.normal(size=(80, 12))
        groups = np.repeat([0, 1], 40)
        result = part(points, groups, k=6, n_groups=2, seed=1)
        assert result.histograms.shape == (2, 6)
        assert result.histograms.sum(axis=1).tolist() == [40, 40]
        assert result.labels.min() >= 0 and result.labels.max() < 6
    elif kind == "annotator":
        data = generate_demo(seed=1, per_source=3)
        corpus = Corpus.from_conversations(
            Conversation(r["id"], "real", [(m["role"], m["content"]) for m in r["messages"]])
            for r in data.records["real"]
        )
        described = part.describe(corpus)
        assert isinstance(described, pd.DataFrame)
        assert set(described["conversation_id"]) == set(corpus.conversations["conversation_id"])
    elif kind == "namer":
        offline = pd.DataFrame(
            {"cluster": [-1, 0, 1], "name": ["unclustered", "terse asks", "long pastes"]}
            | {"description": ["noise", "short", "long"]}
        )
        clusters = pd.DataFrame({"conversation_id": ["a", "b", "c"], "cluster": [-1, 0, 1]})
        named = part.name_clusters(offline, pd.DataFrame(), clusters, pd.DataFrame())
        assert list(named.columns[:3]) == ["cluster", "name", "description"]
        assert sorted(named["cluster"]) == [-1, 0, 1] and named["name"].is_unique
        json.dumps(part.facts())
    else:
        pytest.fail(f"no behavioural check for the kind {kind!r}: add one")


def test_a_new_embedder_is_a_full_option_of_the_cli_dashboard_and_report(
    tmp_path: Path,
) -> None:
    name = ToyEmbedder.name
    listed = CliRunner().invoke(cli, ["parts"])
    assert listed.exit_code == 0 and "embedder: " in listed.stdout
    assert name in next(line for line in listed.stdout.splitlines() if line.startswith("embedder"))
    inputs = write_sources(tmp_path, per_source=30)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "analyze",
            "--real",
            str(inputs[0].path),
            "--sim",
            f"close_sim={inputs[1].path}",
            "--embedder",
            name,
            "--part-option",
            "embedder.scale=2.0",
            "--bootstrap",
            str(SMALL["bootstrap"]),
            "--min-cluster-size",
            "5",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    run = Run(out)
    assert run.stages["embed"].parts["embedder"] == {
        "kind": "embedder",
        "name": name,
        "scale": 2.0,
    }
    assert read_metrics(out).representation["embedding_model"] == name  # what the report names
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.switch_page("pages/data.py").run()
    assert name in app.selectbox(key="new_run_embedder").options


def test_installed_plugins_register_their_parts_and_a_broken_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded = []

    class Plugin:
        def __init__(self, name: str, fails: bool = False) -> None:
            self.name, self.value, self.fails = name, f"pkg.{name}", fails

        def load(self) -> None:
            if self.fails:
                raise ImportError("No module named 'pkg'")
            loaded.append(self.name)

    def entry_points(group: str) -> list[Plugin]:
        assert group == parts.ENTRY_POINT_GROUP
        return [Plugin("good")]

    monkeypatch.setattr(parts, "_plugins_loaded", False)
    monkeypatch.setattr(parts.importlib.metadata, "entry_points", entry_points)
    parts.available("embedder")
    parts.available("clusterer")
    assert loaded == ["good"]  # once per process
    monkeypatch.setattr(parts, "_plugins_loaded", False)
    monkeypatch.setattr(
        parts.importlib.metadata, "entry_points", lambda group: [Plugin("broken", fails=True)]
    )
    with pytest.raises(parts.PartError, match="plugin 'broken' \\(pkg.broken\\) failed to load"):
        parts.available("embedder")

"""The measure stage's disk memo: data, not code; a planted or altered memo is recomputed."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from test_run import SMALL, HashEmbedder, write_sources

from simgap_core.run import AnalysisParams, analyze
from simgap_core.run.memo import DiskMemo, memo_key


class _Explodes:
    """Unpickling this writes a marker file: proof that reading a memo ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


@dataclass(frozen=True)
class _Result:
    labels: np.ndarray
    k: int
    interval: tuple[float, float]
    name: str


def _counting(calls: list[int]):
    def compute(values: np.ndarray, *, k: int, groups: np.ndarray | None = None) -> _Result:
        calls.append(1)
        return _Result(values.astype(np.int64) % k, k, (0.25, float(values.sum())), "ok")

    return compute


def _assert_same(a: _Result, b: _Result) -> None:
    np.testing.assert_array_equal(a.labels, b.labels)
    assert (a.k, a.interval, a.name) == (b.k, b.interval, b.name)
    assert isinstance(b.interval, tuple)


def test_a_memo_round_trips_its_result_and_keys_on_every_argument(tmp_path: Path) -> None:
    calls: list[int] = []
    memo = DiskMemo(_counting(calls), _Result, tmp_path, key=b"k" * 32)
    values = np.arange(10)
    first = memo(values, k=3)
    _assert_same(first, DiskMemo(_counting(calls), _Result, tmp_path, key=b"k" * 32)(values, k=3))
    assert len(calls) == 1
    memo(values, k=4)  # another keyword
    memo(values + 1, k=3)  # another array
    # Group arrays whose printed forms agree ("[0 0 0 ... 1 1 1]") are still told apart.
    long = np.zeros(2000, dtype=np.int64)
    other = long.copy()
    other[1000] = 1
    memo(values, k=3, groups=long)
    memo(values, k=3, groups=other)
    assert len(calls) == 5
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".npz"] * 5


def test_a_memo_signed_with_another_key_is_recomputed(tmp_path: Path) -> None:
    calls: list[int] = []
    DiskMemo(_counting(calls), _Result, tmp_path, key=b"a" * 32)(np.arange(5), k=2)
    again = DiskMemo(_counting(calls), _Result, tmp_path, key=b"b" * 32)(np.arange(5), k=2)
    assert len(calls) == 2 and again.name == "ok"


def test_the_memo_key_is_private_and_stable(tmp_path: Path) -> None:
    key = memo_key(tmp_path)
    assert len(key) == 32 and memo_key(tmp_path) == key
    assert (tmp_path / "memo.key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "damage", ["truncated", "flipped byte", "pickled object", "signed pickled object", "empty"]
)
def test_a_damaged_or_forged_memo_is_recomputed_without_running_code(
    tmp_path: Path, damage: str
) -> None:
    marker = tmp_path / "ran"
    folder = tmp_path / "memo"
    calls: list[int] = []
    memo = DiskMemo(_counting(calls), _Result, folder, key=b"k" * 32)
    expected = memo(np.arange(7), k=3)
    (path,) = folder.iterdir()
    blob = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "flipped byte":
        path.write_bytes(blob[:100] + bytes([blob[100] ^ 1]) + blob[101:])
    elif "pickled object" in damage:  # an object array, which np.load unpickles if allowed
        forged = io.BytesIO()
        np.savez(forged, header=np.array([_Explodes(marker)], dtype=object))
        body = forged.getvalue()
        # Even signed with the user's own key, the memo is read as data only.
        signature = hmac.new(b"k" * 32, body, hashlib.sha256).digest()
        path.write_bytes(body + (signature if damage.startswith("signed") else blob[-32:]))
    else:
        path.write_bytes(b"")
    _assert_same(expected, memo(np.arange(7), k=3))
    assert len(calls) == 2 and not marker.exists()
    assert path.read_bytes() == blob  # replaced by a sound memo


def test_a_run_directory_with_planted_pickles_reruns_without_executing_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run directory someone sends you: every memo replaced by a pickle that would write a
    file when loaded, plus one under the old `.pkl` name. Rerunning executes none of it and
    recomputes the same numbers."""
    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path / "user-cache"))
    inputs = write_sources(tmp_path, per_source=30)
    params = AnalysisParams(**SMALL)
    run = analyze(inputs, tmp_path / "run", params, embedder=HashEmbedder())
    metrics = json.loads((run.path / "metrics.json").read_text())
    memos = sorted((run.path / "cache").glob("*.npz"))
    assert {p.name.split("-")[0] for p in memos} == {"quantize", "classifier_test"}
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Explodes(marker))
    for path in memos:
        path.write_bytes(payload)
        path.with_suffix(".pkl").write_bytes(payload)
    # A new clustering makes the measure stage run again, calling the memoized functions.
    rerun = analyze(
        inputs,
        tmp_path / "run",
        AnalysisParams(**{**SMALL, "min_cluster_size": 6}),
        embedder=HashEmbedder(),
    )
    assert "measure" in rerun.params.recomputed
    assert not marker.exists()
    again = json.loads((rerun.path / "metrics.json").read_text())
    for sim, values in metrics["simulators"].items():
        assert again["simulators"][sim]["paper"] == values["paper"]
        assert again["simulators"][sim]["classifier"] == values["classifier"]
    for path in memos:  # recomputed and signed again
        assert path.read_bytes()[:2] == b"PK"

"""Deep links (`present/links.py`): a view survives the round trip through a URL, and hostile
query values give one message each, never an exception."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from simgap_core.present import links
from simgap_core.present.links import ViewLink, app_base, format_query, parse_link, view_url
from simgap_core.run.directory import MANIFEST, Manifest

PAGES = ("data", "map", "clusters", "simulators", "examples", "report")


def make_run(folder: Path) -> Path:
    """A folder with a simgap manifest (all a link checks)."""
    folder.mkdir(parents=True)
    Manifest(folder).save()
    return folder


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def test_a_view_survives_the_round_trip_through_a_url(tmp_path: Path) -> None:
    # Spaces, '&', '#', '=' and non-ASCII in the path and ids: all must come back unchanged.
    run = make_run(tmp_path / "runs & co" / "été #1=x")
    view = ViewLink(
        run=run,
        simulator="close_sim",
        cluster=-1,
        selection=("real:1", "a&b=c#d", "chatty_sim:ü 2"),
    )
    url = view_url("http://127.0.0.1:8501", "clusters", format_query(view))
    assert urlsplit(url).path == "/clusters"
    parsed = parse_link(query_of(url), base=tmp_path)
    assert parsed.problems == []
    assert parsed.link == view


def test_an_empty_query_is_an_empty_view_and_unknown_keys_are_ignored(tmp_path: Path) -> None:
    assert parse_link({}, base=tmp_path) == links.ParsedLink(ViewLink(), [])
    assert parse_link({"utm_source": ["x"]}, base=tmp_path).link == ViewLink()
    assert view_url("http://h:1/app", "", {}) == "http://h:1/app/"


def test_a_relative_run_path_is_relative_to_the_base(tmp_path: Path) -> None:
    make_run(tmp_path / "runs" / "mine")
    parsed = parse_link({"run": ["runs/mine"]}, base=tmp_path)
    assert parsed.link.run == tmp_path / "runs" / "mine"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "the run path is empty"),
        ("/no/such/folder", "/no/such/folder is not a folder on this machine"),
        ("a\x00b", "holds control characters"),
        ("x" * 5000, "longer than 4096 characters"),
        # Up and out of the base: /etc exists, but holds no simgap manifest.
        ("../" * 40 + "etc", "is not a simgap run directory"),
    ],
)
def test_a_hostile_run_path_is_refused_with_its_reason(
    tmp_path: Path, value: str, message: str
) -> None:
    parsed = parse_link({"run": [value]}, base=tmp_path)
    assert parsed.link.run is None
    (problem,) = parsed.problems
    assert problem.startswith("run: ") and message in problem
    assert "\x00" not in problem and len(problem) < 300


def test_a_folder_or_file_without_a_simgap_manifest_is_not_a_run(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / MANIFEST).write_text(json.dumps({"files": {}}))  # not simgap's format
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for path, reason in (
        (plain, "is not a simgap run directory"),
        (fake, "is not a simgap run directory"),
        (a_file, "is not a folder"),
    ):
        parsed = parse_link({"run": [str(path)]}, base=tmp_path)
        assert parsed.link.run is None
        assert reason in parsed.problems[0]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"cluster": ["abc"]}, "cluster='abc' is not a cluster number"),
        ({"cluster": ["-2"]}, "cluster='-2' is not a cluster number"),
        ({"cluster": ["99999999999"]}, "is not a cluster number"),
        ({"cluster": ["1e3"]}, "is not a cluster number"),
        ({"simulator": [""]}, "is not a name"),
        ({"simulator": ["x" * 201]}, "is not a name"),
        ({"simulator": ["bad\u202ename"]}, "bad\\u202ename"),
        ({"simulator": ["a", "b"]}, "simulator is given 2 times"),
        ({"sel": ["ok", "bad\nid"]}, "the selection was ignored"),
        ({"sel": [f"real:{i}" for i in range(201)]}, "selects 201 conversations"),
    ],
)
def test_hostile_values_give_one_message_and_are_dropped(
    tmp_path: Path, query: dict[str, list[str]], message: str
) -> None:
    parsed = parse_link(query, base=tmp_path)
    assert parsed.link == ViewLink()
    (problem,) = parsed.problems
    assert message in problem
    # A message quotes the value escaped: no control or bidi character reaches the page.
    assert not any(ch in problem for ch in "\n\x00\u202e")


def test_a_selection_too_large_for_a_link_is_left_out(tmp_path: Path) -> None:
    ids = tuple(f"real:{i}" for i in range(links.MAX_SELECTION + 1))
    assert not links.linkable(ids)
    assert "sel" not in format_query(ViewLink(selection=ids))
    assert format_query(ViewLink(selection=ids[:2]))["sel"] == ["real:0", "real:1"]
    # Repeated ids are one.
    assert parse_link({"sel": ["a", "b", "a"]}, base=tmp_path).link.selection == ("a", "b")


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://127.0.0.1:8501/", "http://127.0.0.1:8501"),
        ("http://127.0.0.1:8501/clusters?run=/x", "http://127.0.0.1:8501"),
        ("https://host/prefix/map#top", "https://host/prefix"),
        ("https://host/prefix", "https://host/prefix"),
        ("", ""),
    ],
)
def test_the_app_base_drops_the_page_and_query(url: str, base: str) -> None:
    assert app_base(url, PAGES) == base

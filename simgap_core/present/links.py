"""Deep links to a dashboard view: what the URL's query string may say, read and written here.

A view is a run (a folder on the server), and on some pages a simulator, a cluster and a map
selection (conversation ids). The query string is untrusted (anyone can hand over a link), so
every value is checked before a page sees it: the run must be a folder holding a simgap
manifest (`Manifest.read`), names and ids are bounded plain text, a cluster is a small integer.
A value that fails gives one message naming the parameter and is dropped; nothing raises.

Plain functions of strings and paths (no Streamlit), so the round trip and the hostile values
are unit-tested on their own; `ui` applies them to `st.query_params`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from simgap_core.run.directory import MANIFEST, Manifest

RUN, SIMULATOR, CLUSTER, SELECTION = "run", "simulator", "cluster", "sel"
KEYS = (RUN, SIMULATOR, CLUSTER, SELECTION)
# The `ViewLink` field each query key fills.
FIELDS = {RUN: "run", SIMULATOR: "simulator", CLUSTER: "cluster", SELECTION: "selection"}
MAX_PATH_CHARS = 4096
MAX_NAME_CHARS = 200
# A selection larger than this is left out of a link (a URL of thousands of ids is unusable).
MAX_SELECTION = 200
MAX_CLUSTER = 1_000_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_CLUSTER = re.compile(r"-?\d{1,7}")


@dataclass(frozen=True)
class ViewLink:
    """What a link asks for; None / () where it says nothing."""

    run: Path | None = None
    simulator: str | None = None
    cluster: int | None = None
    selection: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedLink:
    """A link read from a query string: the values that passed, and one message per value that
    did not (plain text, to be escaped by the renderer)."""

    link: ViewLink
    problems: list[str] = field(default_factory=list)


def shown_value(value: str, limit: int = 80) -> str:
    """An untrusted value for a message: control characters as escapes, cut to `limit`."""
    escaped = _CONTROL.sub(lambda m: f"\\u{ord(m[0]):04x}", value)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


def check_run(text: str, *, base: Path) -> Path:
    """The run folder `text` names (relative paths are relative to `base`), or ValueError with
    the reason: too long, control characters, no such folder, no simgap manifest."""
    if not text.strip():
        raise ValueError("the run path is empty")
    if len(text) > MAX_PATH_CHARS:
        raise ValueError(f"the run path is longer than {MAX_PATH_CHARS} characters")
    if _CONTROL.search(text):
        raise ValueError(f"the run path '{shown_value(text)}' holds control characters")
    path = Path(text)
    path = path if path.is_absolute() else base / path
    try:
        is_folder = path.is_dir()
    except OSError as error:  # a name too long for the file system, a permission error
        raise ValueError(f"{shown_value(text)} cannot be read ({error.strerror})") from None
    if not is_folder:
        raise ValueError(f"{shown_value(text)} is not a folder on this machine")
    if Manifest.read(path) is None:
        raise ValueError(
            f"{shown_value(text)} is not a simgap run directory (it has no valid {MANIFEST})"
        )
    return path


def _text(key: str, value: str) -> str:
    if not value or len(value) > MAX_NAME_CHARS or _CONTROL.search(value):
        raise ValueError(
            f"{key}='{shown_value(value)}' is not a name (1 to {MAX_NAME_CHARS} characters, "
            "no control characters)"
        )
    return value


def _cluster(value: str) -> int:
    if not _CLUSTER.fullmatch(value) or not -1 <= int(value) <= MAX_CLUSTER:
        raise ValueError(f"cluster='{shown_value(value)}' is not a cluster number (-1 or more)")
    return int(value)


def parse_link(query: Mapping[str, Sequence[str]], *, base: Path) -> ParsedLink:
    """The view a query string ({key: every value given}) asks for. A single-valued key given
    more than once is refused (which one was meant is unknown); unknown keys are ignored."""
    parsers = {
        RUN: lambda value: check_run(value, base=base),
        SIMULATOR: lambda value: _text(SIMULATOR, value),
        CLUSTER: _cluster,
    }
    found: dict[str, object] = {}
    problems: list[str] = []
    for key, parse in parsers.items():
        values = list(query.get(key, []))
        if len(values) > 1:
            problems.append(f"{key} is given {len(values)} times in the link; it was ignored")
        elif values:
            try:
                found[key] = parse(values[0])
            except ValueError as error:
                problems.append(f"{key}: {error}" if key == RUN else str(error))
    ids = list(query.get(SELECTION, []))
    if len(ids) > MAX_SELECTION:
        problems.append(
            f"the link selects {len(ids):,} conversations, more than {MAX_SELECTION}; the "
            "selection was ignored"
        )
    else:
        try:
            found[SELECTION] = tuple(dict.fromkeys(_text(SELECTION, value) for value in ids))
        except ValueError as error:
            problems.append(f"{error}; the selection was ignored")
    fields = {FIELDS[key]: value for key, value in found.items()}
    return ParsedLink(ViewLink(**fields), problems)  # type: ignore[arg-type]


def linkable(selection: Sequence[str]) -> bool:
    """Whether a selection fits in a link (`MAX_SELECTION` ids at most)."""
    return len(selection) <= MAX_SELECTION


def format_query(link: ViewLink) -> dict[str, str | list[str]]:
    """The query parameters of `link` ({key: value or values}); a selection too large for a
    link (`linkable`) is left out."""
    query: dict[str, str | list[str]] = {}
    if link.run is not None:
        query[RUN] = str(link.run)
    if link.simulator is not None:
        query[SIMULATOR] = link.simulator
    if link.cluster is not None:
        query[CLUSTER] = str(link.cluster)
    if link.selection and linkable(link.selection):
        query[SELECTION] = list(link.selection)
    return query


def view_url(base_url: str, page: str, query: Mapping[str, str | Iterable[str]]) -> str:
    """The full URL of `page` (its url path; "" for the default page) under `base_url`."""
    pairs = [
        (key, value)
        for key, values in query.items()
        for value in ([values] if isinstance(values, str) else values)
    ]
    url = base_url.rstrip("/") + "/" + page.strip("/")
    return url + ("?" + urlencode(pairs) if pairs else "")


def app_base(url: str, pages: Collection[str]) -> str:
    """The dashboard's base URL from the browser's URL of one of its pages (`pages`: their URL
    paths): scheme, host and any prefix path, without the page, query or fragment; "" when
    `url` has no host (then links are relative)."""
    parts = urlsplit(url)
    if not parts.netloc:
        return ""
    path = parts.path.rstrip("/")
    head, _, last = path.rpartition("/")
    if last in pages:
        path = head
    return f"{parts.scheme}://{parts.netloc}{path}"

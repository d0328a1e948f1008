"""Hostile inputs of issue 17 ("Trust II"): nested-`conversation` Parquet shards, unreadable
files in a folder, ids that differ only in white space, a gzip of blank lines.

Every input is written by the test itself, so every count and reason is exact.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import gzip
import json
import os
import re
import signal
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from simgap_core.cli import app
from simgap_core.errors import BinaryFileError, EmptyFileError, InputError, UnknownFormatError
from simgap_core.io.inputs import InputSpec, describe_inputs, load_inputs
from simgap_core.io.loaders import load_file, sniff_format
from simgap_core.model import Corpus

runner = CliRunner()


def reasons(corpus: Corpus) -> dict[str, str]:
    return {s.record: s.reason for s in corpus.skipped}


# --- 1: LMSYS-Chat-1M / WildChat Parquet shards -------------------------------------------------

LMSYS_MESSAGE = pa.struct([("content", pa.string()), ("role", pa.string())])


def lmsys_rows(start: int = 0) -> list[dict]:
    """Six LMSYS-Chat-1M rows: three good, then a null conversation, a null role, and a
    conversation whose only user turn has null content."""
    good = [
        [{"content": f"hello {i}", "role": "user"}, {"content": None, "role": "assistant"}]
        for i in range(3)
    ]
    conversations = [
        *good,
        None,
        [{"content": "who?", "role": None}],
        [{"content": None, "role": "user"}, {"content": "hi", "role": "assistant"}],
    ]
    return [
        {
            "conversation_id": f"lm{start + i}",
            "model": "vicuna-13b",
            "conversation": conversation,
            "turn": 1,
            "language": "English" if i % 2 else "Portuguese",
            "redacted": False,
        }
        for i, conversation in enumerate(conversations)
    ]


LMSYS_SKIPS = {
    "row 4": "field 'conversation' is null, expected a list of messages",
    "row 5": "field 'conversation[0].role' is null",
    "row 6": "every user turn in field 'conversation' is empty",
}


def write_lmsys(path: Path, start: int = 0) -> Path:
    rows = lmsys_rows(start)
    schema = pa.schema(
        [
            ("conversation_id", pa.string()),
            ("model", pa.string()),
            ("conversation", pa.list_(LMSYS_MESSAGE)),
            ("turn", pa.int64()),
            ("language", pa.string()),
            ("redacted", pa.bool_()),
        ]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def test_an_lmsys_parquet_shard_is_sniffed_and_its_nulls_are_listed(tmp_path: Path) -> None:
    path = write_lmsys(tmp_path / "train-00000-of-00006.parquet")
    assert sniff_format(path) == "wildchat"
    corpus = load_file(path)
    assert corpus.conversations["original_id"].tolist() == ["lm0", "lm1", "lm2"]
    assert reasons(corpus) == LMSYS_SKIPS
    assert all(s.file == str(path) for s in corpus.skipped)
    # A null assistant content is an empty turn, kept (like an empty query), not dropped.
    assert corpus.transcript("train-00000-of-00006:lm0") == [
        ("user", "hello 0"),
        ("assistant", ""),
    ]
    # The `language` and `model` columns are metadata, not table columns.
    assert corpus.conversations["language"].tolist() == ["Portuguese", "English", "Portuguese"]
    metadata = json.loads(corpus.conversations["metadata"].iloc[0])
    assert metadata == {
        "language": "Portuguese",
        "model": "vicuna-13b",
        "redacted": False,
        "turn": 1,
    }


def test_the_same_records_as_jsonl_load_the_same(tmp_path: Path) -> None:
    parquet = load_file(write_lmsys(tmp_path / "lmsys.parquet"))
    jsonl = tmp_path / "lmsys.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in lmsys_rows()), encoding="utf-8")
    assert sniff_format(jsonl) == "wildchat"
    from_jsonl = load_file(jsonl)
    assert from_jsonl.turns.to_dict("list") == parquet.turns.to_dict("list")
    assert {r.replace("line", "row"): why for r, why in reasons(from_jsonl).items()} == (
        LMSYS_SKIPS
    )


def wildchat_message_type() -> pa.DataType:
    """The message struct of WildChat-1M, with its extra fields (header is itself a struct)."""
    header = pa.struct([("accept-language", pa.string()), ("user-agent", pa.string())])
    return pa.struct(
        [
            ("content", pa.string()),
            ("country", pa.string()),
            ("hashed_ip", pa.string()),
            ("header", header),
            ("language", pa.string()),
            ("redacted", pa.bool_()),
            ("role", pa.string()),
            ("state", pa.string()),
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("toxic", pa.bool_()),
            ("turn_identifier", pa.int64()),
        ]
    )


def wildchat_message(role: str | None, content: str | None, turn: int) -> dict:
    return {
        "content": content,
        "country": None,
        "hashed_ip": "ab12",
        "header": {"accept-language": None, "user-agent": "Mozilla"},
        "language": "English",
        "redacted": False,
        "role": role,
        "state": None,
        "timestamp": dt.datetime(2023, 4, 9, 10, tzinfo=dt.UTC),
        "toxic": False,
        "turn_identifier": turn,
    }


def test_a_wildchat_shard_with_a_conversation_id_column_is_sniffed(tmp_path: Path) -> None:
    rows = [
        {
            "conversation_id": "w1",
            "model": "gpt-4",
            "language": "English",
            "conversation": [wildchat_message("user", "a question", 1)],
        },
        {
            "conversation_id": "w2",
            "model": "gpt-4",
            "language": None,
            "conversation": [wildchat_message("narrator", "once", 2)],
        },
        {
            "conversation_id": "w3",
            "model": None,
            "language": "French",
            "conversation": [
                wildchat_message("user", "bonjour", 3),
                wildchat_message("assistant", None, 3),
            ],
        },
    ]
    schema = pa.schema(
        [
            ("conversation_id", pa.string()),
            ("model", pa.string()),
            ("language", pa.string()),
            ("conversation", pa.list_(wildchat_message_type())),
        ]
    )
    path = tmp_path / "wildchat.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    corpus = load_file(path)
    assert corpus.conversations["original_id"].tolist() == ["w1", "w3"]
    assert corpus.conversations["language"].tolist() == ["English", "French"]
    assert corpus.transcript("wildchat:w3") == [("user", "bonjour"), ("assistant", "")]
    assert list(reasons(corpus)) == ["row 2"]
    assert "field 'conversation[0].role' has unknown role 'narrator'" in reasons(corpus)["row 2"]


@pytest.mark.parametrize("how", ["folder", "glob"])
def test_a_folder_or_glob_of_lmsys_shards_loads_every_good_conversation(
    tmp_path: Path, how: str
) -> None:
    folder = tmp_path / "lmsys"
    folder.mkdir()
    for shard in range(3):
        write_lmsys(folder / f"train-0000{shard}-of-00003.parquet", start=10 * shard)
    path = folder if how == "folder" else folder / "*.parquet"
    corpus = load_inputs([InputSpec(path, "real")])
    assert corpus.conversations["original_id"].tolist() == [
        f"lm{10 * shard + i}" for shard in range(3) for i in range(3)
    ]
    assert len(corpus.skipped) == 9
    assert sorted({Path(s.file).name for s in corpus.skipped}) == [
        f"train-0000{shard}-of-00003.parquet" for shard in range(3)
    ]


def test_simgap_load_reads_an_lmsys_shard_and_lists_its_skips(tmp_path: Path) -> None:
    path = write_lmsys(tmp_path / "lmsys.parquet")
    result = runner.invoke(app, ["load", str(path), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["sources"]["lmsys"]["conversations"] == 3
    assert {s["record"]: s["reason"] for s in document["skipped"]} == LMSYS_SKIPS


def test_a_long_table_with_a_model_column_is_still_a_table(tmp_path: Path) -> None:
    path = tmp_path / "long.parquet"
    table = {
        "conversation_id": ["c1", "c1"],
        "turn": [0, 1],
        "role": ["user", "assistant"],
        "text": ["hi", "hello"],
        "model": ["gpt-4", "gpt-4"],
        "language": ["English", "English"],
    }
    pq.write_table(pa.table(table), path)
    assert sniff_format(path) == "table"
    assert load_file(path).transcript("long:c1") == [("user", "hi"), ("assistant", "hello")]


def test_a_parquet_with_neither_shape_still_names_the_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "stats.parquet"
    pq.write_table(pa.table({"conversation_id": ["c1"], "model": ["x"], "language": ["en"]}), path)
    with pytest.raises(UnknownFormatError, match=r"stats\.parquet: .* it lacks turn, role, text"):
        load_file(path)


# --- 3: ids are kept exactly as written ---------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_table_ids_that_differ_in_white_space_are_two_conversations(
    tmp_path: Path, suffix: str
) -> None:
    rows = [
        ("c1", 0, "user", "first"),
        (" c1 ", 0, "user", "second"),
        ("c1", 1, "assistant", "reply to first"),
        ("   ", 0, "user", "no id"),
    ]
    columns = ("conversation_id", "turn", "role", "text")
    path = tmp_path / f"chats{suffix}"
    if suffix == ".parquet":
        pq.write_table(
            pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in rows]), path
        )
    else:
        sep = "," if suffix == ".csv" else "\t"
        quote = '"' if sep == "," else ""
        lines = [sep.join(columns)]
        lines += [sep.join(f"{quote}{cell}{quote}" for cell in row) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus = load_file(path)
    assert sorted(corpus.conversations["original_id"]) == [" c1 ", "c1"]
    assert corpus.transcript("chats:c1") == [("user", "first"), ("assistant", "reply to first")]
    assert corpus.transcript("chats: c1 ") == [("user", "second")]
    [skipped] = corpus.skipped
    assert skipped.reason == "field 'conversation_id' is empty"


def test_table_sources_that_differ_in_white_space_never_merge_silently(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "source,conversation_id,turn,role,text\n"
        "sim,c1,0,user,from sim\n"
        '" sim",c1,0,user,from the padded sim\n'
        "sim,c1,1,assistant,answer\n",
        encoding="utf-8",
    )
    corpus = load_file(path)
    assert corpus.sources == ["sim"]
    assert corpus.transcript("sim:c1") == [("user", "from sim"), ("assistant", "answer")]
    assert reasons(corpus) == {
        "line 3": "duplicate id 'c1' in source 'sim': line 2 has the same id"
    }


@pytest.mark.parametrize(
    ("key", "record"),
    [
        ("id", {"messages": [{"role": "user", "content": "x"}]}),
        ("conversation_id", {"conversation": [{"role": "user", "content": "x"}]}),
        ("id", {"conversations": [{"from": "human", "value": "x"}]}),
        ("task_id", {"traj": [{"role": "user", "content": "x"}]}),
    ],
)
def test_record_ids_are_kept_exactly_as_written(tmp_path: Path, key: str, record: dict) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(
        "".join(json.dumps({key: i, **record}) + "\n" for i in ("c1", " c1 ", "c1\t", "  ")),
        encoding="utf-8",
    )
    corpus = load_file(path)
    assert corpus.conversations["original_id"].tolist() == ["c1", " c1 ", "c1\t"]
    assert reasons(corpus) == {"line 4": f"field '{key}' is empty"}


# --- 2: files in a folder that cannot be read ---------------------------------------------------


def openai_file(path: Path, ids: tuple[str, ...] = ("c1",)) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": i, "messages": [{"role": "user", "content": "hi"}]}) + "\n"
            for i in ids
        ),
        encoding="utf-8",
    )
    return path


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging if the code under test ever blocks (reading a named pipe)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s: something read a named pipe")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def unusable(folder: Path, kind: str) -> Path:
    """An entry named like a transcript that cannot be read, even by root."""
    path = folder / "b.jsonl"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "broken link":
        path.symlink_to(folder / "gone.jsonl")
    else:  # a link that loops
        (folder / "loop.jsonl").symlink_to(path)
        path.symlink_to(folder / "loop.jsonl")
    return path


UNUSABLE = {
    "fifo": "b.jsonl: is a named pipe (FIFO), not a regular file",
    "broken link": "b.jsonl: is a symbolic link to '{folder}/gone.jsonl', which cannot be "
    "followed (No such file or directory)",
    "loop": "b.jsonl: is a symbolic link to '{folder}/loop.jsonl', which cannot be followed "
    "(Too many levels of symbolic links)",
}


@pytest.mark.parametrize("kind", list(UNUSABLE))
def test_an_unusable_entry_in_a_folder_is_named_not_dropped(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "chats"
    folder.mkdir()
    openai_file(folder / "a.jsonl")
    unusable(folder, kind)
    expected = f"{folder}/" + UNUSABLE[kind].format(folder=folder)
    with deadline(10):
        with pytest.raises(InputError) as caught:
            load_inputs([InputSpec(folder, "real")])
        assert str(caught.value) == expected
        result = runner.invoke(app, ["load", str(folder), "--source", "real", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["sources"]["real"]["conversations"] == 1
    assert expected in document["errors"]


def test_a_file_that_cannot_be_opened_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "chats"
    folder.mkdir()
    openai_file(folder / "a.jsonl")
    locked = openai_file(folder / "locked.jsonl", ("c2",))
    real_open = Path.open

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == locked.name:  # what chmod 000 does for anyone but root
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    expected = f"{locked}: cannot be read: Permission denied"
    with pytest.raises(InputError, match=re.escape(expected)):
        load_inputs([InputSpec(folder, "real")])
    with pytest.raises(InputError, match=re.escape(expected)):
        describe_inputs([InputSpec(folder, "real")])  # what `analyze` records before loading
    result = runner.invoke(app, ["load", str(folder), "--source", "real", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["sources"]["real"]["conversations"] == 1
    assert document["errors"] == [expected]
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        ["analyze", "--real", str(folder), "--sim", f"s={folder / 'a.jsonl'}", "--out", str(out)],
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {expected}"


def test_a_subfolder_that_cannot_be_listed_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "chats"
    (folder / "private").mkdir(parents=True)
    openai_file(folder / "a.jsonl")
    openai_file(folder / "private" / "b.jsonl", ("c2",))
    real_scandir = os.scandir

    def refuse(path: object = ".") -> object:
        if Path(os.fsdecode(path)).name == "private":
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    with pytest.raises(InputError) as caught:
        load_inputs([InputSpec(folder, "real")])
    assert str(caught.value) == (
        f"{folder / 'private'}: is a folder that cannot be listed: Permission denied"
    )


# --- 4: a gzip of blank lines -------------------------------------------------------------------


def test_a_gzip_of_blank_lines_says_so_without_holding_it(tmp_path: Path) -> None:
    path = tmp_path / "dump.jsonl.gz"
    size = 32 * 1024 * 1024
    path.write_bytes(gzip.compress(b"\n" * size, compresslevel=1))
    tracemalloc.start()
    try:
        with pytest.raises(EmptyFileError) as caught:
            load_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == (
        f"{path}: no records: its gzip content holds only 33,554,432 blank lines (33,554,432 bytes)"
    )
    assert peak < size / 4  # read in bounded chunks (about 4 MB at the peak), never held whole


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\r\n" * 3, "its gzip content holds only 3 blank lines (6 bytes)"),
        (b"\n \t\n  ", "its gzip content holds only 3 lines of white space (6 bytes)"),
        (b"", "its gzip content is empty (0 bytes)"),
    ],
)
def test_a_blank_gzip_is_described_as_it_is(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "blank.csv.gz"
    path.write_bytes(gzip.compress(content))
    with pytest.raises(EmptyFileError) as caught:
        load_file(path)
    assert str(caught.value) == f"{path}: no records: {expected}"


def test_a_truncated_gzip_of_blank_lines_is_not_called_undecodable(tmp_path: Path) -> None:
    whole = gzip.compress(b"\n" * (2 * 1024 * 1024), compresslevel=1)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BinaryFileError) as caught:
        load_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: no records: its gzip content holds only blank lines ")
    assert message.endswith("; the file is truncated or damaged")
    assert "does not decompress" not in message
    at_least = int(re.search(r"at least ([\d,]+) bytes", message)[1].replace(",", ""))
    assert 0 < at_least < 2 * 1024 * 1024


def test_a_bom_and_blank_lines_are_blank(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + b"\n\n")
    with pytest.raises(EmptyFileError) as caught:
        load_file(path)
    assert str(caught.value) == f"{path}: no records: the file holds only 2 blank lines (2 bytes)"


# --- other hostile Parquet: values out of range, no rows, gzipped ------------------------------

FAR_FUTURE = 10**15  # seconds: a year in the millions, which Python's datetime cannot hold


def test_an_out_of_range_timestamp_is_read_as_null_and_reported(tmp_path: Path) -> None:
    message = pa.struct(
        [("content", pa.string()), ("role", pa.string()), ("timestamp", pa.timestamp("s"))]
    )
    conversations = [
        [{"content": "fine", "role": "user", "timestamp": 0}],
        [{"content": "late metadata", "role": "user", "timestamp": 0}],
        [{"content": "late message", "role": "user", "timestamp": FAR_FUTURE}],
    ]
    table = pa.table(
        {
            "conversation_id": ["a", "b", "c"],
            "conversation": pa.array(conversations, pa.list_(message)),
            "timestamp": pa.array([0, FAR_FUTURE, 0], pa.timestamp("s")),
        }
    )
    path = tmp_path / "dates.parquet"
    pq.write_table(table, path)
    assert sniff_format(path) == "wildchat"
    corpus = load_file(path)
    assert corpus.conversations["original_id"].tolist() == ["a", "b"]
    [repair] = corpus.repairs
    assert repair.record == "row 2"
    assert repair.change.startswith("field 'timestamp' holds a timestamp[")
    assert repair.change.endswith(
        "value that cannot be read (Python int too large to convert to C int); read as null"
    )
    assert json.loads(corpus.conversations["metadata"].iloc[1]) == {"timestamp": None}
    [skipped] = corpus.skipped
    assert skipped.record == "row 3"
    assert skipped.reason.startswith("field 'conversation' holds a list<")
    assert skipped.reason.endswith(
        "read as null; field 'conversation' is null, expected a list of messages"
    )


def test_a_table_never_reads_a_column_it_does_not_use(tmp_path: Path) -> None:
    table = {
        "conversation_id": ["c1"],
        "turn": [0],
        "role": ["user"],
        "text": ["hi"],
        "logged_at": pa.array([FAR_FUTURE], pa.timestamp("s")),
    }
    path = tmp_path / "long.parquet"
    pq.write_table(pa.table(table), path)
    corpus = load_file(path)
    assert corpus.transcript("long:c1") == [("user", "hi")]
    assert corpus.skipped == [] and corpus.repairs == []


def test_an_empty_lmsys_shard_says_it_holds_no_records(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [],
            schema=pa.schema(
                [("conversation_id", pa.string()), ("conversation", pa.list_(LMSYS_MESSAGE))]
            ),
        ),
        path,
    )
    with pytest.raises(UnknownFormatError) as caught:
        load_file(path)
    assert str(caught.value) == f"{path}: holds no records"


def test_a_gzipped_parquet_file_is_named_as_such(tmp_path: Path) -> None:
    shard = write_lmsys(tmp_path / "shard.parquet")
    path = tmp_path / "shard.parquet.gz"
    path.write_bytes(gzip.compress(shard.read_bytes()))
    with pytest.raises(BinaryFileError) as caught:
        load_file(path)
    assert str(caught.value) == (
        f"{path}: is a gzip-compressed Parquet file; decompress it first (gunzip): Parquet "
        "compresses its own columns and is read as is"
    )


def test_a_record_parquet_with_a_repeated_column_name_is_refused(tmp_path: Path) -> None:
    conversation = pa.array([[{"content": "hi", "role": "user"}]], pa.list_(LMSYS_MESSAGE))
    table = pa.Table.from_arrays(
        [pa.array(["a"]), conversation, conversation],
        names=["conversation_id", "conversation", "conversation"],
    )
    path = tmp_path / "twice.parquet"
    pq.write_table(table, path)
    with pytest.raises(UnknownFormatError) as caught:
        load_file(path, format="wildchat")  # before: one of the two silently won
    assert str(caught.value) == f"{path}: more than one column is named 'conversation'"

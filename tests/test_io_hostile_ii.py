"""Hostile inputs of issue 17 ("Trust II"): nested-`conversation` Parquet shards, unreadable
files in a folder, ids that differ only in white space, a gzip of blank lines.

Every input is written by the test itself, so every count and reason is exact.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from simgap_core.cli import app
from simgap_core.errors import UnknownFormatError
from simgap_core.io.inputs import InputSpec, load_inputs
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

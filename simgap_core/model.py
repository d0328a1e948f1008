"""The canonical data model: a table of conversations and a table of turns.

Every loader produces a `Corpus`; every later stage reads only its two tables. Both are
Arrow-backed pandas frames. `conversation_id` is unique across the whole corpus: it is
`conversation_key(source, original_id)`, the source with its `%` and `:` escaped, a colon, then
the original id, so a paired record's real and simulated halves never collide and neither do
source `a` with id `b:1` and source `a:b` with id `1`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simgap_core.errors import SimgapError, SkippedRecord

ROLES = ("user", "assistant", "system", "tool")

CONVERSATION_SCHEMA = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("source", pa.string()),
        ("original_id", pa.string()),
        ("pair_id", pa.string()),
        ("task", pa.string()),
        ("intent", pa.string()),
        ("language", pa.string()),
        ("file", pa.string()),
        ("record", pa.string()),
        # Per-conversation fields a format keeps (WildChat's model, turn, timestamp, ...) as a
        # JSON object; for people reading the data, no stage computes on it.
        ("metadata", pa.string()),
    ]
)

TURN_SCHEMA = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("turn", pa.int32()),
        ("role", pa.string()),
        ("text", pa.string()),
    ]
)


class DuplicateConversationError(SimgapError):
    """Two inputs hold the same conversation id in the same source."""


@dataclass(frozen=True)
class Repair:
    """A record that was loaded after a change to its text, and what was changed."""

    file: str
    record: str
    change: str

    def __str__(self) -> str:
        return f"{self.file}, {self.record}: {self.change}"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def conversation_key(source: str, original_id: str) -> str:
    """The corpus-wide id: the escaped source, ':', the original id (injective by design)."""
    return source.replace("%", "%25").replace(":", "%3A") + ":" + original_id


@dataclass
class Conversation:
    """One conversation as a loader sees it, before it joins the tables.

    `turns` is a list of (role, text) in order; roles are already normalised to `ROLES`.
    """

    original_id: str
    source: str
    turns: list[tuple[str, str]]
    file: str = ""
    record: str = ""
    pair_id: str | None = None
    task: str | None = None
    intent: str | None = None
    language: str | None = None
    metadata: str | None = None

    @property
    def conversation_id(self) -> str:
        return conversation_key(self.source, self.original_id)


def _arrow_frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=pd.ArrowDtype)


@dataclass
class Corpus:
    """Conversations, their turns, every record skipped while loading them, every repair made.

    `sampling` records a `--sample`: per source, the conversations kept, of how many, and
    the seed.
    """

    conversations: pd.DataFrame
    turns: pd.DataFrame
    skipped: list[SkippedRecord] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)
    sampling: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def from_conversations(
        cls,
        conversations: Iterable[Conversation],
        skipped: Sequence[SkippedRecord] = (),
        repairs: Sequence[Repair] = (),
    ) -> Corpus:
        conv_cols: dict[str, list] = {name: [] for name in CONVERSATION_SCHEMA.names}
        turn_cols: dict[str, list] = {name: [] for name in TURN_SCHEMA.names}
        for conv in conversations:
            cid = conv.conversation_id
            for name in CONVERSATION_SCHEMA.names:
                conv_cols[name].append(cid if name == "conversation_id" else getattr(conv, name))
            for index, (role, text) in enumerate(conv.turns):
                turn_cols["conversation_id"].append(cid)
                turn_cols["turn"].append(index)
                turn_cols["role"].append(role)
                turn_cols["text"].append(text)
        conversations_table = pa.table(conv_cols, schema=CONVERSATION_SCHEMA)
        turns_table = pa.table(turn_cols, schema=TURN_SCHEMA)
        return cls(
            _arrow_frame(conversations_table),
            _arrow_frame(turns_table),
            list(skipped),
            list(repairs),
        )

    @classmethod
    def empty(cls) -> Corpus:
        return cls.from_conversations([])

    @classmethod
    def concat(cls, corpora: Sequence[Corpus]) -> Corpus:
        """Join corpora; a conversation id seen twice is an error naming both places, never a
        silent overwrite (`io.loaders.load_paths` de-duplicates with a report instead)."""
        if not corpora:
            return cls.empty()
        conversations = pd.concat([c.conversations for c in corpora], ignore_index=True)
        repeated = conversations["conversation_id"].duplicated(keep=False)
        if repeated.any():
            rows = conversations[repeated]
            first_id = rows["conversation_id"].iloc[0]
            places = rows[rows["conversation_id"] == first_id]
            where = " and ".join(
                f"{file}, {record}"
                for file, record in zip(places["file"], places["record"], strict=True)
            )
            count = int(conversations["conversation_id"].duplicated().sum())
            raise DuplicateConversationError(
                f"{count} conversation ids occur twice in source "
                f"{places['source'].iloc[0]!r}, e.g. id {places['original_id'].iloc[0]!r} in "
                f"{where}: give each input its own source name, or drop the repeated file"
            )
        turns = pd.concat([c.turns for c in corpora], ignore_index=True)
        skipped = [s for c in corpora for s in c.skipped]
        repairs = [r for c in corpora for r in c.repairs]
        sampling = {k: v for c in corpora for k, v in c.sampling.items()}
        return cls(conversations, turns, skipped, repairs, sampling)

    def __len__(self) -> int:
        return len(self.conversations)

    @property
    def sources(self) -> list[str]:
        """Source names in order of first appearance."""
        return list(dict.fromkeys(self.conversations["source"].tolist()))

    def subset(self, conversation_ids: Iterable[str]) -> Corpus:
        """The conversations with these ids (in the corpus's order) and their turns."""
        keep = set(conversation_ids)
        conversations = self.conversations[self.conversations["conversation_id"].isin(keep)]
        turns = self.turns[self.turns["conversation_id"].isin(keep)]
        return Corpus(
            conversations.reset_index(drop=True),
            turns.reset_index(drop=True),
            list(self.skipped),
            list(self.repairs),
            dict(self.sampling),
        )

    def user_turns(self) -> pd.DataFrame:
        return self.turns[self.turns["role"] == "user"]

    def summary(self) -> pd.DataFrame:
        """Per source: conversations, user turns, mean words per user turn."""
        user = self.user_turns()
        words = user["text"].astype(str).str.split().str.len()
        per_conv_source = self.conversations.set_index("conversation_id")["source"]
        user_source = user["conversation_id"].map(per_conv_source)
        frame = pd.DataFrame(
            {
                "conversations": self.conversations.groupby("source", sort=False).size(),
                "user_turns": user_source.groupby(user_source.values, sort=False).size(),
                "mean_words_per_user_turn": words.groupby(user_source.values, sort=False).mean(),
            }
        )
        frame.index.name = "source"
        frame["user_turns"] = frame["user_turns"].fillna(0).astype(int)
        frame["mean_words_per_user_turn"] = frame["mean_words_per_user_turn"].fillna(0.0)
        return frame.loc[self.sources]

    def turns_by_conversation(self) -> dict[str, list[tuple[str, str]]]:
        """(role, text) turns per conversation id, in turn order, built in one pass.

        Missing texts come back as "". Every stage that walks conversations reads this.
        """
        turns = self.turns.sort_values(["conversation_id", "turn"], kind="stable")
        grouped: dict[str, list[tuple[str, str]]] = {}
        for cid, role, text in zip(
            turns["conversation_id"].astype(str).tolist(),
            turns["role"].astype(str).tolist(),
            turns["text"].fillna("").astype(str).tolist(),
            strict=True,
        ):
            grouped.setdefault(cid, []).append((role, text))
        return grouped

    def transcript(self, conversation_id: str) -> list[tuple[str, str]]:
        """The (role, text) turns of one conversation, in order."""
        rows = self.turns[self.turns["conversation_id"] == conversation_id].sort_values("turn")
        return list(zip(rows["role"].tolist(), rows["text"].tolist(), strict=True))

    def save(self, directory: str | Path) -> None:
        """Write `conversations.parquet` and `turns.parquet` into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.Table.from_pandas(
                self.conversations, schema=CONVERSATION_SCHEMA, preserve_index=False
            ),
            directory / "conversations.parquet",
        )
        pq.write_table(
            pa.Table.from_pandas(self.turns, schema=TURN_SCHEMA, preserve_index=False),
            directory / "turns.parquet",
        )

    @classmethod
    def read(cls, directory: str | Path) -> Corpus:
        """Read a corpus written by `save` (an older one, without `metadata`, gets it empty)."""
        directory = Path(directory)
        conversations = pq.read_table(directory / "conversations.parquet")
        if "metadata" not in conversations.column_names:
            conversations = conversations.append_column(
                "metadata", pa.nulls(conversations.num_rows, pa.string())
            )
        return cls(
            _arrow_frame(conversations),
            _arrow_frame(pq.read_table(directory / "turns.parquet")),
        )

"""Data: what was loaded, per source, and any conversation readable as a chat."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from simgap_core.errors import SimgapError
from simgap_core.model import Corpus
from ui import show_transcript

DEMO_DATA = Path(__file__).resolve().parent.parent / "data" / "demo"


@st.cache_resource(show_spinner="Loading the demo dataset…")
def load_demo() -> Corpus:
    from simgap_core.demo import DEMO_SOURCES
    from simgap_core.loaders import load_paths

    corpora = [
        load_paths([DEMO_DATA / f"{name}.jsonl"], format="openai", source=name)
        for name in DEMO_SOURCES
    ]
    return Corpus.concat(corpora)


st.title("📂 Data")
st.caption("The embedded demo dataset: one real population and three simulators.")

try:
    corpus = load_demo()
except SimgapError as error:
    st.error(f"The demo dataset could not be loaded: {error}")
    st.stop()

summary = corpus.summary().reset_index()
st.subheader("Per source")
st.dataframe(
    summary,
    hide_index=True,
    column_config={
        "source": "source",
        "conversations": st.column_config.NumberColumn("conversations", format="%d"),
        "user_turns": st.column_config.NumberColumn("user turns", format="%d"),
        "mean_words_per_user_turn": st.column_config.NumberColumn(
            "mean words / user turn", format="%.1f"
        ),
    },
)
if corpus.skipped:
    with st.expander(f"{len(corpus.skipped)} records skipped while loading"):
        st.dataframe([s.to_dict() for s in corpus.skipped], hide_index=True)

st.subheader("Read a conversation")
left, right = st.columns([1, 3])
with left:
    source = st.selectbox("Source", corpus.sources)
    ids = corpus.conversations.loc[corpus.conversations["source"] == source, "conversation_id"]
    conversation_id = st.selectbox("Conversation", ids.tolist())
with right:
    show_transcript(corpus.transcript(conversation_id))

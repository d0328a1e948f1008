"""Streamlit building blocks shared by the pages: transcripts as chats, cached loading.

Transcript text is always shown as plain text (`st.text`), never as Markdown or HTML: it is
user content and may hold `<script>` or image links.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

ROLE_AVATARS = {"user": "🧑", "assistant": "🤖", "system": "⚙️", "tool": "🛠️"}


def show_transcript(turns: Sequence[tuple[str, str]], *, max_chars: int = 4000) -> None:
    """Render (role, text) turns as a chat; long turns are cut with a note."""
    if not turns:
        st.info("This conversation has no turns.")
        return
    for role, text in turns:
        with st.chat_message(
            role if role in ("user", "assistant") else "ai", avatar=ROLE_AVATARS.get(role, "💬")
        ):
            if role not in ("user", "assistant"):
                st.caption(role)
            shown = text if len(text) <= max_chars else text[:max_chars]
            st.text(shown if shown.strip() else "(empty turn)")
            if len(text) > max_chars:
                st.caption(f"… {len(text) - max_chars:,} more characters not shown")

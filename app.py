"""simgap dashboard: `streamlit run app.py` (or `make run`)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import streamlit as st  # noqa: E402

st.set_page_config(page_title="simgap", page_icon="🧭", layout="wide")

pages = [
    st.Page("pages/data.py", title="Data", icon="📂", default=True),
]
st.navigation(pages).run()

"""simgap dashboard: `streamlit run app.py` (or `make run`, or `simgap dashboard RUN_DIR`).

Opens on the run the URL names (`?run=PATH`), else on $SIMGAP_RUN, else on the committed demo
run; the run, page, simulator, cluster and map selection stay in the URL (see `ui.sync_run`).
"""

from simgap_core.environment import apply_defaults

apply_defaults()

import streamlit as st  # noqa: E402

import ui  # noqa: E402

st.set_page_config(page_title="simgap", page_icon="🧭", layout="wide")

pages = [
    st.Page("pages/overview.py", title="Overview", icon="🧭", default=True),
    st.Page("pages/data.py", title="Data", icon="📂"),
    st.Page("pages/map.py", title="Map", icon="🗺️"),
    st.Page("pages/clusters.py", title="Clusters", icon="🧩"),
    st.Page("pages/simulators.py", title="Simulators", icon="🏁"),
    st.Page("pages/examples.py", title="Examples", icon="🔍"),
    st.Page("pages/report.py", title="Report", icon="📤"),
]
page = st.navigation(pages)
st.session_state[ui.APP_KEY] = True
ui.sync_run()
st.sidebar.caption(f"Run: {ui.code_span(ui.run_label(ui.current_run_path()))} (chosen on Data)")
try:
    page.run()
except ui.READ_ERRORS as error:
    # A run directory whose files lack what this version expects (e.g. made by an older simgap)
    # gets a message naming the problem, never a traceback.
    st.error(
        f"This page cannot be shown for run {ui.md(ui.run_label(ui.current_run_path()))}: "
        f"{type(error).__name__}: {ui.md(error)}. Re-create the run with "
        f"{ui.code_span(f'simgap analyze --out {ui.current_run_path()}')}."
    )
finally:
    # Also under st.stop(): a page that stops on a bad run still shows its link.
    ui.show_link(page.url_path, [p.url_path for p in pages if p.url_path])

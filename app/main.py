"""SurgViVQA-Audio: ask a spoken question about a colonoscopy clip and see the model's answer.

    python -m streamlit run app/main.py [-- --checkpoint DIR --data DIR --runs DIR --device cuda]

Env vars SURGVIVQA_CHECKPOINT / SURGVIVQA_DATA / SURGVIVQA_RUNS / SURGVIVQA_DEVICE set the same
things (CLI args win). Pages: Ask (default), Results, Data, Training; only Ask uses the model,
which starts loading in the background on the server's first page run at the latest
(`python -m app.serve`, what `make demo` runs, starts it with the server). The sidebar is
collapsed on a phone's narrow screen ("auto") and open on a desktop's.
"""

from __future__ import annotations

import streamlit as st

from app import engine, settings, state, ui

st.set_page_config(
    page_title="SurgViVQA-Audio",
    page_icon=str(ui.ASSETS / "icon.svg"),
    layout="wide",
    initial_sidebar_state="auto",
)
ui.style()
state.init()
st.session_state["settings"] = cfg = settings.load()
engine.warm(cfg.checkpoint, cfg.device)  # once per process; returns at once

PAGES = [
    st.Page("../pages/ask.py", title="Ask", icon=":material/mic:", url_path="ask", default=True),
    st.Page(
        "../pages/results.py", title="Results", icon=":material/leaderboard:", url_path="results"
    ),
    st.Page("../pages/dataset.py", title="Data", icon=":material/photo_library:", url_path="data"),
    st.Page(
        "../pages/training_run.py",
        title="Training",
        icon=":material/monitoring:",
        url_path="training",
    ),
]
page = st.navigation(PAGES)
ui.sidebar(cfg)
page.run()

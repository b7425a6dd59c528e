"""Per-session state: every key the pages share, initialised once per browser session.

    python -c "from app.state import DEFAULTS; print(sorted(DEFAULTS))"

Widget values live under their own `w_*` keys, which Streamlit drops when a page stops drawing
the widget; the values the app keeps across pages live here and seed the widgets again.
"""

from __future__ import annotations

import copy
from typing import Any

import streamlit as st

from app.clips import ALL

DEFAULTS: dict[str, Any] = {
    "split": "test",  # Ask: which clips (held-out test clips first; ALL: every split)
    "qtype": ALL,  # Ask: question-type filter (clips holding a question of that type)
    "video": ALL,  # Ask: video filter
    "clip_index": 0,  # Ask: position in the filtered clip list
    "asked_id": None,  # Ask: id of the clip's recorded question to play
    "shown_clip": None,  # Ask: the clip on screen, so a change of clip drops the last take
    "mic_round": 0,  # Ask: bumped on a change of clip: the recorder starts empty
    "source": "clip",  # Ask: where the question comes from (clip | microphone | upload)
    "fps": 2.0,  # Ask: flipbook speed, frames per second
    "result": None,  # Ask: the latest answer shown on the card
    "history": [],  # Ask: every answer of this session, newest first
    "focus": None,  # (video_id, id) another page asks the Ask page to open
    "runs": None,  # Results: names of the chosen runs (None: the first one)
    "sheet_video": ALL,  # Data: video shown on the contact sheet
}


def init() -> None:
    """Fill in missing keys (once per session; later runs find them and change nothing)."""
    ss = st.session_state
    if ss.get("_initialised"):
        return
    for key, value in DEFAULTS.items():
        if key not in ss:
            ss[key] = copy.deepcopy(value)
    ss["_initialised"] = True


def seed(widget_key: str, key: str) -> None:
    """Give a widget the kept value when it (re)appears; the widget owns it while drawn."""
    if widget_key not in st.session_state:
        st.session_state[widget_key] = st.session_state[key]


def keep(widget_key: str, key: str) -> None:
    """on_change callback body: copy the widget's new value to the kept key."""
    st.session_state[key] = st.session_state[widget_key]

"""Data: what the loaded dataset holds (types, answers, videos, splits) and a contact sheet.

    python -m streamlit run app/main.py   # then the Data page

Reads only the JSONL files and frames: no model.
"""

from __future__ import annotations

from collections import Counter

import streamlit as st

from app import charts, clips, media, state, ui
from app.clips import ALL
from app.settings import short_path
from data.catalog import CATALOG, TYPE_NAMES
from data.schema import frame_path

SHEET_CLIPS = 8  # clips on the contact sheet: about one screen of 8-frame rows

cfg = ui.settings()
ss = st.session_state
ui.header(
    "Data",
    f"The dataset in {short_path(cfg.data)}: question types, answers, videos and splits.",
)

records = ui.dataset(cfg)

splits = [s for s in (*clips.SPLITS, "-") if any(r["split"] == s for r in records)]
by_split = {s: [r for r in records if r["split"] == s] for s in splits}
videos = sorted(clips.counts(records, "video_id"))

m = st.columns(5)
m[0].metric(
    "Clips", f"{len(clips.group(records)):,}", help="A clip is 8 frames; it has up to 4 questions."
)
m[1].metric("Questions", f"{len(records):,}", help="Each asks about one clip.")
m[2].metric("Videos", len(videos))
m[3].metric("Question types", len(clips.counts(records, "question_type")))
m[4].metric("With spoken audio", f"{sum(1 for r in records if r.get('audio')):,}")

c1, c2 = st.columns(2, gap="large")
with c1:
    st.subheader("Questions per type")
    order = [t for t in TYPE_NAMES if t in clips.counts(records, "question_type")]
    st.plotly_chart(
        charts.count_bars({s: clips.counts(by_split[s], "question_type") for s in splits}, order),
        width="stretch",
        key="types_chart",
    )
with c2:
    st.subheader("Answers")
    kind = st.segmented_control(
        "Question kind", ["yes/no", "choice"], default="yes/no", key="w_kind"
    )
    want = "yes_no" if kind != "choice" else "choice"
    answers = {
        s: Counter(
            f"{r['short_answer']}" for r in by_split[s] if CATALOG[r["question_type"]].kind == want
        )
        for s in splits
    }
    st.plotly_chart(charts.count_bars(answers, height=330), width="stretch", key="answers_chart")
    st.subheader("Clips per video")
    st.plotly_chart(
        charts.count_bars(
            {s: clips.clip_counts(by_split[s], "video_id") for s in splits},
            videos,
            height=110 + 28 * len(videos),
        ),
        width="stretch",
        key="videos_chart",
    )
    st.subheader("Clips per split")
    st.plotly_chart(
        charts.count_bars(
            {s: Counter({s: len(clips.group(by_split[s]))}) for s in splits},
            splits,
            height=110 + 28 * len(splits),
        ),
        width="stretch",
        key="splits_chart",
    )
    st.dataframe(
        [
            {
                "split": clips.SPLIT_WORDS.get(s, s),
                "clips (8 frames)": len(clips.group(by_split[s])),
                "questions": len(by_split[s]),
            }
            for s in splits
        ],
        hide_index=True,
        width="stretch",
        key="split_counts",
    )

with st.expander("Answers per question type"):
    per = Counter((r["question_type"], r["short_answer"]) for r in records)
    st.dataframe(
        [
            {
                "type": t,
                "answer": a,
                "questions": n,
                "share of type": f"{100 * n / clips.counts(records, 'question_type')[t]:.0f}%",
            }
            for (t, a), n in sorted(
                per.items(), key=lambda kv: (TYPE_NAMES.index(kv[0][0]), kv[0][1])
            )
        ],
        hide_index=True,
        width="stretch",
    )

# --- contact sheet ------------------------------------------------------------------------------
st.subheader("Contact sheet")
state.seed("w_sheet_video", "sheet_video")
video = st.selectbox(
    "Video",
    [ALL, *videos],
    key="w_sheet_video",
    on_change=state.keep,
    args=("w_sheet_video", "sheet_video"),
)
seen, sample = set(), []
for r in clips.select(records, video=video):
    if (r["video_id"], r["frames"][0]) in seen:
        continue
    seen.add((r["video_id"], r["frames"][0]))
    sample.append(r)
step = max(1, len(sample) // SHEET_CLIPS)
sample = sample[::step][:SHEET_CLIPS]
if sample:
    rows = tuple(
        tuple(str(frame_path(cfg.data / "frames", r["video_id"], f)) for f in r["frames"])
        for r in sample
    )
    labels = tuple(
        f"{r['video_id']}  frames {r['frame_numbers'][0]}-{r['frame_numbers'][-1]}  ({r['split']})"
        for r in sample
    )
    st.image(
        media.contact_sheet(rows, labels),
        caption=f"{len(sample)} clips evenly spread over {len(seen)}; a red tile is a "
        "missing frame.",
        width="content",
    )

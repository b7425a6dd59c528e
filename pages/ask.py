"""Ask: pick a clip, ask a spoken question, get the model's answer beside the ground truth.

    python -m streamlit run app/main.py   # the default page

The question is audio only: the microphone (streamlit-mic-recorder, or st.audio_input), an
uploaded file, or the clip's own recorded question. The model answers under the shared lock.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import streamlit as st

from app import capture, clips, engine, media, state, ui
from app.clips import ALL
from data.catalog import TYPE_NAMES
from data.facts import heard
from data.schema import DataError, check_name, record_key
from data.score import is_correct_strict

SOURCES = {
    "clip": "Clip's recording",
    "microphone": "Microphone",
    "upload": "Upload",
}
SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0)  # flipbook frames per second; 2 is the default

cfg = ui.settings()
ss = st.session_state
ui.header("Ask about a clip", "Pick a clip, ask your question out loud, read the answer.")

records = ui.dataset(cfg)


def _filter_changed(widget_key: str, key: str) -> None:
    state.keep(widget_key, key)
    ss["clip_index"] = 0


def _move(how: str, n: int) -> None:
    ss["clip_index"] = clips.step(ss["clip_index"], n, how)


# --- a clip opened from another page (Results: "open in Ask") or a link (?clip=video/id) -------
link = st.query_params.get("clip")
if link:
    st.query_params.pop("clip")  # consumed once: the clip buttons work as usual afterwards
    video_id, _, clip_id = link.partition("/")
    try:  # anyone can send a link: only plain names go further, and are shown as text
        ss["focus"] = (check_name(video_id, "video"), check_name(clip_id, "clip id"))
    except DataError:
        st.warning(
            f"The link does not name a clip: “{ui.plain(link, 80)}” (expected ?clip=VIDEO/ID)."
        )
if ss["focus"] is not None:
    key = tuple(ss["focus"])
    ss["focus"] = None
    rec = clips.find(records, key)
    if rec is None:
        st.warning(f"Clip {ui.plain(f'{key[0]}/{key[1]}')} is not in the loaded dataset.")
    else:
        ss["qtype"], ss["video"] = rec["question_type"], rec["video_id"]
        for w in ("w_qtype", "w_video"):
            ss.pop(w, None)
        ss["clip_index"] = clips.select(records, ss["qtype"], ss["video"]).index(rec)

# --- filters ------------------------------------------------------------------------------------
videos = sorted(clips.counts(records, "video_id"))
present = set(clips.counts(records, "question_type"))
types = [t for t in TYPE_NAMES if t in present]
if ss["qtype"] not in (ALL, *types):
    ss["qtype"] = ALL
if ss["video"] not in (ALL, *videos):
    ss["video"] = ALL
by_type = clips.counts(clips.select(records, video=ss["video"]), "question_type")
by_video = clips.counts(clips.select(records, qtype=ss["qtype"]), "video_id")
n_video = sum(by_video.values())

f1, f2, f3 = st.columns([3, 2, 3], vertical_alignment="bottom")
state.seed("w_qtype", "qtype")
f1.selectbox(
    f"Question type ({len(types)} types)",
    [ALL, *types],
    key="w_qtype",
    format_func=lambda t: (
        f"All types ({sum(by_type.values())})"
        if t == ALL
        else f"{t.replace('_', ' ')} ({by_type.get(t, 0)})"
    ),
    on_change=_filter_changed,
    args=("w_qtype", "qtype"),
)
state.seed("w_video", "video")
f2.selectbox(
    "Video",
    [ALL, *videos],
    key="w_video",
    format_func=lambda v: f"All videos ({n_video})" if v == ALL else f"{v} ({by_video.get(v, 0)})",
    on_change=_filter_changed,
    args=("w_video", "video"),
)
selection = clips.select(records, ss["qtype"], ss["video"])
n = len(selection)
with f3:
    nav = (
        ("Previous", ":material/chevron_left:", "prev"),
        ("Next", ":material/chevron_right:", "next"),
        ("Random", ":material/shuffle:", "random"),
    )
    for col, (label, icon, how) in zip(st.columns(3), nav, strict=True):
        col.button(
            label,
            icon=icon,
            on_click=_move,
            args=(how, n),
            disabled=n < 2,
            width="stretch",
            key=how,
        )

if not selection:
    st.info("No clip matches these filters. Choose another question type or video.")
    st.stop()
ss["clip_index"] = min(ss["clip_index"], n - 1)
rec = selection[ss["clip_index"]]
key = record_key(rec)
st.markdown(  # every field from the data file escaped: none of it is markup
    f'<div class="svq-clip">Clip <b>{ss["clip_index"] + 1}</b> of {n} · video '
    f"<b>{html.escape(rec['video_id'])}</b> · "
    f"frames {rec['frame_numbers'][0]}–{rec['frame_numbers'][-1]} · "
    f"id {html.escape(rec['id'])} · {html.escape(rec['split'])} split · "
    f"{html.escape(rec['question_type'].replace('_', ' '))}</div>",
    unsafe_allow_html=True,
)

# --- the clip: flipbook beside the question, all frames below ---------------------------------
frames, paths = None, []
try:
    paths = clips.frame_paths(cfg.data, rec)
    frames = clips.load_frames(cfg.data, rec)
except (clips.ClipError, DataError) as e:
    st.error(f"Cannot show this clip: {ui.plain(e)}")
left, right = st.columns([5, 6], gap="large")
with left:
    if frames is not None:
        gif = media.flipbook(tuple(map(str, paths)), float(ss["fps"]), tuple(rec["frame_numbers"]))
        st.image(gif, width="stretch")
        state.seed("w_fps", "fps")
        st.select_slider(
            "Flipbook speed",
            SPEEDS,
            key="w_fps",
            format_func=lambda v: f"{v:g} frames/s",
            on_change=state.keep,
            args=("w_fps", "fps"),
        )

# --- the question -------------------------------------------------------------------------------
question: capture.Question | None = None
later: Path | None = None  # the clip's own recording: decoded on "Answer", so no torch before
with right:
    st.markdown('<div class="svq-step">1 · Question</div>', unsafe_allow_html=True)
    state.seed("w_source", "source")
    st.radio(
        "Where does the question come from?",
        list(SOURCES),
        key="w_source",
        format_func=SOURCES.get,
        horizontal=True,
        label_visibility="collapsed",
        on_change=state.keep,
        args=("w_source", "source"),
    )
    source = ss["source"]
    window = capture.window_seconds(cfg.checkpoint)  # seconds the encoder hears (None: unknown)
    try:
        if source == "clip":
            path = clips.audio_path(cfg.data, rec)
            if path is None:
                st.info(
                    "This clip has no recorded question. Make the spoken questions with "
                    "`python -m data.tts --data DATA`, or use the microphone."
                )
            else:
                st.audio(str(path), format="audio/wav")
                voice = f" ({ui.plain(rec['voice'])})" if rec.get("voice") else ""
                st.caption(f"Recorded question{voice}: “{ui.plain(rec['question'])}”")
                later = path
        elif source == "microphone":
            limit = f" (this model hears up to {window:g} s)" if window else ""
            st.caption(f"Press record, ask your question, press stop{limit}.")
            take = capture.record(key="mic")
            builtin = st.audio_input("Or use the built-in recorder", key="w_builtin")
            # the newest take wins, whichever recorder made it
            if take and take.get("id") not in ss["mic_seen"]:
                ss["mic_seen"] = (*ss["mic_seen"], take.get("id"))
                ss["mic_take"] = ("recorder", take["bytes"])
            if builtin is not None and builtin.file_id not in ss["mic_seen"]:
                ss["mic_seen"] = (*ss["mic_seen"], builtin.file_id)
                ss["mic_take"] = ("builtin", builtin.getvalue())
            if ss["mic_take"] is not None:
                which, wav = ss["mic_take"]
                if which == "recorder":  # st.audio_input plays back by itself
                    st.audio(wav, format="audio/wav")
                question = capture.decode(wav, "your recording", "microphone", trim=True)
                st.caption(f"Recorded {question.seconds:.1f} s of speech (silence trimmed).")
        else:
            cap = st.get_option("server.maxUploadSize")  # MB, app/.streamlit/config.toml
            upload = st.file_uploader(
                f"A spoken question (WAV, FLAC, OGG or MP3; under 30 s and {cap} MB)",
                type=list(capture.UPLOAD_TYPES),
                key="w_upload",
            )
            if upload is not None:
                data = upload.getvalue()
                st.audio(data)
                question = capture.decode(data, upload.name, "upload", trim=True)
        if question is not None and window is not None and question.seconds > window:
            raise capture.QuestionError(
                f"{question.name} holds {question.seconds:.1f} s of speech; this model hears at "
                f"most {window:g} s. Ask a shorter question."
            )
    except capture.QuestionError as e:  # may quote an uploaded file's name
        st.error(ui.plain(e))
        question = None

    # --- the answer -----------------------------------------------------------------------------
    st.markdown('<div class="svq-step">2 · Answer</div>', unsafe_allow_html=True)
    problem = engine.checkpoint_problem(cfg.checkpoint)
    if problem:
        st.warning(problem)  # our own text, naming the configured checkpoint
    go = st.button(
        "Answer",
        type="primary",
        icon=":material/graphic_eq:",
        disabled=bool(problem) or (question is None and later is None) or frames is None,
        width="stretch",
        key="answer",
    )
    if go and frames is not None and (question is not None or later is not None):
        try:
            if question is None:
                question = capture.decode(later, f"the recorded question {later.name}", "clip")
            fresh = engine.loaded(cfg.checkpoint) is None
            eng = engine.engine(cfg.checkpoint, cfg.device)
            if fresh:
                ui.model_status(cfg)  # the sidebar said "loads on first question"
            with st.spinner("Listening and looking…"):
                out = engine.ask(eng, frames, question)
        except capture.QuestionError as e:
            st.error(ui.plain(e))
        except Exception as e:  # the app must keep working whatever the model says
            st.error(ui.plain(engine.explain(e)))
        else:
            ss["result"] = {
                "clip": key,
                "time": time.strftime("%H:%M:%S"),
                "source": question.source,
                "name": question.name,
                "seconds": round(question.seconds, 2),
                "text": out.text,
                "grounding": out.grounding,
                "latency_ms": float(out.latency_ms),
                "audio_tokens": int(out.audio_tokens),
                "vision_tokens": int(out.vision_tokens),
                "cached_prefix": bool(out.cached_prefix),
                "qtype": rec["question_type"],
                "question": rec["question"],
                "gold": rec["short_answer"],
                "correct": is_correct_strict(rec["question_type"], rec["short_answer"], out.text),
                # only the clip's own recording is known to ask the record's question
                "heard": heard(rec, out.grounding, out.text) if question.source == "clip" else {},
            }
            ss["history"] = [ss["result"], *ss["history"]][:50]
    result = ss["result"]
    if result is not None and tuple(result["clip"]) == key:
        ui.answer_card(result)
    elif not problem:
        st.caption("The answer appears here.")

if frames is not None:
    st.markdown('<div class="svq-step">The 8 frames</div>', unsafe_allow_html=True)
    media.frame_grid(frames, rec["frame_numbers"])

if ss["history"]:
    with st.expander(f"This session's answers ({len(ss['history'])})"):
        st.dataframe(
            [
                {
                    "time": h["time"],
                    "clip": f"{h['clip'][0]}/{h['clip'][1]}",
                    "type": h["qtype"],
                    "question from": SOURCES[h["source"]],
                    "answer": h["text"],
                    "truth": h["gold"],
                    "correct": h["correct"],
                    "latency ms": round(h["latency_ms"]),
                    "prefix": "cached" if h["cached_prefix"] else "computed",
                }
                for h in ss["history"]
            ],
            hide_index=True,
            width="stretch",
        )

# --- the clip's frames are encoded while the clinician looks at them ----------------------------
# Only once the model is loaded (the first question loads it): opening a clip never loads it.
eng = engine.loaded(cfg.checkpoint) if frames is not None else None
if eng is not None:
    try:
        engine.prime(eng, frames)
    except Exception as e:  # the page stays usable; the same error would meet the question
        st.error(ui.plain(engine.explain(e)))

with st.expander("How this works"):
    st.markdown(
        "- The model **hears** the question: the audio goes straight into it, with no "
        "speech-to-text step, together with the clip's 8 frames.\n"
        "- *Correct* / *incorrect* compares the answer with the ground truth of the clip's own "
        "question under the strict metric (the answer must name exactly one option).\n"
        "- Once the model is loaded, a clip's frames are encoded when you open it and kept "
        "for the questions that follow (*vision prefix: cached*), so they are answered faster.\n"
        "- Recordings stay in this browser session; nothing is stored on disk.\n"
        f"- {ui.NOTICE}."
    )

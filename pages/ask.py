"""Ask: pick a clip, ask a spoken question, get the model's answer and what it understood.

    python -m streamlit run app/main.py   # the default page

A clip is 8 frames with up to four reference questions. The question is audio only: the
microphone (st.audio_input), an uploaded file (app.capture: WAV, FLAC, OGG, MP3, M4A, WebM), or
one of the clip's recorded questions. The answer says what it was understood as, how sure the
model is (app.confidence) and is graded only against a reference of that question (app.asked).
The question and answer are one fragment: a click there reruns that part only. The model was
loaded when the server started (app.engine.warm) and answers under the shared lock.
"""

from __future__ import annotations

import html
import time

import streamlit as st

from app import asked, capture, clips, engine, media, state, ui
from app.clips import ALL
from data.catalog import TYPE_NAMES
from data.facts import heard
from data.schema import DataError, check_name, record_key

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
    ss.pop("w_asked", None)  # the recording to play follows the question filter


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
    else:  # its clip, with its recorded question ready to play
        ss["split"], ss["qtype"], ss["video"] = rec["split"], ALL, rec["video_id"]
        ss["source"], ss["asked_id"] = "clip", rec["id"]
        for w in ("w_split", "w_qtype", "w_video", "w_source", "w_asked"):
            ss.pop(w, None)
        found = clips.select_clips(records, ss["split"], ALL, ss["video"])
        ss["clip_index"] = next(
            i for i, c in enumerate(found) if clips.clip_key(c[0]) == clips.clip_key(rec)
        )

# --- filters: which clips -----------------------------------------------------------------------
splits = [s for s in (*clips.SPLITS[::-1], "-") if any(r["split"] == s for r in records)]
if ss["split"] not in (ALL, *splits):
    ss["split"] = splits[0] if splits else ALL
in_split = [r for r in records if ss["split"] == ALL or r["split"] == ss["split"]]
videos = sorted(clips.counts(in_split, "video_id"))
present = set(clips.counts(in_split, "question_type"))
types = [t for t in TYPE_NAMES if t in present]
if ss["qtype"] not in (ALL, *types):
    ss["qtype"] = ALL
if ss["video"] not in (ALL, *videos):
    ss["video"] = ALL
by_split = clips.clip_counts(records, "split")
by_type = clips.clip_counts(clips.select(in_split, video=ss["video"]), "question_type")
by_video = clips.clip_counts(
    [c for cl in clips.select_clips(in_split, qtype=ss["qtype"]) for c in cl], "video_id"
)

f0, f1, f2, f3 = st.columns([3, 3, 2, 5], vertical_alignment="bottom")
state.seed("w_split", "split")
f0.selectbox(
    "Clips",
    [*splits, ALL],
    key="w_split",
    format_func=lambda s: (
        f"All clips ({sum(by_split.values())})"
        if s == ALL
        else f"{clips.SPLIT_WORDS.get(s, s).capitalize()} ({by_split.get(s, 0)})"
    ),
    on_change=_filter_changed,
    args=("w_split", "split"),
)
state.seed("w_qtype", "qtype")
f1.selectbox(
    "With a question about",
    [ALL, *types],
    key="w_qtype",
    format_func=lambda t: (
        "Any question" if t == ALL else f"{asked.plain(t)} ({by_type.get(t, 0)} clips)"
    ),
    on_change=_filter_changed,
    args=("w_qtype", "qtype"),
)
state.seed("w_video", "video")
f2.selectbox(
    "Video",
    [ALL, *videos],
    key="w_video",
    format_func=lambda v: (
        f"All videos ({sum(by_video.values())})" if v == ALL else f"{v} ({by_video.get(v, 0)})"
    ),
    on_change=_filter_changed,
    args=("w_video", "video"),
)
selection = clips.select_clips(records, ss["split"], ss["qtype"], ss["video"])
n = len(selection)
with f3:
    nav = (
        ("Previous", ":material/chevron_left:", "prev"),
        ("Next", ":material/chevron_right:", "next"),
        ("Random", ":material/shuffle:", "random"),
    )
    row = st.container(horizontal=True, wrap=False)  # one row on a phone too
    for label, icon, how in nav:
        row.button(
            label,
            icon=icon,
            on_click=_move,
            args=(how, n),
            disabled=n < 2,
            width="stretch",
            key=how,
        )

if not selection:
    st.info("No clip matches these filters. Choose other clips, another question or video.")
    st.stop()
ss["clip_index"] = min(ss["clip_index"], n - 1)
clip = selection[ss["clip_index"]]
first = clip[0]
here = clips.clip_key(first)
if ss["shown_clip"] != here:  # another clip: a take recorded for the last one is not for it
    ss["shown_clip"] = here
    ss["mic_round"] += 1
st.markdown(  # every field from the data file escaped: none of it is markup
    f'<div class="svq-clip">Clip <b>{ss["clip_index"] + 1}</b> of {n} · video '
    f"<b>{html.escape(first['video_id'])}</b> · "
    f"frames {first['frame_numbers'][0]}–{first['frame_numbers'][-1]} · "
    f"{len(clip)} question{'s' if len(clip) != 1 else ''} · "
    f"{html.escape(clips.SPLIT_WORDS.get(first['split'], first['split']))}</div>",
    unsafe_allow_html=True,
)

# --- the clip: flipbook beside the question and answer, all frames below -----------------------
frames, paths = None, []
try:
    paths = clips.frame_paths(cfg.data, first)
    frames = clips.load_frames(cfg.data, first)
except (clips.ClipError, DataError) as e:
    st.error(f"Cannot show this clip: {ui.plain(e)}")


def _question(clip: list[dict], here: tuple, limit: float) -> tuple:
    """The question chosen on the page: (checked Question or None, the clip's own recording to
    decode on Answer or None, what is being asked: a result for another input is not shown)."""
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
    question, later, signature = None, None, None
    try:
        if ss["source"] == "clip":
            ids = [r["id"] for r in clip]
            if ss.get("w_asked") not in ids:  # a new clip: the linked or the filtered question
                wanted = [r["id"] for r in clip if r["question_type"] == ss["qtype"]]
                ss["w_asked"] = ss["asked_id"] if ss["asked_id"] in ids else (wanted or ids)[0]
            pick = st.selectbox(
                "Recorded question",
                ids,
                key="w_asked",
                format_func=lambda i: asked.plain(
                    next(r["question_type"] for r in clip if r["id"] == i)
                ),
            )
            rec = next(r for r in clip if r["id"] == pick)
            path = clips.audio_path(cfg.data, rec)
            if path is None:
                st.info(
                    "This question has no recording. Make the spoken questions with "
                    "`python -m data.tts --data DATA`, or use the microphone."
                )
            else:
                st.audio(str(path), format="audio/wav")
                st.caption(f"Recorded question: “{ui.plain(rec['question'])}”")
                later = (path, rec)
                signature = ("clip", here, rec["id"])
        elif ss["source"] == "microphone":
            take = st.audio_input(  # the one recorder: Streamlit's own (16 kHz WAV)
                f"Record your question (up to {limit:g} s)",
                key=f"w_mic_{ss['mic_round']}",  # a new clip starts with no take
                help="Press the microphone, ask, press stop. A longer take is refused: the "
                "recorder counts the seconds but cannot stop by itself.",
            )
            if take is not None:
                signature = ("microphone", here, take.file_id)
                wav = take.getvalue()
                question = capture.decode(wav, "your recording", "microphone", True, limit)
        else:
            cap = st.get_option("server.maxUploadSize")  # MB, app/.streamlit/config.toml
            upload = st.file_uploader(
                f"A spoken question ({capture.UPLOAD_WORDS}; up to {limit:g} s and {cap} MB)",
                type=list(capture.UPLOAD_TYPES),
                key="w_upload",
            )
            if upload is not None:
                data = upload.getvalue()
                st.audio(data)
                signature = ("upload", here, upload.file_id)
                question = capture.decode(data, upload.name, "upload", True, limit)
        if question is not None:
            st.caption(f"Heard {question.seconds:.1f} s of speech (silence around it trimmed).")
            if question.weak:
                st.warning(capture.weak_note(question))
    except capture.QuestionError as e:  # may quote an uploaded file's name
        st.error(ui.plain(e))
        question = None
    return question, later, signature


def _answer(clip: list[dict], frames: list, question, later, signature) -> None:
    """The Answer button, and the card of the answer to what is on the page now."""
    first = clip[0]
    st.markdown('<div class="svq-step">2 · Answer</div>', unsafe_allow_html=True)
    ready = question is not None or later is not None
    go = st.button(
        "Answer",
        type="primary",
        icon=":material/graphic_eq:",
        disabled=not ready,
        width="stretch",
        key="answer",
    )
    if go and ready:
        ss["result"] = None  # a failure below leaves no older answer on screen
        sign = st.empty()  # a status shows at once (a spinner waits half a second)
        try:
            with sign.status("Listening and looking…"):
                own = None
                if question is None and later is not None:
                    path, own = later
                    question = capture.decode(path, f"the recorded question {path.name}", "clip")
                eng = engine.engine(cfg.checkpoint, cfg.device)
                out, sure, score = engine.ask(eng, frames, question)
        except capture.QuestionError as e:
            st.error(ui.plain(e))
        except Exception as e:  # the app must keep working whatever the model says
            st.error(ui.plain(engine.explain(e)))
        else:
            verdict = asked.judge(clip, out.grounding, out.text, own)
            ss["result"] = {
                "input": signature,
                "clip": record_key(own or first),
                "time": time.strftime("%H:%M:%S"),
                "source": question.source,
                "name": question.name,
                "seconds": round(question.seconds, 2),
                "snr_db": round(question.speech.snr_db, 1) if question.speech else None,
                "text": out.text,
                "grounding": out.grounding,
                "understood": verdict.understood.words(),
                "understood_types": list(verdict.understood.types),
                "graded": verdict.graded,
                "own": verdict.own,
                "correct": verdict.correct,
                "confidence": sure,
                "score": score,
                "latency_ms": float(out.latency_ms),
                "audio_tokens": int(out.audio_tokens),
                "vision_tokens": int(out.vision_tokens),
                "cached_prefix": bool(out.cached_prefix),
                # only the clip's own recording is known to ask the record's question
                "heard": heard(own, out.grounding, out.text) if own else {},
            }
            ss["history"] = [ss["result"], *ss["history"]][:50]
        sign.empty()
    result = ss["result"]
    if result is not None and result["input"] == signature:
        ui.answer_card(result)
    else:
        st.caption("The answer appears here.")


@st.fragment
def ask_here(clip: list[dict], frames: list, here: tuple) -> None:
    """Question and answer: a click here reruns only this part, not the clip above."""
    problem = engine.checkpoint_problem(cfg.checkpoint)
    eng, usable = None, not problem
    if problem:
        st.warning(problem)  # our own text, naming the configured checkpoint
    else:
        waited = engine.loaded(cfg.checkpoint) is None
        try:  # loaded when the server started; else the seconds it still takes are counted
            eng = engine.engine(cfg.checkpoint, cfg.device)
        except Exception as e:
            st.error(ui.plain(engine.explain(e)))
            usable = False
        if waited and eng is not None and not ss.get("sidebar_redrawn"):
            ss["sidebar_redrawn"] = True  # once a session: the sidebar said "loading…" before
            st.rerun(scope="app")
    limit = capture.limit_seconds(getattr(eng, "predictor", None))  # the model's longest question
    question, later, signature = _question(clip, here, limit)
    if not usable:
        st.button("Answer", type="primary", disabled=True, width="stretch", key="answer")
    else:
        _answer(clip, frames, question, later, signature)
    with st.expander(f"What can I ask? ({len(asked.what_can_be_asked())} kinds of question)"):
        st.caption(
            "The model answers these questions about a clip, in your own words. "
            "Anything else gets an answer to the nearest of them."
        )
        st.dataframe(asked.what_can_be_asked(), hide_index=True, width="stretch")
    if ss["history"]:
        with st.expander(f"This session's answers ({len(ss['history'])})"):
            st.dataframe(
                [
                    {
                        "time": h["time"],
                        "clip": f"{h['clip'][0]}/{h['clip'][1]}",
                        "question from": SOURCES[h["source"]],
                        "understood as": h["understood"],
                        "answer": h["text"],
                        "sure?": h.get("confidence") or "",
                        "reference": ", ".join(g["gold"] for g in h["graded"]) or "none",
                        "correct": h["correct"],
                    }
                    for h in ss["history"]
                ],
                hide_index=True,
                width="stretch",
            )


left, right = st.columns([5, 6], gap="large")
with left:  # on a phone the columns stack: the clip, then at once the question and the answer
    if frames is not None:
        gif = media.flipbook(
            tuple(map(str, paths)), float(ss["fps"]), tuple(first["frame_numbers"])
        )
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
with right:
    if frames is None:
        st.button("Answer", type="primary", disabled=True, width="stretch", key="answer")
    else:
        ask_here(clip, frames, here)
    st.markdown(
        "**Reference questions on this clip**\n\n"
        + "\n".join(f"- {ui.plain(asked.plain(r['question_type']))}" for r in clip),
        help="An answer is graded only against the reference of the question it was understood as.",
    )

if frames is not None:
    st.markdown('<div class="svq-step">The 8 frames</div>', unsafe_allow_html=True)
    media.frame_grid(frames, first["frame_numbers"])

# --- the clip's frames are encoded while the clinician looks at them ----------------------------
eng = engine.loaded(cfg.checkpoint) if frames is not None else None
if eng is not None:
    try:
        engine.prime(eng, frames)
    except Exception as e:  # the page stays usable; the same error would meet the question
        st.error(ui.plain(engine.explain(e)))

limit = capture.limit_seconds(eng.predictor if eng else None)
with st.expander("How this works"):
    st.markdown(
        "- The model **hears** the question: the audio goes straight into it, with no "
        "speech-to-text step, together with the clip's 8 frames.\n"
        "- It first says what in the clip its answer rests on; from that the page says what "
        "your question was *understood as*, and grades the answer only against the clip's "
        "reference for that question. A question the clip has no reference for is answered "
        "but not graded.\n"
        "- *Sure*, *fairly sure* or *unsure*: how probable the model found its own words, "
        "measured against how often answers that probable were right on the evaluation "
        "clips.\n"
        f"- Questions up to {limit:g} s are heard; recordings without speech (silence, noise, "
        "music) are refused.\n"
        "- Recordings stay in this browser session; nothing is stored on disk.\n"
        f"- {ui.NOTICE}."
    )

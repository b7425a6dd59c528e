"""Shared look: page frame, sidebar, answer card and small formatting helpers.

    python -m streamlit run app/main.py   # every page draws through these

The CSS lives in assets/app.css; HTML built here escapes everything that comes from data or
from the model.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import streamlit as st

from app import clips, engine, runs
from app.settings import ROOT, Settings, short_path
from data.facts import grounding_kind
from data.schema import DataError

ASSETS = ROOT / "assets"
NOTICE = "Research demo — not for clinical use"
# Markdown's own punctuation and Streamlit's (:color[...], :material/...:, $math$): a backslash
# makes CommonMark show any ASCII punctuation as itself
_MARKUP = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")


# GFM links bare URLs and e-mail addresses even when escaped: an invisible word joiner (U+2060)
# after the scheme or before the @ keeps them text
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp|mailto|xmpp|www)(?=[:.])|(?=@)")
JOINER = "\u2060"


# Inside the app's own HTML: Markdown's punctuation as character references (never syntax)
_MARKUP_IN_HTML = re.compile(r"[!\[\]()*_`$:~|\\{}]")


def html_text(value: object) -> str:
    """`value` as text inside the app's HTML: escaped and on one line. A blank line from a data
    file would end the HTML block and let Markdown read the rest as links and images (an
    image from any server inside the answer card); its punctuation goes as references too."""
    escaped = html.escape(" ".join(str(value).split()))
    return _MARKUP_IN_HTML.sub(lambda m: f"&#{ord(m.group())};", escaped)


def plain(value: object, limit: int = 1000) -> str:
    """`value` as Markdown that shows its text: no link, image, HTML, colour or math from a
    URL, an uploaded file's name or a data file; one line, at most `limit` characters."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = _AUTOLINK.sub(lambda m: (m.group(1) or "") + JOINER, text)
    return _MARKUP.sub(r"\\\1", text)


def settings() -> Settings:
    """The settings main.py put in this run's session state."""
    return st.session_state["settings"]


def dataset(cfg: Settings) -> list[dict]:
    """The records of cfg.data; a clear message and a stopped page when there are none."""
    try:
        return clips.dataset(cfg.data)
    except clips.NoData as e:
        st.error(plain(e))
    except (DataError, OSError) as e:
        st.error(plain(f"The dataset in {_short(cfg.data)} cannot be read: {e}"))
    st.stop()


def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def split_words(split: str, how: str = "audio") -> str:
    """Which questions a run asked, in words: "held-out test clips, spoken", "test clips, a new
    voice (noise 0db)", "…, typed", "…, another question's audio"."""
    base, _, condition = split.partition("-") if split.startswith("stranger") else (split, "", "")
    words = (
        "test clips, a new voice" + (f" ({condition.replace('-', ' ')})" if condition else "")
        if base == "stranger"
        else clips.SPLIT_WORDS.get(split, split)
    )
    if how.startswith("text"):
        return f"{words}, typed"
    if "shuffled" in how:
        return f"{words}, another question's audio"
    if "silent" in how:
        return f"{words}, silence"
    return f"{words}, spoken"


def style() -> None:
    st.html(ASSETS / "app.css")
    st.logo(str(ASSETS / "logo.svg"), icon_image=str(ASSETS / "icon.svg"), size="large")


def header(title: str, subtitle: str) -> None:
    st.markdown(
        f'<div class="svq-header"><h1>{html.escape(title)}</h1>'
        f"<p>{html.escape(subtitle)}</p></div>",
        unsafe_allow_html=True,
    )


def _short(path: Path) -> str:
    return short_path(path)


def model_status(cfg: Settings) -> None:
    """The checkpoint and device lines of the sidebar; the Ask page redraws them once the model
    has loaded in this run (the sidebar is drawn before the page)."""
    slot = st.session_state.get("_model_slot")
    box = slot.container() if slot is not None else st.sidebar.container()
    problem = engine.checkpoint_problem(cfg.checkpoint)
    eng = None if problem else engine.loaded(cfg.checkpoint)
    if problem:
        box.markdown(
            f'<div class="svq-kv"><span>checkpoint</span><b>none</b></div>'
            f'<div class="svq-dim">{html.escape(_short(cfg.checkpoint))} is missing</div>',
            unsafe_allow_html=True,
        )
        return
    dev = eng.device if eng else (cfg.device or "auto")
    if eng:
        status = f"loaded in {eng.load_s:.1f} s"
    else:
        status = "loading…" if engine.loading(cfg.checkpoint) else "loads on the Ask page"
    box.markdown(
        f'<div class="svq-kv"><span>checkpoint</span>'
        f"<b>{html.escape(cfg.checkpoint.name)}</b></div>"
        f'<div class="svq-kv"><span>device</span><b>{html.escape(dev)}</b></div>'
        f'<div class="svq-dim">{html.escape(_short(cfg.checkpoint))} · '
        f"{html.escape(status)}</div>",
        unsafe_allow_html=True,
    )


def sidebar(cfg: Settings) -> None:
    """Checkpoint, device, data folder, the checkpoint's headline accuracy and the notice."""
    with st.sidebar:
        st.markdown(f'<div class="svq-notice">⚠ {NOTICE}</div>', unsafe_allow_html=True)
        st.markdown("##### Model")
        st.session_state["_model_slot"] = st.empty()
        model_status(cfg)
        problem = engine.checkpoint_problem(cfg.checkpoint)
        summary = None if problem else runs.headline(cfg.checkpoint)
        if summary:
            strict = summary.get("strict") or {}
            prior = summary.get("prior") or {}
            stranger = summary.get("split") == "stranger"
            st.metric(
                "Right answers, a new voice asking" if stranger else "Right answers, test clips",
                pct(strict.get("accuracy")),
                delta=(
                    f"{100 * (strict['accuracy'] - prior['accuracy']):+.1f} pts over guessing"
                    if prior.get("accuracy") is not None and "accuracy" in strict
                    else None
                ),
                help=(
                    "Held-out test clips, asked in hand-written wordings by a voice never heard "
                    "in training. "
                    if stranger
                    else "Held-out test clips. "
                )
                + f"{summary.get('n', '?')} questions. Guessing: each question's most common "
                f"training answer, without looking or listening ({pct(prior.get('accuracy'))}).",
            )
        elif not problem:
            st.caption("No evaluation yet (eval/summary.json).")
        st.markdown("##### Data")
        st.markdown(
            f'<div class="svq-dim">{html.escape(_short(cfg.data))}</div>', unsafe_allow_html=True
        )


def verdict_badge(correct: bool | None) -> str:
    if correct is None:
        return '<span class="svq-badge svq-na">not scored</span>'
    if correct:
        return '<span class="svq-badge svq-ok">✓ correct</span>'
    return '<span class="svq-badge svq-bad">✗ incorrect</span>'


def misheard_note(result: dict) -> str:
    """A warning line when the answer rests on another question's fact, else ''."""
    verdict = result.get("heard") or {}
    if verdict.get("heard") is not False:
        return ""
    said, kind = verdict["grounding"], grounding_kind(verdict["grounding_expected"])
    if grounding_kind(said) == kind:  # the right fact, answered in another question's form
        why = f"“{html_text(result['text'])}” does not answer this question"
    else:
        why = f"this question is about the clip's {html_text(kind)}"
    return (
        f'<div class="svq-dim svq-misheard">Heard as another question? The answer rests on '
        f"“{html_text(said)}”, while {why}.</div>"
    )


def _reference_lines(result: dict) -> str:
    """One line per graded reference, or the line saying there is none on this clip."""
    graded = result.get("graded") or []
    if not graded:
        return (
            f'<div class="svq-truth">{verdict_badge(None)} No reference for that question on '
            "this clip, so the answer is not graded.</div>"
        )
    return "".join(
        f'<div class="svq-truth">{verdict_badge(g["correct"])} Reference answer: '
        f"<b>{html_text(g['gold'])}</b> · "
        f'<span class="svq-dim">{html_text(g["question"])}</span></div>'
        for g in graded
    )


SURE_WORDS = {  # app.confidence's words, as the card says them
    "sure": "The model is sure of this answer.",
    "fairly sure": "The model is fairly sure of this answer.",
    "unsure": "The model is unsure of this answer: look at the clip yourself.",
}


def confidence_line(result: dict) -> str:
    """The card's line saying how sure the model is ('' for an uncalibrated checkpoint)."""
    word = result.get("confidence")
    if word not in SURE_WORDS:
        return ""
    return f'<div class="svq-understood">{html_text(SURE_WORDS[word])}</div>'


def answer_card(result: dict) -> None:
    """The model's answer, large; how sure it is; what the question was understood as; the
    verdict against the clip's reference of that question (or none); figures behind Details."""
    cls = {True: "svq-correct", False: "svq-wrong"}.get(result["correct"], "")
    seen = result.get("grounding") or ""
    seen_html = f'<div class="svq-dim">Seen in the clip: {html_text(seen)}</div>' if seen else ""
    seen_html += misheard_note(result)
    st.markdown(
        f'<div class="svq-card {cls}">'
        f'<div class="svq-label">Model answer</div>'
        f'<div class="svq-answer">{html_text(result["text"]) or "<i>(empty answer)</i>"}</div>'
        f"{confidence_line(result)}"
        f'<div class="svq-understood">Understood as: {html_text(result["understood"])}</div>'
        f"{seen_html}{_reference_lines(result)}</div>",
        unsafe_allow_html=True,
    )
    with st.expander("Details"):
        c = st.columns(4)
        c[0].metric("Latency", f"{result['latency_ms']:.0f} ms")
        c[1].metric("Audio tokens", f"{result['audio_tokens']}")
        c[2].metric("Vision tokens", f"{result['vision_tokens']}")
        c[3].metric(
            "Vision prefix",
            "cached" if result["cached_prefix"] else "computed",
            help="Cached: the clip's frames were already encoded (on opening it, or by an "
            "earlier question), so only the question was left to hear.",
        )
        snr = result.get("snr_db")
        score = result.get("score")
        if score is not None:
            st.caption(
                f"Mean probability of the model's words: {math.exp(score):.2f} (log {score:.2f})"
                + (
                    "; calibrated on the evaluation clips (docs/architecture.md, Confidence)."
                    if result.get("confidence")
                    else "; this checkpoint has no calibration, so no words are given "
                    "(python -m app.confidence)."
                )
            )
        st.caption(
            f"Heard {result['seconds']:.1f} s"
            + (f"; speech {snr:.0f} dB over the background" if snr is not None else "")
            + ". Grading is strict: the answer must name exactly one of the question's options"
            + (
                "; the clip's own recording is graded against its own question."
                if result.get("own")
                else "."
            )
        )

"""Results: accuracy of one or more evaluation runs, overall and per question type.

    python -m streamlit run app/main.py   # then the Results page

Strict and lenient accuracy beside the blind prior, each with its 95% Wilson interval (and the
wider one over spoken wordings, where the run has it); two runs compared answer by answer
(data.compare); the confusion matrix of one type; the wrong answers, each of which opens its
clip in Ask.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import charts, runs, ui
from app.settings import short_path
from app.ui import pct
from data import clinic
from data.catalog import TYPE_NAMES
from model.layout import PREDICTIONS_FILE, SUMMARY_FILE

cfg = ui.settings()
ss = st.session_state
ui.header("Results", "How often the model is right, per question type, against the blind prior.")

found, problems = runs.find_runs(cfg.runs, cfg.checkpoint)
for p in problems:  # they quote files and their contents
    st.warning(ui.plain(p))
if not found:
    st.info(
        "No evaluation runs yet. Evaluate a checkpoint with `python -m evaluation.evaluate "
        f"--checkpoint {short_path(cfg.checkpoint)} --data {short_path(cfg.data)} --split test "
        "--out runs/NAME`, or build "
        "the demo checkpoint (evaluated into checkpoints/demo/eval) with `make demo-checkpoint`."
    )
    st.stop()

names = [r.name for r in found]
if ss["runs"] is None or not set(ss["runs"]) & set(names):
    ss["runs"] = runs.default_runs(found, cfg.checkpoint)
ss["w_runs"] = [n for n in ss.get("w_runs", ss["runs"]) if n in names] or names[:1]


def _keep_runs() -> None:
    ss["runs"] = ss["w_runs"]


st.multiselect(
    "Evaluation runs",
    names,
    key="w_runs",
    on_change=_keep_runs,
    help=f"From {short_path(cfg.runs)}/*/{SUMMARY_FILE} and <checkpoint>/eval*/{SUMMARY_FILE}.",
)
chosen = [r for r in found if r.name in (ss["w_runs"] or names[:1])]

# --- overall ------------------------------------------------------------------------------------
st.subheader("Overall")
plain_rows, figures = [], []
for r in chosen:
    s = r.summary
    prior = s.get("prior") or {}
    worded = (s.get("by_wording") or {}).get("strict", [])  # None when rows lack their question
    how = s.get("mode", "audio") + (
        "" if s.get("ablation", "none") == "none" else f" ({s['ablation']} audio)"
    )
    plain_rows.append(
        {
            "run": r.name,
            "questions asked": ui.split_words(s.get("split", "?"), how),
            "questions": s.get("n"),
            "right answers": pct(s["strict"]["accuracy"]),
            "guessing gets": pct(prior.get("accuracy")),
            "heard the question": pct((s.get("heard") or {}).get("rate")),
        }
    )
    figures.append(
        {
            "run": r.name,
            "split": s.get("split", "?"),
            "mode": how + (f", {s['audio_tokens']} tokens" if s.get("audio_tokens") else ""),
            "n": s.get("n"),
            "strict": pct(s["strict"]["accuracy"]),
            "strict 95% CI": "–".join(pct(x, 0) for x in s["strict"].get("ci", [])),
            "over wordings": "–".join(pct(x, 0) for x in worded) or "–",
            "lenient": pct(s["lenient"]["accuracy"]),
            "blind prior": pct(prior.get("accuracy")),
            "invalid answers": pct(s["strict"].get("invalid_rate")),
            "heard as asked": pct((s.get("heard") or {}).get("rate")),
            "median latency": (
                f"{s['latency_ms']['median']:.0f} ms"
                if isinstance(s.get("latency_ms"), dict) and "median" in s["latency_ms"]
                else "–"
            ),
            "created": s.get("created", ""),
        }
    )
st.dataframe(
    plain_rows,
    hide_index=True,
    width="stretch",
    key="overall_table",
    column_config={
        "run": st.column_config.TextColumn(width="medium"),
        "questions asked": st.column_config.TextColumn(width="medium"),
        "questions": st.column_config.NumberColumn(width="small"),
    },
)
st.plotly_chart(
    charts.accuracy_bars(runs.overall_rows(chosen)), width="stretch", key="overall_chart"
)
st.caption(
    "Right answers: the answer names exactly the right option. Guessing gets: what always "
    "giving each kind of question its most common answer in training would score, without "
    "looking or listening. Heard the question: the answer is about what was asked."
)
with st.expander("Details"):
    st.dataframe(figures, hide_index=True, width="stretch", key="overall_figures")
    st.caption(
        "Bars: strict accuracy; whiskers: 95% Wilson interval. Strict: the answer must name "
        "exactly one option, the right one; lenient: the right option appears in it. Blind "
        "prior: each type's most frequent training answer. 'Over wordings' resamples the "
        "distinct spoken questions instead of single answers (the test split has one wording "
        "per type), the wider interval to read when comparing two runs. 'Heard as asked' "
        "(grounded answers): the caption segment said is of the asked question's kind and the "
        "answer is one of its options; below it, the model answered another question."
    )

# --- clinic conditions --------------------------------------------------------------------------
ckpt = Path(cfg.checkpoint).resolve()
own = {r.name: r.summary for r in found if r.folder.resolve().parent == ckpt}
if clinic_rows := clinic.rows(own):
    st.subheader("In a clinic's conditions")
    st.markdown(ui.plain(clinic.headline(own).replace("**", "")))
    st.dataframe(
        [
            {
                "how the question was heard": r["condition"],
                "right answers": pct(r["strict"]),
                "95% over wordings": "–".join(pct(x, 0) for x in r["over wordings"] or []),
                "vs quiet": "–" if r["vs quiet"] is None else f"{100 * r['vs quiet']:+.1f} pts",
                "types below guessing": len(r["below prior"]),
            }
            for r in clinic_rows
        ],
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "The stranger's questions (a voice and wordings training never met) asked again: under "
        "noise kinds training never hears, in an echoing room, after a lead-in sentence, with "
        "fillers, fast and slow (`make clinic`). The worst row is what to count on."
    )

# --- per type -----------------------------------------------------------------------------------
st.subheader("Per question type")
rows = runs.type_rows(chosen)
if len(chosen) == 1:
    fig = charts.type_bars(rows, color="metric")
else:
    metric = st.segmented_control("Metric", list(runs.METRICS), default="strict", key="w_metric")
    fig = charts.type_bars([r for r in rows if r["metric"] == (metric or "strict")], color="run")
st.plotly_chart(fig, width="stretch", key="type_chart")
with st.expander("Per-type table"):
    st.dataframe(
        [
            {
                "run": r.name,
                "type": t,
                "n": d["n"],
                "kind": d.get("kind", ""),
                "strict": pct(d["strict"]),
                "lenient": pct(d["lenient"]),
                "prior": pct(d.get("prior")),
                "prior answer": d.get("prior_answer") or "",
                "invalid": pct(d.get("invalid_rate")),
                "heard as asked": pct(d.get("heard")),
            }
            for r in chosen
            for t, d in r.summary["per_type"].items()
        ],
        hide_index=True,
        width="stretch",
    )

# --- two runs, answer by answer -----------------------------------------------------------------
if len(chosen) > 1:
    st.subheader("Two runs, answer by answer")
    c1, c2 = st.columns(2)
    ref = c1.selectbox("Reference (a)", [r.name for r in chosen], index=0, key="w_cmp_a")
    cand = c2.selectbox("Candidate (b)", [r.name for r in chosen], index=1, key="w_cmp_b")
    try:
        named = {r.name: r for r in chosen}
        paired = runs.paired(named[ref], named[cand])
    except runs.RunError as e:  # another split, or predictions missing
        st.info(ui.plain(f"No paired comparison of {ref} and {cand}: {e}"))
    else:
        bw = (paired.get("by_wording") or {}).get("diff")
        c1, c2, c3 = st.columns(3)
        c1.metric("b gets right, more than a", f"{100 * paired['diff']:+.1f} pts")
        c2.metric("Likely range", f"{100 * bw[0]:+.1f} to {100 * bw[1]:+.1f}" if bw else "–")
        c3.metric(
            "Chance of no real difference",
            f"{paired['p']:.3g}",
            help="McNemar's test on the questions only one of the two got right.",
        )
        st.caption(
            f"{paired['only_a']} questions only a got right, {paired['only_b']} only b. "
            "Both runs answered the same questions, so the difference is paired; the interval "
            "resamples the spoken wordings with both runs' answers kept together. A difference "
            "whose interval holds zero is inside the spread of wordings."
        )
        with st.expander("Per type"):
            st.dataframe(
                [
                    {
                        "type": t,
                        "n": d["n"],
                        "a": pct(d["a"]),
                        "b": pct(d["b"]),
                        "b - a": f"{100 * d['diff']:+.1f}",
                        "only a": d["only_a"],
                        "only b": d["only_b"],
                        "McNemar p": f"{d['p']:.3g}",
                    }
                    for t, d in paired["per_type"].items()
                ],
                hide_index=True,
                width="stretch",
            )

# --- one run in detail: confusion and errors ----------------------------------------------------
st.subheader("Answers of one run")
run = chosen[0]
if len(chosen) > 1:
    pick = st.selectbox("Run", [r.name for r in chosen], key="w_detail_run")
    run = next(r for r in chosen if r.name == pick)
try:
    preds = runs.predictions(run)
except runs.RunError as e:
    st.error(ui.plain(e))
    preds = []
if not preds:
    st.info(ui.plain(f"{run.name} has no {PREDICTIONS_FILE}: no confusion matrix or error list."))
    st.stop()

present = {p["question_type"] for p in preds}
types = [t for t in TYPE_NAMES if t in present]  # the catalog's order, as everywhere
c1, c2 = st.columns([2, 3], gap="large")
with c1:
    qtype = st.selectbox(
        "Confusion matrix of", types, key="w_conf_type", format_func=lambda t: t.replace("_", " ")
    )
    gold, pred, counts = runs.confusion(preds, qtype)
    st.plotly_chart(
        charts.confusion_heatmap(gold, pred, counts), width="stretch", key="confusion_chart"
    )
with c2:
    wrong = runs.errors(preds)
    st.markdown(f"**{len(wrong)} wrong answers** of {len(preds)} (strict).")
    grounded = any("grounding" in w for w in wrong)  # what the model said it saw, first
    if wrong:
        st.dataframe(
            [
                {
                    "video": w.get("video_id", ""),
                    "id": w.get("id", w.get("question_id", "")),
                    "type": w["question_type"],
                    "truth": w["short_answer"],
                    **({"seen": w.get("grounding", "")} if grounded else {}),
                    "answered": w["predicted_answer"],
                    "parsed": w["parsed"],
                }
                for w in wrong
            ],
            hide_index=True,
            width="stretch",
            height=300,
        )
        openable = [w for w in wrong if w.get("video_id") and w.get("id")]
        if openable:
            i = st.selectbox(
                "Open a wrong answer's clip in Ask",
                range(len(openable)),
                key="w_error_pick",
                format_func=lambda i: (
                    f"{openable[i]['video_id']}/{openable[i]['id']} · "
                    f"{openable[i]['question_type'].replace('_', ' ')} · truth "
                    f"{openable[i]['short_answer']}"
                ),
            )
            if st.button("Open in Ask", icon=":material/open_in_new:", key="open_in_ask"):
                ss["focus"] = (openable[i]["video_id"], openable[i]["id"])
                st.switch_page("../pages/ask.py")

wordings = runs.wording_rows(preds)
if wordings:
    with st.expander(f"Per spoken wording ({len(wordings)}), worst first"):
        st.dataframe(
            [
                {
                    "type": w["type"].replace("_", " "),
                    "wording": w["wording"],
                    "n": w["n"],
                    "strict": pct(w["strict"]),
                    "heard as asked": pct(w["heard"]),
                }
                for w in wordings
            ],
            hide_index=True,
            width="stretch",
            key="wording_table",
        )
        st.caption(
            "The answers to one wording are heard right or wrong together: a sentence the model "
            "mishears fails on every clip it is asked about, whatever the clip shows."
        )

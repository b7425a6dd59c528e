"""Training: how a checkpoint was trained (loss curves, best step), its graft config and size.

    python -m streamlit run app/main.py   # then the Training page

Reads the Trainer state, the graft config, the recipe, the model card and safetensors headers
(model.runfiles, app.weights): never loads the model.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import charts, engine, ui, weights
from model.layout import (
    CARD_NAME,
    CONFIG_NAME,
    READOUT_FILE,
    READOUT_MEAN_FILE,
    RECIPE_FILE,
    TRAINER_STATE,
    is_checkpoint,
)
from model.runfiles import (
    RunFileError,
    best_step,
    loss_curves,
    read_json,
    run_recipe,
    trainer_state,
)

cfg = ui.settings()
ss = st.session_state
ui.header("Training", "Loss curves, the kept step, the graft configuration and what trains.")

root = cfg.checkpoints_root
options = [cfg.checkpoint]
if root.is_dir():
    options += [c for c in sorted(root.iterdir()) if c != cfg.checkpoint and is_checkpoint(c)]
options = [c for c in options if engine.checkpoint_problem(c) is None]
if not options:
    st.info(engine.checkpoint_problem(cfg.checkpoint))
    st.stop()
ckpt = st.selectbox("Checkpoint", options, key="w_train_ckpt", format_func=lambda p: p.name)

try:
    state = trainer_state(ckpt)
    graft = read_json(ckpt / CONFIG_NAME)
except RunFileError as e:
    st.error(ui.plain(e))
    st.stop()

# --- loss curves --------------------------------------------------------------------------------
st.subheader("Loss")
if state is None:
    st.info(
        f"{ckpt.name} has no {TRAINER_STATE} (it was not made by training.train, e.g. "
        "an untrained tiny checkpoint): no loss curves."
    )
else:
    train, evals = loss_curves(state)
    best = best_step(state, evals)
    m = st.columns(4)
    m[0].metric("Steps", f"{state.get('global_step', train[-1][0] if train else 0):,}")
    m[1].metric(
        "Best step",
        f"{best[0]:,}" if best else "–",
        help="Trainer's best_model_checkpoint, else the lowest eval loss.",
    )
    m[2].metric("Best eval loss", f"{best[1]:.3f}" if best else "–")
    m[3].metric("Last train loss", f"{train[-1][1]:.3f}" if train else "–")
    if train or evals:
        st.plotly_chart(charts.loss_curves(train, evals, best), width="stretch", key="loss_chart")
    else:
        st.info(f"{TRAINER_STATE} holds no loss entries yet.")


# --- the optional recipe and read-out files -----------------------------------------------------
def optional_json(path: Path) -> dict:
    """A JSON file the checkpoint may hold; {} when absent, a warning when unreadable."""
    if not path.is_file():
        return {}
    try:
        return read_json(path)
    except RunFileError as e:
        st.warning(ui.plain(e))
        return {}


info = optional_json(ckpt / RECIPE_FILE)
readout = optional_json(ckpt / "eval" / READOUT_FILE)
readout_mean = optional_json(ckpt / "eval" / READOUT_MEAN_FILE)
recipe, _ = run_recipe(info)  # an old run's flat keys converted
froze_vision = bool(recipe["model"].get("freeze_vision"))

# --- config and parameters ----------------------------------------------------------------------
c1, c2 = st.columns([3, 2], gap="large")
with c1:
    st.subheader("Trainable parameters")
    try:
        rows, source = weights.parameter_counts(ckpt, froze_vision)
    except RunFileError as e:
        st.error(ui.plain(e))
        rows, source = [], ""
    if rows:
        trainable = sum(r["parameters"] for r in rows if r["trainable"] is True)
        total = sum(r["parameters"] for r in rows)
        a, b = st.columns(2)
        a.metric("Trainable", f"{trainable:,}")
        b.metric("Stored in the checkpoint", f"{total:,}")
        st.dataframe(
            [
                {
                    **r,
                    "parameters": f"{r['parameters']:,}",
                    "trainable": {True: "yes", False: "frozen", None: "?"}.get(
                        r["trainable"], r["trainable"]
                    ),
                }
                for r in rows
            ],
            hide_index=True,
            width="stretch",
        )
        note = f"From {source}."
        if graft.get("train") == "lora":
            note += (
                f" The frozen base {ui.plain(graft.get('base_model'))} and encoder "
                f"{ui.plain(graft.get('audio_encoder'))} are referenced, not stored."
            )
        if any(r["trainable"] == weights.WARMUP_ONLY for r in rows):
            note += " Warm-up: trained in the stage-0 warm-up, then frozen for the later stages."
        st.caption(note)
with c2:
    st.subheader("Graft config")
    st.dataframe(
        [
            {"setting": k, "value": ", ".join(map(str, v)) if isinstance(v, list) else str(v)}
            for k, v in graft.items()
        ],
        hide_index=True,
        width="stretch",
        height=min(36 * (len(graft) + 1), 640),
    )


warm = info.get("vision_warmup") or {}  # stage 0: the vision warm-up

# --- can the vision tokens tell the scene? ------------------------------------------------------
columns = {
    "after the warm-up": warm.get("held_out"),
    "final tower (fresh heads)": readout.get("held_out"),
    "final tower, token average": readout_mean.get("held_out"),
}
columns = {k: v for k, v in columns.items() if isinstance(v, dict)}
if columns:
    st.subheader("Vision read-out")
    labels = list(dict.fromkeys(k for v in columns.values() for k in v))
    st.dataframe(
        [{"scene label": k, **{c: ui.pct(v.get(k)) for c, v in columns.items()}} for k in labels],
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "Accuracy of small heads reading each scene label from the vision tokens, on held-out "
        "clips. A label read well here but answered at chance means the decoder does not fetch "
        "it; a label read at chance here means the vision tokens lack it. The token-average heads "
        "cannot pick one token: a label they miss but the others read is held by which token "
        "carries it (a position), not by what the tokens say."
    )
if info:
    with st.expander(f"Recipe ({info.get('minutes', '?')} min of training)"):
        st.json(info, expanded=1)

card = ckpt / CARD_NAME
if card.is_file():
    with st.expander("Model card"):
        # as text: a checkpoint's card may hold links and images to any server
        st.code(card.read_text(encoding="utf-8", errors="replace"), language=None, wrap_lines=True)

"""Reading a run's files back: JSON objects, the HF Trainer's state, its loss curves and the
step it kept as best. Standard library only (the app and the report read runs without torch);
model.layout names the files.

    python -c "from model.runfiles import trainer_state; print(trainer_state('runs/x').keys())"

Every reader raises RunFileError naming the file; a caller with its own error type (data's
DataError, the app's messages) translates it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from model.cli import InputError, loads
from model.layout import TRAINER_STATE, checkpoints, finished_checkpoints

ID_MAX_BYTES = 64 << 20  # files hashed into a checkpoint's identity: configs, markers, projector


class RunFileError(InputError, ValueError):
    """A run or checkpoint file that cannot be read; the message names the file."""


def read_json(path: str | Path) -> dict:
    """The JSON object in `path`; RunFileError naming the file when it holds none."""
    path = Path(path)
    try:
        obj = loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:  # ValueError: not UTF-8, not JSON
        raise RunFileError(f"{path}: unreadable ({e})") from None
    if not isinstance(obj, dict):
        raise RunFileError(f"{path}: not a JSON object")
    return obj


def trainer_states(folder: str | Path, finished: bool = False) -> Iterator[dict]:
    """The HF Trainer states of a run, newest first: the folder's own, then each checkpoint-N's
    (finished ones only, if asked). Read one at a time, as they are asked for."""
    folder = Path(folder)
    below = finished_checkpoints(folder) if finished else checkpoints(folder)
    for f in [folder, *reversed(below)]:
        path = f / TRAINER_STATE
        if path.is_file():
            yield read_json(path)


def trainer_state(folder: str | Path) -> dict | None:
    """The Trainer state of a checkpoint or run (its own, else its newest checkpoint-N's)."""
    return next(trainer_states(folder), None)


def loss_curves(state: dict) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(train [(step, loss)], eval [(step, eval_loss)]) from log_history."""
    train: dict[int, float] = {}
    evals: dict[int, float] = {}
    for entry in state.get("log_history", []):
        step = entry.get("step")
        if step is None:
            continue
        # a step logged twice (the final evaluate() of the best model) keeps its last value
        if "loss" in entry:
            train[int(step)] = float(entry["loss"])
        if "eval_loss" in entry:
            evals[int(step)] = float(entry["eval_loss"])
    return sorted(train.items()), sorted(evals.items())


def kept_step(state: dict) -> int | None:
    """The step of the checkpoint the Trainer kept as best (best_model_checkpoint), or None."""
    tail = str(state.get("best_model_checkpoint") or "").rstrip("/").rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def best_step(state: dict, evals: list[tuple[int, float]]) -> tuple[int, float] | None:
    """(step, eval loss) the Trainer kept as best (best_model_checkpoint), else the lowest eval
    loss."""
    step = kept_step(state)
    if step is not None:
        loss = dict(evals).get(step, state.get("best_metric"))
        if loss is not None:
            return step, float(loss)
    if state.get("best_global_step") and state.get("best_metric") is not None:
        return int(state["best_global_step"]), float(state["best_metric"])
    return min(evals, key=lambda e: e[1]) if evals else None


def best_checkpoint_step(run: str | Path) -> int | None:
    """The step of a run's best checkpoint, from the newest trainer state that names one (the
    run's own, then its finished checkpoint-N folders', newest first); None when none does."""
    for state in trainer_states(run, finished=True):
        step = kept_step(state)
        if step is not None:
            return step
    return None


# --- recipe.json --------------------------------------------------------------------------------
# Runs before the recipe files kept the recipe as flat keys (the old presets): where each one
# lives in the recipe files' schema. Keys measured and deleted since (caption_mix,
# freeze_projector) have no place and are left out.
_FLAT: dict[str, tuple[str, str]] = {
    **{k: ("model", k) for k in ("tiny", "tiny_seed", "whisper", "audio_tokens", "quantisation",
                                 "lora_r", "lora_alpha", "freeze_vision")},
    "model": ("model", "checkpoint"),
    **{k: ("data", k) for k in ("train_split", "eval_split", "mode", "eval_samples",
                                "train_samples", "room_copies")},
    "max_minutes": ("run", "max_minutes"),
    **{k: ("trainer", k) for k in ("learning_rate", "per_device_train_batch_size",
                                   "lr_scheduler_type", "seed")},
    "preset": ("command", "name"),
    "recipe_file": ("command", "file"),
    "data": ("command", "data"),
    "overfit": ("command", "overfit"),
}  # fmt: skip
_FLAT_STAGES = {  # stage kind -> its key -> the flat key (before the runs listed their stages)
    "vision_warmup": {"steps": "vision_warmup_steps", "lr": "vision_warmup_lr"},
    "captions": {"steps": "caption_steps", "minutes": "caption_minutes"},
    "questions": {"target": "target", "steps": "max_steps"},
}
RECIPE_TABLES = ("model", "data", "run", "trainer")


def run_recipe(info: dict) -> tuple[dict, dict]:
    """(the recipe, the command's own choices) of a recipe.json object: the recipe in the recipe
    files' schema ([model], [data], [run], [trainer] tables and the `stage` list, as
    training.recipe writes it), the command's choices as {name, file, data, overfit}. A run
    written before (flat preset keys, maybe a `stages` list beside them) is converted here, the
    one place that knows the old shape; what is absent or malformed is simply left out."""
    rc = info.get("recipe")
    rc = rc if isinstance(rc, dict) else {}
    command = info.get("command")
    if "stage" in rc:  # the current schema; a table that is not one reads as empty
        tables = {t: rc[t] if isinstance(rc.get(t), dict) else {} for t in RECIPE_TABLES}
        return {**rc, **tables}, command if isinstance(command, dict) else {}
    recipe: dict = {t: {} for t in RECIPE_TABLES}
    command = {}
    for key, value in rc.items():
        if key in _FLAT:
            table, name = _FLAT[key]
            (command if table == "command" else recipe[table])[name] = value
    stages = rc.get("stages")
    if isinstance(stages, list) and all(isinstance(s, dict) for s in stages):
        recipe["stage"] = [dict(s) for s in stages]
    else:
        recipe["stage"] = [
            {"kind": kind, **{k: rc[flat] for k, flat in keys.items() if flat in rc}}
            for kind, keys in _FLAT_STAGES.items()
            if any(flat in rc for flat in keys.values())
        ]
        for s in recipe["stage"]:  # the old max_steps -1 meant "no cap": steps 0 says it now
            if s["kind"] == "questions" and s.get("steps") == -1:
                s["steps"] = 0
    return recipe, command


def recipe_stage(recipe: dict, kind: str) -> dict:
    """The recipe's stage of this kind ({} when it has none)."""
    stages = recipe.get("stage")
    found = (s for s in stages if isinstance(s, dict) and s.get("kind") == kind)
    return next(found, {}) if isinstance(stages, list) else {}


def checkpoint_id(checkpoint: str | Path) -> str | None:
    """A digest of a checkpoint folder's top-level files (graft config, COMPLETE marker, trainer
    state, projector): training into the same folder again changes it, the big weights below
    need not be read. None for what is not a folder (a baseline's name)."""
    folder = Path(checkpoint)
    if not folder.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(p for p in folder.iterdir() if p.is_file()):
        if f.stat().st_size <= ID_MAX_BYTES:
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]

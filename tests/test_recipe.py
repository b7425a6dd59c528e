"""Training recipes: the shipped TOML files parse and validate, a wrong key or stage kind names
its file and key, the demo and reader recipes hold the values their presets had, and
recipe.json keeps the recipe in the recipe files' schema; old runs' files convert."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.recipe import RecipeError, kind_of, load, names, summary
from training.train import parse, parser

ROOT = Path(__file__).resolve().parents[1]


def test_every_shipped_recipe_parses_and_its_trainer_settings_are_training_arguments(tmp_path):
    from training.trainer import TrainArguments

    assert names() == ["demo", "reader", "real"]
    for name in names():
        rec = load(name)
        assert rec.name == name and rec.path.parent.name == "recipes"
        assert kind_of(rec.stages[-1]) == "questions"
        TrainArguments(output_dir=str(tmp_path), use_cpu=True, **rec.trainer)  # bf16 on a CPU
    assert load(ROOT / "training" / "recipes" / "demo.toml") == load("demo")  # a path works too


def test_the_demo_recipe_is_the_demo_preset():
    """The values of the former PRESETS["demo"], each in its new place."""
    rec = load("demo")
    m, warm, cap, q = rec.model, *rec.stages
    assert [kind_of(s) for s in rec.stages] == ["vision_warmup", "captions", "questions"]
    assert (m.tiny, m.checkpoint, m.tiny_seed) == (True, "", 0)
    assert (m.whisper, m.audio_tokens, m.freeze_vision) == ("tiny.en", "trim+pool:2", True)
    assert (m.quantisation, m.lora_r, m.lora_alpha) == ("auto", 64, 16)
    assert (warm.steps, warm.lr) == (1200, 2e-3)
    assert (cap.steps, cap.minutes) == (1040, 12.0)
    assert (q.target, q.steps, q.patience) == ("grounded", 2500, 3)
    assert (rec.run.max_minutes, rec.run.prune) == (55.0, True)
    assert rec.data.mode == "audio" and (rec.data.train_split, rec.data.eval_split) == (
        "train",
        "eval",
    )
    assert rec.trainer == dict(
        per_device_train_batch_size=16,
        per_device_eval_batch_size=32,
        learning_rate=2e-3,
        warmup_steps=50,
        lr_scheduler_type="cosine",
        weight_decay=0.01,
        eval_steps=200,
        save_steps=200,
        logging_steps=25,
        gradient_checkpointing=False,
    )


def test_the_reader_recipe_is_the_reader_preset():
    rec = load("reader")
    (q,) = rec.stages
    assert (q.target, q.steps, q.patience) == ("grounded", 600, 3)
    assert rec.data.mode == "text" and rec.data.eval_samples == 512
    assert rec.model.freeze_vision and not rec.model.tiny and not rec.model.checkpoint
    assert rec.run.prune and rec.run.max_minutes == 0
    assert rec.trainer == dict(
        learning_rate=1e-3,
        warmup_steps=30,
        lr_scheduler_type="cosine",
        per_device_train_batch_size=16,
        per_device_eval_batch_size=32,
        eval_steps=200,
        save_steps=200,
        logging_steps=25,
        gradient_checkpointing=False,
    )


def test_the_real_recipe_is_qlora_nf4_r64_alpha16_on_the_built_checkpoint():
    rec = load("real")
    m = rec.model
    assert (m.quantisation, m.lora_r, m.lora_alpha) == ("nf4", 64, 16)
    assert m.checkpoint == "checkpoints/qwen2vl7b-init" and not m.tiny
    t = rec.trainer
    assert t["bf16"] and t["gradient_checkpointing"] and t["per_device_train_batch_size"] == 1
    assert t["gradient_accumulation_steps"] > 1
    assert [kind_of(s) for s in rec.stages] == ["questions"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text + '\n[[stage]]\nkind = "questions"\n')
    return path


@pytest.mark.parametrize(
    ("text", "names_it"),
    [
        ("[model]\ntine = true", "tine"),
        ("[run]\nmax_minute = 3", "max_minute"),
        ("[trainer]\nlearning_rat = 1e-3", "learning_rat"),
        ("[trainer]\nmax_steps = 10", "max_steps"),
        ('[[stage]]\nkind = "captions"\nminute = 3', "minute"),
        ('[[stage]]\nkind = "spelling"\nsteps = 3', "spelling"),
        ("[extras]\nx = 1", "extras"),
        ("[model]\nwhisper = 1", "whisper"),
        ('[data]\nmode = "video"', "mode"),
        ('[[stage]]\nkind = "vision_warmup"\nsteps = -1', "steps"),
    ],
)
def test_an_unknown_key_kind_or_value_names_the_file_and_the_key(tmp_path, text, names_it):
    path = write(tmp_path, text)
    with pytest.raises(RecipeError, match=rf"bad\.toml.*\b{names_it}\b"):
        load(path)


def test_stages_keep_their_order_and_end_with_the_questions(tmp_path):
    path = tmp_path / "order.toml"
    path.write_text('[[stage]]\nkind = "captions"\n[[stage]]\nkind = "vision_warmup"\n'
                    '[[stage]]\nkind = "questions"\n')  # fmt: skip
    with pytest.raises(RecipeError, match="order.toml.*order"):
        load(path)
    path.write_text('[[stage]]\nkind = "vision_warmup"\n')
    with pytest.raises(RecipeError, match="order.toml.*questions"):
        load(path)
    with pytest.raises(RecipeError, match="unknown recipe 'nope'.*demo"):
        load("nope")


def test_overrides_are_typed_and_checked_like_the_file():
    rec = load("demo", ["questions.steps=4", "model.whisper=", "trainer.report_to=none",
                        "captions.minutes=1", "vision_warmup.lr=1e-3"])  # fmt: skip
    assert rec.stage("questions").steps == 4 and rec.model.whisper == ""
    assert rec.trainer["report_to"] == "none" and rec.stage("captions").minutes == 1.0
    assert rec.stage("vision_warmup").lr == 1e-3
    for bad, says in [
        ("questions.step=4", "--set questions.step=4: unknown key 'step'"),
        ("questions.steps=many", "steps must be int"),
        ("stage.steps=1", "unknown section 'stage'"),
        ("questions", "SECTION.KEY=VALUE"),
    ]:
        with pytest.raises(RecipeError, match=says):
            load("demo", [bad])
    with pytest.raises(RecipeError, match="recipe reader has no captions stage"):
        load("reader", ["captions.steps=2"])


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("trainer.learning_rate=nan", "learning_rate must be a finite number"),
        ("trainer.learning_rate=inf", "learning_rate must be a finite number"),
        ("trainer.learning_rate=-1", "learning_rate -1 out of range"),
        ("trainer.learning_rate=0", "learning_rate 0 out of range"),
        ("trainer.learning_rate=abc", "learning_rate must be a number, not 'abc'"),
        ("trainer.per_device_train_batch_size=0", "per_device_train_batch_size 0 out of range"),
        ("trainer.per_device_train_batch_size=-4", "per_device_train_batch_size -4 out of range"),
        ("trainer.per_device_train_batch_size='big'", "must be an integer, not 'big'"),
        ("trainer.per_device_eval_batch_size=1000000000000", "out of range"),
        ("trainer.gradient_accumulation_steps=1.5", "must be an integer"),
        ("trainer.eval_steps=-5", "eval_steps -5 out of range"),
        ("trainer.eval_steps=0", "eval_steps 0 out of range"),
        ("trainer.report_to=carrier_pigeon", "report_to 'carrier_pigeon': expected one"),
        ("trainer.lr_scheduler_type=sideways", "lr_scheduler_type 'sideways'"),
        ("trainer.weight_decay=nan", "weight_decay must be a finite number"),
        ("run.max_minutes=nan", "max_minutes must be a finite number"),
        ("run.max_minutes=inf", "max_minutes must be a finite number"),
        ("vision_warmup.lr=inf", "lr must be a finite number"),
        ("vision_warmup.lr=0", "lr must be positive"),
        ("questions.steps=1000000000000", "past any run"),
        ("model.lora_r=0", "lora_r must be positive"),
    ],
)
def test_values_are_checked_by_type_and_range_naming_the_key(value, says):
    """The recipe and --set took a learning rate of nan, inf, -1 or 'abc', a batch of 0, -4,
    'big' or 10**12, negative eval steps, max_minutes nan/inf, an unknown report_to; lr = inf
    trained into NaN weights and was marked COMPLETE."""
    with pytest.raises(RecipeError, match=rf"--set {value.split('=')[0]}.*{says}"):
        load("demo", [value])


def test_the_same_checks_hold_in_the_file_and_on_the_command_line(tmp_path, capsys):
    from training.train import main

    path = write(tmp_path, '[trainer]\nlearning_rate = nan\n[[stage]]\nkind = "questions"')
    with pytest.raises(RecipeError, match=r"bad\.toml: \[trainer\].*learning_rate"):
        load(path)
    out = tmp_path / "out"
    assert main(["--recipe", str(path), "--data", str(tmp_path), "--output_dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "learning_rate" in err and "Traceback" not in err
    assert main(["--recipe", "demo", "--max_minutes", "nan", "--data", str(tmp_path),
                 "--output_dir", str(out)]) == 2  # fmt: skip
    assert "max_minutes must be a finite number" in capsys.readouterr().err
    assert not out.exists()  # refused before any work


def test_the_command_line_flags_win_over_the_recipe():
    rec, opts = parse(["--recipe", "reader", "--model", "ckpt", "--max_minutes", "3",
                       "--eval_samples", "8", "--quantisation", "none",
                       "--set", "data.eval_samples=4"])  # fmt: skip
    assert rec.model.checkpoint == "ckpt" and rec.run.max_minutes == 3.0
    assert rec.data.eval_samples == 8 and rec.model.quantisation == "none"
    assert opts.data == "data/demo" and opts.output_dir == "runs/train" and opts.seed is None
    ours = [a for a in parser()._actions if a.dest != "help"]
    assert len(ours) == 13  # the run's own flags; everything else is the recipe's


def test_recipe_json_keeps_the_recipe_in_the_recipe_files_schema(tmp_path):
    """recipe.json's recipe has the TOML files' tables and reads back as the same recipe; the
    shipped checkpoint's recipe.json (the old presets' flat keys) converts to the same values."""
    from model.runfiles import run_recipe
    from training.recipe import command, from_tables
    from training.trainer import TrainArguments

    rec, opts = parse(["--recipe", "demo"])
    args = TrainArguments(output_dir=str(tmp_path), **rec.trainer)
    got = json.loads(json.dumps(summary(rec, args)))
    assert list(got) == ["model", "data", "run", "trainer", "stage"]
    again = from_tables(got, rec.path)
    assert (again.model, again.data, again.run, again.stages) == (
        rec.model, rec.data, rec.run, rec.stages)  # fmt: skip
    assert [s["kind"] for s in got["stage"]] == ["vision_warmup", "captions", "questions"]
    assert run_recipe({"recipe": got, "command": command(rec, opts)}) == (
        got, {"name": "demo", "file": "training/recipes/demo.toml", "data": "data/demo",
              "overfit": 0})  # fmt: skip

    info = json.loads((ROOT / "checkpoints" / "demo" / "recipe.json").read_text())
    old, cmd = run_recipe(info)
    assert cmd == {"name": "demo", "file": "training/recipes/demo.toml", "data": "data/demo",
                   "overfit": 0}  # fmt: skip
    assert old["stage"] == got["stage"]
    for table in ("model", "data", "run", "trainer"):
        assert old[table] == {k: got[table][k] for k in old[table]}, table
    # every flat key found its place: the tables, the command, or the stage it belongs to
    placed = sum(len(old[t]) for t in ("model", "data", "run", "trainer")) + len(cmd)
    in_stages = sum(len(s) - 1 for s in old["stage"]) - 1  # less each kind; patience is new
    assert placed + in_stages + 1 == len(info["recipe"])  # + the stages list itself
    assert got["run"]["max_minutes"] == 55.0 and not {"freeze_projector", "caption_mix"} & set(
        got["model"] | got["data"])  # fmt: skip
    from_tables(old, rec.path)  # the converted recipe is a recipe


def test_an_old_run_without_a_stage_list_converts_from_its_flat_keys():
    """The oldest runs (runs/shipped0) had flat keys only, with keys deleted since."""
    from model.runfiles import recipe_stage, run_recipe

    flat = {"preset": "demo", "vision_warmup_steps": 800, "vision_warmup_lr": 0.003,
            "caption_steps": 400, "caption_minutes": 8.0, "caption_mix": 0.5, "target": "short",
            "max_steps": -1, "freeze_projector": False, "whisper": "tiny.en", "model": "",
            "learning_rate": 0.001, "data": "data/demo", "overfit": 0}  # fmt: skip
    rc, cmd = run_recipe({"recipe": flat})
    assert rc["stage"] == [
        {"kind": "vision_warmup", "steps": 800, "lr": 0.003},
        {"kind": "captions", "steps": 400, "minutes": 8.0},
        {"kind": "questions", "target": "short", "steps": 0},  # -1 meant no cap
    ]
    assert rc["model"] == {"whisper": "tiny.en", "checkpoint": ""}
    assert rc["trainer"] == {"learning_rate": 0.001} and rc["run"] == {} and rc["data"] == {}
    assert cmd == {"name": "demo", "data": "data/demo", "overfit": 0}
    assert recipe_stage(rc, "captions")["minutes"] == 8.0 and recipe_stage(rc, "nope") == {}
    assert run_recipe({}) == ({"model": {}, "data": {}, "run": {}, "trainer": {}, "stage": []}, {})
    bad = {"recipe": {"stage": "x", "model": [1]}, "command": 3}  # damaged: read as empty
    rc, cmd = run_recipe(bad)
    assert rc["model"] == {} and recipe_stage(rc, "questions") == {} and cmd == {}

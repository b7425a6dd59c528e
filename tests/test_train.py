"""Training CLI: a few real steps of the tiny model write predictor-loadable checkpoints,
resume continues them, half-written checkpoints are never taken, early stopping stops."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from transformers import EarlyStoppingCallback, TrainerControl, TrainerState

from model.layout import COMPLETE, finished_checkpoints, is_complete, last_checkpoint
from training.train import main
from training.trainer import TrainArguments, load_weights

pytestmark = pytest.mark.slow
RECIPE = Path(__file__).with_name("tiny_recipe.toml")  # every stage, a few steps each


def argv(data: Path, out: Path, *extra: str) -> list[str]:
    return ["--recipe", str(RECIPE), "--data", str(data), "--output_dir", str(out),
            "--threads", "1", *extra]  # fmt: skip


def sets(*items: str) -> list[str]:
    """--set overrides of the recipe's values."""
    return [a for item in items for a in ("--set", item)]


@pytest.fixture(scope="module")
def run(spoken, tmp_path_factory) -> Path:
    """The demo's ear (pretrained tiny.en from the installed wheel, frozen), vision warm-up,
    caption stage and 4 question steps on grounded answers, gradient checkpointing on."""
    out = tmp_path_factory.mktemp("train") / "ckpt"
    rc = main(argv(spoken, out, *sets("model.whisper=tiny.en", "questions.target=grounded",
                                      "trainer.gradient_checkpointing=true")))  # fmt: skip
    assert rc == 0
    return out


def test_run_writes_a_complete_checkpoint_the_predictor_loads(run, spoken):
    from PIL import Image

    from data.schema import frame_path, load_jsonl
    from model import Predictor

    assert is_complete(run)
    for name in ("graft_config.json", "projector.safetensors", "tokenizer.json"):
        assert (run / name).is_file(), name
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    evals = [h["eval_loss"] for h in state["log_history"] if "eval_loss" in h]
    assert len(losses) >= 4 and all(x == x for x in losses)  # logged and not NaN
    assert len(evals) >= 2
    assert state["best_model_checkpoint"].endswith(("checkpoint-2", "checkpoint-4"))
    cbs = state["stateful_callbacks"]["EarlyStoppingCallback"]
    assert cbs["args"]["early_stopping_patience"] == 3
    # every intermediate checkpoint is complete too (kept: the best and the latest)
    ckpts = sorted(run.glob("checkpoint-*"))
    assert ckpts and all(is_complete(c) for c in ckpts)
    warm = json.loads((run / "stage0" / "warmup.json").read_text())
    assert warm["steps"] == 2 and 0 <= warm["held_out"]["view"] <= 1
    recipe = json.loads((run / "recipe.json").read_text())
    assert recipe["recipe"]["model"]["whisper"] == "tiny.en" and recipe["caption"]["step"] == 2

    rec = load_jsonl(spoken / "splits" / "test.jsonl")[0]
    frames = [Image.open(frame_path(spoken / "frames", rec["video_id"], f)) for f in rec["frames"]]
    # the question stage's checkpoints answer grounded and tell the predictor; the caption
    # stage's did not
    for folder, fmt in ((run, "grounded"), (ckpts[-1], "grounded"), (run / "stage1", "plain")):
        assert json.loads((folder / "graft_config.json").read_text())["answer_format"] == fmt
    pred = Predictor.from_checkpoint(run, device="cpu", max_new_tokens=3)
    ans = pred.answer(frames, spoken / rec["audio"])
    assert isinstance(ans.text, str) and ans.vision_tokens == 8 * 16 and ans.audio_tokens > 0


def test_the_pretrained_ear_stays_as_the_wheel_gave_it(run):
    """The encoder is frozen through every stage: the checkpoint's weights are the converted
    tiny.en's (its 5 s window: the first 250 rows of the position table), in float16."""
    from safetensors.torch import load_file

    cfg = json.loads((run / "graft_config.json").read_text())
    assert cfg["audio_trainable"] is False and cfg["audio_dim"] == 384
    ours = load_file(str(run / "audio_encoder" / "model.safetensors"))
    wheel = load_file(str(run / "whisper" / "model.safetensors"))
    assert len(ours) > 40 and all(v.dtype == torch.float16 for v in ours.values())
    for k, v in ours.items():
        src = wheel[f"model.encoder.{k}"]
        if k == "embed_positions.weight":
            src = src[:250]
        assert torch.equal(v, src), k


def test_final_weights_are_the_best_checkpoint(run):
    """load_best_model_at_end: the root holds the best checkpoint's weights."""
    from safetensors.torch import load_file

    best = Path(json.loads((run / "trainer_state.json").read_text())["best_model_checkpoint"])
    a = load_file(str(run / "base" / "model.safetensors"))
    b = load_file(str(best / "base" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_continues_from_the_last_complete_checkpoint(run, spoken, tmp_path):
    out = tmp_path / "ckpt"
    shutil.copytree(run, out)
    last = last_checkpoint(out)
    assert last is not None and last.name == "checkpoint-4"
    # a half-written newer checkpoint (no marker) is never taken
    torn = out / "checkpoint-6"
    shutil.copytree(last, torn)
    (torn / COMPLETE).unlink()
    assert last_checkpoint(out) == last
    with pytest.raises(ValueError, match="COMPLETE"):
        load_weights(None, torn)
    shutil.rmtree(torn)
    # resuming with a longer run continues from step 4
    rc = main(argv(spoken, out, "--resume_from_checkpoint", "last",
                   *sets("questions.steps=6", "questions.patience=100")))  # fmt: skip
    assert rc == 0
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    steps = [h["step"] for h in state["log_history"] if "loss" in h]
    assert steps == sorted(set(steps)) and steps[:4] == [1, 2, 3, 4] and max(steps) == 6
    assert is_complete(out / "checkpoint-6")


def test_resume_rejects_an_unfinished_checkpoint(run, spoken, tmp_path):
    bad = tmp_path / "checkpoint-2"
    shutil.copytree(run / "checkpoint-4", bad)
    (bad / COMPLETE).unlink()
    with pytest.raises(SystemExit, match="not a finished checkpoint"):
        main(argv(spoken, tmp_path / "out", "--resume_from_checkpoint", str(bad)))


def test_transformers_still_calls_the_trainer_methods_graft_trainer_overrides():
    """GraftTrainer's saves go through the public save_model and on_save; its loads override
    two private Trainer methods (no public hook reads our checkpoint layout). A transformers
    that stops calling any of them by these names fails here, before a run silently saves a
    folder the predictor cannot load, resumes from nothing, or ships the last weights."""
    import inspect

    from transformers import Trainer

    from training.trainer import GraftTrainer, MarkComplete

    src = inspect.getsource(Trainer)
    for name in ("_load_from_checkpoint", "_load_best_model"):
        assert f"self.{name}(" in src, name
        assert name in vars(GraftTrainer)
        ours, theirs = (inspect.signature(getattr(c, name)) for c in (GraftTrainer, Trainer))
        assert list(ours.parameters) == list(theirs.parameters), name
    checkpointing = inspect.getsource(Trainer._save_checkpoint)
    assert "self.save_model(output_dir, _internal_call=True)" in checkpointing
    assert "self._save_checkpoint(model, trial)\n" in src
    assert "callback_handler.on_save(" in src.split("self._save_checkpoint(model, trial)\n")[1]
    assert {"_save", "_save_checkpoint"}.isdisjoint(vars(GraftTrainer))  # public hooks only
    assert list(inspect.signature(GraftTrainer.save_model).parameters) == list(
        inspect.signature(Trainer.save_model).parameters
    )
    assert "on_save" in vars(MarkComplete)


def test_the_best_model_load_reads_our_checkpoint_layout(run):
    """_load_best_model loads the best checkpoint-N's weights into the live model, whichever
    step that was (the run's own best may be its last step)."""
    from types import SimpleNamespace

    from safetensors.torch import load_file

    from model import Predictor
    from model.graft import graft_modules
    from training.trainer import GraftTrainer

    live = graft_modules(Predictor.from_checkpoint(run, device="cpu").model)  # the best weights
    root = load_file(str(run / "base" / "model.safetensors"))

    def weights(folder: Path) -> dict:
        return load_file(str(folder / "base" / "model.safetensors"))

    other = next(c for c in finished_checkpoints(run)  # a checkpoint that is not the best
                 if not all(torch.equal(v, root[k]) for k, v in weights(c).items()))  # fmt: skip
    want = weights(other)
    have = live.state_dict()
    assert set(want) <= set(have)
    fake = SimpleNamespace(model=live, state=SimpleNamespace(best_model_checkpoint=str(other),
                                                             best_metric=1.0))  # fmt: skip
    GraftTrainer._load_best_model(fake)
    have = live.state_dict()
    assert all(torch.equal(have[k].to(v.dtype), v) for k, v in want.items())


def test_early_stopping_triggers_after_three_worse_evaluations(tmp_path):
    """The callback the trainer installs, fed a rising eval loss as the Trainer would."""
    args = TrainArguments(output_dir=str(tmp_path), report_to="none")
    assert args.load_best_model_at_end and args.metric_for_best_model == "eval_loss"
    assert args.greater_is_better is False
    cb = EarlyStoppingCallback(early_stopping_patience=3)
    state, control = TrainerState(), TrainerControl()
    stopped_at = None
    for i, loss in enumerate([2.0, 1.5, 1.6, 1.7, 1.8, 1.9], 1):
        cb.on_evaluate(args, state, control, metrics={"eval_loss": loss})
        if state.best_metric is None or loss < state.best_metric:  # then _determine_best_metric
            state.best_metric = loss
        if control.should_training_stop and stopped_at is None:
            stopped_at = i
    assert stopped_at == 5  # best at eval 2, then 3 evaluations without improvement


def test_freeze_vision_keeps_the_warmed_up_tower(spoken, tmp_path):
    """[model] freeze_vision: after stage 0 the tower stays as the heads left it; the decoder
    trains."""
    from safetensors.torch import load_file

    out = tmp_path / "frozen"
    rc = main(argv(spoken, out, *sets("questions.steps=2", "model.freeze_vision=true",
                                      "trainer.learning_rate=1e-2")))  # fmt: skip
    assert rc == 0
    warm = load_file(next((out / "stage0" / "base").glob("*.safetensors")))
    final = load_file(next((out / "base").glob("*.safetensors")))
    tower = [k for k in warm if "visual" in k]
    decoder = [k for k in warm if "language_model" in k]
    assert tower and decoder
    assert all(torch.equal(warm[k], final[k]) for k in tower)
    assert not all(torch.equal(warm[k], final[k]) for k in decoder)
    # projector.safetensors also holds vision_pos, which keeps training
    captioned = load_file(out / "stage1" / "projector.safetensors")
    final = load_file(out / "projector.safetensors")
    proj = [k for k in captioned if k.startswith("projector.")]
    assert proj
    assert not all(torch.equal(captioned[k], final[k]) for k in captioned if k not in proj)
    stage0 = load_file(out / "stage0" / "projector.safetensors")  # the caption stage trained it
    assert not all(torch.equal(stage0[k], captioned[k]) for k in proj)
    recipe = json.loads((out / "recipe.json").read_text())["recipe"]
    assert recipe["model"]["freeze_vision"] is True


def test_reader_recipe_teaches_a_trained_checkpoint_to_read_questions(
    spoken, tiny_checkpoint, tmp_path
):
    """--recipe reader --model C: text-mode questions on grounded answers, the tower frozen."""
    from safetensors.torch import load_file

    from model import Predictor

    out = tmp_path / "reader"
    rc = main(["--recipe", "reader", "--model", str(tiny_checkpoint), "--data", str(spoken),
               "--output_dir", str(out), "--threads", "1",
               *sets("questions.steps=2", "data.eval_split=test", "trainer.eval_steps=1",
                     "trainer.save_steps=1", "trainer.per_device_train_batch_size=4",
                     "trainer.report_to=none", "trainer.disable_tqdm=true")])  # fmt: skip
    assert rc == 0 and is_complete(out)
    recipe = json.loads((out / "recipe.json").read_text())["recipe"]
    assert recipe["data"]["mode"] == "text" and recipe["stage"][-1]["target"] == "grounded"
    assert recipe["model"]["freeze_vision"] is True
    assert recipe["model"]["checkpoint"] == str(tiny_checkpoint)
    before = load_file(next((tiny_checkpoint / "base").glob("*.safetensors")))
    after = load_file(next((out / "base").glob("*.safetensors")))
    tower = [k for k in before if "visual" in k]
    assert tower and all(torch.equal(before[k], after[k]) for k in tower)
    assert not all(torch.equal(before[k], after[k]) for k in before if "language_model" in k)
    assert Predictor.from_checkpoint(out, device="cpu").cfg.answer_format == "grounded"


def test_overfit_drives_the_loss_down(spoken, tmp_path):
    """--overfit N: the feasibility run memorises N samples."""
    out = tmp_path / "overfit"
    rc = main(argv(spoken, out, "--overfit", "4",
                   *sets("questions.steps=40", "trainer.learning_rate=3e-3",
                         "trainer.warmup_steps=0",
                         "trainer.gradient_checkpointing=false")))  # fmt: skip
    assert rc == 0
    hist = json.loads((out / "trainer_state.json").read_text())["log_history"]
    losses = [h["loss"] for h in hist if "loss" in h]
    assert losses[-1] < 0.25 * losses[0], losses


def test_two_processes_under_torchrun_train_one_checkpoint(spoken, tmp_path):
    """DDP without a code change: torchrun starts two CPU processes (gloo); the main one builds,
    warms up and plans, both train the same steps under a wall budget, one complete checkpoint
    is written and the predictor loads it."""
    import os
    import subprocess
    import sys

    from model import Predictor

    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", "29533", "-m", "training.train",
           *argv(spoken, out, "--max_minutes", "10",
                 *sets("trainer.per_device_train_batch_size=2",  # CUDA: plain torchrun
                       "trainer.use_cpu=true", "trainer.ddp_backend=gloo"))]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert is_complete(out) and is_complete(out / "stage0") and is_complete(out / "stage1")
    plan = json.loads((out / "plan.json").read_text())
    state = json.loads((out / "trainer_state.json").read_text())
    assert 0 < state["global_step"] <= plan["max_steps"] <= 4
    # data parallel: one step consumes 2 processes x 2 samples of the train split
    n_train = len((spoken / "splits" / "train.jsonl").read_text().splitlines())
    first = next(h for h in state["log_history"] if "loss" in h)
    assert first["epoch"] == pytest.approx(1 / math.ceil(n_train / 4), abs=1e-3)
    assert not list(out.rglob(f".{COMPLETE}.*.tmp"))
    pred = Predictor.from_checkpoint(out, device="cpu", max_new_tokens=2)
    assert pred.processor.cfg.train in ("full", "lora")


def test_averaging_checkpoints_gives_the_mean_of_their_weights(run, spoken, tmp_path):
    from PIL import Image

    from data.schema import frame_path, load_jsonl
    from model import Predictor
    from model.checkpoint import load_checkpoint
    from training import average

    folders = finished_checkpoints(run)
    assert [f.name for f in folders] == ["checkpoint-2", "checkpoint-4"]
    model, _ = load_checkpoint(folders[-1])
    states = []
    for f in folders:
        load_weights(model, f)
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    average.average_into(model, folders)
    got = model.state_dict()
    floats = [k for k, v in got.items() if v.is_floating_point()]
    moved = [k for k in floats if not torch.equal(states[0][k], states[1][k])]
    assert moved, "two checkpoints of a training run differ somewhere"
    for k in floats:
        torch.testing.assert_close(got[k], (states[0][k] + states[1][k]) / 2)

    # The CLI: a tail of one (the best) is that checkpoint, saved complete and loadable.
    out = tmp_path / "avg"
    assert average.main([str(run), "--last", "1", "--out", str(out)]) == 0
    assert json.loads((out / COMPLETE).read_text())["averaged"] == [
        Path(json.loads((run / "trainer_state.json").read_text())["best_model_checkpoint"]).name
    ]
    rec = load_jsonl(spoken / "splits" / "test.jsonl")[0]
    frames = [Image.open(frame_path(spoken / "frames", rec["video_id"], f)) for f in rec["frames"]]
    pred = Predictor.from_checkpoint(out, device="cpu", max_new_tokens=3)
    ans = pred.answer(frames, spoken / rec["audio"])
    assert ans.audio_tokens > 0
    assert average.main([str(run), "--last", "9", "--out", str(tmp_path / "no")]) == 2
    assert not (tmp_path / "no").exists()


def test_averaging_refuses_lora_checkpoints(tmp_path):
    """Averaged one by one, LoRA factors are not the average of their updates."""
    from data.schema import DataError
    from model.layout import ADAPTER_DIR
    from training.average import average_into

    (tmp_path / "checkpoint-2" / ADAPTER_DIR).mkdir(parents=True)
    with pytest.raises(DataError, match="LoRA checkpoint"):
        average_into(torch.nn.Linear(2, 2), [tmp_path / "checkpoint-2"])

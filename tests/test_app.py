"""AppTest runs of every page, with and without a checkpoint, data, runs and good or bad audio.

    .venv/bin/python -m pytest tests/test_app.py -q

The dataset is generated in tmp by data.synth + data.tts (offline espeak-ng); the checkpoint is
the untrained tiny one (conftest's tiny_checkpoint). The browser microphone component cannot
run in AppTest, so app.capture.record is patched to return what the component returns.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from data.schema import frame_path, load_jsonl
from tests.e2e.support import make_dataset, make_run, make_trainer_state, speech_like, wav_bytes

MAIN = Path(__file__).resolve().parents[1] / "app" / "main.py"
ASK, RESULTS, DATA, TRAINING = (
    "../pages/ask.py",
    "../pages/results.py",
    "../pages/dataset.py",
    "../pages/training_run.py",
)
FAST = 90  # s: pages that read files; generous because the 2 cores are shared
MODEL = 300  # s: runs that load the model or answer on 2 shared cores


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("app") / "data")


@pytest.fixture(scope="module")
def runs_dir(dataset, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    make_run(root / "guess", dataset, seed=0)
    make_run(root / "guess-2", dataset, seed=1, grounded=True)
    return root


@pytest.fixture
def env(monkeypatch, dataset, runs_dir, tmp_path):
    """Point the app at the test dataset and runs, with no checkpoint unless a test sets one."""

    def set_env(checkpoint: Path | None = None, data: Path | None = None) -> None:
        monkeypatch.setenv("SURGVIVQA_DATA", str(data or dataset))
        monkeypatch.setenv("SURGVIVQA_RUNS", str(runs_dir))
        monkeypatch.setenv("SURGVIVQA_CHECKPOINT", str(checkpoint or tmp_path / "ckpts" / "none"))
        monkeypatch.delenv("SURGVIVQA_DEVICE", raising=False)

    set_env()
    return set_env


def run(target, timeout: float = FAST) -> AppTest:
    """Run the app (target: the AppTest or a widget just changed); no exception may show."""
    at = target.run(timeout=timeout)
    assert not at.exception, [e.value for e in at.exception]
    return at


def app(timeout: float = FAST) -> AppTest:
    return run(AppTest.from_file(str(MAIN), default_timeout=FAST), timeout)


def upload(at: AppTest, content: bytes, name: str = "q.wav") -> AppTest:
    """Pick the upload source and upload `content` as a WAV file."""
    run(at.radio(key="w_source").set_value("upload"))
    return run(at.file_uploader(key="w_upload").set_value((name, content, "audio/wav")))


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def clip_line(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "svq-clip" in m.value)


def records(dataset: Path) -> list[dict]:
    return load_jsonl(dataset / "samples.jsonl")


# --- without a checkpoint -----------------------------------------------------------------------


def test_ask_without_checkpoint_explains_and_disables(env, dataset):
    at = app()
    assert "make demo-checkpoint" in texts(at.warning)
    assert at.button(key="answer").disabled
    # 8 large frames with their frame numbers, and the flipbook above them
    first = sorted(records(dataset), key=lambda r: (r["video_id"], r["frame_numbers"][0], r["id"]))[
        0
    ]
    captions = [c for img in at.image for c in img.captions if "frame" in c]
    assert [f"{i + 1} · frame {n}" for i, n in enumerate(first["frame_numbers"])] == captions
    assert f"id {first['id']}" in clip_line(at)
    sidebar = texts(at.sidebar.markdown)
    assert "not for clinical use" in sidebar and "none" in sidebar


@pytest.mark.parametrize("page", [RESULTS, DATA, TRAINING])
def test_other_pages_work_without_checkpoint(env, page):
    at = app()
    run(at.switch_page(page))
    if page == TRAINING:
        assert "make demo-checkpoint" in texts(at.info)
    else:
        assert not at.error


def test_no_data_says_make_data_on_every_page(env, tmp_path):
    env(data=tmp_path / "empty")
    at = app()
    assert "make data" in texts(at.error)
    run(at.switch_page(DATA))
    assert "make data" in texts(at.error)
    for page in (RESULTS, TRAINING):
        run(at.switch_page(page))  # no dataset needed: still works


def test_invalid_dataset_is_a_clear_error(env, dataset, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(dataset, bad)
    with (bad / "samples.jsonl").open("a") as fh:
        fh.write('{"id": "x"}\n')
    env(data=bad)
    at = app()
    error = re.sub(r"\\(.)", r"\1", texts(at.error))  # shown as text: Markdown escaped
    assert "samples.jsonl" in error and "missing field" in error


# --- filters and navigation ---------------------------------------------------------------------


def test_filters_show_counts_and_narrow_the_clips(env, dataset):
    recs = records(dataset)
    at = app()
    qtype = at.selectbox(key="w_qtype")
    assert qtype.options[0] == f"All types ({len(recs)})"
    n_scope = sum(r["question_type"] == "scope_motion" for r in recs)
    assert f"scope motion ({n_scope})" in qtype.options
    run(qtype.select("scope_motion"))
    assert f"of {n_scope} ·" in clip_line(at)
    assert "scope motion" in clip_line(at)
    video = at.selectbox(key="w_video")
    want = sorted({r["video_id"] for r in recs})[-1]
    n_both = sum(r["question_type"] == "scope_motion" and r["video_id"] == want for r in recs)
    assert f"{want} ({n_both})" in video.options
    run(video.select(want))
    assert f"video <b>{want}</b>" in clip_line(at)


def test_previous_next_random_move_through_the_clips(env, dataset):
    at = app()
    n = len(records(dataset))
    assert "Clip <b>1</b>" in clip_line(at)
    run(at.button(key="next").click())
    assert "Clip <b>2</b>" in clip_line(at)
    run(at.button(key="prev").click())
    run(at.button(key="prev").click())
    assert f"Clip <b>{n}</b>" in clip_line(at)  # wraps around
    run(at.button(key="random").click())
    assert f"Clip <b>{n}</b>" not in clip_line(at)  # random never repeats the current clip
    # the filters survive a visit to another page
    run(at.selectbox(key="w_qtype").select("lighting_mode"))
    run(at.switch_page(DATA))
    run(at.switch_page(ASK))
    assert "lighting mode" in clip_line(at)


def test_flipbook_speed_control(env):
    at = app()
    speed = at.select_slider(key="w_fps")
    assert speed.value == 2.0
    run(speed.set_value(4.0))
    assert at.session_state["fps"] == 4.0


def test_missing_frames_are_an_error_not_a_crash(env, dataset, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    first = sorted(records(broken), key=lambda r: (r["video_id"], r["frame_numbers"][0], r["id"]))
    frame_path(broken / "frames", first[0]["video_id"], first[0]["frames"][3]).unlink()
    env(data=broken)
    at = app()
    assert "missing" in texts(at.error)
    assert at.button(key="answer").disabled
    # another clip of another video still shows
    run(at.selectbox(key="w_video").select(first[-1]["video_id"]))
    assert not at.error


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("corrupt.wav", b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(200), "Could not read"),
        ("notes.mp3", b"this is not audio at all", "Could not read"),
        ("empty.wav", b"", "empty"),
        ("silent.wav", wav_bytes(np.zeros(32_000, dtype=np.float32)), "silent"),
        ("long.wav", wav_bytes(speech_like(31.0)), "under 30 s"),
        ("blip.wav", wav_bytes(speech_like(0.1)), "too short"),
    ],
)
def test_bad_upload_is_a_clear_error(env, name, content, message):
    at = app()
    upload(at, content, name)
    assert message in texts(at.error)
    assert at.button(key="answer").disabled
    # and the app keeps working: a good file afterwards is accepted
    run(
        at.file_uploader(key="w_upload").set_value(
            ("q.wav", wav_bytes(speech_like(2.0)), "audio/wav")
        )
    )
    assert not at.error


# --- answering with the tiny checkpoint ---------------------------------------------------------


def test_answer_from_the_clips_own_question(env, dataset, tiny_checkpoint):
    from app import clips, engine

    env(checkpoint=tiny_checkpoint)
    at = app()
    assert not at.warning
    assert not at.button(key="answer").disabled
    run(at.button(key="answer").click(), MODEL)
    result = at.session_state["result"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Vision prefix"] == "computed"
    assert metrics["Audio tokens"] == str(result["audio_tokens"]) and result["audio_tokens"] > 0
    assert metrics["Vision tokens"] == str(result["vision_tokens"]) and result["vision_tokens"] > 0
    # the card shows what the shared predictor answers for this clip and its recorded question
    rec = clips.find(records(dataset), tuple(result["clip"]))
    eng = engine.loaded(tiny_checkpoint)
    own = eng.predictor.answer(clips.load_frames(dataset, rec), dataset / rec["audio"])
    assert result["text"] == own.text
    card = next(m.value for m in at.markdown if "svq-card" in m.value)
    assert "Ground truth: <b>" + rec["short_answer"] in card
    from data.score import is_correct_strict

    assert result["correct"] == is_correct_strict(
        rec["question_type"], rec["short_answer"], own.text
    )
    assert ("✓ correct" in card) == result["correct"]
    # a second question on the same clip reuses the vision prefix
    run(at.button(key="answer").click(), MODEL)
    assert {m.label: m.value for m in at.metric}["Vision prefix"] == "cached"
    assert len(at.session_state["history"]) == 2
    assert "loaded in" in texts(at.sidebar.markdown)
    # with the model loaded, opening a clip encodes its frames: its first question hits the cache
    eng.predictor.clear_cache()
    run(at.button(key="next").click(), MODEL)
    run(at.button(key="answer").click(), MODEL)
    assert tuple(at.session_state["result"]["clip"]) != tuple(result["clip"])
    assert {m.label: m.value for m in at.metric}["Vision prefix"] == "cached"


def test_answer_from_the_microphone(env, tiny_checkpoint, monkeypatch):
    """The browser recorder's WAV (48 kHz, what Chromium records) is resampled to 16 kHz and
    the quiet before and after the question is trimmed."""
    env(checkpoint=tiny_checkpoint)
    quiet = np.zeros(48_000, dtype=np.float32)
    take = {
        "bytes": wav_bytes(np.concatenate([quiet, speech_like(2.0, sr=48_000), quiet]), 48_000),
        "sample_rate": 48_000,
        "sample_width": 2,
        "format": "wav",
        "id": 1,
    }
    monkeypatch.setattr("app.capture.record", lambda key: take)
    at = app()
    run(at.radio(key="w_source").set_value("microphone"))
    assert re.search(r"Recorded 2\.\d s of speech", texts(at.caption))
    run(at.button(key="answer").click(), MODEL)
    result = at.session_state["result"]
    assert result["source"] == "microphone" and 1.8 <= result["seconds"] <= 2.3  # not 4 s
    card = next(m.value for m in at.markdown if "svq-card" in m.value)
    assert "Judged against the clip" in card


def test_silent_microphone_recording_is_an_error(env, monkeypatch):
    silent = {"bytes": wav_bytes(np.zeros(96_000, dtype=np.float32), 48_000), "id": 7}
    monkeypatch.setattr("app.capture.record", lambda key: silent)
    at = app()
    run(at.radio(key="w_source").set_value("microphone"))
    assert "silent" in texts(at.error)
    assert at.button(key="answer").disabled


def test_builtin_recorder_is_an_alternative(env, monkeypatch):
    monkeypatch.setattr("app.capture.record", lambda key: None)
    at = app()
    run(at.radio(key="w_source").set_value("microphone"))
    run(
        at.audio_input(key="w_builtin").set_value(
            ("q.wav", wav_bytes(speech_like(1.5)), "audio/wav")
        )
    )
    assert re.search(r"Recorded 1\.\d s of speech", texts(at.caption))
    assert not at.error


def test_question_longer_than_the_models_window(env, tiny_checkpoint):
    """The tiny model's encoder hears 5 s (its feature extractor's window): a 6 s question is
    refused with the limit, before any model is loaded."""
    env(checkpoint=tiny_checkpoint)
    at = app()
    upload(at, wav_bytes(speech_like(6.0)))
    assert "this model hears at most 5 s" in texts(at.error)
    assert at.button(key="answer").disabled


def test_upload_answer(env, tiny_checkpoint):
    env(checkpoint=tiny_checkpoint)
    at = app()
    upload(at, wav_bytes(speech_like(2.5)))
    run(at.button(key="answer").click(), MODEL)
    assert at.session_state["result"]["source"] == "upload"
    assert at.session_state["result"]["text"] is not None


# --- results ------------------------------------------------------------------------------------


def test_results_page_charts_confusion_and_errors(env, runs_dir, dataset):
    import json

    at = app()
    run(at.switch_page(RESULTS))
    summary = json.loads((runs_dir / "guess" / "summary.json").read_text())
    # the newest runs side by side, each with its summary's numbers
    table = at.dataframe[0].value
    assert list(table["run"]) == ["runs/guess", "runs/guess-2"]
    assert table["strict"][0] == f"{100 * summary['strict']['accuracy']:.1f}%"
    assert table["blind prior"][0] == f"{100 * summary['prior']['accuracy']:.1f}%"
    lo, hi = summary["by_wording"]["strict"]  # the interval over the split's spoken wordings
    assert table["over wordings"][0] == f"{100 * lo:.0f}%–{100 * hi:.0f}%"
    # grounded answers say what they rest on: here always the asked question's segment
    assert list(table["heard as asked"]) == ["–", "100.0%"]
    # the two runs answer by answer: the page shows data.compare's numbers
    from data.compare import compare
    from data.score import load_predictions

    want = compare(*(load_predictions(runs_dir / n / "predictions.jsonl")
                     for n in ("guess", "guess-2")))  # fmt: skip
    shown = {m.label: m.value for m in at.metric}
    assert shown["b - a, strict"] == f"{100 * want['diff']:+.1f} pts"
    assert shown["McNemar p"] == f"{want['p']:.3g}"
    assert f"{want['only_a']} questions only a got right" in texts(at.caption)
    run(at.selectbox(key="w_cmp_b").select("runs/guess"))  # a run against itself
    assert {m.label: m.value for m in at.metric}["b - a, strict"] == "+0.0 pts"
    run(at.segmented_control(key="w_metric").set_value("lenient"))

    def error_columns() -> list[str]:
        return list(next(d.value for d in at.dataframe if "parsed" in d.value.columns).columns)

    assert "seen" not in error_columns()  # plain answers
    run(at.selectbox(key="w_detail_run").select("runs/guess-2"))
    assert error_columns().index("seen") == error_columns().index("answered") - 1
    # one run: strict, lenient and prior per type
    run(at.multiselect(key="w_runs").unselect("runs/guess-2"))
    assert list(at.dataframe[0].value["run"]) == ["runs/guess"]
    assert not at.metric  # no second run to compare with
    assert len(at.get("plotly_chart")) == 3  # overall, per type, confusion
    # the confusion matrix of one type
    run(at.selectbox(key="w_conf_type").select("lesion_site"))
    # every spoken wording of the run, worst first
    said = load_predictions(runs_dir / "guess" / "predictions.jsonl")
    table = next(d.value for d in at.dataframe if "wording" in d.value.columns)
    assert set(table["wording"]) == {r["question"] for r in said}
    assert table["n"].sum() == len(said)
    # the error list opens its clip in Ask
    pick = at.selectbox(key="w_error_pick")
    wrong = pick.options[-1]
    run(pick.set_value(len(pick.options) - 1))
    run(at.button(key="open_in_ask").click())
    key = wrong.split(" · ")[0]
    assert f"id {key.split('/')[1]}" in clip_line(at)
    assert f"video <b>{key.split('/')[0]}</b>" in clip_line(at)


def test_results_without_runs_explains(env, monkeypatch, tmp_path):
    monkeypatch.setenv("SURGVIVQA_RUNS", str(tmp_path / "no-runs"))
    at = app()
    run(at.switch_page(RESULTS))
    assert "evaluation.evaluate" in texts(at.info)


def test_results_reports_an_unreadable_summary(env, monkeypatch, runs_dir, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(runs_dir, root)
    (root / "broken").mkdir()
    (root / "broken" / "summary.json").write_text("{not json")
    monkeypatch.setenv("SURGVIVQA_RUNS", str(root))
    at = app()
    run(at.switch_page(RESULTS))
    assert "broken" in texts(at.warning)
    assert at.dataframe  # the readable runs still show


# --- data ---------------------------------------------------------------------------------------


def test_data_page_distribution_and_contact_sheet(env, dataset):
    recs = records(dataset)
    at = app()
    run(at.switch_page(DATA))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Questions"] == f"{len(recs):,}"
    assert metrics["Videos"] == str(len({r["video_id"] for r in recs}))
    assert metrics["With spoken audio"] == f"{sum(bool(r.get('audio')) for r in recs):,}"
    assert len(at.get("plotly_chart")) == 4  # types, answers, videos, splits
    assert len(at.image) == 1  # the contact sheet
    run(at.segmented_control(key="w_kind").set_value("choice"))
    run(at.selectbox(key="w_sheet_video").select(recs[0]["video_id"]))
    assert len(at.image) == 1


# --- training -----------------------------------------------------------------------------------


def test_training_page_curves_best_step_and_parameters(env, tiny_checkpoint, tmp_path):
    import json

    from safetensors import safe_open

    ckpt = tmp_path / "ckpts" / "trained"
    shutil.copytree(tiny_checkpoint, ckpt)
    state = json.loads(make_trainer_state(ckpt).read_text())
    warm = {"train": {"nbi": 0.99}, "held_out": {"nbi": 0.96}}
    recipe = {"minutes": 12.5, "vision_warmup": warm, "recipe": {"freeze_vision": True}}
    (ckpt / "recipe.json").write_text(json.dumps(recipe))
    (ckpt / "eval").mkdir()
    (ckpt / "eval" / "readout.json").write_text(json.dumps({"held_out": {"nbi": 0.5}}))
    (ckpt / "eval" / "readout-mean.json").write_text(json.dumps({"held_out": {"nbi": 0.25}}))
    env(checkpoint=ckpt)
    at = app()
    run(at.switch_page(TRAINING))
    metrics = {m.label: m.value for m in at.metric}
    best = min((h for h in state["log_history"] if "eval_loss" in h), key=lambda h: h["eval_loss"])
    assert metrics["Best step"] == f"{best['step']:,}"
    assert metrics["Best eval loss"] == f"{best['eval_loss']:.3f}"
    assert len(at.get("plotly_chart")) == 1
    # parameter counts from the headers equal the tensors' sizes
    total = 0
    for f in ckpt.rglob("*.safetensors"):
        with safe_open(str(f), "np") as fh:
            names = list(fh.keys())  # noqa: SIM118 - safe_open is not a mapping
            total += sum(int(np.prod(fh.get_slice(k).get_shape())) for k in names)
    assert metrics["Stored in the checkpoint"] == f"{total:,}"
    assert any("12.5 min of training" in e.label for e in at.expander)
    readout = at.dataframe[-1].value
    assert readout["after the warm-up"].tolist() == ["96.0%"]
    assert readout["final tower (fresh heads)"].tolist() == ["50.0%"]
    assert readout["final tower, token average"].tolist() == ["25.0%"]
    config = {r["setting"]: r["value"] for _, r in at.dataframe[1].value.iterrows()}
    assert config["train"] == json.loads((ckpt / "graft_config.json").read_text())["train"]
    # the recipe froze the tower after its warm-up: the table and the caption say so
    params = {r["component"]: r for _, r in at.dataframe[0].value.iterrows()}
    assert config["train"] == "full"  # the tiny model trains whole, so its tower could train
    assert params["vision tower"]["trainable"] == "warm-up"
    assert params["audio encoder (Whisper)"]["trainable"] == "yes"  # the random test ear trains
    assert any("frozen for the later stages" in c.value for c in at.caption)
    n_warm = int(params["vision tower"]["parameters"].replace(",", ""))
    assert metrics["Trainable"] == f"{total - n_warm:,}"


def test_training_page_without_trainer_state(env, tiny_checkpoint):
    from app import engine

    loaded = dict(engine._LOADED)
    env(checkpoint=tiny_checkpoint)
    at = app()
    run(at.switch_page(TRAINING))
    assert "no trainer_state.json" in texts(at.info)
    assert loaded == engine._LOADED  # reading a checkpoint's files never loads the model


def test_a_link_opens_its_clip(env, dataset):
    rec = records(dataset)[-1]
    at = AppTest.from_file(str(MAIN), default_timeout=FAST)
    at.query_params["clip"] = f"{rec['video_id']}/{rec['id']}"
    run(at)
    assert f"id {rec['id']}" in clip_line(at) and f"<b>{rec['video_id']}</b>" in clip_line(at)
    run(at.button(key="next").click())  # the link is consumed: navigation works as usual
    assert f"id {rec['id']}" not in clip_line(at)


def test_corrupt_clip_recording_is_a_clear_error(env, dataset, tmp_path, tiny_checkpoint):
    copy = tmp_path / "data"
    shutil.copytree(dataset, copy)
    first = sorted(records(copy), key=lambda r: (r["video_id"], r["frame_numbers"][0], r["id"]))
    (copy / first[0]["audio"]).write_bytes(b"RIFF....WAVE" + bytes(64))
    env(checkpoint=tiny_checkpoint, data=copy)
    at = app()
    run(at.button(key="answer").click(), MODEL)
    assert "Could not read" in texts(at.error)
    assert at.session_state["result"] is None
    run(at.button(key="next").click())  # still working

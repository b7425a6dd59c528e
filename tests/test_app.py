"""AppTest runs of every page, with and without a checkpoint, data, runs and good or bad audio.

    .venv/bin/python -m pytest tests/test_app.py -q

The dataset is generated in tmp by data.synth + data.tts (offline espeak-ng); the checkpoint is
the untrained tiny one (conftest's tiny_checkpoint). The microphone is Streamlit's own
st.audio_input, which AppTest drives like any widget.
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
NOISE = 0.1 * np.random.default_rng(0).standard_normal(64_000)  # 4 s of hiss
CHORD = 0.1 * sum(np.sin(2 * np.pi * f * np.arange(48_000) / 16_000) for f in (262, 330, 392))
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


def shown(elements) -> str:
    """The text as read on the page: messages quoting names are Markdown-escaped."""
    return re.sub(r"\\(.)", r"\1", texts(elements))


def table_with(at: AppTest, column: str):
    """The first table on the page with that column."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def clip_line(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "svq-clip" in m.value)


def records(dataset: Path) -> list[dict]:
    return load_jsonl(dataset / "samples.jsonl")


def clips_of(dataset: Path, split: str = "test") -> list[list[dict]]:
    """The clips the Ask page browses (each a list of its questions), held-out test first."""
    from app.clips import read_dataset, select_clips

    return select_clips(read_dataset(dataset), split)


# --- without a checkpoint -----------------------------------------------------------------------


def test_ask_without_checkpoint_explains_and_disables(env, dataset):
    at = app()
    assert "make demo-checkpoint" in texts(at.warning)
    assert at.button(key="answer").disabled
    # 8 large frames with their frame numbers, and the flipbook above them: the first clip of
    # the held-out test clips, counted as clips, with its questions
    test = clips_of(dataset)
    first = test[0][0]
    captions = [c for img in at.image for c in img.captions if "frame" in c]
    assert [f"{i + 1} · frame {n}" for i, n in enumerate(first["frame_numbers"])] == captions
    assert f"of {len(test)} ·" in clip_line(at) and "held-out test clips" in clip_line(at)
    assert f"{len(test[0])} question" in clip_line(at)
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


def test_filters_count_clips_not_questions_and_narrow_them(env, dataset):
    from app.asked import plain

    test = clips_of(dataset)
    at = app()
    split = at.selectbox(key="w_split")
    assert split.value == "test" and split.options[0] == f"Held-out test clips ({len(test)})"
    every = clips_of(dataset, split="All")
    assert split.options[-1] == f"All clips ({len(every)})"
    qtype = at.selectbox(key="w_qtype")
    n_scope = sum(any(r["question_type"] == "scope_motion" for r in c) for c in test)
    assert f"{plain('scope_motion')} ({n_scope} clips)" in qtype.options
    run(qtype.select("scope_motion"))
    assert f"of {n_scope} ·" in clip_line(at)
    # the clip's recording to play is its question of that type
    shown = at.selectbox(key="w_asked").value
    chosen = [r for c in test for r in c if r["id"] == shown]  # the test split: one video
    assert [r["question_type"] for r in chosen] == ["scope_motion"]
    # the training clips, narrowed to one video
    run(at.selectbox(key="w_split").select("train"))
    video = at.selectbox(key="w_video")
    want = clips_of(dataset, "train")[-1][0]["video_id"]
    run(video.select(want))
    assert f"video <b>{want}</b>" in clip_line(at)
    train = clips_of(dataset, "train")
    n_train = sum(any(r["question_type"] == "scope_motion" for r in c) for c in train)
    assert f"of {n_train} ·" in clip_line(at)  # still clips with a scope-motion question


def test_previous_next_random_move_through_the_clips(env, dataset):
    at = app()
    n = len(clips_of(dataset))
    assert "Clip <b>1</b>" in clip_line(at)
    run(at.button(key="next").click())
    assert "Clip <b>2</b>" in clip_line(at)
    run(at.button(key="prev").click())
    run(at.button(key="prev").click())
    assert f"Clip <b>{n}</b>" in clip_line(at)  # wraps around
    run(at.button(key="random").click())
    assert f"Clip <b>{n}</b>" not in clip_line(at)  # random never repeats the current clip
    # every step shows other frames: a clip is its 8 frames, not one of its questions
    frames = set()
    for _ in range(3):
        frames.add(clip_line(at).split("frames ")[1].split(" ·")[0])
        run(at.button(key="next").click())
    assert len(frames) == 3
    # the filters survive a visit to another page
    run(at.selectbox(key="w_qtype").select("lighting_mode"))
    run(at.switch_page(DATA))
    run(at.switch_page(ASK))
    assert at.selectbox(key="w_qtype").value == "lighting_mode"


def test_flipbook_speed_control(env):
    at = app()
    speed = at.select_slider(key="w_fps")
    assert speed.value == 2.0
    run(speed.set_value(4.0))
    assert at.session_state["fps"] == 4.0


def test_missing_frames_are_an_error_not_a_crash(env, dataset, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    first = clips_of(broken)[0][0]
    frame_path(broken / "frames", first["video_id"], first["frames"][3]).unlink()
    env(data=broken)
    at = app()
    assert "missing" in texts(at.error)
    assert at.button(key="answer").disabled
    # another clip still shows
    run(at.button(key="next").click())
    assert not at.error


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("corrupt.wav", b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(200), "Could not read"),
        ("notes.mp3", b"this is not audio at all", "Could not read"),
        ("empty.wav", b"", "empty"),
        ("silent.wav", wav_bytes(np.zeros(32_000, dtype=np.float32)), "(2.0 s): it is silent"),
        (
            "noise.wav",
            wav_bytes(NOISE),
            "(4.0 s): it sounds like noise",
        ),
        ("music.wav", wav_bytes(CHORD), "(3.0 s): it sounds like music"),
        ("long.wav", wav_bytes(speech_like(31.0)), "under 30 s"),
        ("blip.wav", wav_bytes(speech_like(0.1)), "too short"),
    ],
)
def test_bad_upload_is_a_clear_error(env, name, content, message):
    at = app()
    upload(at, content, name)
    assert message in shown(at.error)
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
    at = app(MODEL)  # the page waits for the model (loading since the first run) to offer Answer
    eng = engine.loaded(tiny_checkpoint)
    assert eng is not None and not at.warning
    assert not at.button(key="answer").disabled
    eng.predictor.clear_cache()  # the page encoded the clip's frames once the model was there
    run(at.button(key="answer").click(), MODEL)
    result = at.session_state["result"]
    metrics = {m.label: m.value for m in at.metric}  # behind the card's Details
    assert any(e.label == "Details" for e in at.expander)
    assert metrics["Vision prefix"] == "computed"
    # how probable the model found its words; the tiny checkpoint is not calibrated: no words
    assert result["score"] <= 0 and result["confidence"] is None
    assert metrics["Audio tokens"] == str(result["audio_tokens"]) and result["audio_tokens"] > 0
    assert metrics["Vision tokens"] == str(result["vision_tokens"]) and result["vision_tokens"] > 0
    # the card shows what the shared predictor answers for this clip and its recorded question
    rec = clips.find(records(dataset), tuple(result["clip"]))
    own = eng.predictor.answer(clips.load_frames(dataset, rec), dataset / rec["audio"])
    assert result["text"] == own.text
    card = next(m.value for m in at.markdown if "svq-card" in m.value)
    assert "Reference answer: <b>" + rec["short_answer"] in card
    assert "Understood as: " in card
    from data.score import is_correct_strict

    # the clip's own recording keeps its record's verdict, whatever it was understood as
    assert result["own"] and [g["question"] for g in result["graded"]] == [rec["question"]]
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


def speak(at: AppTest, wav: bytes) -> AppTest:
    """Pick the microphone and record `wav` with the page's one recorder (st.audio_input)."""
    run(at.radio(key="w_source").set_value("microphone"))
    assert len(at.audio_input) == 1  # one recorder, Streamlit's own
    return run(at.audio_input[0].set_value(("q.wav", wav, "audio/wav")), MODEL)


def test_answer_from_the_microphone(env, tiny_checkpoint):
    """A take at 48 kHz is resampled to 16 kHz and the quiet before and after the question is
    trimmed; the take belongs to its clip."""
    env(checkpoint=tiny_checkpoint)
    quiet = np.zeros(48_000, dtype=np.float32)
    at = app(MODEL)
    speak(at, wav_bytes(np.concatenate([quiet, speech_like(2.0, sr=48_000), quiet]), 48_000))
    assert re.search(r"Heard 2\.\d s of speech", texts(at.caption))
    run(at.button(key="answer").click(), MODEL)
    result = at.session_state["result"]
    assert result["source"] == "microphone" and 1.8 <= result["seconds"] <= 2.3  # not 4 s
    card = next(m.value for m in at.markdown if "svq-card" in m.value)
    assert "Understood as: " in card
    # graded only against references of what it was understood as, or said to have none
    types = {g["question"] for g in result["graded"]}
    assert types or "No reference for that question on this clip" in card
    # the take belongs to its clip: the next clip starts with an empty recorder and no answer
    run(at.button(key="next").click(), MODEL)
    assert at.audio_input[0].value is None
    assert not [m for m in at.markdown if "svq-card" in m.value]


def test_silent_microphone_recording_is_an_error(env):
    at = app()
    speak(at, wav_bytes(np.zeros(96_000, dtype=np.float32), 48_000))
    assert "No speech heard in your recording (2.0 s): it is silent" in shown(at.error)
    assert at.button(key="answer").disabled


def test_one_recorder_with_the_models_limit_beside_it(env):
    from model.constants import MAX_AUDIO_SECONDS

    at = app()
    run(at.radio(key="w_source").set_value("microphone"))
    assert len(at.audio_input) == 1
    assert f"up to {MAX_AUDIO_SECONDS:g} s" in at.audio_input[0].label
    speak(at, wav_bytes(speech_like(1.5)))
    assert re.search(r"Heard 1\.\d s of speech", texts(at.caption))
    assert not at.error


def test_one_limit_from_the_model_everywhere(env, tiny_checkpoint):
    """The model hears any question up to its processor's max_seconds (30 s, window by window):
    a 6 s question, longer than the tiny encoder's 5 s window, is taken; 31 s is refused."""
    from model.constants import MAX_AUDIO_SECONDS

    env(checkpoint=tiny_checkpoint)
    at = app()
    upload(at, wav_bytes(speech_like(6.0)))
    assert not at.error and not at.button(key="answer").disabled
    assert f"up to {MAX_AUDIO_SECONDS:g} s" in at.file_uploader(key="w_upload").label
    upload(at, wav_bytes(speech_like(31.0)), "long.wav")
    assert f"must be under {MAX_AUDIO_SECONDS:g} s" in texts(at.error)
    assert at.button(key="answer").disabled


def test_upload_answer(env, tiny_checkpoint):
    env(checkpoint=tiny_checkpoint)
    at = app()
    upload(at, wav_bytes(speech_like(2.5)))
    run(at.button(key="answer").click(), MODEL)
    assert at.session_state["result"]["source"] == "upload"
    assert at.session_state["result"]["text"] is not None


@pytest.mark.parametrize("kind", ["m4a", "webm"])
def test_phone_and_browser_recordings_upload_like_a_wav(env, monkeypatch, kind):
    """An iPhone's m4a and a browser's webm are heard like the WAV they were made from."""
    from tests.test_app_parts import encoded

    _fake_model(monkeypatch, "yes", "nbi yes")
    at = app()
    upload(at, wav_bytes(speech_like(2.0)))
    heard_wav = re.search(r"Heard (\d\.\d) s", texts(at.caption)).group(1)
    upload(at, encoded(speech_like(2.0), kind), f"q.{kind}")
    assert not at.error and not at.button(key="answer").disabled
    assert re.search(r"Heard (\d\.\d) s", texts(at.caption)).group(1) == heard_wav
    assert "M4A, AAC or WebM" in at.file_uploader(key="w_upload").label
    run(at.button(key="answer").click())
    assert at.session_state["result"]["name"] == f"q.{kind}"


@pytest.mark.parametrize("sure", ["sure", "fairly sure", "unsure", None])
def test_the_card_says_how_sure_the_model_is(env, monkeypatch, sure):
    _fake_model(monkeypatch, "yes", "nbi yes", sure)
    at = app()
    upload(at, wav_bytes(speech_like(2.0)))
    run(at.button(key="answer").click())
    card = next(m.value for m in at.markdown if "svq-card" in m.value)
    if sure is None:  # an uncalibrated checkpoint: no words, the score behind Details
        assert "sure of this answer" not in card
        assert "no calibration" in texts(at.caption)
    else:
        assert f"The model is {sure} of this answer" in card
        assert "Mean probability of the model's words: 0.67" in texts(at.caption)


# --- results ------------------------------------------------------------------------------------


def test_results_page_charts_confusion_and_errors(env, runs_dir, dataset):
    import json

    at = app()
    run(at.switch_page(RESULTS))
    summary = json.loads((runs_dir / "guess" / "summary.json").read_text())
    # the newest runs side by side in plain words, each with its summary's numbers
    words = table_with(at, "right answers")
    assert list(words["run"]) == ["runs/guess", "runs/guess-2"]
    assert list(words.columns) == [
        "run", "questions asked", "questions", "right answers", "guessing gets",
        "heard the question",
    ]  # fmt: skip
    assert words["right answers"][0] == f"{100 * summary['strict']['accuracy']:.1f}%"
    assert words["guessing gets"][0] == f"{100 * summary['prior']['accuracy']:.1f}%"
    assert words["questions asked"][0] == "held-out test clips, spoken"
    assert not re.search(r"strict|lenient|prior|CI|Wilson", " ".join(words.columns))
    # the engineering figures behind Details
    assert any(e.label == "Details" for e in at.expander)
    table = table_with(at, "blind prior")
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
    assert shown["b gets right, more than a"] == f"{100 * want['diff']:+.1f} pts"
    assert shown["Chance of no real difference"] == f"{want['p']:.3g}"  # McNemar's p
    assert f"{want['only_a']} questions only a got right" in texts(at.caption)
    run(at.selectbox(key="w_cmp_b").select("runs/guess"))  # a run against itself
    assert {m.label: m.value for m in at.metric}["b gets right, more than a"] == "+0.0 pts"
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
    assert at.selectbox(key="w_asked").value == key.split("/")[1]  # its recording, ready
    assert f"video <b>{key.split('/')[0]}</b>" in clip_line(at)


def test_results_page_shows_the_clinic_conditions_of_the_checkpoint(env, runs_dir, tmp_path):
    """The checkpoint's stranger runs under the clinic conditions: one row each, the worst named
    in the line above the table (data.clinic, as the README's headline)."""
    import json

    base = json.loads((runs_dir / "guess" / "summary.json").read_text())
    ckpt = tmp_path / "ckpt"
    for name, split, acc in (("eval-stranger", "stranger", 0.8), ("eval-stranger-reverb",
                             "stranger-reverb", 0.6)):  # fmt: skip
        (ckpt / name).mkdir(parents=True)
        summary = {**base, "split": split, "strict": {**base["strict"], "accuracy": acc}}
        (ckpt / name / "summary.json").write_text(json.dumps(summary))
    env(checkpoint=ckpt)
    at = app()
    run(at.switch_page(RESULTS))
    table = next(d.value for d in at.dataframe if "how the question was heard" in d.value.columns)
    assert list(table["how the question was heard"]) == ["quiet", "reverberant room (0.9 s)"]
    assert list(table["vs quiet"]) == ["–", "-20.0 pts"]
    shown = [m.value.replace("\\", "") for m in at.markdown]  # plain() escapes Markdown
    assert any("The worst is reverberant room (0.9 s): 60.0%" in m for m in shown)


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
    clips = {(r["video_id"], tuple(r["frames"])) for r in recs}  # a clip is its 8 frames
    assert metrics["Clips"] == f"{len(clips):,}" and len(clips) < len(recs)
    assert metrics["Videos"] == str(len({r["video_id"] for r in recs}))
    per_split = table_with(at, "clips (8 frames)")
    assert per_split["clips (8 frames)"].sum() == len(clips)
    assert per_split["questions"].sum() == len(recs)
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
    assert at.selectbox(key="w_asked").value == rec["id"]
    assert f"<b>{rec['video_id']}</b>" in clip_line(at)
    shown = clip_line(at)
    run(at.button(key="next").click())  # the link is consumed: navigation works as usual
    assert clip_line(at) != shown


def test_corrupt_clip_recording_is_a_clear_error(env, dataset, tmp_path, tiny_checkpoint):
    copy = tmp_path / "data"
    shutil.copytree(dataset, copy)
    first = clips_of(copy)[0]  # the first clip's first question plays by default
    (copy / first[0]["audio"]).write_bytes(b"RIFF....WAVE" + bytes(64))
    env(checkpoint=tiny_checkpoint, data=copy)
    at = app()
    run(at.button(key="answer").click(), MODEL)
    assert "Could not read" in texts(at.error)
    assert at.session_state["result"] is None
    run(at.button(key="next").click())  # still working


# --- what was asked -----------------------------------------------------------------------------


def _fake_model(monkeypatch, text: str, grounding: str, sure: str | None = "sure") -> None:
    """The model answers `grounding: text` to any question, `sure` of it (no checkpoint is
    loaded)."""
    from types import SimpleNamespace

    from app import engine

    out = SimpleNamespace(
        text=text,
        grounding=grounding,
        latency_ms=100.0,
        audio_tokens=40,
        vision_tokens=128,
        cached_prefix=False,
    )
    monkeypatch.setattr(engine, "checkpoint_problem", lambda path: None)
    monkeypatch.setattr(engine, "engine", lambda checkpoint, device: SimpleNamespace())
    monkeypatch.setattr(engine, "ask", lambda eng, frames, audio: (out, sure, -0.4))


@pytest.mark.parametrize("has_reference", [True, False])
def test_verdict_only_against_a_reference_of_the_question_understood(
    env, dataset, monkeypatch, has_reference
):
    """Asked by microphone whether NBI is on, the model answers "nbi yes: yes": on a clip with
    an NBI reference the answer is graded against it; on a clip without one it is not graded
    (no red "incorrect" against the clip's other questions)."""
    from app.asked import plain

    _fake_model(monkeypatch, "yes", "nbi yes")
    test = clips_of(dataset)
    index = next(
        i
        for i, c in enumerate(test)
        if any(r["question_type"] == "nbi_status" for r in c) == has_reference
    )
    at = AppTest.from_file(str(MAIN), default_timeout=FAST)
    at.session_state["clip_index"] = index
    run(at)
    upload(at, wav_bytes(speech_like(2.0)))
    run(at.button(key="answer").click())
    card = next(m.value for m in at.markdown if "svq-card" in m.value)
    assert f"Understood as: “{plain('nbi_status')}”" in card
    result = at.session_state["result"]
    if has_reference:
        ref = next(r for r in test[index] if r["question_type"] == "nbi_status")
        assert [g["question"] for g in result["graded"]] == [ref["question"]]
        assert result["correct"] == (ref["short_answer"] == "yes")
        assert ("✓ correct" in card) == result["correct"]
        assert f"Reference answer: <b>{ref['short_answer']}</b>" in card
    else:
        assert result["graded"] == [] and result["correct"] is None
        assert "No reference for that question on this clip" in card
        assert "incorrect" not in card and "✓ correct" not in card
    # another file: the answer to the first one is gone until asked again
    upload(at, wav_bytes(speech_like(2.5, seed=3)), "other.wav")
    assert not [m for m in at.markdown if "svq-card" in m.value]


def test_weak_speech_is_answered_with_a_warning(env, dataset, monkeypatch):
    _fake_model(monkeypatch, "rectum", "site rectum")
    rng = np.random.default_rng(1)
    noisy = speech_like(2.0) + 0.08 * rng.standard_normal(32_000).astype(np.float32)
    at = app()
    upload(at, wav_bytes(noisy))
    assert "louder than the background noise" in texts(at.warning)
    assert not at.error and not at.button(key="answer").disabled
    run(at.button(key="answer").click())
    assert at.session_state["result"]["snr_db"] < 13


def test_what_can_be_asked_sits_beside_the_recorder(env):
    from data.catalog import TYPE_NAMES

    at = app()
    run(at.radio(key="w_source").set_value("microphone"))
    table = next(d.value for d in at.dataframe if "for example" in d.value.columns)
    assert len(table) == len(TYPE_NAMES) == 20
    assert "_" not in "".join(table["question"])  # plain words, no type names


@pytest.mark.parametrize("page", [ASK, RESULTS, DATA, TRAINING])
def test_no_page_shows_the_servers_folders(env, dataset, runs_dir, page, tmp_path):
    """Data, runs and checkpoint live in absolute temporary folders here: no page shows them."""
    at = app()
    if page != ASK:
        run(at.switch_page(page))
    everything = "\n".join(
        texts(els)
        for els in (at.markdown, at.caption, at.error, at.info, at.warning, at.sidebar.markdown)
    )
    everything += "\n".join(str(getattr(w, "help", "") or "") for w in at.multiselect)
    for folder in (dataset, runs_dir, tmp_path):
        assert str(folder) not in re.sub(r"\\(.)", r"\1", everything)


def test_the_sidebar_headline_is_the_stranger(env, dataset, tmp_path):
    import json

    ckpt = tmp_path / "ckpts" / "demo"
    make_run(ckpt / "eval", dataset, seed=1)
    strange = make_run(ckpt / "eval-stranger", dataset, seed=2)
    summary = json.loads((strange / "summary.json").read_text())
    (strange / "summary.json").write_text(json.dumps(summary | {"split": "stranger"}))
    (ckpt / "graft_config.json").write_text("{}")  # enough to count as a checkpoint
    env(checkpoint=ckpt)
    at = app()
    metric = next(m for m in at.sidebar.metric)
    assert metric.label == "Right answers, a new voice asking"
    assert metric.value == f"{100 * summary['strict']['accuracy']:.1f}%"

"""The app's shared pieces on their own: settings, clip navigation, flipbook, audio checks,
run and checkpoint readers, and the shared model under concurrent sessions.

    .venv/bin/python -m pytest tests/test_app_parts.py -q
"""

from __future__ import annotations

import io
import json
import random
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import capture, clips, engine, media, runs, settings, weights
from data.schema import load_jsonl
from data.score import summarize
from model import runfiles
from tests.e2e.support import make_dataset, make_run, make_trainer_state, speech_like, wav_bytes


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("parts") / "data")


# --- settings -----------------------------------------------------------------------------------


def test_settings_env_then_cli(tmp_path):
    env = {"SURGVIVQA_CHECKPOINT": str(tmp_path / "a"), "SURGVIVQA_DATA": "rel/data"}
    s = settings.load(["app/main.py"], env)
    assert s.checkpoint == tmp_path / "a"
    assert s.data == (Path.cwd() / "rel" / "data").resolve()
    assert s.runs == settings.Settings().runs and s.device is None
    argv = ["app/main.py", "--checkpoint", str(tmp_path / "b"), "--device", "cuda:0"]
    s = settings.load(argv, env)
    assert s.checkpoint == tmp_path / "b" and s.device == "cuda:0"
    # another host's argv (pytest, a notebook) is not ours to parse
    assert settings.load(["pytest", "--checkpoint", "x"], {}).checkpoint == settings.ROOT / (
        "checkpoints/demo"
    )


# --- clips --------------------------------------------------------------------------------------


def test_dataset_tags_splits_and_filters(dataset):
    recs = clips.read_dataset(dataset)
    test = {(r["video_id"], r["id"]) for r in load_jsonl(dataset / "splits" / "test.jsonl")}
    assert {(r["video_id"], r["id"]) for r in recs if r["split"] == "test"} == test
    some = clips.select(recs, qtype="nbi_status")
    assert some and all(r["question_type"] == "nbi_status" for r in some)
    assert clips.select(recs) == sorted(
        recs, key=lambda r: (r["video_id"], r["frame_numbers"][0], r["id"])
    )


def test_no_dataset_says_make_data(tmp_path):
    with pytest.raises(clips.NoData, match="make data"):
        clips.read_dataset(tmp_path)


def test_step_wraps_and_random_moves():
    assert clips.step(0, 5, "prev") == 4 and clips.step(4, 5, "next") == 0
    rng = random.Random(0)
    assert all(clips.step(2, 5, "random", rng) != 2 for _ in range(50))
    assert clips.step(0, 1, "random") == 0
    with pytest.raises(ValueError):
        clips.step(0, 5, "sideways")


def test_missing_frame_and_escaping_audio(dataset, tmp_path):
    rec = dict(clips.read_dataset(dataset)[0])
    assert len(clips.load_frames(dataset, rec)) == 8
    rec["frames"] = [*rec["frames"][:7], rec["video_id"] + "_999999"]
    with pytest.raises(clips.ClipError, match="missing"):
        clips.frame_paths(dataset, rec)
    assert clips.audio_path(dataset, {"audio": "../../etc/passwd"}) is None
    assert clips.audio_path(dataset, {}) is None


# --- flipbook and contact sheet -----------------------------------------------------------------


def test_flipbook_is_a_looping_gif_at_the_chosen_speed(dataset):
    rec = clips.read_dataset(dataset)[0]
    paths = clips.frame_paths(dataset, rec)
    for fps, ms in ((2.0, 500), (4.0, 250)):
        gif = Image.open(io.BytesIO(media.build_flipbook(paths, fps, rec["frame_numbers"])))
        assert gif.format == "GIF" and gif.n_frames == 8
        assert gif.info["loop"] == 0 and gif.info["duration"] == ms
        assert gif.width == media.FLIPBOOK_WIDTH  # under st.image's re-encode limit
    with pytest.raises(ValueError):
        media.build_flipbook(paths, 0)


def test_contact_sheet_marks_missing_frames(dataset, tmp_path):
    rec = clips.read_dataset(dataset)[0]
    paths = [str(p) for p in clips.frame_paths(dataset, rec)]
    sheet = Image.open(
        io.BytesIO(media.build_contact_sheet([paths, [str(tmp_path / "x.jpg")]], ["a", "b"]))
    )
    assert sheet.width == 8 * (media.THUMB + 2) + 2
    x, y = 2 + media.THUMB // 2, (media.THUMB + 26) + 22 + media.THUMB // 2
    r, g, b = sheet.getpixel((x, y))
    assert r > 150 and g < 110  # the missing frame is a red tile


# --- audio --------------------------------------------------------------------------------------


def test_decode_resamples_browser_audio_to_16k():
    q = capture.decode(wav_bytes(speech_like(2.0, sr=44_100), 44_100), "take", "microphone")
    assert q.samples.dtype == np.float32 and q.seconds == pytest.approx(2.0, abs=0.01)
    stereo = io.BytesIO()
    import soundfile as sf

    sf.write(stereo, np.stack([speech_like(1.0, sr=48_000)] * 2, axis=1), 48_000, format="WAV")
    assert capture.decode(stereo.getvalue(), "stereo").seconds == pytest.approx(1.0, abs=0.01)


def test_trim_keeps_the_speech_and_drops_the_quiet(tiny_checkpoint, tmp_path):
    from model.audio import TRIM_MARGIN_S

    speech = speech_like(2.0)
    quiet = 0.001 * np.random.default_rng(0).standard_normal(24_000).astype(np.float32)
    q = capture.decode(wav_bytes(np.concatenate([quiet, speech, quiet])), "take", trim=True)
    assert 1.9 <= q.seconds <= 2.0 + 2 * (TRIM_MARGIN_S + 0.04)  # 512-sample frames
    assert capture.decode(wav_bytes(speech), "take").seconds == pytest.approx(2.0, abs=0.01)
    assert capture.window_seconds(tiny_checkpoint) == 5.0  # the tiny encoder's 5 s window
    assert capture.window_seconds(tmp_path) is None


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (b"", "empty"),
        (b"not audio", "Could not read"),
        (wav_bytes(np.zeros(16_000, dtype=np.float32)), "silent"),
        (wav_bytes(0.1 * np.random.default_rng(0).standard_normal(48_000)), "like noise"),
        (wav_bytes(speech_like(0.1)), "too short"),
        (wav_bytes(speech_like(30.5)), "under 30 s"),
    ],
)
def test_bad_audio_is_a_question_error(audio, message):
    with pytest.raises(capture.QuestionError, match=message):
        capture.decode(audio, "q.wav")


def encoded(y: np.ndarray, kind: str, rate: int = 48_000) -> bytes:
    """16 kHz samples as a phone's m4a (AAC), a raw AAC stream (ADTS) or a browser's webm
    (Opus) at `rate`, by PyAV."""
    import av
    import librosa

    fmt, codec = {"m4a": ("ipod", "aac"), "aac": ("adts", "aac"), "webm": ("webm", "libopus")}[kind]
    z = librosa.resample(np.asarray(y, np.float32), orig_sr=16_000, target_sr=rate)[None, :]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as box:
        stream = box.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(z.astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            box.mux(packet)
    return buf.getvalue()


def _aligned(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """The correlation of `b` with `a` at the lag that best lines them up, and that lag."""
    n = min(len(a), len(b))
    best = max(range(2_000), key=lambda k: float(np.dot(a[: n - k], b[k:n])))
    x, y = a[: n - best], b[best:n]
    return float(np.dot(x, y) / np.sqrt(np.dot(x, x) * np.dot(y, y))), best


@pytest.mark.parametrize("kind", ["m4a", "aac", "webm"])
def test_m4a_aac_and_webm_decode_to_the_wavs_audio(kind):
    """The same question as WAV and as m4a/aac/webm: the same 16 kHz samples after the one
    intake (lossy codecs: correlation over 0.95 once the encoder's delay is lined up), the same
    length and the same speech verdict; the model's own reader (the predictor's command,
    evaluation) takes the same bytes."""
    from model.audio import container, load_audio

    y = speech_like(2.0)
    wav = capture.decode(wav_bytes(y), "q.wav", trim=True)
    data = encoded(y, kind)
    assert container(data) is not None
    assert load_audio(data).size == pytest.approx(32_000, abs=2_400)
    other = capture.decode(data, f"q.{kind}", trim=True)
    assert other.samples.dtype == np.float32
    assert other.seconds == pytest.approx(wav.seconds, abs=0.1)
    corr, lag = _aligned(wav.samples, other.samples)
    assert corr > 0.95 and lag < 1_600, (corr, lag)  # AAC's priming delay: about 1024/48k s
    assert other.speech.verdict == wav.speech.verdict == "speech"


def test_m4a_and_webm_hold_the_same_limits_and_errors():
    with pytest.raises(capture.QuestionError, match="under 30 s"):
        capture.decode(encoded(speech_like(31.0), "webm"), "long.webm")
    with pytest.raises(capture.QuestionError, match="under 5 s"):
        capture.decode(encoded(speech_like(6.0), "m4a"), "long.m4a", max_seconds=5.0)
    with pytest.raises(capture.QuestionError, match="it is silent"):
        capture.decode(encoded(np.zeros(32_000, np.float32), "m4a"), "quiet.m4a")
    damaged = encoded(speech_like(2.0), "webm")[:60]  # the header, cut
    with pytest.raises(capture.QuestionError, match="Could not read damaged.webm"):
        capture.decode(damaged, "damaged.webm")
    # an Ogg Opus file (.opus) is libsndfile's, through the same intake
    from model.audio import container

    assert container(b"OggS" + bytes(12)) is None
    assert container(b"\xff\xfb\x90\x00") is None  # an MP3 frame's sync: libsndfile's


# --- runs and checkpoints -----------------------------------------------------------------------


def test_paired_comparison_is_kept_until_a_file_changes(dataset, tmp_path):
    """The Results page compares two runs on every rerun: the result is kept per file version
    and computed anew when either predictions file is rewritten."""
    from data.compare import compare
    from data.score import load_predictions

    a = make_run(tmp_path / "runs" / "a", dataset, seed=1)
    b = make_run(tmp_path / "runs" / "b", dataset, seed=2)
    ra, rb = (runs.Run(f"runs/{f.name}", f, {}) for f in (a, b))
    first = runs.paired(ra, rb)
    assert first == compare(load_predictions(ra.predictions), load_predictions(rb.predictions))
    assert runs.paired(ra, rb) is first  # kept
    make_run(b, dataset, seed=3)  # b answered again: same path, new answers
    again = runs.paired(ra, rb)
    assert again is not first
    assert again == compare(load_predictions(ra.predictions), load_predictions(rb.predictions))
    (b / "predictions.jsonl").unlink()
    with pytest.raises(runs.RunError, match="predictions.jsonl"):
        runs.paired(ra, rb)
    other = make_run(tmp_path / "runs" / "eval", dataset, split="eval", seed=4)
    with pytest.raises(runs.RunError):  # another split: not the same questions
        runs.paired(ra, runs.Run("runs/eval", other, {}))


def test_runs_are_found_and_read_in_the_summary_format(dataset, tmp_path):
    ckpt = tmp_path / "checkpoints" / "demo"
    make_run(ckpt / "eval", dataset)
    make_run(tmp_path / "runs" / "b", dataset, seed=3)
    (tmp_path / "runs" / "bad").mkdir()
    (tmp_path / "runs" / "bad" / "summary.json").write_text("[]")
    found, problems = runs.find_runs(tmp_path / "runs", ckpt)
    assert [r.name for r in found] == ["demo/eval", "runs/b"]
    make_run(tmp_path / "runs" / "c", dataset, seed=9)  # newer than b
    found, _ = runs.find_runs(tmp_path / "runs", ckpt)
    assert runs.default_runs(found, ckpt, k=2) == ["demo/eval", "runs/c"]
    # the checkpoint's ablations (eval-*) come first by default, beside its eval
    make_run(ckpt / "eval-shuffled", dataset, seed=5)
    found, _ = runs.find_runs(tmp_path / "runs", ckpt)
    assert [r.name for r in found][:2] == ["demo/eval", "demo/eval-shuffled"]
    assert runs.default_runs(found, ckpt, k=3) == ["demo/eval", "demo/eval-shuffled", "runs/c"]
    # baselines written beside the checkpoint come after its own controls
    base = make_run(ckpt / "eval-baseline-asr", dataset, seed=6)
    summary = json.loads((base / "summary.json").read_text())
    (base / "summary.json").write_text(json.dumps(summary | {"baseline": "asr"}))
    found, _ = runs.find_runs(tmp_path / "runs", ckpt)
    assert runs.default_runs(found, ckpt, k=3) == [
        "demo/eval", "demo/eval-shuffled", "demo/eval-baseline-asr"
    ]  # fmt: skip
    assert len(problems) == 1 and "bad" in problems[0]
    rows = runs.overall_rows(found[:1])
    assert {r["metric"] for r in rows} == {"strict", "lenient", "prior"}
    assert all(r["lo"] <= r["accuracy"] <= r["hi"] for r in rows)
    assert runs.headline(ckpt)["n"] == len(load_jsonl(dataset / "splits" / "test.jsonl"))
    # the stranger (an unheard voice, hand-written wordings) is the headline and shown first
    strange = make_run(ckpt / "eval-stranger", dataset, seed=7)
    summary = json.loads((strange / "summary.json").read_text())
    (strange / "summary.json").write_text(json.dumps(summary | {"split": "stranger"}))
    found, _ = runs.find_runs(tmp_path / "runs", ckpt)
    assert runs.headline(ckpt)["split"] == "stranger"
    assert runs.default_runs(found, ckpt, k=3) == [
        "demo/eval-stranger", "demo/eval", "demo/eval-shuffled"
    ]  # fmt: skip


def test_confusion_and_errors_agree_with_the_scorer(dataset, tmp_path):
    run = make_run(tmp_path / "r", dataset)
    preds = runs.predictions(runs.Run("r", run, json.loads((run / "summary.json").read_text())))
    s = summarize(preds)
    assert len(runs.errors(preds)) == s["n"] - s["strict"]["correct"]
    for qtype, table in s["confusion"].items():
        gold, pred, counts = runs.confusion(preds, qtype)
        for g, row in table.items():
            for p, n in row.items():
                assert counts[gold.index(g)][pred.index(p)] == n


def test_wordings_are_listed_worst_first_with_their_score_and_hearing():
    row = lambda t, q, gold, pred, heard=None: {  # noqa: E731
        "question_type": t, "question": q, "short_answer": gold, "predicted_answer": pred,
        **({} if heard is None else {"heard": heard}),
    }  # fmt: skip
    preds = [
        row("nbi_status", "Is NBI on?", "yes", "yes", True),
        row("nbi_status", "Is NBI on?", "no", "yes", True),
        row("nbi_status", "Was it narrow band?", "yes", "no", False),
        row("nbi_status", "Was it narrow band?", "no", "no", False),
        row("lesion_site", "Where is it?", "rectum", "sigmoid"),
    ]
    got = runs.wording_rows(preds)
    assert [(w["wording"], w["n"], w["strict"], w["heard"]) for w in got] == [
        ("Where is it?", 1, 0.0, None),
        ("Is NBI on?", 2, 0.5, 1.0),
        ("Was it narrow band?", 2, 0.5, 0.0),
    ]
    assert runs.wording_rows([{**preds[0], "question": None}, *preds[1:]]) == []


def test_loss_curves_and_best_step(tmp_path):
    state = json.loads(make_trainer_state(tmp_path).read_text())
    train, evals = runfiles.loss_curves(state)
    assert len(train) == 12 and len(evals) == 6
    assert runfiles.best_step(state, evals) == min(evals, key=lambda e: e[1])
    assert runfiles.best_step({}, [(10, 2.0), (20, 1.5), (30, 1.7)]) == (20, 1.5)
    assert runfiles.best_step({}, []) is None
    # the final evaluate() of the best model logs its step a second time
    state["log_history"].append({"step": 60, "eval_loss": 9.0})
    curves = runfiles.loss_curves(state)
    assert curves[1][-1] == (60, 9.0) and len(curves[1]) == 6


def test_parameter_counts_from_headers_and_stored(tiny_checkpoint, tmp_path):
    rows, source = weights.parameter_counts(tiny_checkpoint)
    assert source == "safetensors headers"
    # Trainer's checkpoint-N/ and the recipe's stage folders repeat the weights: not counted
    copy = tmp_path / "trained"
    shutil.copytree(tiny_checkpoint, copy)
    shutil.copytree(tiny_checkpoint, copy / "checkpoint-300")
    shutil.copytree(tiny_checkpoint, copy / "stage1")
    assert weights.parameter_counts(copy)[0] == rows
    cfg = json.loads((tiny_checkpoint / "graft_config.json").read_text())
    by = {r["component"]: r for r in rows}
    assert by["audio projector"]["trainable"]
    assert by["language model"]["trainable"] == (cfg["train"] == "full")
    assert by["vision tower"]["trainable"] == (cfg["train"] == "full")
    # a recipe that froze the tower after its warm-up says so
    frozen = {r["component"]: r for r in weights.parameter_counts(copy, frozen_vision=True)[0]}
    want = weights.WARMUP_ONLY if cfg["train"] == "full" else False
    assert frozen["vision tower"]["trainable"] == want
    assert frozen["language model"]["trainable"] == by["language model"]["trainable"]
    assert frozen["audio encoder (Whisper)"]["trainable"] == bool(cfg.get("audio_trainable"))
    (tmp_path / "graft_config.json").write_text("{}")
    (tmp_path / "param_counts.json").write_text(
        json.dumps({"projector": {"parameters": 10, "trainable": True}})
    )
    rows, source = weights.parameter_counts(tmp_path)
    assert source == "param_counts.json" and rows[0]["parameters"] == 10
    (tmp_path / "w.safetensors").write_bytes(b"\xff" * 16)
    (tmp_path / "param_counts.json").unlink()
    with pytest.raises(runs.RunError, match="w.safetensors"):
        weights.parameter_counts(tmp_path)


# --- the shared model -----------------------------------------------------------------------------


def test_checkpoint_problem_names_the_fix(tmp_path):
    assert "make demo-checkpoint" in engine.checkpoint_problem(tmp_path / "nope")
    assert "graft_config.json" in engine.checkpoint_problem(tmp_path)


def test_concurrent_sessions_get_their_own_answers(dataset, tiny_checkpoint):
    """Four threads on one shared predictor (as four browser sessions): each answer equals the
    answer the predictor gives for that thread's own clip and question asked alone."""
    from model import Predictor

    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    eng = engine.Engine(pred, str(tiny_checkpoint), "cpu", 0.0)
    recs = clips.select(clips.read_dataset(dataset))
    jobs = [recs[i] for i in (0, 9, 18, 27)]
    inputs = [(clips.load_frames(dataset, r), dataset / r["audio"]) for r in jobs]
    alone = [pred.answer(f, a, use_cache=False).text for f, a in inputs]
    got: dict[int, str] = {}
    inside, peak = [0], [0]
    real = pred.answer

    def counted(*a, **k):  # counts callers inside the model at once: must never exceed one
        inside[0] += 1
        peak[0] = max(peak[0], inside[0])
        try:
            return real(*a, **k)
        finally:
            inside[0] -= 1

    pred.answer = counted
    threads = [
        threading.Thread(target=lambda i=i: got.__setitem__(i, engine.ask(eng, *inputs[i])[0].text))
        for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert [got[i] for i in range(4)] == alone
    assert peak[0] == 1 and eng.answered == 4


def test_prime_skips_while_another_session_answers(dataset, tiny_checkpoint):
    """A page render never waits on the model: with the lock held, prime does nothing."""
    from model import Predictor

    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    eng = engine.Engine(pred, str(tiny_checkpoint), "cpu", 0.0)
    rec = clips.select(clips.read_dataset(dataset))[0]
    frames = clips.load_frames(dataset, rec)
    held, done = threading.Event(), threading.Event()

    def answering() -> None:  # another session, inside the model
        with pred.lock:
            held.set()
            done.wait(60)

    other = threading.Thread(target=answering)
    other.start()
    held.wait(60)
    try:
        assert engine.prime(eng, frames) is False
    finally:
        done.set()
        other.join()
    assert pred.answer(frames, dataset / rec["audio"]).cached_prefix is False
    pred.clear_cache()
    assert engine.prime(eng, frames) is True
    assert engine.prime(eng, frames) is False  # already encoded
    assert pred.answer(frames, dataset / rec["audio"]).cached_prefix is True


def test_explain_never_shows_a_traceback():
    from model import AudioError

    assert engine.explain(AudioError("audio is silent")).startswith("The model could not use")
    assert "RuntimeError" in engine.explain(RuntimeError("boom"))


# --- answer card --------------------------------------------------------------------------------


@pytest.mark.parametrize("said, flagged", [("nbi yes", False), ("scope advancing", True)])
def test_answer_card_flags_an_answer_resting_on_another_questions_fact(said, flagged):
    from app.ui import misheard_note
    from data.facts import heard

    caption = "scope advancing. site rectum. no lesion. tool none. nbi yes. dye no. flush no."
    rec = {"question_type": "nbi_status", "caption": caption}
    note = misheard_note({"heard": heard(rec, said)})
    assert bool(note) == flagged
    if flagged:
        assert "“scope advancing”" in note and "this question is about the clip's nbi" in note
    assert misheard_note({"heard": {}}) == misheard_note({}) == ""  # upload or microphone


def test_answer_card_flags_the_right_fact_answered_in_another_questions_form():
    from app.ui import misheard_note
    from data.facts import heard

    caption = "scope advancing. site rectum. no lesion. tool catheter. nbi no. dye no. flush no."
    rec = {"question_type": "tool_identification", "caption": caption}
    # "yes" after the tool segment answers the catheter check, not "which tool"
    note = misheard_note({"heard": heard(rec, "tool catheter", "yes"), "text": "yes"})
    assert "“tool catheter”" in note and "“yes” does not answer this question" in note
    assert misheard_note({"heard": heard(rec, "tool catheter", "catheter"), "text": "x"}) == ""


# --- what was asked and the verdict -------------------------------------------------------------

CLIP_CAPTION = "scope advancing. site rectum. no lesion. tool none. nbi yes. dye no. flush no."


def _rec(qtype: str, gold: str) -> dict:
    return {
        "question_type": qtype,
        "question": f"the {qtype} question",
        "short_answer": gold,
        "caption": CLIP_CAPTION,
    }


@pytest.mark.parametrize(
    ("grounding", "answer", "types"),
    [
        ("nbi yes", "yes", ("nbi_status",)),
        ("nbi yes", "NBI", ("lighting_mode",)),
        ("site rectum", "rectum", ("lesion_site",)),
        ("tool catheter", "yes", ("tool_catheter_check",)),
        ("tool catheter", "catheter", ("tool_identification",)),
        # one fact, one answer, three questions: all are listed
        ("scope advancing", "yes", ("mucosa_visibility", "scope_forward_motion", "scope_motion")),
        ("scope outside the patient", "yes", ("scope_outside",)),
        ("fluid covers the view completely", "complete", ("fluid_occlusion_level",)),
        ("tool none", "none", ()),  # the instrument, but no question of the 20 answers "none"
    ],
)
def test_understood_as_from_the_grounding_and_the_answer(grounding, answer, types):
    from app.asked import understood

    assert understood(grounding, answer).types == types


def test_understood_words_are_plain():
    from app.asked import plain, understood, what_can_be_asked
    from data.catalog import CATALOG, TYPE_NAMES

    assert all(CATALOG[t].plain.endswith("?") for t in TYPE_NAMES)  # every type, plain words
    assert understood("nbi yes", "yes").words() == "“Is narrow band imaging on?”"
    assert plain("nbi_status") == "Is narrow band imaging on?"
    assert "the instrument in view" in understood("tool none", "none").words()
    assert " or " in understood("scope advancing", "yes").words()
    rows = what_can_be_asked()
    assert len(rows) == 20 and all(r["for example"].endswith("?") for r in rows)


def test_verdict_against_the_reference_understood_or_none():
    from app.asked import judge

    clip = [_rec("lesion_site", "rectum"), _rec("nbi_status", "yes")]
    # asked about NBI: graded against the clip's NBI reference
    v = judge(clip, "nbi yes", "yes")
    assert [g["qtype"] for g in v.graded] == ["nbi_status"] and v.correct is True
    v = judge(clip, "nbi no", "no")
    assert v.correct is False
    # a question the clip has no reference for: no verdict at all
    v = judge(clip[:1], "nbi yes", "yes")
    assert v.graded == [] and v.correct is None
    assert v.understood.types == ("nbi_status",)
    # the clip's own recording keeps its record's verdict whatever was understood
    v = judge(clip, "nbi yes", "yes", asked=clip[0])
    assert v.own and [g["qtype"] for g in v.graded] == ["lesion_site"] and v.correct is False


def test_an_answer_at_odds_with_its_own_fact_is_still_graded():
    """ "scope withdrawing: no" to "is the scope pulled back?" is wrong, not ungraded."""
    from app.asked import judge

    v = judge([_rec("scope_backward_motion", "yes")], "scope withdrawing", "no")
    assert [g["qtype"] for g in v.graded] == ["scope_backward_motion"] and v.correct is False


def test_answer_card_says_when_there_is_no_reference():
    from app.ui import _reference_lines

    assert "No reference for that question on this clip" in _reference_lines({"graded": []})
    line = _reference_lines(
        {
            "graded": [
                {
                    "qtype": "nbi_status",
                    "question": "Is <b>NBI</b> on?",
                    "gold": "yes",
                    "correct": True,
                }
            ]
        }  # fmt: skip
    )
    assert "✓ correct" in line and "&lt;b&gt;NBI" in line


def test_the_limit_is_the_loaded_processors():
    from types import SimpleNamespace

    from model.constants import MAX_AUDIO_SECONDS

    assert capture.limit_seconds(None) == MAX_AUDIO_SECONDS
    fake = SimpleNamespace(processor=SimpleNamespace(max_seconds=12.0))
    assert capture.limit_seconds(fake) == 12.0
    with pytest.raises(capture.QuestionError, match="under 12 s"):
        capture.decode(wav_bytes(speech_like(13.0)), "q.wav", max_seconds=12.0)


def test_weak_speech_is_kept_and_flagged():
    noisy = speech_like(2.0) + 0.08 * np.random.default_rng(1).standard_normal(32_000)
    q = capture.decode(wav_bytes(noisy.astype(np.float32)), "q.wav", trim=True)
    assert q.weak and "dB louder than the background" in capture.weak_note(q)
    clean = capture.decode(wav_bytes(speech_like(2.0)), "q.wav")
    assert not clean.weak and capture.weak_note(clean) == ""


def test_clips_are_eight_frames_with_their_questions(dataset):
    recs = clips.read_dataset(dataset)
    test = clips.select_clips(recs, "test")
    assert sum(len(c) for c in test) == sum(r["split"] == "test" for r in recs)
    assert all(len({tuple(r["frames"]) for r in c}) == 1 for c in test)
    assert len({clips.clip_key(c[0]) for c in test}) == len(test)
    counts = clips.clip_counts(recs, "split")
    assert counts["test"] == len(test)


# --- how sure the model is, and the model ready before the first question -----------------------


def test_confidence_bands_from_graded_scores():
    from app import confidence

    rng = random.Random(0)
    scores = [-rng.random() for _ in range(400)]
    correct = [rng.random() < 1.3 + 2 * s for s in scores]  # right less often as it falls
    bands = confidence.fit(scores, correct)
    assert bands.unsure <= bands.sure
    assert bands.accuracy["sure"] >= confidence.SURE
    assert bands.accuracy["unsure"] <= confidence.UNSURE
    assert bands.word(0.0) == "sure" and bands.word(-1.0) == "unsure"
    assert sum(bands.share.values()) == pytest.approx(1.0, abs=0.01)


def test_shipped_calibration_is_the_demo_checkpoints():
    """app/calibration.json holds the demo checkpoint's bands under the id its evaluations
    record; another checkpoint has none."""
    from app import confidence

    demo = Path(__file__).resolve().parents[1] / "checkpoints" / "demo"
    if not (demo / "eval" / "run.json").is_file():
        pytest.skip("no shipped demo checkpoint with its evaluation")
    run = json.loads((demo / "eval" / "run.json").read_text())
    assert confidence.checkpoint_id(demo) == run["checkpoint_id"]
    bands = confidence.bands_for(demo)
    assert bands is not None and bands.n >= 200
    assert bands.accuracy["sure"] > bands.accuracy["fairly sure"] > bands.accuracy["unsure"]


def test_confidence_is_the_mean_log_probability_of_the_chosen_tokens(dataset, tiny_checkpoint):
    """The predictor's score, on the cached path and in a padded batch, equals the mean of
    log-softmax(raw logits) at the chosen tokens, computed here step by step without the cache
    and stopped at the first end token."""
    import torch

    from app import confidence
    from model import Predictor

    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    assert confidence.bands_for(tiny_checkpoint) is None  # not calibrated: no words
    recs = clips.select(clips.read_dataset(dataset))[:3]
    frames, audio = clips.load_frames(dataset, recs[0]), dataset / recs[0]["audio"]
    out = pred.answer(frames, audio)
    again = pred.answer(frames, audio)  # prefix from the cache this time
    assert again.cached_prefix and again.text == out.text
    assert again.score == pytest.approx(out.score, abs=1e-4)
    inputs = pred.processor(frames, audio=audio)
    with torch.inference_mode():
        gen = pred.model.generate(**inputs, **pred._gen_kwargs())
    chosen = gen.sequences[0, inputs["input_ids"].shape[1] :].tolist()
    logp = []
    for step, t in zip(gen.logits, chosen, strict=True):
        logp.append(float(torch.log_softmax(step[0].float(), -1)[t]))
        if t in pred._eos:
            break
    assert out.score == pytest.approx(sum(logp) / len(logp), abs=1e-4)
    assert out.score <= 0
    items = [{"frames": clips.load_frames(dataset, r), "audio": dataset / r["audio"]} for r in recs]
    batch = pred.answer_batch(items, batch_size=3)  # left padding, rows ending apart
    single = [pred.answer(it["frames"], it["audio"]) for it in items]
    for b, one in zip(batch, single, strict=True):
        assert b.text == one.text and b.score == pytest.approx(one.score, abs=1e-3)


def test_warm_loads_the_model_in_the_background(tiny_checkpoint, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, ckpt)
    assert engine.loaded(ckpt) is None
    assert engine.warm(ckpt, "cpu") is True
    engine._WARMING[str(ckpt.resolve())].join(300)
    assert not engine.loading(ckpt)
    eng = engine.loaded(ckpt)
    assert eng is not None and eng.bands is None
    assert engine.warm(ckpt, "cpu") is True and engine.loaded(ckpt) is eng  # once
    assert engine.warm(tmp_path / "none", "cpu") is False  # the Ask page explains it


def test_serve_warms_then_runs_streamlit(monkeypatch, tmp_path):
    from streamlit.web import cli

    from app import serve

    calls = []
    monkeypatch.setattr(engine, "warm", lambda ckpt, device: calls.append((ckpt, device)))
    monkeypatch.setattr(cli, "main", lambda: calls.append(list(__import__("sys").argv)))
    argv = ["--server.port", "8502", "--", "--checkpoint", str(tmp_path), "--device", "cpu"]
    serve.main(argv)
    assert calls[0] == (tmp_path, "cpu")
    assert calls[1] == ["streamlit", "run", str(serve.MAIN), *argv]

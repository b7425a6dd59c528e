"""Spoken questions: offline espeak-ng synthesis, voice pools, idempotence; edge-tts mocked."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from data import synth, tts
from data.schema import load_jsonl


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> Path:
    out = synth.generate(
        tmp_path_factory.mktemp("tts") / "d", videos=3, samples_per_video=40, size=32, seed=0
    )
    tts.speak(out, engine="espeak", workers=2, seed=0)
    return out


def _splits(d: Path) -> dict[str, list[dict]]:
    return {s: load_jsonl(d / "splits" / f"{s}.jsonl") for s in tts.SPLITS}


def test_every_record_has_decodable_speech(spoken):
    samples = load_jsonl(spoken / "samples.jsonl")
    assert samples and all(r["audio"].startswith("audio/") and r["voice"] for r in samples)
    for rel in sorted({r["audio"] for r in samples})[:60]:
        info = sf.info(str(spoken / rel))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    for r in samples[:40]:
        wav, sr = sf.read(str(spoken / r["audio"]), dtype="float32")
        assert np.sqrt(np.mean(wav**2)) > 0.02  # not silent
        per_char = len(wav) / sr / len(r["question"])
        assert 0.04 < per_char < 0.15, (r["question"], per_char)


def test_one_file_per_distinct_utterance(spoken):
    samples = load_jsonl(spoken / "samples.jsonl")
    utterances = {(r["voice"], r["question"]) for r in samples}
    files = {r["audio"] for r in samples}
    assert len(files) == len(utterances)
    assert len(list((spoken / "audio").glob("*.wav"))) == len(files)


def test_splits_carry_the_same_speech_fields(spoken):
    samples = {(r["video_id"], r["id"]): r for r in load_jsonl(spoken / "samples.jsonl")}
    for recs in _splits(spoken).values():
        for r in recs:
            s = samples[(r["video_id"], r["id"])]
            assert (r["audio"], r["voice"]) == (s["audio"], s["voice"])


def test_heldout_voices_never_speak_in_train(spoken):
    splits = _splits(spoken)
    speaker = lambda r: r["voice"].split(":")[1]  # noqa: E731
    train = {speaker(r) for r in splits["train"]}
    assert train <= set(tts.POOLS["espeak"]["train"].names)
    for s in ("eval", "test"):
        voices = {speaker(r) for r in splits[s]}
        assert voices and voices <= set(tts.POOLS["espeak"][s].names)
        assert not voices & train


def test_pools_are_wide_and_disjoint():
    for engine, pools in tts.POOLS.items():
        train = set(pools["train"].names)
        assert len(train) >= 10, engine
        assert len(pools["train"].rates) * len(pools["train"].pitches) >= 9 or engine == "edge"
        for s in ("eval", "test"):
            assert pools[s].names and not set(pools[s].names) & train, (engine, s)
        assert not set(pools["eval"].names) & set(pools["test"].names)


def test_every_espeak_voice_exists():
    eng = tts.Espeak()
    for pool in tts.POOLS["espeak"].values():
        for name in pool.names:
            wav, sr = eng.synth("Yes.", tts.Voice("espeak", name, pool.rates[0], pool.pitches[0]))
            assert sr == 22050 and wav.size > 1000, name
    with pytest.raises(tts.TTSError, match="no voice"):
        eng.synth("Yes.", tts.Voice("espeak", "xx-nowhere+m1", 160, 50))


def in_fresh_process(code: str) -> bytes:
    """stdout of `code` run by a new interpreter from the repository root: an espeak-ng state
    (and a start-up clock) of its own."""
    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, cwd=root
    ).stdout


def test_an_utterance_does_not_depend_on_the_ones_before_it():
    """espeak-ng keeps state between utterances: spoken in process, the same text and voice
    come out different after another utterance; Espeak.synth must give the same samples."""
    eng = tts.Espeak()
    a = tts.Voice("espeak", "en-us+m3", 160, 50)
    b = tts.Voice("espeak", "en-gb-scotland+m7", 150, 45)
    q = "Is the lesion small, medium or large in millimeters?"
    first = eng.synth(q, a)[0]
    eng.synth("Tell me the histology of the lesion.", b)
    assert np.array_equal(eng.synth(q, a)[0], first)
    assert np.array_equal(eng.synth(q, a)[0], first)
    # the state this guards against: spoken in process, the second rendering differs (in
    # another process: speaking here would change what this process's children inherit)
    code = (
        "import numpy as np; from data import tts; e = tts.Espeak(); "
        f"v = tts.Voice('espeak', 'en-us+m3', 160, 50); q = {q!r}; "
        "print(np.array_equal(e._speak(q, v)[0], e._speak(q, v)[0]))"
    )
    assert in_fresh_process(code).strip() == b"False"


def test_a_breathing_voice_speaks_alike_in_processes_started_apart():
    """The f2 variant breathes noise from rand(), which espeak-ng seeds from the clock when it
    starts: two processes started a second apart must still give the same samples."""
    q, v = "Where in the image is the lesion?", ("espeak", "en-us+f2", 135, 35)
    here = tts.Espeak().synth(q, tts.Voice(*v))[0]
    time.sleep(1.1)  # another second on the clock than this process's start-up
    code = (
        "import sys; from data import tts; "
        f"sys.stdout.buffer.write(tts.Espeak().synth({q!r}, tts.Voice(*{v!r}))[0].tobytes())"
    )
    assert np.array_equal(np.frombuffer(in_fresh_process(code), np.float32), here)


def test_same_seed_same_bytes_and_rerun_restores(spoken, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(spoken, copy)
    before = (copy / "samples.jsonl").read_bytes()
    files = sorted((copy / "audio").glob("*.wav"))
    files[0].unlink()
    files[1].write_bytes(b"RIFF broken")
    assert tts.speak(copy, workers=1, seed=0) == 2  # only the missing and the corrupt one
    assert (copy / "samples.jsonl").read_bytes() == before
    assert tts.audio_ok(files[0]) and tts.audio_ok(files[1])
    assert tts.speak(copy, workers=1, seed=0) == 0
    assert not list(copy.rglob("*.tmp"))


def test_voice_assignment_is_deterministic_and_seeded():
    rec = {"video_id": "demo-01", "id": "qa_000007"}
    a = tts.assign_voice(rec, "train", "espeak", 0)
    assert a == tts.assign_voice(rec, "train", "espeak", 0)
    many = {
        tts.assign_voice({**rec, "id": f"qa_{i}"}, "train", "espeak", 0).name for i in range(300)
    }
    assert len(many) == len(tts.POOLS["espeak"]["train"].names)  # the whole pool is used


def test_record_missing_from_splits_is_an_error(tmp_path):
    out = synth.generate(tmp_path / "d", videos=2, samples_per_video=20, size=32)
    test = load_jsonl(out / "splits" / "test.jsonl")
    from data.schema import write_jsonl

    write_jsonl(out / "splits" / "test.jsonl", test[1:])
    with pytest.raises(tts.DataError, match="in no split"):
        tts.speak(out, workers=1)


# edge-tts needs Microsoft's online service, unreachable here: these tests replace the
# `edge_tts` module with a fake one (no network), to check our wrapper around it.
class _FakeCommunicate:
    calls: list = []

    def __init__(self, text, voice, rate="+0%", pitch="+0Hz"):
        self.args = (text, voice, rate, pitch)
        _FakeCommunicate.calls.append(self.args)

    async def stream(self):
        buf = io.BytesIO()  # the real service sends MP3; WAV decodes through the same path
        t = np.arange(24000) / 24000
        sf.write(buf, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 24000, format="WAV")
        yield {"type": "WordBoundary"}
        yield {"type": "audio", "data": buf.getvalue()}


class _OfflineCommunicate(_FakeCommunicate):
    async def stream(self):
        raise OSError("Cannot connect to host speech.platform.bing.com:443")
        yield  # pragma: no cover


def _fake_edge(monkeypatch, cls) -> None:
    monkeypatch.setitem(sys.modules, "edge_tts", types.SimpleNamespace(Communicate=cls))


def test_edge_wrapper_formats_and_decodes(monkeypatch):
    _fake_edge(monkeypatch, _FakeCommunicate)
    wav, sr = tts.Edge().synth("Is the scope moving?", tts.Voice("edge", "en-US-GuyNeural", -10, 5))
    assert sr == 24000 and wav.ndim == 1 and abs(len(wav) - 24000) < 10
    assert _FakeCommunicate.calls[-1] == ("Is the scope moving?", "en-US-GuyNeural", "-10%", "+5Hz")
    out = tts.to_16k(wav, sr)
    assert out.dtype == np.float32 and abs(np.abs(out).max() - 0.89) < 0.01


def test_edge_unreachable_is_a_clear_error(monkeypatch):
    _fake_edge(monkeypatch, _OfflineCommunicate)
    with pytest.raises(tts.TTSError, match="--engine espeak"):
        tts.Edge().synth("Hello?", tts.Voice("edge", "en-US-GuyNeural", 0, 0))


def test_cli_reports_errors(tmp_path, capsys):
    assert tts.main(["--data", str(tmp_path / "nowhere")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_dropping_an_espeak_instance_keeps_the_others_working():
    """espeak-ng holds one C callback per process: a collected instance must not free it."""
    import gc

    from data.tts import Espeak, Voice

    kept = Espeak()
    dropped = Espeak()
    del dropped
    gc.collect()
    wav, sr = kept.synth("Is the scope moving?", Voice("espeak", "en-us+f3", 160, 50))
    assert sr > 0 and wav.size > sr // 4 and float(abs(wav).max()) > 0.01


def test_recordings_longer_than_the_longest_question_stop_the_build(spoken, capsys):
    durations = tts.too_long(spoken, 0.0)  # every distinct recording, longest first
    assert [d for d, _, _ in durations] == sorted((d for d, _, _ in durations), reverse=True)
    longest, file, question = durations[0]
    assert longest < 30.0  # every question is heard (window by window past the encoder's 5 s)
    assert tts.main(["--data", str(spoken)]) == 0
    cut = (longest + durations[-1][0]) / 2
    over = [d for d, _, _ in durations if d > cut]
    assert tts.main(["--data", str(spoken), "--max-seconds", f"{cut:.3f}"]) == 2
    err = capsys.readouterr().err
    assert f"error: {len(over)} recording(s) over --max-seconds" in err
    assert repr(question) in err and file in err


def test_a_dying_speech_worker_is_an_error_not_a_hang(tmp_path, monkeypatch):
    """Spawned workers re-import the main script; one that fails there (as a Streamlit test
    script does) kills each worker at start. That must end in a TTSError."""
    import sys
    import types

    script = tmp_path / "broken_main.py"
    script.write_text("raise SystemExit(3)\n")
    fake = types.ModuleType("__main__")
    fake.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake)
    voice = tts.Voice("espeak", "en-us+m1", 160, 50)
    jobs = [(str(tmp_path / f"{i}.wav"), voice, f"Is the scope moving {i}?") for i in range(4)]
    with pytest.raises(tts.TTSError, match=r"speech worker process \(espeak\) died"):
        tts.synthesize(jobs, "espeak", workers=2)

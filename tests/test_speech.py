"""model.speech: speech is told from silence, noise and music; weak speech is flagged.

    .venv/bin/python -m pytest tests/test_speech.py -q

Real speech comes from the project's offline espeak-ng (data.tts), as the demo's questions do;
noise and music are synthesised here.
"""

from __future__ import annotations

import numpy as np
import pytest

from model import speech
from model.audio import load_audio, trim_silence
from tests.e2e.support import speech_like

SR = 16_000
RNG = np.random.default_rng(0)
T = np.arange(4 * SR) / SR
NOTES = (261.6, 293.7, 329.6, 349.2, 392.0, 440.0, 493.9, 523.3)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory) -> np.ndarray:
    """A clinician's question spoken by espeak-ng, trimmed as the app trims it."""
    tts = pytest.importorskip("data.tts")
    path = tmp_path_factory.mktemp("speech") / "q.wav"
    try:
        voice = tts.Voice("espeak", "en-us+m3", 160, 50)
        tts.synthesize([(str(path), voice, "Is narrow band imaging turned on in this clip?")],
                       "espeak", 1)  # fmt: skip
    except Exception as e:  # espeak-ng missing: the synthetic voice below still tests the rest
        pytest.skip(f"offline TTS unavailable: {e}")
    return trim_silence(load_audio(path))


def _pink(n: int) -> np.ndarray:
    spec = np.fft.rfft(RNG.standard_normal(n))
    spec[1:] /= np.sqrt(np.fft.rfftfreq(n, 1 / SR)[1:])
    y = np.fft.irfft(spec, n)
    return 0.1 * y / y.std()


def _brown(n: int) -> np.ndarray:
    y = np.cumsum(RNG.standard_normal(n))
    y -= np.convolve(y, np.ones(1600) / 1600, "same")
    return 0.1 * y / y.std()


NOT_SPEECH = {
    "digital silence": (np.zeros(T.size), "silence"),
    "noise floor": (1e-4 * RNG.standard_normal(T.size), "silence"),
    "white noise": (0.1 * RNG.standard_normal(T.size), "noise"),
    "pink noise": (_pink(T.size), "noise"),
    "brown noise": (_brown(T.size), "noise"),
    "clicks": (np.where(np.arange(T.size) % 4000 == 0, 0.8, 0.0), "noise"),
    "chord": (0.1 * sum(np.sin(2 * np.pi * f * T) for f in NOTES[::2][:3]), "music"),
    "legato melody": (
        np.concatenate([0.2 * np.sin(2 * np.pi * NOTES[i] * T[: SR // 2]) for i in range(8)]),
        "music",
    ),
}


@pytest.mark.parametrize("name", list(NOT_SPEECH))
def test_silence_noise_and_music_are_not_speech(name):
    y, want = NOT_SPEECH[name]
    check = speech.analyse(y.astype(np.float32))
    assert check.verdict == want and not check.is_speech and not check.weak
    assert check.seconds == pytest.approx(y.size / SR)


def test_spoken_question_is_speech_and_clear(spoken):
    check = speech.analyse(spoken)
    assert check.is_speech and not check.weak
    assert check.snr_db >= speech.WEAK_SNR_DB + 2
    assert check.voiced >= 0.6 and check.rhythm_db >= 4


@pytest.mark.parametrize(("snr", "weak"), [(20, False), (5, True)])
def test_speech_in_noise_is_still_speech_and_weak_when_close(spoken, snr, weak):
    """White noise at `snr` dB under the speech's power: still speech; weak at 5 dB."""
    noise = RNG.standard_normal(spoken.size)
    noise *= np.sqrt(np.mean(spoken**2) / 10 ** (snr / 10)) / noise.std()
    check = speech.analyse((spoken + noise).astype(np.float32))
    assert check.is_speech and check.weak == weak


def test_the_estimate_falls_as_the_background_rises(spoken):
    noise = RNG.standard_normal(spoken.size) * np.sqrt(np.mean(spoken**2))
    snrs = [speech.analyse(spoken + noise * 10 ** (-db / 20)).snr_db for db in (30, 15, 5)]
    assert snrs[0] > snrs[1] > snrs[2]


def test_the_tests_voiced_signal_counts_as_speech():
    """The app's tests upload tests.e2e.support.speech_like as a question: it must pass."""
    for seed in range(4):
        assert speech.analyse(speech_like(2.0, seed=seed)).is_speech


def test_the_rate_is_respected():
    """At 48 kHz (a browser's rate) the same signal gets the same verdict."""
    y48 = speech_like(2.0, sr=48_000)
    assert speech.analyse(y48, sr=48_000).is_speech
    assert speech.analyse(0.1 * RNG.standard_normal(96_000), sr=48_000).verdict == "noise"


def test_very_short_input_does_not_fail():
    assert speech.analyse(np.zeros(10, dtype=np.float32)).verdict == "silence"
    assert speech.analyse(0.1 * RNG.standard_normal(200)).verdict in speech.VERDICTS


def test_command_line_prints_a_verdict(tmp_path, capsys):
    import soundfile as sf

    sf.write(str(tmp_path / "n.wav"), (0.1 * RNG.standard_normal(SR)).astype(np.float32), SR)
    speech.main([str(tmp_path / "n.wav")])
    assert "n.wav: noise" in capsys.readouterr().out

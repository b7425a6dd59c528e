"""model.audio, the one audio intake: torch-free, checks once, and what it checked is what the
model hears (the processor takes a Checked as it is)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from model import audio
from model.audio import AudioLengthError, Checked, SilentAudioError, intake

ROOT = Path(__file__).resolve().parents[1]


def tone(seconds: float, sr: int = 16_000, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (level * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def wav(y: np.ndarray, sr: int = 16_000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


@pytest.mark.parametrize("module", ["model.audio", "app.capture"])
def test_imports_without_torch(module):
    """The app checks a recording at page render: neither module may pull in torch."""
    code = (
        f"import sys, {module}; "
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]; "
        "print(heavy); sys.exit(bool(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_intake_decodes_resamples_and_checks():
    got = intake(wav(tone(1.0, 44_100), 44_100), name="q.wav")
    assert isinstance(got, Checked) and got.name == "q.wav"
    assert got.samples.dtype == np.float32 and got.samples.ndim == 1
    assert got.seconds == pytest.approx(1.0, abs=0.01)
    with pytest.raises(SilentAudioError, match="silent") as e:
        intake(tone(1.0, level=1e-4))
    assert e.value.rms == pytest.approx(audio.rms(tone(1.0, level=1e-4)))
    with pytest.raises(AudioLengthError, match=r"under the 0\.3 s") as short:
        intake(tone(0.2))
    assert not short.value.too_long and short.value.seconds == pytest.approx(0.2)
    # resampling rounds up past a limit the header met: 44101 frames at 44.1 kHz -> 16001
    with pytest.raises(AudioLengthError, match="over the window of 1.00003 s") as long:
        intake(tone(44_101 / 44_100, 44_100), 44_100, max_seconds=1.00003, limit="the window")
    assert long.value.too_long


def test_one_silence_threshold():
    from model.config import GraftConfig

    assert GraftConfig().silence_rms == audio.SILENCE_RMS
    assert audio.rms(np.full(100, 0.5, np.float32)) == pytest.approx(0.5)


def test_trimmed_samples_are_checked_again():
    """What the model hears after trimming is what was checked: a click in a quiet room trims
    to less than any spoken word."""
    quiet = 0.002 * np.random.default_rng(0).standard_normal(16_000).astype(np.float32)
    y = np.concatenate([quiet, tone(0.02), quiet])
    assert intake(y).seconds == pytest.approx(2.02, abs=0.01)  # untrimmed it passes
    with pytest.raises(AudioLengthError, match="under the 0.3 s"):
        intake(y, trim=True)
    speech = np.concatenate([quiet, tone(1.0), quiet])
    assert 1.0 <= intake(speech, trim=True).seconds <= 1.0 + 2 * (audio.TRIM_MARGIN_S + 0.04)


def test_the_processor_takes_a_checked_as_it_is(tiny_checkpoint, monkeypatch):
    """A Checked reaches the feature extractor without a second decode or check, and gives
    the same features as the raw samples through the intake."""
    import torch

    from model import processor as processor_module
    from model.processor import GraftProcessor

    proc = GraftProcessor.from_pretrained(tiny_checkpoint)
    y = tone(1.5)
    raw = proc.audio_features(y)
    checked = intake(y)

    def no_second_intake(*a, **k):
        raise AssertionError("a Checked went through the intake again")

    monkeypatch.setattr(processor_module, "intake", no_second_intake)
    again = proc.audio_features(checked)
    assert torch.equal(again[0], raw[0]) and again[1] == raw[1]
    assert proc.window_seconds == 5 and len(proc.audio_features(intake(tone(6.0)))[1]) == 2
    with pytest.raises(AudioLengthError, match="over the longest question of 30 s"):
        proc.audio_features(Checked(tone(31.0), "long.wav"))  # a Checked made for a longer limit


def test_the_app_question_is_a_checked():
    from app import capture
    from tests.e2e.support import speech_like

    q = capture.decode(wav(speech_like(1.0)), "q.wav", "microphone")  # a tone is no voice
    assert isinstance(q, Checked) and q.source == "microphone" and q.name == "q.wav"

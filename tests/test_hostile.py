"""Hostile but fair input: every entry point refuses it with its own error naming the source,
never a traceback, a memory bomb or a silently wrong result."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app import capture
from model.processor import AudioShapeError, GraftProcessor, load_audio  # imported before timing


def wav_header(rate: int, channels: int, data_bytes: int, bits: int = 16) -> bytes:
    """A PCM WAV header saying whatever it is told (libsndfile trusts its rate)."""
    block = channels * bits // 8
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + fmt
        + (b"data" + struct.pack("<I", data_bytes))
    )


def tone(seconds: float, sr: int = 16_000) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def wav(y: np.ndarray, sr: int = 16_000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Small files whose headers ask for gigabytes once decoded and resampled to 16 kHz."""
    flac = io.BytesIO()  # 2 h of silence at 8 kHz: 181 KB, 115 M samples decoded
    with sf.SoundFile(flac, "w", samplerate=8000, channels=1, format="FLAC") as f:
        zeros = np.zeros(8000 * 60, dtype=np.int16)
        for _ in range(120):
            f.write(zeros)
    return {
        # 200 KB at "1 Hz": 100,000 s, 1.6 G samples (6 GiB) after resampling (measured before
        # the guard: a 20 KB one took 6.8 s and 1.4 GiB)
        "rate_1hz.wav": wav_header(1, 1, 200_000) + bytes(200_000),
        # 2 MB, under the 10 MB upload cap: 60 GB asked
        "rate_1hz_2mb.wav": wav_header(1, 1, 2_000_000) + bytes(2_000_000),
        "two_hours.flac": flac.getvalue(),
        "many_channels.wav": wav_header(16_000, 64, 64 * 2 * 1600) + bytes(64 * 2 * 1600),
    }


def refused_quickly(call: Callable[[], object], error: type[Exception], match: str) -> None:
    """`call` raises `error`, in well under a second, having allocated almost nothing."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(error, match=match):
            call()
        took = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert took < 0.5, f"refused after {took:.2f} s"
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB allocated before refusing"


# --- 1. the audio decode bomb: the header is checked before any decoding, for every source ---


@pytest.fixture(scope="module")
def proc(tiny_checkpoint):
    return GraftProcessor.from_pretrained(tiny_checkpoint)


@pytest.mark.parametrize("name", ["rate_1hz.wav", "rate_1hz_2mb.wav", "two_hours.flac"])
@pytest.mark.parametrize("source", ["upload", "microphone", "clip"])
def test_app_sources_refuse_the_bomb_before_decoding(bombs, name, source, tmp_path):
    data = bombs[name]
    src: bytes | Path = data
    if source == "clip":  # the clip's recording is a file in the dataset
        src = tmp_path / name
        src.write_bytes(data)
    refused_quickly(
        lambda: capture.decode(src, name, source, trim=True),
        capture.QuestionError,
        rf"^{name}: .*(sample rate 1 Hz is not plausible|lasts 7200\.0 s).*under 30 s",
    )


@pytest.mark.parametrize("name", ["rate_1hz.wav", "two_hours.flac", "many_channels.wav"])
def test_model_path_refuses_the_bomb_before_decoding(bombs, name, proc, tmp_path):
    """What the predictor and training.evaluate hand the processor: a path, bytes or a file."""
    path = tmp_path / name
    path.write_bytes(bombs[name])
    for src in (path, bombs[name], io.BytesIO(bombs[name])):
        refused_quickly(
            lambda src=src: proc.audio_features(src),
            AudioShapeError,
            "not plausible|over the encoder window of 5 s|channels",
        )
    with pytest.raises(AudioShapeError, match=f"^{path}: "):
        proc.audio_features(path)


def test_arrays_pass_the_same_guard(proc):
    """The microphone's and evaluation's arrays: an impossible rate or length is refused before
    resampling (sr=0 raised ZeroDivisionError; sr=1 would resample to gigabytes)."""
    y = np.zeros(200_000, dtype=np.float32)
    for sr in (0, 1, -16_000, float("nan"), 10**9):
        refused_quickly(lambda sr=sr: load_audio(y, sr=sr), AudioShapeError, "not plausible")
    refused_quickly(
        lambda: proc.audio_features(tone(6.0)), AudioShapeError, "6.0 s, over the encoder window"
    )
    refused_quickly(
        lambda: load_audio(np.zeros((1000, 1000), np.float32)), AudioShapeError, "1000 channels"
    )

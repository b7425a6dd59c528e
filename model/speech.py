"""Is there speech in a recording, and how clearly does it stand out from the background?

    python -m model.speech q.wav [more.wav ...]   # one line per file: verdict, SNR, measures

The app asks this before it lets the model answer: the model answers anything it is given, so
4 s of room noise came back as "sitesite forceps". Three measures on 16 kHz mono samples, numpy
and scipy only (no torch, no model file), on 25 ms frames every 10 ms:

- level: the 95th percentile of the frame levels (dBFS). Under SILENT_DBFS nothing was heard.
- voicing: the share of loud frames (within LOUD_DB of that level) whose normalised
  autocorrelation has a peak of at least VOICED_PEAK at a pitch of 70-400 Hz. Vowels are
  periodic; hiss, hum-free room noise, wind and clicks are not.
- syllable rhythm: the standard deviation (dB) of the frame-level envelope band-passed to
  2-10 Hz, the rate at which syllables come and go. Speech opens and closes at that rate by
  10 dB or more; a sustained tone, chord or legato melody is periodic but steady.

Speech needs both (VOICED_MIN and RHYTHM_MIN_DB); otherwise the recording is "noise" (not
periodic) or "music" (periodic but steady). The speech-to-background ratio (snr_db) is the 95th
minus the 10th percentile of the frame levels: the loudest speech against the quietest stretch,
which in a question of a few seconds is the background between words. Under WEAK_SNR_DB the
speech is weak: the model still answers, and the app says the answer may suffer.

Limits, by design of a small heuristic: music with a speech-like rhythm (singing, a rapid
plucked melody) can pass as speech, and speech under loud babble can be refused. The
thresholds were set on the demo's espeak and flite questions (clean and mixed with white noise
at 0-20 dB), on synthetic noise (white, pink, brown) and on synthetic music (chords, a legato
melody); tests/test_speech.py holds the cases.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from model.cli import boundary
from model.constants import SAMPLE_RATE

FRAME_S = 0.025  # level frames
VOICE_FRAME_S = 0.040  # voicing frames: two periods of the lowest pitch
HOP_S = 0.010
VOICE_BAND_HZ = (80.0, 1000.0)  # pitch and its first harmonics; drops rumble and hiss
SILENT_DBFS = -55.0  # loudest frames quieter than this: nothing but the noise floor
LOUD_DB = 20.0  # frames within this of the loudest are judged for voicing
VOICED_PEAK = 0.5  # normalised autocorrelation peak at a pitch lag: a periodic (voiced) frame
PITCH_HZ = (70.0, 400.0)  # adult speaking pitch
VOICED_MIN = 0.45  # share of loud frames that must be voiced (band-passed noise: up to 0.3)
RHYTHM_HZ = (2.0, 10.0)  # syllable rate band of the level envelope
RHYTHM_MIN_DB = 2.5  # spread of the level envelope in that band; speech has 4-15 dB
WEAK_SNR_DB = 13.0  # under this the speech is weak: white noise 5 dB under it reads 9-12
SNR_CAP_DB = 60.0  # a digitally silent background would give infinity

VERDICTS = ("speech", "silence", "noise", "music")


@dataclass(frozen=True)
class SpeechCheck:
    """What a recording holds: verdict is one of VERDICTS."""

    verdict: str
    seconds: float  # length of the samples judged
    level_dbfs: float  # 95th percentile frame level
    snr_db: float  # speech (95th percentile) over background (10th), capped at SNR_CAP_DB
    voiced: float  # share of loud frames that are periodic at a speaking pitch
    rhythm_db: float  # level envelope spread in the syllable band

    @property
    def is_speech(self) -> bool:
        return self.verdict == "speech"

    @property
    def weak(self) -> bool:
        """Speech that stands out from the background by less than WEAK_SNR_DB."""
        return self.is_speech and self.snr_db < WEAK_SNR_DB


def _frames(y: np.ndarray, sr: int, frame_s: float = FRAME_S) -> np.ndarray:
    size, hop = round(frame_s * sr), round(HOP_S * sr)
    if y.size < size:
        y = np.pad(y, (0, size - y.size))
    n = 1 + (y.size - size) // hop
    idx = np.arange(size)[None, :] + hop * np.arange(n)[:, None]
    return y[idx]


def _levels_db(frames: np.ndarray) -> np.ndarray:
    power = np.mean(np.square(frames, dtype=np.float64), axis=1)
    return 10 * np.log10(np.maximum(power, 1e-12))


def _voicing(frames: np.ndarray, sr: int) -> np.ndarray:
    """Each frame's highest normalised autocorrelation peak at a lag in the speaking pitch
    range; 0 where the autocorrelation only falls off (no peak inside the range)."""
    x = frames - frames.mean(axis=1, keepdims=True)
    w = np.hanning(x.shape[1])
    x = x * w[None, :]
    n = 2 * x.shape[1]
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, n=n, axis=1)) ** 2, n=n, axis=1)[:, : x.shape[1]]
    # undo the window's own fall-off, but never amplify a long lag more than 4 times
    wac = np.fft.irfft(np.abs(np.fft.rfft(w, n=n)) ** 2, n=n)[: x.shape[1]]
    ac = ac / np.maximum(wac / wac[0], 0.25)[None, :]
    lo, hi = int(sr / PITCH_HZ[1]), min(int(sr / PITCH_HZ[0]), x.shape[1] - 2)
    band = ac[:, lo : hi + 2]
    inner = band[:, 1:-1]
    is_peak = (inner >= band[:, :-2]) & (inner >= band[:, 2:])
    peak = np.where(is_peak, inner, -np.inf).max(axis=1)
    return np.maximum(peak, 0.0) / np.maximum(ac[:, 0], 1e-12)


def _rhythm_db(levels: np.ndarray) -> float:
    """Standard deviation of the level envelope band-passed to the syllable rate."""
    if levels.size < 8:
        return 0.0
    env = levels - levels.mean()
    spec = np.fft.rfft(env)
    freqs = np.fft.rfftfreq(env.size, d=HOP_S)
    spec[(freqs < RHYTHM_HZ[0]) | (freqs > RHYTHM_HZ[1])] = 0
    return float(np.std(np.fft.irfft(spec, n=env.size)))


def analyse(samples: np.ndarray, sr: int = SAMPLE_RATE) -> SpeechCheck:
    """Judge mono float samples (any rate; the app gives 16 kHz) for speech."""
    y = np.asarray(samples, dtype=np.float64).reshape(-1)
    seconds = y.size / sr
    frames = _frames(y, sr)
    levels = _levels_db(frames)
    # a floor well under any recording's noise keeps digital silence from dominating
    levels = np.maximum(levels, -120.0)
    top = float(np.percentile(levels, 95))
    snr = min(top - float(np.percentile(levels, 10)), SNR_CAP_DB)
    if top < SILENT_DBFS:
        return SpeechCheck("silence", seconds, top, snr, 0.0, 0.0)
    loud = levels >= top - LOUD_DB
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, VOICE_BAND_HZ, btype="bandpass", fs=sr, output="sos")
    band = sosfiltfilt(sos, y) if y.size > 64 else y
    vframes = _frames(band, sr, VOICE_FRAME_S)[: levels.size]
    voiced = float(np.mean(_voicing(vframes[loud[: len(vframes)]], sr) >= VOICED_PEAK))
    rhythm = _rhythm_db(levels)
    if voiced < VOICED_MIN:
        verdict = "noise"
    elif rhythm < RHYTHM_MIN_DB:
        verdict = "music"
    else:
        verdict = "speech"
    return SpeechCheck(verdict, seconds, top, snr, voiced, rhythm)


@boundary
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m model.speech", description="Say whether audio files hold speech."
    )
    p.add_argument("files", nargs="+", help="audio files (WAV, FLAC, OGG, MP3)")
    args = p.parse_args(argv)
    from model.audio import load_audio

    for f in args.files:
        c = analyse(load_audio(f))
        print(
            f"{f}: {c.verdict}{' (weak)' if c.weak else ''} · {c.seconds:.1f} s · "
            f"level {c.level_dbfs:.0f} dBFS · SNR {c.snr_db:.0f} dB · voiced {c.voiced:.0%} · "
            f"rhythm {c.rhythm_db:.1f} dB"
        )


if __name__ == "__main__":
    main()

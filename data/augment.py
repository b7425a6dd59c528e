"""Training-time audio augmentation for spoken questions: speed, pitch, endoscopy-room noise.

    python -m data.augment IN.wav OUT.wav --seed 0     # hear one augmented draw

Call `augment(wav, rng)` on a 16 kHz mono float waveform (e.g. in a collator, train split only):
a random tape-speed change, an optional pitch shift, and background noise built from what an
endoscopy room sounds like (suction hiss, monitor beeps) mixed at a random signal-to-noise
ratio. Pure numpy + soxr (+ librosa only for the pitch shift); no torch.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import soxr

SR = 16_000


@dataclass
class AugmentConfig:
    speed: tuple[float, float] = (0.9, 1.1)  # tape speed factor: tempo and pitch move together
    pitch_prob: float = 0.3  # phase-vocoder pitch shift is slow (~20 ms per clip): use sparingly
    pitch_semitones: tuple[float, float] = (-1.5, 1.5)
    noise_prob: float = 0.7  # some clean clips keep the train set close to the test condition
    snr_db: tuple[float, float] = (8.0, 30.0)  # questions stay intelligible down to ~8 dB
    hiss_prob: float = 0.6  # suction hiss in the noise bed
    beep_prob: float = 0.5  # monitor beeps in the noise bed


def suction_hiss(n: int, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """Suction: band-limited noise (about 1-5 kHz) whose loudness breathes slowly."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    lo, hi = rng.uniform(600, 1500), rng.uniform(3500, 6000)
    spec *= np.exp(-(((np.log(f + 1) - np.log((lo * hi) ** 0.5)) / np.log(hi / lo)) ** 2) * 4)
    x = np.fft.irfft(spec, n)
    t = np.arange(n) / sr
    x *= 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.2, 1.5) * t + rng.uniform(0, 6.3))
    return (x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def monitor_beeps(n: int, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """A patient monitor: short sine beeps (700-1100 Hz, 80-150 ms) at a steady pulse."""
    x = np.zeros(n, np.float32)
    freq, dur = rng.uniform(700, 1100), rng.uniform(0.08, 0.15)
    period = 60 / rng.uniform(55, 110)  # heart rate in beats per minute
    k = int(dur * sr)
    t = np.arange(k) / sr
    beep = np.sin(2 * np.pi * freq * t) * np.hanning(k)
    start = rng.uniform(0, period)
    while int(start * sr) + k <= n:
        i = int(start * sr)
        x[i : i + k] += beep
        start += period
    return x


def noise_bed(n: int, rng: np.random.Generator, cfg: AugmentConfig | None = None) -> np.ndarray:
    """Room noise: hiss and/or beeps over a faint white floor, unit peak."""
    cfg = cfg or AugmentConfig()
    x = 0.05 * rng.standard_normal(n).astype(np.float32)
    if rng.random() < cfg.hiss_prob:
        x += suction_hiss(n, rng)
    if rng.random() < cfg.beep_prob:
        x += 0.7 * monitor_beeps(n, rng)
    return x / (np.abs(x).max() + 1e-9)


def mix(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """speech + noise scaled to `snr_db` (by RMS), peak-limited to 1."""
    ps = np.sqrt(np.mean(speech**2)) + 1e-9
    pn = np.sqrt(np.mean(noise**2)) + 1e-9
    y = speech + noise * (ps / pn) / (10 ** (snr_db / 20))
    return (y / max(1.0, float(np.abs(y).max()))).astype(np.float32)


def augment(
    wav: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig | None = None, sr: int = SR
) -> np.ndarray:
    """One random augmentation of a mono float waveform (returns a new float32 array)."""
    cfg = cfg or AugmentConfig()
    x = np.asarray(wav, dtype=np.float32)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"augment expects a non-empty mono waveform, got shape {x.shape}")
    speed = rng.uniform(*cfg.speed)
    if abs(speed - 1) > 1e-3:  # play faster = resample to fewer samples
        x = soxr.resample(x, sr, sr / speed).astype(np.float32)
    if rng.random() < cfg.pitch_prob:
        import librosa

        steps = rng.uniform(*cfg.pitch_semitones)
        x = librosa.effects.pitch_shift(x, sr=sr, n_steps=steps).astype(np.float32)
    if rng.random() < cfg.noise_prob:
        x = mix(x, noise_bed(x.size, rng, cfg), rng.uniform(*cfg.snr_db))
    return x


def main(argv: list[str] | None = None) -> int:
    import soundfile as sf

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("inp")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    wav, sr = sf.read(a.inp, dtype="float32")
    if wav.ndim > 1:
        wav = wav.mean(1)
    if sr != SR:
        wav = soxr.resample(wav, sr, SR)
    sf.write(a.out, augment(wav, np.random.default_rng(a.seed)), SR, subtype="PCM_16")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

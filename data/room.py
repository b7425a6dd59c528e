"""A room around the voice: noise, echo, level, speaking rate and the telephone (no torch).

    python -c "from data.room import augment; help(augment)"

Training hears copies of each recording passed through `augment` (a random chain of the pieces
below); the clinic-conditions test (data.conditions) uses `EVAL_NOISES`, kinds that no training
copy ever carries, and a room of another kind than any training room. Everything is
generated here (nothing downloaded): noise kinds are shaped spectra and envelopes; training
rooms are synthetic impulse responses (exponentially decaying noise after a direct path, the
usual stand-in for a measured one); the test's room is a shoebox simulated by image sources
(pyroomacoustics): walls, distances and discrete early echoes that no training room has.
"""

from __future__ import annotations

import numpy as np

from model.audio import rms  # the intake's own level measure

SR = 16_000
TRAIN_NOISES = ("babble", "hiss", "hum", "beeps", "suction")
EVAL_NOISES = ("pink", "alarm")  # held out: never in a training copy (a test checks)
TRAIN_RT60 = (0.1, 0.6)  # seconds, diffuse rooms; the test's room is a shoebox (held out)
EVAL_ROOM = (6.0, 5.0, 3.0)  # metres: an endoscopy suite
EVAL_SABINE_S = 0.65  # Sabine's estimate; the simulated decay measures 0.9 s (a test checks)
SNR_DB = (0.0, 20.0)  # training copies' speech-to-noise range


def _colored(n: int, rng: np.random.Generator, power: float) -> np.ndarray:
    """Noise whose power falls as 1/f**power (0 white, 1 pink), by shaping a white spectrum."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1] if n > 1 else 1.0
    return np.fft.irfft(spec / f ** (power / 2), n)


def noise(kind: str, n: int, rng: np.random.Generator, voices: list[np.ndarray] | None = None):
    """`n` samples of one noise kind (unit-free: mix() sets the level).

    babble: 3-6 other recordings (`voices`) summed at random offsets; hiss: white; hum: mains
    50/60 Hz and harmonics; beeps: a patient monitor's tone bursts; suction: band-passed noise
    with a slow swell. Held out for evaluation: pink (1/f) and alarm (a two-tone siren).
    """
    t = np.arange(n) / SR
    if kind == "babble":
        if not voices:
            raise ValueError("babble needs other recordings (voices)")
        out = np.zeros(n)
        for _ in range(int(rng.integers(3, 7))):
            v = voices[int(rng.integers(len(voices)))]
            v = np.tile(v, int(np.ceil(n / max(1, v.size))) + 1)
            start = int(rng.integers(0, max(1, v.size - n)))
            out += v[start : start + n] / (rms(v) + 1e-9)
        return out
    if kind == "hiss":
        return rng.standard_normal(n)
    if kind == "hum":
        f0 = float(rng.choice([50.0, 60.0]))
        return sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 6))
    if kind == "beeps":
        f = float(rng.uniform(800, 1600))
        period = float(rng.uniform(0.6, 1.2))
        on = (t % period) < 0.12
        return np.sin(2 * np.pi * f * t) * on + 0.01 * rng.standard_normal(n)
    if kind == "suction":
        from scipy import signal  # here: scipy.signal takes a second to import, --help none

        lo = float(rng.uniform(300, 900))
        sos = signal.butter(4, [lo, lo * 3], btype="band", fs=SR, output="sos")
        swell = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t + rng.uniform(0, 6.3))
        return signal.sosfilt(sos, rng.standard_normal(n)) * swell
    if kind == "pink":
        return _colored(n, rng, 1.0)
    if kind == "alarm":
        f = np.where((t % 0.5) < 0.25, 960.0, 770.0)
        return np.sin(2 * np.pi * np.cumsum(f) / SR) + 0.05 * rng.standard_normal(n)
    raise ValueError(f"noise kind {kind!r}: expected one of {TRAIN_NOISES + EVAL_NOISES}")


def mix(speech: np.ndarray, background: np.ndarray, snr_db: float) -> np.ndarray:
    """Speech with the background added at `snr_db` (RMS over the whole recording)."""
    gain = rms(speech) / (rms(background) + 1e-12) / 10 ** (snr_db / 20)
    return (speech + gain * background[: speech.size]).astype(np.float32)


def room(rt60: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: a direct path, then noise decaying by 60 dB in rt60."""
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # ln(1000) = 6.9: -60 dB at rt60
    gap = int(rng.uniform(0.002, 0.01) * SR)  # first reflection after the direct sound
    tail[:gap] = 0.0
    tail[0] = 1.0 / float(rng.uniform(0.2, 0.6))  # direct-to-reverberant ratio
    return tail / np.abs(tail).max()


def shoebox(rng: np.random.Generator) -> np.ndarray:
    """The held-out room: EVAL_ROOM's impulse response between a talker and a microphone
    1-3 m apart at random places (pyroomacoustics' image sources, ~0.4 s to compute)."""
    import pyroomacoustics as pra

    absorption, order = pra.inverse_sabine(EVAL_SABINE_S, list(EVAL_ROOM))
    box = pra.ShoeBox(list(EVAL_ROOM), fs=SR, materials=pra.Material(absorption), max_order=order)
    dims = np.array(EVAL_ROOM)
    talker = np.array([*rng.uniform(1.0, dims[:2] - 1.0), 1.6])
    while True:
        mic = np.array([*rng.uniform(0.5, dims[:2] - 0.5), 1.2])
        if 1.0 <= np.linalg.norm(mic - talker) <= 3.0:
            break
    box.add_source(talker.tolist())
    box.add_microphone(mic.tolist())
    box.compute_rir()
    rir = np.asarray(box.rir[0][0], dtype=np.float64)
    return rir / np.abs(rir).max()


def echo(y: np.ndarray, rir: np.ndarray, tail_s: float = 0.3) -> np.ndarray:
    """y heard through the impulse response `rir` (its tail kept for tail_s, the level kept)."""
    from scipy import signal

    wet = signal.fftconvolve(y, rir)[: y.size + int(tail_s * SR)]
    return (wet * (rms(y) / (rms(wet) + 1e-12))).astype(np.float32)


def reverb(y: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """y heard in a training room of reverberation time rt60."""
    return echo(y, room(rt60, rng), 0.3 * rt60)  # the tail the shipped copies kept


def telephone(y: np.ndarray) -> np.ndarray:
    """A telephone line: 300-3400 Hz and 8-bit mu-law, the lossy codec of G.711."""
    from scipy import signal

    sos = signal.butter(6, [300, 3400], btype="band", fs=SR, output="sos")
    x = np.clip(signal.sosfilt(sos, y) / (np.abs(y).max() + 1e-9), -1, 1)
    mu = 255.0
    code = np.round(np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu) * 127) / 127
    return (np.sign(code) * np.expm1(np.abs(code) * np.log1p(mu)) / mu).astype(np.float32)


def rate(y: np.ndarray, factor: float) -> np.ndarray:
    """Speech `factor` times as fast, as a tape played faster (pitch moves with it): soxr's
    resampling costs ~1 ms a question where a pitch-keeping phase vocoder cost 50."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    return librosa.resample(y, orig_sr=SR, target_sr=round(SR / factor)).astype(np.float32)


def level(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A quiet take (-30 to -15 dB) or an overdriven one, clipped at a third of its peak."""
    if rng.random() < 0.5:
        return (y * 10 ** (rng.uniform(-30, -15) / 20)).astype(np.float32)
    peak = float(np.abs(y).max()) or 1.0
    return np.clip(y * 3.0, -peak, peak).astype(np.float32)


def augment(y: np.ndarray, rng: np.random.Generator, voices: list[np.ndarray]) -> np.ndarray:
    """One training copy: each piece of the chain with its own chance, in the order a room
    would apply them (the talker's rate, the room's echo, the others' noise, the line, the
    level). Only TRAIN_NOISES; the result is float32 16 kHz."""
    y = np.asarray(y, dtype=np.float32)
    if rng.random() < 0.3:
        y = rate(y, float(rng.uniform(0.8, 1.25)))
    if rng.random() < 0.5:
        y = reverb(y, float(rng.uniform(*TRAIN_RT60)), rng)
    if rng.random() < 0.8:
        kind = TRAIN_NOISES[int(rng.integers(len(TRAIN_NOISES)))]
        y = mix(y, noise(kind, y.size, rng, voices), float(rng.uniform(*SNR_DB)))
    if rng.random() < 0.15:
        y = telephone(y)
    if rng.random() < 0.2:
        y = level(y, rng)
    return y.astype(np.float32)

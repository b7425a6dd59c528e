"""Training audio augmentation: speed, pitch, endoscopy-room noise at a chosen SNR."""

from __future__ import annotations

import numpy as np
import pytest

from data import augment as aug
from data import tts


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    wav, sr = tts.Espeak().synth(
        "Is the scope in motion here?", tts.Voice("espeak", "en-us+m1", 160, 50)
    )
    return tts.to_16k(wav, sr)


def test_noise_sources():
    rng = np.random.default_rng(0)
    n = aug.SR * 2
    hiss = aug.suction_hiss(n, rng)
    spec = np.abs(np.fft.rfft(hiss)) ** 2
    f = np.fft.rfftfreq(n, 1 / aug.SR)
    band = spec[(f > 800) & (f < 5000)].sum() / spec.sum()
    assert band > 0.8  # hiss energy sits in the suction band
    beeps = aug.monitor_beeps(n, rng)
    on = np.abs(beeps) > 0.05
    assert 0.03 < on.mean() < 0.5  # short beeps, mostly silence between them
    peak = f[np.argmax(np.abs(np.fft.rfft(beeps)))]
    assert 690 < peak < 1110


def test_mix_hits_the_snr(speech):
    rng = np.random.default_rng(1)
    quiet = 0.1 * speech  # low enough that the mix never needs peak limiting
    for snr_db in (5.0, 10.0, 20.0):
        y = aug.mix(quiet, aug.noise_bed(quiet.size, rng), snr_db)
        snr = 10 * np.log10(np.mean(quiet**2) / np.mean((y - quiet) ** 2))
        assert abs(snr - snr_db) < 0.1


def test_augment_changes_length_and_stays_sane(speech):
    cfg = aug.AugmentConfig(speed=(1.2, 1.2), pitch_prob=0.0, noise_prob=0.0)
    fast = aug.augment(speech, np.random.default_rng(0), cfg)
    assert abs(fast.size - speech.size / 1.2) < 50
    cfg = aug.AugmentConfig(pitch_prob=1.0, noise_prob=1.0)
    outs = [aug.augment(speech, np.random.default_rng(s), cfg) for s in range(3)]
    for y in outs:
        assert y.dtype == np.float32 and np.abs(y).max() <= 1.0 and np.isfinite(y).all()
        assert 0.85 * speech.size < y.size < 1.2 * speech.size
    assert not np.array_equal(outs[0][:1000], outs[1][:1000])
    same = aug.augment(speech, np.random.default_rng(0), cfg)
    assert np.array_equal(same, outs[0])  # deterministic given the generator


def test_augment_rejects_bad_input():
    with pytest.raises(ValueError, match="mono"):
        aug.augment(np.zeros((2, 100), np.float32), np.random.default_rng(0))

"""A room around the voice (data.room) and the clinic-conditions test (data.conditions): the
noise kinds the test uses never reach training, each piece does what it says, and the
conditions are built from the stranger split, keys and answers kept."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from data import conditions, grammar, room, stranger, synth
from data.catalog import CATALOG
from data.schema import load_jsonl

SR = room.SR
HAS_FLITE = shutil.which("flite") is not None


def speechy(seconds: float = 2.0, f0: float = 150.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * f0 * t) * (1 + np.sin(2 * np.pi * 4 * t))).astype("f4")


def test_evaluation_noise_kinds_never_reach_a_training_copy(monkeypatch):
    """The test's noises are held out: disjoint kinds, and 300 training copies draw only
    training kinds (every one of them)."""
    assert not set(room.TRAIN_NOISES) & set(room.EVAL_NOISES)
    drawn: Counter = Counter()
    real = room.noise

    def spy(kind, n, rng, voices=None):
        drawn[kind] += 1
        return real(kind, n, rng, voices)

    monkeypatch.setattr(room, "noise", spy)
    rng = np.random.default_rng(0)
    y = speechy(1.0)
    for _ in range(300):
        out = room.augment(y, rng, [speechy(1.0, 220.0), speechy(1.5, 120.0)])
        assert out.dtype == np.float32 and np.isfinite(out).all() and out.size > 0.7 * y.size
    assert set(drawn) == set(room.TRAIN_NOISES)


@pytest.mark.parametrize("kind", room.TRAIN_NOISES + room.EVAL_NOISES)
def test_mix_sets_the_speech_to_noise_ratio(kind):
    rng = np.random.default_rng(1)
    y = speechy()
    bg = room.noise(kind, y.size, rng, [speechy(1.0, 200.0)])
    for snr in (0.0, 10.0):
        out = room.mix(y, bg, snr)
        measured = 20 * np.log10(room.rms(y) / room.rms(out - y))
        assert measured == pytest.approx(snr, abs=0.1), kind


def test_the_test_room_is_a_kind_training_never_hears(monkeypatch):
    """Training rooms are diffuse noise tails; the conditions test's room is a shoebox by image
    sources whose decay measures about 0.9 s. 200 training copies never call it."""
    import pyroomacoustics as pra

    rir = room.shoebox(np.random.default_rng(0))
    assert 0.75 < pra.experimental.measure_rt60(rir, fs=SR) < 1.05
    monkeypatch.setattr(
        room, "shoebox", lambda rng: pytest.fail("a training copy in the test room")
    )
    rng = np.random.default_rng(1)
    for _ in range(200):
        room.augment(speechy(1.0), rng, [speechy(1.0)])


def test_reverb_telephone_rate_and_level_change_what_they_say():
    rng = np.random.default_rng(2)
    click = np.zeros(SR, "f4")
    click[100] = 1.0
    tail = room.reverb(click, 0.6, rng)
    assert np.abs(tail[100 + int(0.3 * SR) :]).max() > 0  # the room rings after the click
    assert room.rms(room.reverb(speechy(), 0.6, rng)) == pytest.approx(room.rms(speechy()), 1e-3)
    noise = np.random.default_rng(3).standard_normal(SR).astype("f4")
    f, p = signal.welch(room.telephone(noise), SR)
    assert p[f < 200].mean() < 0.01 * p[(f > 500) & (f < 3000)].mean()  # the line's band
    assert room.rate(speechy(2.0), 1.25).size == pytest.approx(1.6 * SR, abs=2)
    quiet_or_clipped = room.level(speechy(), np.random.default_rng(4))
    assert np.abs(quiet_or_clipped).max() <= np.abs(speechy()).max() + 1e-6


def test_natural_training_questions_never_say_a_held_out_lead_in_or_filler():
    """Half the train/eval questions are said the way people talk, in every kind; none uses
    the held-out lead-ins or fillers that the conditions test speaks."""
    from data.plan import Config, build_records

    recs, _ = build_records(Config())
    asked = [r["question"] for r in recs if r["video_id"] != "demo-06"]
    held = [p.lower() for p in grammar.LEAD_INS_HELD + grammar.FILLERS_HELD]
    assert not [q for q in asked if any(h in q.lower() for h in held)]
    test = [r for r in recs if r["video_id"] == "demo-06"]  # the espeak test split, as before
    assert all(r["question"] == CATALOG[r["question_type"]].phrasings[3] for r in test)
    train = [r for r in recs if r["video_id"] != "demo-06"]
    bare = [grammar.norm(r["question"]) in _pool(r["question_type"]) for r in train]
    assert 0.45 < 1 - sum(bare) / len(bare) < 0.55  # natural half the time
    q = "Is the scope advancing in this clip?"
    for kind in grammar.NATURAL_KINDS:
        said = grammar.say(q, kind, bytes(range(16)))
        assert grammar.norm(q) in grammar.norm(said) or kind == "filler", (kind, said)
    assert grammar.say(q, "tag", bytes(16)).endswith(("right?", "yeah?"))
    assert grammar.say("Which way is the polyp moving?", "tag", bytes(16)).endswith("moving?")


def _pool(qtype: str) -> set[str]:
    return {grammar.norm(w) for w in grammar.wordings(qtype)}


@pytest.fixture(scope="module")
def small_stranger(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("conditions") / "data"
    data = synth.generate(out, videos=2, samples_per_video=24, size=32, workers=1)
    stranger.build(data, workers=2)
    return data


@pytest.mark.skipif(not HAS_FLITE, reason="flite is not installed (apt-get install -y flite)")
def test_conditions_ask_the_stranger_records_again_changed_one_way(small_stranger):
    data = small_stranger
    base = load_jsonl(data / "splits" / "stranger.jsonl")
    assert conditions.build(data, workers=2) > 0
    keep = ("id", "video_id", "frames", "question_type", "short_answer")
    for c in conditions.CONDITIONS[1:]:
        recs = load_jsonl(data / "splits" / f"{conditions.split_name(c)}.jsonl")
        assert len(recs) == len(base)
        for r, b in zip(recs, base, strict=True):
            assert {k: r[k] for k in keep} == {k: b[k] for k in keep} and r["condition"] == c
            assert r["audio"].startswith(f"audio/conditions/{c}/")
        r, b = recs[0], base[0]
        y, _ = sf.read(str(data / r["audio"]), dtype="float32")
        clean, _ = sf.read(str(data / b["audio"]), dtype="float32")
        if c == "lead-in":
            assert r["question"].endswith(b["question"]) and len(y) > len(clean) + SR // 2
        if c == "fillers":
            assert any(f in r["question"].lower() for f in grammar.FILLERS_HELD)
        if c in ("fast", "slow"):
            assert (len(y) < 0.85 * len(clean)) == (c == "fast"), (c, len(y), len(clean))
        if c in conditions.MIXED:  # the same recording under noise or echo: correlation
            # ~ sqrt(S / (S + N)) for noise; the room's at the lag of its direct path (<= 20 ms)
            n = clean.size - SR // 50
            corr = max(np.corrcoef(y[lag : lag + n], clean[:n])[0, 1] for lag in range(SR // 50))
            low, high = {"noise-10db": (0.9, 0.98), "noise-0db": (0.6, 0.8)}.get(c, (0.0, 0.9))
            assert low < corr < high, (c, corr)
    assert conditions.build(data, workers=2) == 0  # idempotent

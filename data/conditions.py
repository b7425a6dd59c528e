"""The clinic-conditions test: the stranger split asked the way a room hears it (no torch).

    python -m data.conditions --data data/demo    # writes splits/stranger-<condition>.jsonl

Every condition asks the stranger split's records (its flite voices and hand-written wordings,
never trained on) once more, changed in one way a clinic changes speech:

    noise-10db, noise-0db   held-out noise (pink hiss + a two-tone alarm: data.room.EVAL_NOISES,
                            kinds no training copy carries) at 10 and 0 dB speech-to-noise
    reverb                  a shoebox suite of 0.9 s reverberation time by image sources, a kind
                            of room training never hears (data.room.shoebox)
    lead-in                 a held-out lead-in sentence before the question (flite)
    fillers                 a held-out filler ("hmm", "you know") in the question (flite)
    fast, slow              flite speaking at 140% and 70% of its own rate

The quiet condition is the stranger split itself. Records keep their keys and answers and get
`condition`; recordings go to audio/conditions/<condition>/. Each is a pure function of the
stranger recording (or wording) and the condition. Idempotent: valid WAVs are kept.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from data import grammar, room
from data.schema import DataError, load_jsonl, write_jsonl
from data.stranger import SPLIT, flite_voices, speak_file, voice_of
from data.tts import audio_ok, write_wav
from model.cli import boundary, int_in
from model.layout import split_file

QUIET = "quiet"
MIXED = {"noise-10db": 10.0, "noise-0db": 0.0, "reverb": None}  # from the stranger's WAV
SPOKEN = {
    "lead-in": ("lead_in", 100),
    "fillers": ("filler", 100),
    "fast": ("bare", 140),
    "slow": ("bare", 70),
}  # flite again: (grammar.say kind, rate %)
CONDITIONS = (QUIET, *MIXED, *SPOKEN)


def split_name(condition: str) -> str:
    """The split file's name of a condition (the quiet one is the stranger split)."""
    return SPLIT if condition == QUIET else f"{SPLIT}-{condition}"


def _seed(*parts: str) -> int:
    return zlib.crc32("|".join(parts).encode())


def held_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """The evaluation background: pink hiss with an alarm at half its level (EVAL_NOISES)."""
    pink, alarm = (room.noise(k, n, rng) for k in room.EVAL_NOISES)
    return pink / (room.rms(pink) + 1e-12) + 0.5 * alarm / (room.rms(alarm) + 1e-12)


HELD_ROOMS = 6  # talker and microphone placements, each simulated once (~0.4 s apiece)


@functools.cache
def held_room(placement: int) -> np.ndarray:
    return room.shoebox(np.random.default_rng(placement))


def mixed(y: np.ndarray, condition: str, key: str) -> np.ndarray:
    """A stranger recording in a noisy or echoing room (MIXED)."""
    rng = np.random.default_rng(_seed(condition, key))
    if condition == "reverb":
        out = room.echo(y, held_room(_seed(condition, key) % HELD_ROOMS))
    else:
        out = room.mix(y, held_noise(y.size, rng), MIXED[condition])
    return (out * (0.9 / max(1e-9, float(np.abs(out).max())))).astype(np.float32)


def said(text: str, condition: str) -> str:
    """A stranger wording as said under a SPOKEN condition (the held-out natural forms)."""
    kind = SPOKEN[condition][0]
    return grammar.say(text, kind, hashlib.sha256(text.encode()).digest()[:16], held=True)


def condition_records(stranger: list[dict], condition: str) -> list[dict]:
    """The stranger records under one condition, with the file each one's audio goes to."""
    out = []
    for r in stranger:
        r = {**r, "condition": condition}
        if condition in SPOKEN:
            v = voice_of(r["voice"].split(":")[1], SPOKEN[condition][1])
            r["question"] = said(r["question"], condition)
            r["voice"] = v.id
            name = Path(v.file(r["question"])).name
        else:
            name = Path(r["audio"]).name
        r["audio"] = f"audio/conditions/{condition}/{name}"
        out.append(r)
    return out


def _make(job: tuple[Path, dict, str, Path]) -> None:
    data, rec, condition, path = job
    if condition in SPOKEN:
        speak_file((path, voice_of(*_voice(rec)), rec["question"]))
        return
    src = data / rec["source"]
    y, sr = sf.read(str(src), dtype="float32")
    if sr != room.SR:
        raise DataError(f"{src}: {sr} Hz, expected {room.SR}")
    write_wav(path, mixed(y, condition, rec["source"]))


def _voice(rec: dict) -> tuple[str, int]:
    _, name, rate, _ = rec["voice"].split(":")
    return name, int(rate[1:])


def build(data: Path, conditions: tuple[str, ...] = CONDITIONS, workers: int = 2) -> int:
    """Write each condition's split and recordings; returns the recordings written."""
    data = Path(data)
    path = split_file(data, SPLIT)
    if not path.is_file():
        raise DataError(f"{path} is missing: build the stranger split first (make stranger)")
    stranger = load_jsonl(path)
    if any(c in SPOKEN for c in conditions):
        flite_voices()  # fail before any work when flite is missing
    written = 0
    for condition in conditions:
        if condition == QUIET:
            continue
        recs = condition_records(stranger, condition)
        todo = {}
        for src, r in zip(stranger, recs, strict=True):
            out = data / r["audio"]
            if r["audio"] not in todo and not audio_ok(out):
                todo[r["audio"]] = (data, {**r, "source": src["audio"]}, condition, out)
        (data / "audio" / "conditions" / condition).mkdir(parents=True, exist_ok=True)
        jobs = sorted(todo.values(), key=lambda j: str(j[3]))
        with ThreadPoolExecutor(max(1, workers)) as ex:
            list(tqdm(ex.map(_make, jobs), total=len(jobs), desc=condition, unit="wav"))
        write_jsonl(split_file(data, split_name(condition)), recs)
        written += len(jobs)
    return written


@boundary
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("data/demo"), help="the dataset folder")
    p.add_argument("--only", nargs="+", choices=CONDITIONS, help="these conditions (default all)")
    p.add_argument("--workers", type=int_in(1, 256), default=2, help="flite and mixing threads")
    a = p.parse_args(argv)
    n = build(a.data, tuple(a.only or CONDITIONS), workers=a.workers)
    print(f"{n} audio files written under {a.data / 'audio' / 'conditions'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

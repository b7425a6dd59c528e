"""Spoken questions for a dataset: one 16 kHz mono 16-bit WAV per distinct utterance.

    python -m data.tts --data data/demo                 # offline espeak-ng (default)
    python -m data.tts --data data/demo --engine edge   # Microsoft online voices (needs internet)

Each record gets a voice drawn (deterministically from --seed and its key) from the pool of its
split: train voices for train, voices never heard in training for eval and for test. A file is
named by the hash of (engine, voice, rate, pitch, text), so the set holds one file per distinct
utterance; existing valid files are skipped, missing or corrupt ones re-made. samples.jsonl and
splits/*.jsonl are rewritten atomically with `audio` (path relative to --data) and `voice`.
espeak-ng keeps global state per process, so synthesis runs in worker processes, and each
utterance in a forked child: the same (text, voice) gives the same file on every run.
The voice pools are tables; the rest is one pipeline (assign, synthesise, check, rewrite).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import hashlib
import io
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from data.schema import DataError, load_jsonl, record_key, write_jsonl
from model.cli import InputError, boundary, int_in, positive_float
from model.layout import SPLITS, split_file

SR = 16_000


class TTSError(InputError, RuntimeError):
    """Speech synthesis failed; the message says which engine, voice and why."""


@dataclass(frozen=True)
class Voice:
    engine: str
    name: str  # espeak: "<language>+<variant>"; edge: a neural voice short name
    rate: int  # espeak: words per minute; edge: percent change
    pitch: int  # espeak: 0-100 (50 normal); edge: Hz change

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}:r{self.rate}:p{self.pitch}"

    def file(self, text: str) -> str:
        h = hashlib.sha1(f"{self.id}|{text}".encode()).hexdigest()[:16]
        return f"audio/{h}.wav"


@dataclass(frozen=True)
class Pool:
    names: tuple[str, ...]
    rates: tuple[int, ...]
    pitches: tuple[int, ...]


# Train: 14 speakers over 8 English accents, 3 rates x 3 pitches each. Eval and test: speaker
# variants (m5..m7, f4, f5) that never speak in train, on accents that do.
POOLS: dict[str, dict[str, Pool]] = {
    "espeak": {
        "train": Pool(
            (
                "en-us+m1",
                "en-us+f1",
                "en-us+m3",
                "en-us+f2",
                "en+m2",
                "en+f3",
                "en-gb-x-rp+m4",
                "en-gb-x-rp+f1",
                "en-029+m1",
                "en-029+f2",
                "en-gb-scotland+m3",
                "en-gb-x-gbclan+f3",
                "en-gb-x-gbcwmd+m2",
                "en-us-nyc+m4",
            ),
            (135, 160, 185),
            (35, 50, 65),
        ),
        "eval": Pool(("en-us+m5", "en-gb-x-rp+f5"), (150, 170), (45, 55)),
        "test": Pool(("en-us+f4", "en+m6", "en-gb-scotland+m7"), (150, 170), (45, 55)),
    },
    "edge": {
        "train": Pool(
            (
                "en-US-GuyNeural",
                "en-US-JennyNeural",
                "en-US-AriaNeural",
                "en-GB-RyanNeural",
                "en-GB-SoniaNeural",
                "en-AU-NatashaNeural",
                "en-AU-WilliamNeural",
                "en-IN-NeerjaNeural",
                "en-IE-ConnorNeural",
                "en-CA-ClaraNeural",
                "en-US-ChristopherNeural",
                "en-NZ-MitchellNeural",
            ),
            (-10, 0, 10),
            (-10, 0, 10),
        ),
        "eval": Pool(("en-US-EricNeural", "en-GB-LibbyNeural"), (0,), (0,)),
        "test": Pool(
            ("en-US-MichelleNeural", "en-ZA-LeahNeural", "en-IN-PrabhatNeural"), (0,), (0,)
        ),
    },
}


class Espeak:
    """espeak-ng through the `espeakng-loader` wheel (ctypes).

    espeak-ng is a process-wide singleton holding ONE callback pointer: every instance shares
    the library, the callback and its buffer, initialised once, so dropping an instance can
    never free a callback the library still calls.
    """

    name = "espeak"
    _CB = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
    )
    _lib: ctypes.CDLL | None = None
    _rate = 0
    _cb = None  # the registered callback: lives as long as the class
    _chunks: list[np.ndarray] = []

    def __init__(self) -> None:
        cls = type(self)
        if cls._lib is None:
            from espeakng_loader import get_data_path, get_library_path

            lib = ctypes.CDLL(get_library_path())
            rate = lib.espeak_Initialize(2, 0, get_data_path().encode(), 0)  # 2: synchronous
            if rate <= 0:
                raise TTSError(f"espeak-ng failed to initialise (returned {rate})")

            def collect(wav, n, _events):  # called by espeak with each block of samples
                if n > 0:
                    cls._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
                return 0

            cls._cb = cls._CB(collect)
            lib.espeak_SetSynthCallback(cls._cb)
            cls._lib, cls._rate = lib, rate
        self.lib, self.rate = cls._lib, cls._rate

    def synth(self, text: str, voice: Voice) -> tuple[np.ndarray, int]:
        """The utterance as float samples at self.rate: a pure function of (text, voice).

        espeak-ng carries state from one utterance to the next (the same text and voice come
        out a few samples longer or shorter, and different from the first sample, after another
        utterance; espeak_Initialize does not reset it), so each utterance is spoken by a
        forked child of this process, whose library is initialised but never used, with the
        library's random seed (breath noise) drawn from the voice and text.
        """
        if not hasattr(os, "fork"):  # no fork (Windows): in process, order-dependent
            return self._speak(text, voice)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: speak, send int16 samples (or the error) back, exit at once
            os.close(read)
            code = 0
            try:
                wav, _ = self._speak(text, voice)
                out = (wav * 32768.0).astype("<i2").tobytes()
            except BaseException as e:  # noqa: BLE001 - every failure goes to the parent
                msg = str(e) if isinstance(e, TTSError) else f"{type(e).__name__}: {e}"
                out, code = msg.encode(), 1
            try:
                with os.fdopen(write, "wb") as f:
                    f.write(out)
            finally:
                os._exit(code)
        os.close(write)
        with os.fdopen(read, "rb") as f:
            out = f.read()
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise TTSError(out.decode(errors="replace") or f"espeak-ng child died ({status})")
        return np.frombuffer(out, "<i2").astype(np.float32) / 32768.0, self.rate

    def _speak(self, text: str, voice: Voice) -> tuple[np.ndarray, int]:
        if self.lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise TTSError(f"espeak-ng has no voice {voice.name!r}")
        self.lib.espeak_SetParameter(1, voice.rate, 0)  # 1: rate, words per minute
        self.lib.espeak_SetParameter(3, voice.pitch, 0)  # 3: pitch, 0-100
        # some variants (f2, f3...) breathe noise from rand(), seeded from the clock at start-up
        seed = int.from_bytes(hashlib.sha256(f"{voice.id}|{text}".encode()).digest()[:4], "little")
        self.lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))
        self._chunks.clear()
        data = text.encode()
        err = self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 1, None, None)  # 1: UTF-8
        self.lib.espeak_Synchronize()
        if err != 0 or not self._chunks:
            raise TTSError(f"espeak-ng produced no audio for {text!r} with {voice.id} ({err})")
        wav = np.concatenate(self._chunks).astype(np.float32) / 32768.0
        return wav, self.rate


class Edge:
    """Microsoft Edge online neural voices via `edge-tts` (needs internet; never in tests)."""

    name = "edge"

    def synth(self, text: str, voice: Voice) -> tuple[np.ndarray, int]:
        import edge_tts

        async def fetch() -> bytes:
            c = edge_tts.Communicate(
                text, voice.name, rate=f"{voice.rate:+d}%", pitch=f"{voice.pitch:+d}Hz"
            )
            return b"".join([m["data"] async for m in c.stream() if m["type"] == "audio"])

        try:
            mp3 = asyncio.run(fetch())
        except Exception as e:  # network, DNS, service errors all end the same way for us
            raise TTSError(
                f"edge-tts could not synthesise with {voice.name} ({type(e).__name__}: {e}); "
                "it needs Microsoft's online service: use --engine espeak offline"
            ) from e
        if not mp3:
            raise TTSError(f"edge-tts returned no audio for {text!r} with {voice.name}")
        wav, sr = sf.read(io.BytesIO(mp3), dtype="float32", always_2d=True)
        return wav.mean(axis=1), sr


ENGINES = {"espeak": Espeak, "edge": Edge}


def to_16k(wav: np.ndarray, sr: int) -> np.ndarray:
    """Resample to 16 kHz, trim leading/trailing silence (keep 80 ms), peak to -1 dBFS."""
    x = soxr.resample(wav, sr, SR) if sr != SR else wav
    loud = np.flatnonzero(np.abs(x) > 0.02 * (np.abs(x).max() + 1e-9))
    if loud.size:
        pad = int(0.08 * SR)
        x = x[max(loud[0] - pad, 0) : loud[-1] + pad]
    return (x * (0.89 / (np.abs(x).max() + 1e-9))).astype(np.float32)


def audio_ok(path: Path) -> bool:
    """A readable 16 kHz mono WAV with samples."""
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError):
        return False
    return info.samplerate == SR and info.channels == 1 and info.frames > 0


def too_long(
    data: Path, max_seconds: float, records: list[dict] | None = None
) -> list[tuple[float, str, str]]:
    """(seconds, file, question) of every distinct recording over max_seconds, longest first,
    among `records` (default: the dataset's samples.jsonl)."""
    data, seen = Path(data), {}
    for r in load_jsonl(data / "samples.jsonl") if records is None else records:
        if r.get("audio") and r["audio"] not in seen:
            seen[r["audio"]] = (sf.info(str(data / r["audio"])).duration, r["audio"], r["question"])
    return sorted((x for x in seen.values() if x[0] > max_seconds), reverse=True)


def write_wav(path: Path, wav: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    sf.write(str(tmp), wav, SR, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


def assign_voice(rec: dict, split: str, engine: str, seed: int) -> Voice:
    """The voice of one record: a pure function of (seed, key, split, engine)."""
    pool = POOLS[engine][split]
    h = hashlib.sha256(f"{seed}|{rec['video_id']}|{rec['id']}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(h[:8], "little"))
    return Voice(
        engine,
        pool.names[rng.integers(len(pool.names))],
        pool.rates[rng.integers(len(pool.rates))],
        pool.pitches[rng.integers(len(pool.pitches))],
    )


_engines: dict[str, object] = {}  # per process: espeak is a global singleton


def _synth_job(args: tuple[str, Voice, str]) -> str:
    path, voice, text = args
    if voice.engine not in _engines:  # lazily, so a failure raises instead of hanging a pool
        _engines[voice.engine] = ENGINES[voice.engine]()
    wav, sr = _engines[voice.engine].synth(text, voice)
    write_wav(Path(path), to_16k(wav, sr))
    return path


def synthesize(jobs: list[tuple[str, Voice, str]], engine: str, workers: int) -> None:
    """Write each (path, voice, text) job; espeak runs in worker processes."""
    bar = tqdm(total=len(jobs), desc=f"speech ({engine})", unit="wav")
    if workers <= 1 or len(jobs) < 2:
        for j in jobs:
            _synth_job(j)
            bar.update()
    else:
        # an executor, not a Pool: a worker that dies (a crash, a broken __main__ to re-import)
        # breaks it with an error, where a Pool would respawn workers and wait forever
        try:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as ex:
                for _ in ex.map(_synth_job, jobs, chunksize=16):
                    bar.update()
        except BrokenProcessPool as e:
            raise TTSError(f"a speech worker process ({engine}) died ({e}); try --workers 1") from e
    bar.close()


def speak(data: Path, *, engine: str = "espeak", workers: int = 2, seed: int = 0) -> int:
    """Give every record of `data` a voice and an audio file; returns the files written."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    data = Path(data)
    samples = load_jsonl(data / "samples.jsonl")
    splits = {s: load_jsonl(split_file(data, s)) for s in SPLITS}
    where = {record_key(r): s for s, recs in splits.items() for r in recs}
    missing = [record_key(r) for r in samples if record_key(r) not in where]
    if missing:
        raise DataError(
            f"{len(missing)} records of {data / 'samples.jsonl'} are in no split, "
            f"e.g. {missing[:3]}"
        )
    voices = {k: assign_voice(r, where[k], engine, seed) for r in samples for k in [record_key(r)]}
    (data / "audio").mkdir(exist_ok=True)
    todo: dict[str, tuple[str, Voice, str]] = {}
    for r in samples:
        v = voices[record_key(r)]
        rel = v.file(r["question"])
        if rel not in todo and not audio_ok(data / rel):
            todo[rel] = (str(data / rel), v, r["question"])
    if todo:
        synthesize(sorted(todo.values(), key=lambda j: j[0]), engine, workers)
    for recs in (samples, *splits.values()):
        for r in recs:
            v = voices[record_key(r)]
            r["audio"], r["voice"] = v.file(r["question"]), v.id
    write_jsonl(data / "samples.jsonl", samples)
    for s, recs in splits.items():
        write_jsonl(split_file(data, s), recs)
    return len(todo)


@boundary
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data", type=Path, default=Path("data/demo"), help="dataset folder to add speech to"
    )
    p.add_argument(
        "--engine",
        choices=sorted(ENGINES),
        default="espeak",
        help="espeak: offline (default); edge: Microsoft's neural voices, needs internet",
    )
    p.add_argument("--workers", type=int_in(1, 256), default=2, help="parallel speakers")
    p.add_argument("--seed", type=int, default=0, help="which voice says which question")
    # Every checkpoint hears up to 30 s (model.constants.MAX_AUDIO_SECONDS; speech longer than
    # the encoder's window is heard window by window): a longer recording stops here.
    p.add_argument(
        "--max-seconds", type=positive_float, default=30.0, help="longest recording allowed"
    )
    a = p.parse_args(argv)
    try:
        n = speak(a.data, engine=a.engine, workers=a.workers, seed=a.seed)
    except (TTSError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{n} audio files written under {a.data / 'audio'}", file=sys.stderr)
    if long := too_long(a.data, a.max_seconds):
        shown = "; ".join(f"{q!r} {sec:.2f} s ({f})" for sec, f, q in long[:5])
        print(
            f"error: {len(long)} recording(s) over --max-seconds {a.max_seconds:g}: {shown}. "
            "Shorten the wording (data/types/) or raise --max-seconds for a longer window",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Random strings of the training questions' words, spoken: the audio path's keyword-spotting set.

    python -m data.words --data data/demo            # after data.synth and data.tts

A from-scratch encoder that hears a dozen wordings per type learns each wording's overall shape
and takes a new wording for a neighbour type. Strings of 3-7 words drawn at random from the
train split's questions have no shape to learn: telling which words were spoken is the only way
to fit them (training.warmup.fit_words). Train voices speak the train strings, eval voices the
eval strings. Writes <data>/words/{train,eval}.jsonl (`id`, `question` = the string, `audio`,
`voice`) and the WAVs under <data>/audio/; existing valid files are kept.

It also speaks rewordings of the train questions (<data>/words/rewordings.jsonl, with their
`question_type`): each drops some of a question's words but never the ones that name its type,
may shuffle the rest and may add a phrase heard across many types ("in this clip"). A question
stage that hears them can only tell the type by its naming words (train --reworded_mix).

And new framings (<data>/words/framings.jsonl, same fields): a train question of another type
whose naming words are swapped for those of a question of this type ("is the scope out of the
blue contrast staining present in these frames" for dye), so the sentence around them says
nothing of the type (`--framings 3000`, for train --warmup_framings).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from data.schema import DataError, load_jsonl, write_jsonl

WORDS = (3, 7)  # words per string: about 1-4 s of speech
MAX_SECONDS = 4.8  # longer strings are dropped: the tiny encoder hears 5 s
COUNTS = {"train": 6000, "eval": 500}  # strings per split
REWORDINGS = 3000  # spoken rewordings of the train questions, about 150 per type
KEY_TYPES = 2  # a word heard in the questions of at most this many types names the type
SHARED_TYPES = 4  # a phrase heard in the questions of this many types names none
DROP = 0.35  # chance that a word not naming the type is left out of a rewording


FIELDS = ("id", "question", "audio", "voice")
REWORDING_FIELDS = (*FIELDS, "question_type")


def load(data: str | Path, split: str, fields: tuple[str, ...] = FIELDS) -> list[dict]:
    """The word strings of one split (or "rewordings"); a missing file or a malformed line is a
    DataError."""
    path = Path(data) / "words" / f"{split}.jsonl"
    if not path.is_file():
        raise DataError(f"{path}: no such file: run python -m data.words --data {data}")
    recs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n}: malformed JSON ({e.msg})") from None
        if not isinstance(rec, dict) or any(not isinstance(rec.get(f), str) for f in fields):
            raise DataError(f"{path}:{n}: a word string needs the text fields {', '.join(fields)}")
        recs.append(rec)
    if not recs:
        raise DataError(f"{path}: no word strings")
    return recs


def words_of(text: str) -> list[str]:
    """The lower-case words of a text, punctuation dropped."""
    return re.findall(r"[a-z]+", text.lower())


def vocabulary(questions: list[str]) -> list[str]:
    """The distinct lower-case words of these questions, sorted."""
    return sorted({w for q in questions for w in words_of(q)})


def strings(vocab: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """n strings of WORDS[0]..WORDS[1] distinct words each."""
    lo, hi = WORDS
    return [" ".join(rng.choice(vocab, rng.integers(lo, hi + 1), replace=False)) for _ in range(n)]


def train_records(data: Path) -> list[dict]:
    """The train split's records, whose questions every builder here draws on."""
    train = load_jsonl(data / "splits" / "train.jsonl")
    if not train:
        raise DataError(f"{data / 'splits' / 'train.jsonl'} is empty: run python -m data.synth")
    return train


def draw_voice(engine: str, split: str, rng: np.random.Generator):
    """A voice of the split's pool, drawn from rng (name, rate, pitch)."""
    from data.tts import POOLS, Voice

    pool = POOLS[engine][split]
    return Voice(engine, str(rng.choice(pool.names)), int(rng.choice(pool.rates)),
                 int(rng.choice(pool.pitches)))  # fmt: skip


def by_type(records: list[dict]) -> dict[str, list[str]]:
    """The distinct questions of each type in these records, sorted."""
    out: dict[str, set[str]] = {}
    for r in records:
        out.setdefault(r["question_type"], set()).add(r["question"])
    return {t: sorted(qs) for t, qs in sorted(out.items())}


def _types_of(questions: dict[str, list[str]], sizes: tuple[int, ...]) -> dict[str, int]:
    """Word n-gram (n in sizes) -> how many types' questions it is heard in."""
    seen: dict[str, set[str]] = {}
    for t, qs in questions.items():
        for q in qs:
            ws = words_of(q)
            for n in sizes:
                for i in range(len(ws) - n + 1):
                    seen.setdefault(" ".join(ws[i : i + n]), set()).add(t)
    return {g: len(ts) for g, ts in seen.items()}


def key_words(questions: dict[str, list[str]]) -> set[str]:
    """Words heard in the questions of at most KEY_TYPES types: the words that name a type."""
    return {w for w, n in _types_of(questions, (1,)).items() if n <= KEY_TYPES}


def shared_phrases(questions: dict[str, list[str]], sizes: tuple[int, ...] = (2, 3)) -> list[str]:
    """Word n-grams heard in the questions of at least SHARED_TYPES types, sorted."""
    return sorted(g for g, n in _types_of(questions, sizes).items() if n >= SHARED_TYPES)


def reword(text: str, keys: set[str], phrases: list[str], rng: np.random.Generator) -> str:
    """One rewording: non-naming words dropped at DROP, then a coin for a shuffle and one for a
    shared phrase at the start or end. A question without a naming word is kept whole."""
    ws = words_of(text)
    if not keys & set(ws):
        return " ".join(ws)
    kept = [w for w in ws if w in keys or rng.random() >= DROP]
    if rng.random() < 0.5:
        kept = [str(w) for w in rng.permutation(kept)]
    if phrases and rng.random() < 0.5:
        p = str(rng.choice(phrases)).split()
        kept = p + kept if rng.random() < 0.5 else kept + p
    return " ".join(kept)


def reframe(named: str, frame: str, keys: set[str]) -> str | None:
    """The frame question with its naming words replaced by the named question's (in their
    order, where the frame's first naming word stood); None if either has no naming word."""
    naming = [w for w in words_of(named) if w in keys]
    ws = words_of(frame)
    at = next((i for i, w in enumerate(ws) if w in keys), None)
    if not naming or at is None:
        return None
    rest = [w for w in ws if w not in keys]
    return " ".join(rest[:at] + naming + rest[at:])


def _speak_typed(data: Path, texts: list[tuple[str, str]], name: str, prefix: str, engine: str,
                 workers: int, rng: np.random.Generator) -> tuple[int, int]:  # fmt: skip
    """Speak (question type, text) pairs in train voices into <data>/words/<name>.jsonl; returns
    (records kept, WAVs written)."""
    from data.tts import audio_ok, synthesize

    recs, jobs = [], {}
    for i, (qtype, text) in enumerate(texts):
        voice = draw_voice(engine, "train", rng)
        rel = voice.file(text)
        recs.append({"id": f"{prefix}_{i:06d}", "question": text, "audio": rel,
                     "voice": voice.id, "question_type": qtype})  # fmt: skip
        if rel not in jobs and not audio_ok(data / rel):
            jobs[rel] = (str(data / rel), voice, text)
    (data / "audio").mkdir(parents=True, exist_ok=True)
    synthesize(list(jobs.values()), engine, workers)
    kept = [r for r in recs if sf.info(str(data / r["audio"])).duration <= MAX_SECONDS]
    write_jsonl(data / "words" / f"{name}.jsonl", kept)
    return len(kept), len(jobs)


def build_rewordings(
    data: Path, n: int = REWORDINGS, *, engine: str = "espeak", workers: int = 2, seed: int = 0
) -> int:
    """Speak n rewordings of the train questions (types in turn) in train voices; returns the
    WAVs written. Only the train split's questions are reworded: no held-out wording is used."""
    questions = by_type(train_records(data))
    keys, phrases = key_words(questions), shared_phrases(questions)
    rng = np.random.default_rng([seed, 1])
    types = list(questions)
    texts = []
    for i in range(n):
        qtype = types[i % len(types)]
        texts.append((qtype, reword(str(rng.choice(questions[qtype])), keys, phrases, rng)))
    kept, wavs = _speak_typed(data, texts, "rewordings", "r", engine, workers, rng)
    print(f"rewordings: {kept} ({n - kept} over {MAX_SECONDS} s dropped), "
          f"{len(keys)} naming words, {len(phrases)} shared phrases")  # fmt: skip
    return wavs


def build_framings(
    data: Path,
    n: int = REWORDINGS,
    *,
    leave_out: frozenset[int] = frozenset(),
    name: str = "framings",
    engine: str = "espeak",
    workers: int = 2,
    seed: int = 0,
) -> int:
    """Speak n new framings (types in turn): a train question of another type with its naming
    words swapped for those of a question of this type, so only the naming words tell the
    type. leave_out: train wordings (phrasing numbers) not drawn on, for training.probe."""
    train = [r for r in train_records(data) if r.get("phrasing") not in leave_out]
    questions = by_type(train)
    keys = key_words(questions)
    rng = np.random.default_rng([seed, 2])
    types = list(questions)
    texts: list[tuple[str, str]] = []
    while len(texts) < n:
        qtype = types[len(texts) % len(types)]
        other = str(rng.choice([t for t in types if t != qtype]))
        text = reframe(str(rng.choice(questions[qtype])), str(rng.choice(questions[other])), keys)
        if text is not None:
            texts.append((qtype, text))
    kept, wavs = _speak_typed(data, texts, name, "f", engine, workers, rng)
    print(f"{name}: {kept} ({n - kept} over {MAX_SECONDS} s dropped), {len(keys)} naming words")
    return wavs


def load_rewordings(data: str | Path, field: str = "audio") -> dict[str, list[str]]:
    """question type -> its rewordings' audio files (field "audio") or texts ("question");
    DataError if none."""
    out: dict[str, list[str]] = {}
    for r in load(data, "rewordings", REWORDING_FIELDS):
        out.setdefault(r["question_type"], []).append(r[field])
    return out


def build(
    data: Path,
    *,
    engine: str = "espeak",
    workers: int = 2,
    seed: int = 0,
    counts: dict[str, int] = COUNTS,
) -> int:
    """Write the spoken word strings of every split in counts; returns the WAVs written."""
    from data.tts import SR, audio_ok, synthesize

    train = train_records(data)
    vocab = vocabulary([r["question"] for r in train])
    rng = np.random.default_rng(seed)
    jobs, out = [], {}
    for split, n in counts.items():
        recs = []
        for i, text in enumerate(strings(vocab, n, rng)):
            voice = draw_voice(engine, split, rng)
            rel = voice.file(text)
            recs.append({"id": f"w_{i:06d}", "question": text, "audio": rel, "voice": voice.id})
            if not audio_ok(data / rel):
                jobs.append((str(data / rel), voice, text))
        out[split] = recs
    (data / "audio").mkdir(parents=True, exist_ok=True)
    synthesize(jobs, engine, workers)
    for split, recs in out.items():
        kept = [r for r in recs if sf.info(str(data / r["audio"])).duration <= MAX_SECONDS]
        write_jsonl(data / "words" / f"{split}.jsonl", kept)
        print(f"{split}: {len(kept)} word strings ({len(recs) - len(kept)} over "
              f"{MAX_SECONDS} s dropped)")  # fmt: skip
    print(f"{len(vocab)} words, {len(jobs)} WAVs written ({SR} Hz) under {data / 'words'}")
    return len(jobs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("data/demo"))
    p.add_argument("--engine", default="espeak")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rewordings", type=int, default=REWORDINGS, help="0: none")
    p.add_argument(
        "--framings", type=int, default=0, help="new framings (train --warmup_framings: 3000)"
    )
    a = p.parse_args(argv)
    try:
        build(a.data, engine=a.engine, workers=a.workers, seed=a.seed)
        if a.rewordings:
            build_rewordings(a.data, a.rewordings, engine=a.engine, workers=a.workers, seed=a.seed)
        if a.framings:
            build_framings(a.data, a.framings, engine=a.engine, workers=a.workers, seed=a.seed)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

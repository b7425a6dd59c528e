"""Random strings of the training questions' words, spoken: the audio path's keyword-spotting set.

    python -m data.words --data data/demo            # after data.synth and data.tts

A from-scratch encoder that hears a dozen wordings per type learns each wording's overall shape
and takes a new wording for a neighbour type. Strings of 3-7 words drawn at random from the
train split's questions have no shape to learn: telling which words were spoken is the only way
to fit them (training.warmup.fit_words). Train voices speak the train strings, eval voices the
eval strings. Writes <data>/words/{train,eval}.jsonl (`id`, `question` = the string, `audio`,
`voice`) and the WAVs under <data>/audio/; existing valid files are kept.
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


FIELDS = ("id", "question", "audio", "voice")


def load(data: str | Path, split: str) -> list[dict]:
    """The word strings of one split; a missing file or a malformed line is a DataError."""
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
        if not isinstance(rec, dict) or any(not isinstance(rec.get(f), str) for f in FIELDS):
            raise DataError(f"{path}:{n}: a word string needs the text fields {', '.join(FIELDS)}")
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


def build(
    data: Path,
    *,
    engine: str = "espeak",
    workers: int = 2,
    seed: int = 0,
    counts: dict[str, int] = COUNTS,
) -> int:
    """Write the spoken word strings of every split in counts; returns the WAVs written."""
    from data.tts import POOLS, SR, Voice, audio_ok, synthesize

    train = load_jsonl(data / "splits" / "train.jsonl")
    if not train:
        raise DataError(f"{data / 'splits' / 'train.jsonl'} is empty: run python -m data.synth")
    vocab = vocabulary([r["question"] for r in train])
    rng = np.random.default_rng(seed)
    jobs, out = [], {}
    for split, n in counts.items():
        pool = POOLS[engine][split]
        recs = []
        for i, text in enumerate(strings(vocab, n, rng)):
            voice = Voice(engine, str(rng.choice(pool.names)), int(rng.choice(pool.rates)),
                          int(rng.choice(pool.pitches)))  # fmt: skip
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
    a = p.parse_args(argv)
    try:
        build(a.data, engine=a.engine, workers=a.workers, seed=a.seed)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

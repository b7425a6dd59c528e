"""The keyword-spotting set: random strings over the train questions' words, spoken by the
split's own voices, and a reader that rejects what it cannot use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.schema import DataError, load_jsonl
from data.tts import POOLS, audio_ok
from data.words import WORDS, build, load, strings, vocabulary, words_of


def test_words_of_drops_case_and_punctuation():
    assert words_of("Name the instrument, on screen.") == [
        "name", "the", "instrument", "on", "screen",
    ]  # fmt: skip
    words = words_of("Is the lesion's size <5 mm?")
    assert words == ["is", "the", "lesion", "s", "size", "mm"]


def test_strings_draw_distinct_words_from_the_vocabulary():
    vocab = vocabulary(["Is the tool moving?", "Which tool is seen, the snare?"])
    assert vocab == ["is", "moving", "seen", "snare", "the", "tool", "which"]
    for s in strings(vocab, 50, np.random.default_rng(0)):
        words = s.split()
        assert WORDS[0] <= len(words) <= WORDS[1] and len(set(words)) == len(words)
        assert set(words) <= set(vocab)


@pytest.mark.slow
def test_build_speaks_each_split_with_its_own_voices(spoken: Path):
    assert build(spoken, workers=1, counts={"train": 6, "eval": 3}, seed=7) >= 0
    vocab = set(vocabulary([r["question"] for r in load_jsonl(spoken / "splits/train.jsonl")]))
    for split, n in (("train", 6), ("eval", 3)):
        recs = load(spoken, split)
        assert 0 < len(recs) <= n  # strings over MAX_SECONDS are dropped
        names = set(POOLS["espeak"][split].names)
        for r in recs:
            assert set(r["question"].split()) <= vocab
            assert r["voice"].split(":")[1] in names
            assert audio_ok(spoken / r["audio"])
    assert build(spoken, workers=1, counts={"train": 6, "eval": 3}, seed=7) == 0  # kept


def test_load_names_the_missing_file_and_the_bad_line(tmp_path: Path):
    with pytest.raises(DataError, match="no such file.*data.words"):
        load(tmp_path, "train")
    (tmp_path / "words").mkdir()
    bad = tmp_path / "words" / "train.jsonl"
    bad.write_text('{"id": "w_0", "question": "a b c", "audio": "x.wav", "voice": "v"}\n{oops\n')
    with pytest.raises(DataError, match=r"train.jsonl:2: malformed JSON"):
        load(tmp_path, "train")
    bad.write_text('{"id": "w_0", "question": "a b c"}\n')
    with pytest.raises(DataError, match=r":1: a word string needs"):
        load(tmp_path, "train")

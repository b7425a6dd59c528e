"""The keyword-spotting set: random strings over the train questions' words, spoken by the
split's own voices, and a reader that rejects what it cannot use; the spoken rewordings keep
the words that name a type and nothing of the held-out wording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.schema import DataError, load_jsonl
from data.tts import POOLS, audio_ok
from data.words import (
    WORDS,
    build,
    build_framings,
    build_rewordings,
    by_type,
    key_words,
    load,
    load_rewordings,
    reframe,
    reword,
    shared_phrases,
    strings,
    vocabulary,
    words_of,
)

QUESTIONS = {  # five types: "in this clip" and "is the" are heard in four or more
    "nbi": ["Is NBI on in this clip?", "Is the scope in NBI mode?"],
    "light": ["Which light mode is on in this clip?", "Is the lighting white?"],
    "dye": ["Is dye visible in this clip?", "Is the mucosa stained?"],
    "tool": ["Which tool is in this clip?", "Is the instrument a snare?"],
    "size": ["How large is the polyp?", "Is the polyp small?"],
}


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


def test_key_words_name_one_or_two_types_and_shared_phrases_many():
    keys = key_words(QUESTIONS)
    assert {"nbi", "light", "lighting", "dye", "snare", "polyp", "stained"} <= keys
    assert not {"is", "the", "in", "this", "clip"} & keys  # heard across four or more types
    phrases = shared_phrases(QUESTIONS)
    assert "in this clip" in phrases and "this clip" in phrases
    assert "is the" in phrases
    assert "light mode" not in phrases and "which tool" not in phrases  # one type each


def test_reword_keeps_the_naming_words_and_adds_only_shared_phrases():
    keys, phrases = key_words(QUESTIONS), shared_phrases(QUESTIONS)
    rng = np.random.default_rng(0)
    outs = [reword("Which light mode is on in this clip?", keys, phrases, rng) for _ in range(200)]
    allowed = {"which", "light", "mode", "is", "on", "in", "this", "clip"}
    for out in outs:
        words = out.split()
        assert {"light", "mode"} <= set(words)  # "mode" is heard in nbi and light only
        assert set(words) <= allowed | {w for p in phrases for w in p.split()}
    assert len(set(outs)) > 20  # dropped, shuffled and framed in many ways
    assert any(o.split()[:2] != ["which", "light"] for o in outs)
    assert any(len(o.split()) < 8 for o in outs)  # some words left out
    # A question with no naming word cannot be reworded safely: it stays whole.
    assert reword("Is this the clip?", keys, phrases, rng) == "is this the clip"


@pytest.mark.slow
def test_rewordings_speak_train_questions_only_in_train_voices(spoken: Path):
    train = load_jsonl(spoken / "splits/train.jsonl")
    questions = by_type(train)
    held = {r["question_type"]: r["question"] for r in load_jsonl(spoken / "splits/test.jsonl")}
    assert build_rewordings(spoken, 24, workers=1, seed=3) > 0
    recs = load(spoken, "rewordings", ("id", "question", "audio", "voice", "question_type"))
    assert 0 < len(recs) <= 24
    keys = key_words(questions)
    extra = {w for p in shared_phrases(questions) for w in p.split()}
    names = set(POOLS["espeak"]["train"].names)
    for r in recs:
        heard = {w for q in questions[r["question_type"]] for w in words_of(q)}
        assert set(r["question"].split()) <= heard | extra
        named = keys & heard
        assert not named or named & set(r["question"].split())
        assert r["question"] != " ".join(words_of(held.get(r["question_type"], "")))
        assert r["voice"].split(":")[1] in names and audio_ok(spoken / r["audio"])
    grouped = load_rewordings(spoken)
    assert sum(map(len, grouped.values())) == len(recs)
    assert build_rewordings(spoken, 24, workers=1, seed=3) == 0  # kept


def test_reframe_swaps_the_naming_words_into_another_types_sentence():
    keys = key_words(QUESTIONS)
    # "dye visible" (dye's) out; "scope nbi mode" (nbi's) where "dye" stood
    out = reframe("Is the scope in NBI mode?", "Is dye visible in this clip?", keys)
    assert out == "is scope nbi mode in this clip"
    out = reframe("Which light mode is on in this clip?", "Is the mucosa stained?", keys)
    assert out == "is the which light mode on"
    assert reframe("Is this the clip?", "Is dye visible in this clip?", keys) is None
    assert reframe("Is the polyp small?", "Is this the clip?", keys) is None


@pytest.mark.slow
def test_framings_name_their_type_and_leave_out_the_wordings_asked(spoken: Path):
    train = load_jsonl(spoken / "splits/train.jsonl")
    p = train[0]["phrasing"]
    kept = [r for r in train if r["phrasing"] != p]
    questions = by_type(kept)
    keys = key_words(questions)
    assert build_framings(spoken, 24, leave_out=frozenset({p}), name="fr", workers=1) > 0
    recs = load(spoken, "fr", ("id", "question", "audio", "voice", "question_type"))
    assert 0 < len(recs) <= 24
    vocab = {w for r in kept for w in words_of(r["question"])}
    names = set(POOLS["espeak"]["train"].names)
    for r in recs:
        words = r["question"].split()
        assert set(words) <= vocab  # nothing of the left-out wording's own words
        own = {w for q in questions[r["question_type"]] for w in words_of(q)} & keys
        assert set(words) & keys <= own  # the only naming words are its type's
        assert r["voice"].split(":")[1] in names and audio_ok(spoken / r["audio"])

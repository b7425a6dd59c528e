"""The stranger test split: hand-written wordings apart from the grammar, the catalog and
training, spoken by flite, which never speaks in training."""

from __future__ import annotations

import shutil
from collections import Counter
from difflib import SequenceMatcher
from pathlib import Path

import pytest
import soundfile as sf
from wording_rules import reads

from data import grammar, stranger, synth, tts
from data.catalog import CATALOG, TYPE_NAMES
from data.schema import DataError, load_jsonl
from data.stranger import STRANGER

HAS_FLITE = shutil.which("flite") is not None


def _ratio(a: str, b: str) -> float:
    return SequenceMatcher(None, grammar.norm(a).split(), grammar.norm(b).split()).ratio()


def test_three_hand_written_wordings_per_type_each_asking_its_type():
    assert set(STRANGER) == set(TYPE_NAMES)
    every = [w for ws in STRANGER.values() for w in ws]
    assert len(every) == 60 and len({grammar.norm(w) for w in every}) == 60
    for name, ws in STRANGER.items():
        assert len(ws) == 3, name
        for w in ws:
            assert reads(w) == {name}, (name, w, reads(w))
            assert len(grammar.norm(w).split()) <= grammar.MAX_WORDS, w


def test_never_the_grammar_the_catalog_nor_a_near_copy_of_either():
    made = {grammar.norm(w) for t in TYPE_NAMES for w in grammar.wordings(t)}
    catalog = {grammar.norm(p) for qt in CATALOG.values() for p in qt.phrasings}
    for name, ws in STRANGER.items():
        for w in ws:
            assert grammar.norm(w) not in made | catalog, w
            # not one slot value away from a training wording either (0.8: 4 words in 5 agree)
            near = max(_ratio(w, g) for g in grammar.wordings(name))
            assert near < 0.8, (name, w, round(near, 2))
            assert max(_ratio(w, p) for p in CATALOG[name].phrasings) < 0.8, (name, w)


def test_flite_never_speaks_in_training():
    assert stranger.ENGINE not in tts.ENGINES and stranger.ENGINE not in tts.POOLS
    pooled = {n for pools in tts.POOLS.values() for pool in pools.values() for n in pool.names}
    assert not pooled & set(stranger.VOICES)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A dataset without speech: the stranger split needs only the test records."""
    out = tmp_path_factory.mktemp("stranger") / "data"
    return synth.generate(out, videos=2, samples_per_video=40, size=32, workers=1)


def test_no_stranger_wording_in_any_split(small):
    asked = {grammar.norm(r["question"]) for s in ("train", "eval", "test")
             for r in load_jsonl(small / "splits" / f"{s}.jsonl")}  # fmt: skip
    assert not asked & {grammar.norm(w) for ws in STRANGER.values() for w in ws}


@pytest.mark.skipif(not HAS_FLITE, reason="flite is not installed (apt-get install -y flite)")
def test_build_the_stranger_split_of_a_small_dataset(small):
    written = stranger.build(small, workers=2)
    test = load_jsonl(small / "splits" / "test.jsonl")
    recs = load_jsonl(small / "splits" / "stranger.jsonl")  # validated against the schema
    assert len(recs) == len(test) and written == len({r["audio"] for r in recs}) > 0
    keep = ("id", "video_id", "frames", "question_type", "answer", "short_answer", "scene")
    for r, t in zip(recs, test, strict=True):
        assert {k: r[k] for k in keep} == {k: t[k] for k in keep}  # same clips, same answers
        assert r["question"] in STRANGER[r["question_type"]]
        assert r["phrasing"] == stranger.STRANGER_PHRASING
        assert r["voice"].split(":")[:2] in [["flite", v] for v in stranger.VOICES]
        info = sf.info(str(small / r["audio"]))
        assert info.samplerate == 16_000 and info.channels == 1 and info.subtype == "PCM_16"
        assert 0.5 < info.duration < 5.0, (r["question"], info.duration)
    for name in {r["question_type"] for r in recs}:  # the three wordings in turn
        used = Counter(r["question"] for r in recs if r["question_type"] == name)
        n = sum(used.values())
        assert len(used) == min(3, n) and max(used.values()) - min(used.values()) <= 1, used
    voices = Counter(r["voice"] for r in recs)
    assert len(voices) == len(stranger.VOICES) and max(voices.values()) - min(voices.values()) <= 3

    # idempotent: nothing to redo, same bytes; a damaged recording alone is made again, the same
    before = (small / "splits" / "stranger.jsonl").read_bytes()
    wav = small / recs[0]["audio"]
    good = wav.read_bytes()
    assert stranger.build(small, workers=2) == 0
    assert (small / "splits" / "stranger.jsonl").read_bytes() == before
    wav.write_bytes(b"RIFF broken")
    assert stranger.build(small, workers=1) == 1
    assert wav.read_bytes() == good


def test_missing_flite_names_the_package_and_the_fix(small, monkeypatch, capsys):
    monkeypatch.setattr(stranger.shutil, "which", lambda _: None)
    stranger.flite_voices.cache_clear()
    try:
        with pytest.raises(tts.TTSError, match=r"apt-get install -y flite"):
            stranger.build(small)
        assert stranger.main(["--data", str(small)]) == 2
        assert "flite" in capsys.readouterr().err
    finally:
        stranger.flite_voices.cache_clear()


def test_a_dataset_without_a_test_split_is_refused(tmp_path):
    with pytest.raises(DataError, match="test.jsonl is missing"):
        stranger.build(tmp_path)

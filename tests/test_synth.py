"""The demo dataset generator: layout, schema, balance, determinism, split, idempotence."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest
from PIL import Image

from data import facts, grammar, plan, synth
from data.catalog import CATALOG, TYPE_NAMES
from data.grammar import TEST_PHRASING
from data.schema import frame_path, load_jsonl

SMALL = dict(videos=3, samples_per_video=60, size=48, workers=2)  # 180 records, seconds


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Path:
    return synth.generate(tmp_path_factory.mktemp("synth") / "demo", seed=0, **SMALL)


def _load(ds: Path) -> tuple[list[dict], dict[str, list[dict]]]:
    splits = {s: load_jsonl(ds / "splits" / f"{s}.jsonl") for s in ("train", "eval", "test")}
    return load_jsonl(ds / "samples.jsonl"), splits


def test_layout_and_schema(ds):
    samples, splits = _load(ds)
    assert len(samples) == 3 * 60
    assert sum(len(v) for v in splits.values()) == len(samples)
    for r in samples:
        assert r["frame_numbers"] == list(
            range(r["frame_numbers"][0], r["frame_numbers"][0] + 32, 4)
        )
        for f in r["frames"]:
            with Image.open(frame_path(ds / "frames", r["video_id"], f)) as im:
                assert im.size == (48, 48) and im.format == "JPEG"
        qt = CATALOG[r["question_type"]]
        assert r["answer"] == qt.answers[r["short_answer"]]
        key = f"{r['video_id']}/{r['id']}"
        if r["phrasing"] == TEST_PHRASING:  # the test video: the held-out phrasing as written
            assert r["question"] == qt.phrasings[TEST_PHRASING]
        else:  # a grammar or catalog train wording, said as people say it half the time
            bare = grammar.draw(r["question_type"], key)
            assert bare in grammar.wordings(r["question_type"])
            assert r["phrasing"] == grammar.phrasing_index(r["question_type"], bare)
            assert r["question"] == grammar.natural(bare, key)
        # the answer is what the clip's scene shows, and the caption describes that scene
        assert facts.answer_of(r["question_type"], r["scene"]) == r["short_answer"]
        assert r["caption"] == facts.caption(r["scene"])


def test_every_type_balanced(ds):
    samples, _ = _load(ds)
    per_type = defaultdict(Counter)
    for r in samples:
        per_type[r["question_type"]][r["short_answer"]] += 1
    assert set(per_type) == set(TYPE_NAMES)
    for name, counts in per_type.items():
        assert set(counts) == set(CATALOG[name].options), name
        assert max(counts.values()) - min(counts.values()) <= 1, (name, counts)


def test_default_plan_size_and_balance():
    records, jobs = plan.build_records(plan.Config())  # plan only: no pixels
    assert len(records) == 6 * 1280
    assert len({(r["video_id"], r["id"]) for r in records}) == len(records)
    counts = Counter((r["question_type"], r["short_answer"]) for r in records)
    for name in TYPE_NAMES:
        c = [counts[(name, o)] for o in CATALOG[name].options]
        assert max(c) - min(c) <= 1, (name, c)
    assert len(jobs) < len(records) / 3  # most clips carry several questions


def test_clip_records_share_frames_and_split(ds):
    samples, splits = _load(ds)
    where = {(r["video_id"], r["id"]): s for s, recs in splits.items() for r in recs}
    by_clip = defaultdict(list)
    for r in samples:
        by_clip[(r["video_id"], tuple(r["frames"]))].append(where[(r["video_id"], r["id"])])
    assert all(len(set(s)) == 1 for s in by_clip.values())  # a clip's records stay together
    assert max(len(s) for s in by_clip.values()) > 1  # and clips do carry several questions
    # clips of one video never overlap in time
    for v in {r["video_id"] for r in samples}:
        starts = sorted({r["frame_numbers"][0] for r in samples if r["video_id"] == v})
        assert all(b - a > 28 for a, b in zip(starts, starts[1:], strict=False))


def test_heldout_video_and_phrasing(ds):
    _, splits = _load(ds)
    test_video = plan.video_ids(3)[-1]
    assert {r["video_id"] for r in splits["test"]} == {test_video}
    assert {r["phrasing"] for r in splits["test"]} == {plan.TEST_PHRASING}
    for r in splits["test"]:
        assert r["question"] == CATALOG[r["question_type"]].phrasings[plan.TEST_PHRASING]
    held = {grammar.norm(CATALOG[t].phrasings[plan.TEST_PHRASING]) for t in TYPE_NAMES}
    for s in ("train", "eval"):
        assert splits[s], s
        assert test_video not in {r["video_id"] for r in splits[s]}
        assert plan.TEST_PHRASING not in {r["phrasing"] for r in splits[s]}
        assert not {grammar.norm(r["question"]) for r in splits[s]} & held
        # the grammar's draw for the record's key (said naturally half the time)
        for r in splits[s]:
            key = f"{r['video_id']}/{r['id']}"
            bare = grammar.draw(r["question_type"], key, seed=0)
            assert r["question"] == grammar.natural(bare, key, seed=0)
    asked = [r for s in ("train", "eval") for r in splits[s]]
    assert len({r["question"] for r in asked}) > 0.9 * len(asked)  # hardly a wording twice


def test_same_seed_same_bytes(ds, tmp_path):
    again = synth.generate(tmp_path / "again", seed=0, **SMALL)
    for rel in ("samples.jsonl", "splits/train.jsonl", "splits/eval.jsonl", "splits/test.jsonl"):
        assert (again / rel).read_bytes() == (ds / rel).read_bytes(), rel
    other = synth.generate(tmp_path / "other", seed=1, **SMALL)
    assert (other / "samples.jsonl").read_bytes() != (ds / "samples.jsonl").read_bytes()


def test_rerun_restores_deleted_and_corrupt_frames(tmp_path):
    out = synth.generate(tmp_path / "d", seed=3, videos=2, samples_per_video=20, size=32)
    samples = load_jsonl(out / "samples.jsonl")
    paths = sorted(
        {frame_path(out / "frames", r["video_id"], f) for r in samples for f in r["frames"]}
    )
    gone, bad, kept = paths[0], paths[9], paths[-1]
    gone.unlink()
    bad.write_bytes(b"not a jpeg")
    kept_mtime = kept.stat().st_mtime_ns
    before = (out / "samples.jsonl").read_bytes()
    synth.generate(out, seed=3, videos=2, samples_per_video=20, size=32)
    for p in (gone, bad):
        with Image.open(p) as im:
            im.load()
            assert im.size == (32, 32)
    assert kept.stat().st_mtime_ns == kept_mtime  # valid frames are not re-rendered
    assert (out / "samples.jsonl").read_bytes() == before
    assert not list(out.rglob("*.tmp"))


def test_rerun_keeps_speech_fields(tmp_path):
    out = synth.generate(tmp_path / "d", seed=4, videos=2, samples_per_video=20, size=32)
    samples = load_jsonl(out / "samples.jsonl")
    for r in samples:
        r["audio"], r["voice"] = "audio/x.wav", "espeak:en-us+m1:r160:p50"
    from data.schema import write_jsonl

    write_jsonl(out / "samples.jsonl", samples)
    synth.generate(out, seed=4, videos=2, samples_per_video=20, size=32)
    assert all(r.get("audio") == "audio/x.wav" for r in load_jsonl(out / "samples.jsonl"))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="size"):
        synth.generate(tmp_path, size=1000)
    with pytest.raises(ValueError, match="2 videos"):
        synth.generate(tmp_path, videos=1)


def test_contact_sheet(tmp_path):
    path = synth.contact_sheet(tmp_path / "sheet.jpg", size=32)
    with Image.open(path) as im:
        assert im.height == 32 * len(TYPE_NAMES) and im.width > 8 * 32


def test_cli(tmp_path):
    rc = synth.main(
        [
            "--out",
            str(tmp_path / "c"),
            "--videos",
            "2",
            "--samples-per-video",
            "20",
            "--size",
            "32",
            "--workers",
            "1",
        ]
    )
    assert rc == 0 and len(load_jsonl(tmp_path / "c" / "samples.jsonl")) == 40


def test_test_wording_is_never_a_training_wording():
    """The held-out phrasing differs from every training phrasing of every type (case and
    punctuation ignored), and every type has as many phrasings to train on."""
    import re

    def norm(s: str) -> str:
        return re.sub(r"[^a-z ]", "", s.lower()).strip()

    train = {norm(t.phrasings[i]) for t in CATALOG.values() for i in plan.TRAIN_PHRASINGS}
    for name, qt in CATALOG.items():
        assert norm(qt.phrasings[plan.TEST_PHRASING]) not in train, name
        assert len({norm(p) for p in qt.phrasings}) == len(qt.phrasings), name
    assert len(plan.TRAIN_PHRASINGS) >= 8 and plan.TEST_PHRASING not in plan.TRAIN_PHRASINGS


def test_training_wordings_stay_apart_from_the_test_wording():
    """No training wording is a near-copy of its type's held-out wording: at most 2/3 of the
    words in sequence (difflib over words) may agree, so the test phrasing stays unheard."""
    import re
    from difflib import SequenceMatcher

    def words(s: str) -> list[str]:
        return re.sub(r"[^a-z0-9 ]", "", s.lower()).split()

    for name, qt in CATALOG.items():
        held = words(qt.phrasings[plan.TEST_PHRASING])
        for i in plan.TRAIN_PHRASINGS:
            ratio = SequenceMatcher(None, words(qt.phrasings[i]), held).ratio()
            assert ratio < 0.7, (name, qt.phrasings[i], round(ratio, 2))


def test_grounding_is_a_caption_segment_that_decides_the_answer(ds):
    """A grounded answer says the part of the caption it rests on: that part alone must fix
    the answer (one answer per type and grounding, across every record)."""
    samples, _ = _load(ds)
    answers = defaultdict(set)
    for r in samples:
        g = facts.grounding(r["question_type"], r["caption"])
        assert g in r["caption"].rstrip(".").split(". ")
        answers[r["question_type"], g].add(r["short_answer"])
    assert {t for t, _ in answers} == set(TYPE_NAMES)
    assert all(len(a) == 1 for a in answers.values()), answers
    assert facts.grounding("lesion_screen_position", facts.caption(
        samples[0]["scene"] | {"view": "normal", "lesion": True, "quadrant": "upper-left"}
    )) == "lesion upper left"  # fmt: skip
    with pytest.raises(ValueError, match="no single segment"):
        facts.grounding("lesion_site", "scope outside the patient.")


def test_heard_compares_the_kind_of_fact_a_grounded_answer_names():
    from data.facts import heard

    caption = (
        "scope advancing. site rectum. lesion upper left. motion up. size <5. adenoma. "
        "tool none. nbi yes. dye no. flush no. shaft no."
    )
    rec = {"question_type": "lighting_mode", "caption": caption}
    assert heard(rec, "nbi no") == {"grounding": "nbi no", "grounding_expected": "nbi yes",
                                    "heard": True}  # fmt: skip
    assert heard(rec, "scope advancing")["heard"] is False
    histology = {"question_type": "lesion_histology_extended", "caption": caption}
    assert heard(histology, "hyperplastic")["heard"] is True
    assert heard(histology, "lesion upper left")["heard"] is False
    assert heard(rec, "") == {}  # nothing said before the answer: no verdict
    # given the answer, it must be one the asked question allows: types that rest on one
    # segment (the tool naming and the catheter check) tell apart only by it
    assert heard(rec, "nbi no", "NBI")["heard"] is True
    assert heard(rec, "nbi no", "yes")["heard"] is False  # answers the NBI check
    tool = {"question_type": "tool_identification", "caption": caption.replace("none", "snare")}
    assert heard(tool, "tool snare", "snare")["heard"] is True
    assert heard(tool, "tool snare", "no")["heard"] is False
    assert heard(tool, "tool snare", "snare or forceps")["heard"] is False  # no single option
    assert heard({"question_type": "lighting_mode"}, "nbi yes") == {"grounding": "nbi yes"}

"""Training data: SpecAugment masks stay inside the speech, vary per item, and leave the
evaluation data (and the cache they are drawn from) untouched; spoken rewordings stand in for
a training item's audio only when asked to."""

from __future__ import annotations

import random

import pytest
import torch

from training.dataset import SpecAugment


def test_time_masks_fall_inside_the_speech_and_fill_with_its_mean():
    feats = torch.randn(1, 16, 300)
    aug = SpecAugment(time_masks=3, time_width=20)
    out = aug(feats, frames=100, rng=random.Random(0))
    assert out.shape == feats.shape
    assert torch.equal(out[..., 100:], feats[..., 100:])  # padding never touched
    changed = (out != feats).any(dim=1).squeeze(0)
    assert 0 < int(changed.sum()) <= 3 * 20
    fill = feats[..., :100].mean()
    assert torch.allclose(out[..., changed], fill.expand_as(out[..., changed]))
    assert torch.equal(feats, feats.clone())  # the input (a cached tensor) is not modified


def test_freq_masks_cover_whole_bands_of_the_speech_only():
    feats = torch.randn(1, 16, 300)
    out = SpecAugment(freq_masks=1, freq_width=4)(feats, frames=120, rng=random.Random(3))
    rows = (out[0, :, :120] != feats[0, :, :120]).all(dim=1)
    assert 1 <= int(rows.sum()) <= 4  # whole bands over the speech
    assert torch.equal(out[..., 120:], feats[..., 120:])


def test_no_masks_is_off_and_the_identity():
    aug = SpecAugment()
    assert not aug
    feats = torch.randn(1, 8, 50)
    assert torch.equal(aug(feats, 50, random.Random(0)), feats)


@pytest.mark.slow
def test_training_items_are_masked_afresh_each_time_eval_items_never(spoken, tiny_checkpoint):
    from data.schema import load_jsonl
    from model.processor import GraftProcessor
    from training.dataset import CachedProcessor, QADataset

    proc = CachedProcessor(GraftProcessor.from_pretrained(tiny_checkpoint))
    recs = load_jsonl(spoken / "splits" / "train.jsonl")[:2]
    aug = SpecAugment(time_masks=2, time_width=30, freq_masks=1)
    train = QADataset(recs, spoken, proc, seed=0, augment=aug)
    plain = QADataset(recs, spoken, proc)
    clean = plain[0]["input_features"]
    first, second = train[0]["input_features"], train[0]["input_features"]
    assert not torch.equal(first, clean) and not torch.equal(first, second)
    assert torch.equal(plain[0]["input_features"], clean)  # the shared cache is intact
    frames = 2 * int(plain[0]["audio_lengths"][0])
    assert torch.equal(first[..., frames:], clean[..., frames:])


@pytest.mark.slow
def test_rewordings_replace_the_audio_of_training_items_only(spoken, tiny_checkpoint):
    from data.schema import load_jsonl
    from data.words import build_rewordings, load_rewordings
    from model.processor import GraftProcessor
    from training.dataset import CachedProcessor, QADataset

    build_rewordings(spoken, 40, workers=1, seed=5)
    found = load_rewordings(spoken)
    proc = CachedProcessor(GraftProcessor.from_pretrained(tiny_checkpoint))
    recs = [r for r in load_jsonl(spoken / "splits" / "train.jsonl") if r["question_type"] in found]
    rec = recs[0]
    own = QADataset([rec], spoken, proc)[0]["input_features"]
    always = QADataset([rec], spoken, proc, rewordings=found, reworded_mix=0.99, seed=1)
    theirs = [proc.sounds[a][0].float() for a in found[rec["question_type"]]]  # now cached
    heard = [always[0] for _ in range(20)]
    assert sum(any(torch.equal(h["input_features"], t) for t in theirs) for h in heard) >= 15
    assert all(h["labels"][h["labels"] != -100].numel() > 0 for h in heard)  # same answer
    never = QADataset([rec], spoken, proc, rewordings=found)  # no mix: the record's own audio
    assert all(torch.equal(never[0]["input_features"], own) for _ in range(5))
    caption = QADataset([rec], spoken, proc, target="caption", rewordings=found, reworded_mix=0.99)
    assert torch.equal(caption[0]["input_features"], own)  # its target spells the own wording
    # text mode reads the rewordings' texts instead of the record's question
    texts = load_rewordings(spoken, "question")
    read = QADataset([rec], spoken, proc, mode="text", rewordings=texts, reworded_mix=0.99)
    plain = QADataset([rec], spoken, proc, mode="text")[0]["input_ids"]
    said = [proc.tokenizer.decode(read[0]["input_ids"][0]) for _ in range(20)]
    assert sum(any(t in s for t in texts[rec["question_type"]]) for s in said) >= 15
    assert rec["question"] in proc.tokenizer.decode(plain[0])


def test_grounded_target_says_the_caption_segment_then_the_answer():
    from data.schema import DataError
    from training.dataset import target_text

    caption = "scope still. site rectum. no lesion. tool none. nbi yes. dye no."
    rec = {"id": "q", "video_id": "v", "question_type": "lighting_mode", "short_answer": "NBI",
           "caption": caption}  # fmt: skip
    assert target_text(rec, "grounded") == "nbi yes: NBI"
    assert target_text(rec, "short") == "NBI"
    with pytest.raises(DataError, match="no 'caption'"):
        target_text({**rec, "caption": ""}, "grounded")


def test_precompute_names_every_unusable_recording_and_keeps_the_good_ones(
    tiny_checkpoint, tmp_path
):
    import numpy as np
    import soundfile as sf

    from data.schema import DataError
    from model.processor import GraftProcessor
    from training.dataset import CachedProcessor, precompute

    proc = CachedProcessor(GraftProcessor.from_pretrained(tiny_checkpoint))
    (tmp_path / "audio").mkdir()
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(16_000 * 7) / 16_000)
    sf.write(tmp_path / "audio" / "ok.wav", tone[:16_000], 16_000)
    sf.write(tmp_path / "audio" / "long.wav", tone, 16_000)  # 7 s: over the 5 s window
    (tmp_path / "audio" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    recs = [
        {"id": f"q{i}", "video_id": "v", "audio": f"audio/{name}.wav"}
        for i, name in enumerate(("ok", "long", "broken"))
    ]
    with pytest.raises(DataError, match=r"2 unusable recording\(s\): .*q1.*long\.wav.*q2.*broken"):
        precompute(proc, tmp_path, recs)
    assert set(proc.sounds) == {"audio/ok.wav"}  # the usable one is cached, not lost


def test_augmented_copies_are_new_hearings_of_the_same_questions(spoken, tiny_checkpoint):
    from data.schema import load_jsonl
    from model.processor import GraftProcessor
    from training.dataset import CachedProcessor, QADataset, augmented_copies, precompute

    proc = CachedProcessor(GraftProcessor.from_pretrained(tiny_checkpoint))
    recs = load_jsonl(spoken / "splits" / "train.jsonl")[:3]
    precompute(proc, spoken, recs)
    extra = augmented_copies(proc, spoken, recs, copies=2, seed=0)
    assert [r["audio"] for r in extra] == [f"{r['audio']}#aug{k}" for k in (1, 2) for r in recs]
    assert [r["question"] for r in extra] == [r["question"] for r in recs] * 2  # same targets
    for r in extra:
        clean = proc.sounds[r["audio"].split("#")[0]][0]
        assert not torch.equal(proc.sounds[r["audio"]][0], clean)  # another hearing
    item = QADataset(extra[:1], spoken, proc)[0]  # the training loop takes them as they are
    assert torch.equal(item["input_features"], proc.sounds[extra[0]["audio"]][0].float())
    before = {r["audio"]: proc.sounds[r["audio"]][0] for r in extra}
    again = augmented_copies(proc, spoken, recs, copies=2, seed=7)  # cached: not redrawn
    assert all(proc.sounds[r["audio"]][0] is before[r["audio"]] for r in again)


def test_augmented_copies_of_a_question_near_the_window_stay_inside_it(tiny_checkpoint, tmp_path):
    import numpy as np
    import soundfile as sf

    from model.processor import GraftProcessor
    from training.dataset import CachedProcessor, augmented_copies

    proc = CachedProcessor(GraftProcessor.from_pretrained(tiny_checkpoint))
    sr, secs = 16_000, proc.max_seconds - 0.1  # slowed to 0.9x it would outlast the window
    t = np.arange(int(sr * secs)) / sr
    sf.write(tmp_path / "long.wav", 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(9 * t)), sr)
    extra = augmented_copies(proc, tmp_path, [{"audio": "long.wav"}], copies=6, seed=0)
    assert len(extra) == 6 and all(r["audio"] in proc.sounds for r in extra)

"""Training data: targets, the cache of clips and recordings, and a frozen encoder's outputs
served in place of its input (the same loss, the encoder run once per recording)."""

from __future__ import annotations

import pytest
import torch


@pytest.mark.slow
def test_a_frozen_encoders_cached_outputs_give_the_loss_its_input_gives(spoken, tmp_path):
    """CachedProcessor(encoder=...) keeps encoder(mel)[:, :n] per recording; the batch then
    carries audio_hidden instead of input_features, and the model's loss is the same."""
    from data.schema import load_jsonl
    from model.checkpoint import load_checkpoint
    from model.processor import GraftProcessor
    from model.tiny import build
    from training.dataset import CachedProcessor, Collator, QADataset

    ckpt = build(tmp_path / "c", audio_trainable=False)  # a random encoder, frozen
    model, base = load_checkpoint(ckpt, "cpu")
    recs = load_jsonl(spoken / "splits" / "train.jsonl")[:3]
    plain = CachedProcessor(GraftProcessor.from_pretrained(ckpt))
    heard = CachedProcessor(base, encoder=model.audio_encoder)
    a = Collator(plain)([QADataset(recs, spoken, plain)[i] for i in range(3)])
    b = Collator(heard)([QADataset(recs, spoken, heard)[i] for i in range(3)])
    assert "audio_hidden" in b and "input_features" not in b and "input_features" in a
    n = int(b["audio_lengths"][0])
    (cached, lengths), *more = heard.sounds[recs[0]["audio"]]
    assert cached.shape == (1, n, model.audio_encoder.config.d_model) and lengths == [n]
    assert not more  # no room copies asked for: the clean take only
    assert b["audio_hidden"].shape[1] == int(b["audio_lengths"].max())  # padded to the longest
    with torch.no_grad():
        la, lb = model(**a).loss, model(**b).loss
    torch.testing.assert_close(la, lb, atol=2e-3, rtol=2e-3)  # float16 cache


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
    sf.write(tmp_path / "audio" / "long.wav", tone, 16_000)  # 7 s: two windows, heard
    sf.write(tmp_path / "audio" / "silent.wav", 0 * tone[:16_000], 16_000)
    (tmp_path / "audio" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    recs = [
        {"id": f"q{i}", "video_id": "v", "audio": f"audio/{name}.wav"}
        for i, name in enumerate(("ok", "long", "silent", "broken"))
    ]
    with pytest.raises(DataError, match=r"2 unusable recording\(s\): .*q2.*silent.*q3.*broken"):
        precompute(proc, tmp_path, recs)
    assert set(proc.sounds) == {"audio/ok.wav", "audio/long.wav"}  # the usable ones are kept
    feats, lengths = proc.sounds["audio/long.wav"][0]
    assert feats.shape[0] == len(lengths) == 2 and abs(sum(lengths) - 350) <= 1  # 50 a second


def test_room_copies_are_cached_beside_the_clean_take_and_served_in_turn(tiny_checkpoint, tmp_path):
    """room_copies=2: each recording holds its clean take and two room copies (data.room), the
    copies differ from the clean features, and each use serves one of the three."""
    import numpy as np
    import soundfile as sf

    from model.processor import GraftProcessor
    from training.dataset import CachedProcessor, precompute

    proc = CachedProcessor(GraftProcessor.from_pretrained(tiny_checkpoint))
    (tmp_path / "audio").mkdir()
    t = np.arange(16_000 * 2) / 16_000
    for f in (220, 330):
        speechy = 0.3 * np.sin(2 * np.pi * f * t) * (1 + np.sin(2 * np.pi * 3 * t))
        sf.write(tmp_path / "audio" / f"{f}.wav", speechy, 16_000)
    recs = [{"id": f"q{f}", "video_id": "v", "audio": f"audio/{f}.wav"} for f in (220, 330)]
    precompute(proc, tmp_path, recs, room_copies=2)
    takes = proc.sounds["audio/220.wav"]
    assert len(takes) == 3
    clean = takes[0][0].float()
    assert all(
        not torch.allclose(x.float()[..., :50], clean[..., :50], atol=1e-2) for x, _ in takes[1:]
    )
    served = {float(proc.audio_features("audio/220.wav")[0].sum()) for _ in range(30)}
    assert len(served) > 1  # not always the same take

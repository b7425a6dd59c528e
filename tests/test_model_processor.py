"""GraftProcessor: prompt layout, label masking, audio decoding and its errors, collate."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from model.audio import AudioError, load_audio, windows
from model.config import GraftConfig
from model.constants import (
    AUDIO_END,
    AUDIO_PAD,
    AUDIO_START,
    IGNORE_INDEX,
    IM_END,
    IMAGE_PAD,
    VISION_START,
)
from model.processor import GraftProcessor


def clip(seed: int = 0, n: int = 8, size: tuple[int, int] = (112, 112)) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
        for _ in range(n)
    ]


def tone(freq: float = 440.0, seconds: float = 2.0, sr: int = 16_000) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def encoded(y: np.ndarray, sr: int, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def proc(tiny_checkpoint) -> GraftProcessor:
    return GraftProcessor.from_pretrained(tiny_checkpoint)


def test_prompt_layout_and_labels(proc):
    answer = "The scope is primarily advancing."
    out = proc(clip(), audio=tone(), answer=answer)
    ids = out["input_ids"][0].tolist()
    tok = proc.tokenizer
    # Frames, then the audio block, then the assistant turn; no question text.
    assert ids.count(proc.ids[VISION_START]) == 8
    n_img = int(out["image_grid_thw"].prod(-1).sum()) // proc.merge**2
    assert ids.count(proc.ids[IMAGE_PAD]) == n_img == 8 * 16
    assert ids.count(proc.ids[AUDIO_PAD]) == 100  # 2 s at 50 frames/s
    assert ids.index(proc.ids[AUDIO_START]) > max(
        i for i, t in enumerate(ids) if t == proc.ids[IMAGE_PAD]
    )
    assert int(out["audio_lengths"][0]) == 100
    text = tok.decode(ids)
    assert text.startswith("<|im_start|>user\n<|vision_start|>")
    assert text.endswith(f"{AUDIO_END}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>")
    # Labels: -100 everywhere but the answer and its closing <|im_end|>.
    labels = out["labels"][0]
    keep = labels != IGNORE_INDEX
    n = int(keep.sum())
    assert keep[-n:].all() and not keep[:-n].any()
    assert labels[keep].tolist() == tok.encode(answer, add_special_tokens=False) + [
        proc.ids[IM_END]
    ]
    assert torch.equal(labels[keep], out["input_ids"][0][keep])
    # mm_token_type_ids: 1 exactly on image placeholders (audio counts as text).
    types = out["mm_token_type_ids"][0]
    assert torch.equal(types.bool(), out["input_ids"][0] == proc.ids[IMAGE_PAD])


def test_text_mode_and_generation_prompt(proc):
    q = "Is the scope moving?"
    out = proc(clip(), question=q)
    text = proc.tokenizer.decode(out["input_ids"][0])
    assert "labels" not in out and "input_features" not in out
    assert text.endswith(f"<|vision_end|>{q}<|im_end|>\n<|im_start|>assistant\n")
    ids = out["input_ids"][0].tolist()
    n = proc.prefix_length(out["input_ids"])
    assert ids[n - 1] == proc.tokenizer.convert_tokens_to_ids("<|vision_end|>")
    assert proc.tokenizer.decode(ids[n:]).startswith(q)
    with pytest.raises(ValueError, match="exactly one"):
        proc(clip(), audio=tone(), question=q)
    with pytest.raises(ValueError, match="exactly one"):
        proc(clip())


def test_frames_any_size_bounded_by_max_side(proc):
    out = proc(clip(size=(640, 480), n=3), question="x")
    grid = out["image_grid_thw"]
    assert grid.shape == (3, 3)
    h, w = grid[0, 1].item() * 14, grid[0, 2].item() * 14
    assert max(h, w) <= proc.cfg.image_max_side and w > h
    with pytest.raises(ValueError, match="no frames"):
        proc([], question="x")
    with pytest.raises(ValueError, match="frame 1: expected a PIL image"):
        proc([clip(n=1)[0], "x.jpg"], question="x")


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG", "MP3"])
def test_formats_decode_to_16k_mono(fmt):
    y = tone(440, 1.0, 16_000)
    back = load_audio(encoded(y, 16_000, fmt))
    assert back.dtype == np.float32 and back.ndim == 1
    assert abs(back.size - y.size) < 2000  # codecs may pad a frame
    spec = np.abs(np.fft.rfft(back))
    assert abs(np.fft.rfftfreq(back.size, 1 / 16_000)[spec.argmax()] - 440) < 5


def test_stereo_8k_is_averaged_and_resampled(tmp_path):
    left = tone(300, 1.5, 8_000)
    stereo = np.stack([left, left * 0.5], axis=1)
    path = tmp_path / "q.wav"
    sf.write(path, stereo, 8_000, subtype="PCM_16")
    for src in (path, str(path), path.read_bytes()):
        y = load_audio(src)
        assert y.ndim == 1 and abs(y.size - 24_000) <= 1  # 1.5 s at 16 kHz
        spec = np.abs(np.fft.rfft(y))
        assert abs(np.fft.rfftfreq(y.size, 1 / 16_000)[spec.argmax()] - 300) < 3
        assert abs(np.abs(y).max() - 0.3 * 0.75) < 0.02  # mean of the two channels
    # A raw array at another rate, channels first; 16-bit PCM integers; a file object.
    y = load_audio(stereo.T.copy(), sr=8_000)
    assert abs(y.size - 24_000) <= 1
    pcm = (left * 32767).astype(np.int16)
    assert abs(np.abs(load_audio(pcm, sr=8_000)).max() - 0.3) < 0.02
    with open(path, "rb") as f:
        assert load_audio(f).size == y.size


def test_bad_audio_errors(proc, tmp_path):
    with pytest.raises(AudioError, match="cannot decode"):
        load_audio(b"RIFF\x00\x00garbage that is no wav at all")
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(AudioError, match="broken.wav: cannot decode"):
        load_audio(bad)
    with pytest.raises(AudioError, match="no such audio file"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="empty"):
        load_audio(b"")
    with pytest.raises(AudioError, match="empty"):
        load_audio(np.zeros(0, dtype=np.float32))
    with pytest.raises(AudioError, match="NaN"):
        load_audio(np.full(100, np.nan, dtype=np.float32))
    with pytest.raises(AudioError, match="silent"):
        proc(clip(), audio=np.zeros(16_000, dtype=np.float32))
    with pytest.raises(AudioError, match="silent"):
        proc(clip(), audio=tone(seconds=1.0) * 1e-4)  # -80 dBFS hiss
    assert proc.window_seconds == 5 and proc.max_seconds == 30  # 5 s windows, 30 s heard
    with pytest.raises(AudioError, match="over the longest question of 30 s"):
        proc(clip(), audio=tone(seconds=30.5))
    assert proc(clip(), audio=tone(seconds=5))["audio_lengths"].tolist() == [250]


def test_speech_longer_than_the_window_is_heard_window_by_window(proc):
    """12 s of speech: three windows of at most 5 s, cut in the pauses, whose kept frames add
    up to the speech's 50 a second; the audio tokens grow with the speech, not the window."""
    sr = 16_000
    word = tone(seconds=0.8)
    pause = np.zeros(int(0.4 * sr), dtype=np.float32)
    y = np.concatenate([word, pause] * 10)  # 12 s: a pause every 1.2 s
    out = proc(clip(), audio=y)
    lengths = out["audio_lengths"].tolist()
    assert out["input_features"].shape[0] == len(lengths) == out["audio_windows"].item() == 3
    assert all(n <= 250 for n in lengths) and abs(sum(lengths) - 600) <= len(lengths)
    assert int((out["input_ids"] == proc.ids[AUDIO_PAD]).sum()) == proc.audio_tokens(sum(lengths))
    short = proc(clip(), audio=y[: 3 * sr])
    assert short["audio_windows"].item() == 1 and short["audio_lengths"].tolist() == [150]


def test_windows_cut_in_pauses_and_lose_nothing():
    sr = 16_000
    y = np.concatenate([tone(seconds=4.5), np.zeros(sr // 2, "f4"), tone(seconds=4.0)])
    pieces = windows(y, 5 * sr, sr)
    assert [p.size for p in pieces][0] > 4.5 * sr  # the cut falls in the pause, not a word
    assert np.array_equal(np.concatenate(pieces), y) and all(p.size <= 5 * sr for p in pieces)
    assert len(windows(y[: 5 * sr], 5 * sr, sr)) == 1
    loud = tone(seconds=12.0)  # no pause: cut anyway, never longer than a window
    assert all(p.size <= 5 * sr for p in windows(loud, 5 * sr, sr))
    # as few windows as hold the speech: 10 s is two (a pause-first cut would make three)
    assert [p.size for p in windows(tone(seconds=10.0), 5 * sr, sr)] == [5 * sr, 5 * sr]
    assert len(windows(tone(seconds=12.0), 5 * sr, sr)) == 3
    with pytest.raises(ValueError, match="search"):
        windows(y, 5 * sr, 6 * sr)


def test_collate_padding_sides(proc):
    a = proc(clip(1), audio=tone(seconds=1.0), answer="yes")
    b = proc(clip(2), audio=tone(seconds=2.0), answer="The scope is primarily advancing.")
    la, lb = a["input_ids"].shape[1], b["input_ids"].shape[1]
    assert la < lb
    right = proc.collate([a, b])
    assert right["input_ids"].shape == (2, lb)
    assert torch.equal(right["input_ids"][0, :la], a["input_ids"][0])
    assert (right["input_ids"][0, la:] == proc.pad_id).all()
    assert (right["attention_mask"][0, la:] == 0).all() and right["attention_mask"][1].all()
    assert (right["labels"][0, la:] == IGNORE_INDEX).all()
    assert right["pixel_values"].shape[0] == a["pixel_values"].shape[0] * 2
    assert right["image_grid_thw"].shape == (16, 3)
    assert right["input_features"].shape[0] == 2 and right["audio_lengths"].tolist() == [50, 100]
    assert right["audio_windows"].tolist() == [1, 1]
    left = proc.collate([a, b], padding_side="left")
    assert torch.equal(left["input_ids"][0, lb - la :], a["input_ids"][0])
    assert (left["attention_mask"][0, : lb - la] == 0).all()
    assert (left["mm_token_type_ids"][0, : lb - la] == 0).all()
    t = proc(clip(1), question="Is it?")
    with pytest.raises(ValueError, match="mixed"):
        proc.collate([a, t])
    with pytest.raises(ValueError, match="padding_side"):
        proc.collate([a], padding_side="middle")


def test_config_json_round_trip(tmp_path):
    cfg = GraftConfig(audio_tokens="trim+pool:4", projector="mlp2x_gelu")
    assert cfg.pool == 4 and cfg.trim
    cfg.save(tmp_path)
    back = GraftConfig.from_json(tmp_path)
    assert back == cfg
    assert GraftConfig(audio_tokens="full").trim is False
    with pytest.raises(ValueError, match="audio_tokens"):
        GraftConfig(audio_tokens="trim+pool:0")
    with pytest.raises(ValueError, match="projector"):
        GraftConfig(projector="qformer")
    with pytest.raises(ValueError, match="unknown GraftConfig keys"):
        GraftConfig.from_dict({"base_model": "x", "colour": "red"})


def test_audio_peak_makes_features_independent_of_the_recording_level(proc):
    """audio_peak (set by model.tiny): a quiet or loud take of the same speech gives the same
    encoder input; without it the level changes the features (the tiny encoder never heard
    other levels: a 0.25x take cost the demo model half its accuracy)."""
    import dataclasses

    y = tone(seconds=1.5) + 0.05 * np.random.default_rng(0).standard_normal(24_000).astype("f4")
    assert proc.cfg.audio_peak == pytest.approx(0.89)
    ref = proc.audio_features(y)[0]
    for gain in (0.05, 0.25, 2.5):
        assert torch.allclose(proc.audio_features(y * gain)[0], ref, atol=1e-4), gain
    raw = GraftProcessor(
        proc.tokenizer,
        proc.image_processor,
        proc.feature_extractor,
        dataclasses.replace(proc.cfg, audio_peak=None),
    )
    assert not torch.allclose(raw.audio_features(y * 0.25)[0], raw.audio_features(y)[0], atol=0.1)
    with pytest.raises(ValueError, match="audio_peak"):
        GraftConfig(audio_peak=1.5)

"""Predictor on the tiny checkpoint: answers, per-clip prefix cache equality, errors, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from model import Answer, AudioError, Predictor
from model.predictor import frames_key


def clip(seed: int, n: int = 8) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)) for _ in range(n)]


def tone(freq: float, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(16_000 * seconds)) / 16_000
    return (0.3 * np.sin(2 * np.pi * freq * t) * np.hanning(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def pred(tiny_checkpoint) -> Predictor:
    p = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    with torch.no_grad():  # non-zero vision positions, so a cache mix-up would show
        for w in p.graft.vision_pos.parameters():
            w.normal_(0, 0.5)
    return p


def test_answer_fields(pred):
    pred.clear_cache()
    a = pred.answer(clip(0), tone(300), use_cache=False)
    assert isinstance(a, Answer) and isinstance(a.text, str)
    assert a.audio_tokens == 75 and a.vision_tokens == 8 * 12  # 1.5 s; 84x112 px frames
    assert a.latency_ms > 0 and not a.cached_prefix and a.mode == "audio"
    assert 0 < a.new_tokens <= pred.max_new_tokens
    t = pred.answer_text(clip(0), "Is the scope moving?", use_cache=False)
    assert t.mode == "text" and t.audio_tokens == 0


def test_prefix_cache_gives_identical_answers(pred):
    pred.clear_cache()
    frames = clip(1)
    first = pred.answer(frames, tone(250))
    assert not first.cached_prefix
    for freq in (250, 600, 900):
        cached = pred.answer(frames, tone(freq))
        plain = pred.answer(frames, tone(freq), use_cache=False)
        assert cached.cached_prefix and not plain.cached_prefix
        assert cached.text == plain.text
    # Another clip misses; the first clip's prefix survives (LRU of 4 clips).
    assert not pred.answer(clip(2), tone(400)).cached_prefix
    assert pred.answer(frames, tone(400)).cached_prefix
    q = "Is the scope moving?"
    assert pred.answer_text(frames, q).text == pred.answer_text(frames, q, use_cache=False).text


def test_prime_encodes_the_clip_before_its_first_question(pred):
    pred.clear_cache()
    frames = clip(11)
    assert pred.prime(frames) is True
    assert pred.prime(frames) is False  # already cached: nothing computed
    first = pred.answer(frames, tone(350))
    assert first.cached_prefix
    assert first.text == pred.answer(frames, tone(350), use_cache=False).text
    # A primed clip takes its place in the LRU like an asked one: four more push it out.
    assert pred.cache_clips == 4
    for seed in (12, 13, 14, 15):
        assert pred.prime(clip(seed))
    assert not pred.answer(frames, tone(350)).cached_prefix
    assert pred.answer(clip(15), tone(350)).cached_prefix


def test_prefix_cache_logits_match_full_prefill(pred):
    """Every generated step's logits equal the uncached path: positions and rope_deltas right."""
    pred.clear_cache()
    frames = clip(3)
    base_kwargs = pred._gen_kwargs()
    pred._gen_kwargs = lambda: dict(base_kwargs, return_dict_in_generate=True, output_logits=True)
    try:
        for freq in (300, 800):  # the second call reuses the cached prefix
            inputs = pred.processor(frames, audio=tone(freq))
            with torch.inference_mode():
                cached, hit = pred._generate_cached(frames_key(frames), inputs)
                full = pred.model.generate(**inputs, **pred._gen_kwargs())
            assert hit == (freq == 800)
            assert torch.equal(cached.sequences, full.sequences)
            for a, b in zip(cached.logits, full.logits, strict=True):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-4)
    finally:
        del pred._gen_kwargs
    # The check is sensitive: 1-D positions for the continuation change the logits.
    inputs = pred.processor(frames, audio=tone(300))
    n = pred.processor.prefix_length(inputs["input_ids"])
    with torch.inference_mode():
        cache, _ = pred._prefix_cache(frames_key(frames), inputs, n)
        length = inputs["input_ids"].shape[1]
        wrong = torch.arange(n, length).view(1, 1, -1).expand(3, 1, -1)
        rest = {k: v for k, v in inputs.items() if k != "pixel_values"}
        rest["input_ids"] = inputs["input_ids"][:, n:]
        rest["mm_token_type_ids"] = inputs["mm_token_type_ids"][:, n:]
        bad = pred.model(**rest, past_key_values=cache, position_ids=wrong).logits[:, -1]
        cache.crop(-(cache.get_seq_length() - n))
        good = pred.model(**inputs).logits[:, -1]
    assert (bad - good).abs().max() > 1e-3


def test_bad_audio_raises_and_leaves_cache_usable(pred):
    frames = clip(4)
    pred.answer(frames, tone(300))
    with pytest.raises(AudioError, match="silent"):
        pred.answer(frames, np.zeros(8000, dtype=np.float32))
    with pytest.raises(AudioError, match="cannot decode"):
        pred.answer(frames, b"not audio at all")
    again = pred.answer(frames, tone(300))
    assert again.cached_prefix
    assert again.text == pred.answer(frames, tone(300), use_cache=False).text


def test_concurrent_requests_match_sequential(pred):
    jobs = [(clip(5), tone(300)), (clip(6), tone(700)), (clip(5), tone(500))]
    expected = [pred.answer(f, a, use_cache=False).text for f, a in jobs]
    pred.clear_cache()
    got: dict[int, str] = {}

    def work(i: int) -> None:
        got[i] = pred.answer(*jobs[i]).text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[i] for i in range(len(jobs))] == expected


def test_answer_batch_matches_one_by_one(pred):
    items = [
        {"frames": clip(7), "audio": tone(300)},
        {"frames": clip(8), "question": "Which tool is visible?"},
        {"frames": clip(9), "audio": tone(650, 2.5)},  # longer: left padding in the batch
        {"frames": clip(10), "audio": tone(900, 0.8)},
    ]
    out = pred.answer_batch(items, batch_size=2)
    assert [a.mode for a in out] == ["audio", "text", "audio", "audio"]
    for it, a in zip(items, out, strict=True):
        if "audio" in it:
            one = pred.answer(it["frames"], it["audio"], use_cache=False)
        else:
            one = pred.answer_text(it["frames"], it["question"], use_cache=False)
        assert a.text == one.text and a.audio_tokens == one.audio_tokens
    with pytest.raises(ValueError, match="item 0"):
        pred.answer_batch([{"frames": clip(7)}])
    with pytest.raises(AudioError, match="item 1: .*silent"):
        pred.answer_batch([items[0], {"frames": clip(7), "audio": np.zeros(16_000, np.float32)}])


def test_grounded_answers_are_split_at_the_last_separator():
    from model.predictor import split_grounding

    assert split_grounding("lesion upper left: upper-left", "grounded") == (
        "lesion upper left",
        "upper-left",
    )
    assert split_grounding("nbi yes: yes", "plain") == ("", "nbi yes: yes")
    # no separator: the whole text is the answer the scorer judges
    assert split_grounding("upper-left", "grounded") == ("", "upper-left")


def test_answer_format_is_validated_and_plain_by_default(pred):
    from model.config import GraftConfig

    assert pred.cfg.answer_format == "plain"
    assert pred.answer(clip(1), tone(300), use_cache=False).grounding == ""
    with pytest.raises(ValueError, match="answer_format"):
        GraftConfig(answer_format="chatty")

"""The grafted module on the tiny model: shapes, M-RoPE, audio merge, errors, feasibility."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import Qwen2VLForConditionalGeneration
from transformers.models.whisper.modeling_whisper import sinusoids

from model.checkpoint import load_checkpoint
from model.constants import AUDIO_PAD, IGNORE_INDEX, IMAGE_PAD
from model.graft import WHISPER_WINDOW_S, audio_token_count, build_projector, widen_window
from model.tiny import build


def clip(seed: int, size: tuple[int, int] = (112, 112), n: int = 8) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
        for _ in range(n)
    ]


def tone(freq: float, seconds: float = 2.0, sr: int = 16_000) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.2 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint):
    model, proc = load_checkpoint(tiny_checkpoint, "cpu")
    return model, proc


def positions_of(model, inputs) -> torch.Tensor:
    """The position_ids the decoder receives (captured with a pre-hook)."""
    seen = {}

    def hook(_mod, _args, kwargs):
        seen["pos"] = kwargs["position_ids"]

    h = model.model.language_model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        h.remove()
    return seen["pos"]


def test_shapes_and_mrope_match_stock(loaded, tiny_checkpoint):
    model, proc = loaded
    frames = clip(0, size=(160, 120))  # non-square: rows != columns
    inputs = proc(frames, audio=tone(300), answer="yes")
    ids = inputs["input_ids"]
    grid = inputs["image_grid_thw"]
    per_image = (grid.prod(-1) // 4).tolist()
    assert grid.shape == (8, 3) and len(set(per_image)) == 1
    assert int((ids == proc.ids[IMAGE_PAD]).sum()) == sum(per_image)
    with torch.no_grad():
        out = model(**inputs)
    vocab = model.config.text_config.vocab_size
    assert out.logits.shape == (1, ids.shape[1], vocab)

    pos = positions_of(model, inputs)
    stock = Qwen2VLForConditionalGeneration.from_pretrained(tiny_checkpoint / "base").eval()
    ref, _ = stock.model.get_rope_index(
        ids,
        mm_token_type_ids=inputs["mm_token_type_ids"],
        image_grid_thw=grid,
        attention_mask=inputs["attention_mask"],
    )
    assert pos.shape == (3, 1, ids.shape[1])
    assert torch.equal(pos, ref)
    img = ids[0] == proc.ids[IMAGE_PAD]
    assert not torch.equal(pos[1, 0, img], pos[2, 0, img])  # truly 3-D, not degraded to 1-D
    aud = ids[0] == proc.ids[AUDIO_PAD]
    assert torch.equal(pos[0, 0, aud], pos[1, 0, aud])  # audio = plain text positions

    # Text mode has no audio: the graft (zero-initialised vision position) equals stock Qwen2-VL.
    text = proc(frames, question="Is the scope moving?")
    with torch.no_grad():
        ours = model(**text).logits
        theirs = stock(**text).logits
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def test_audio_changes_logits_and_nothing_else_does(loaded):
    model, proc = loaded
    frames = clip(1)
    a = proc(frames, audio=tone(300), answer="The scope is primarily advancing.")
    b = proc(frames, audio=tone(900), answer="The scope is primarily advancing.")
    assert torch.equal(a["input_ids"], b["input_ids"])  # same length: only the sound differs
    with torch.no_grad():
        la, la2, lb = model(**a).logits, model(**a).logits, model(**b).logits
    assert torch.equal(la, la2)
    start = int((a["input_ids"][0] == proc.ids[AUDIO_PAD]).nonzero()[0])
    assert torch.equal(la[:, :start], lb[:, :start])  # causal: the prefix cannot hear it
    assert (la[:, start:] - lb[:, start:]).abs().max() > 1e-3


def test_placeholder_mismatch_raises(loaded):
    model, proc = loaded
    inputs = proc(clip(2), audio=tone(440), answer="no")
    first = int((inputs["input_ids"][0] == proc.ids[AUDIO_PAD]).nonzero()[0])
    keep = torch.ones(inputs["input_ids"].shape[1], dtype=torch.bool)
    keep[first] = False  # one <|audio_pad|> fewer than audio frames
    seq = ("input_ids", "attention_mask", "mm_token_type_ids", "labels")
    bad = {k: v[:, keep] if k in seq else v for k, v in inputs.items()}
    with pytest.raises(ValueError, match="placeholders but"):
        model(**bad)
    short = dict(inputs, audio_lengths=inputs["audio_lengths"] - 3)
    with pytest.raises(ValueError, match="placeholders but"):
        model(**short)
    no_audio = {k: v for k, v in inputs.items() if k not in ("input_features", "audio_lengths")}
    with pytest.raises(ValueError, match="no input_features"):
        model(**no_audio)


def test_projector_widths_follow_configs(tmp_path):
    ckpt = build(tmp_path / "c", hidden=96, heads=4, audio_dim=48, projector="mlp2x_gelu")
    model, proc = load_checkpoint(ckpt, "cpu")
    layers = [m for m in model.projector.modules() if isinstance(m, torch.nn.Linear)]
    assert layers[0].in_features == model.audio_encoder.config.d_model == 48
    assert layers[-1].out_features == model.config.text_config.hidden_size == 96
    assert (proc.cfg.audio_dim, proc.cfg.text_dim) == (48, 96)
    with torch.no_grad():
        emb = model.encode_audio(proc(clip(0), audio=tone(200))["input_features"], None)
    assert emb[0].shape == (model.audio_window, 96)
    with pytest.raises(ValueError, match="unknown projector"):
        build_projector("conv", 4, 4)


def test_audio_token_policies(tmp_path):
    wav = tone(500, seconds=1.3)
    counts = {}
    for policy in ("full", "trim", "trim+pool:4"):
        ckpt = build(tmp_path / policy.replace(":", "_").replace("+", "_"), audio_tokens=policy)
        model, proc = load_checkpoint(ckpt, "cpu")
        inputs = proc(clip(0), audio=wav, answer="yes")
        counts[policy] = int((inputs["input_ids"] == proc.ids[AUDIO_PAD]).sum())
        with torch.no_grad():
            assert torch.isfinite(model(**inputs).loss)
    assert counts["full"] == 250  # the whole 5 s window of the tiny encoder
    assert counts["trim"] == math.ceil(1.3 * 50)  # 50 encoder frames a second
    assert counts["trim+pool:4"] == math.ceil(counts["trim"] / 4)


def test_widen_window_hears_whisper_30s(loaded):
    """The tiny encoder (cut to 5 s) widened to Whisper's 1,500 positions: same weights, a
    sinusoid table of the new length, and a forward over 30 s of mel frames, alone and grafted."""
    model, _ = loaded
    enc = model.audio_encoder
    have, d = enc.config.max_source_positions, enc.config.d_model
    positions = WHISPER_WINDOW_S * 50
    wide = widen_window(enc, positions)
    assert enc.embed_positions.weight.shape == (have, d) == (250, d)  # the given one is kept
    assert enc.config.max_source_positions == have
    assert wide.embed_positions.weight.shape == (positions, d)
    assert wide.config.max_source_positions == wide.max_source_positions == positions
    assert not wide.embed_positions.weight.requires_grad
    torch.testing.assert_close(wide.embed_positions.weight, sinusoids(positions, d))
    ours = {k: v for k, v in enc.state_dict().items() if "embed_positions" not in k}
    theirs = wide.state_dict()
    assert ours and all(torch.equal(v.float(), theirs[k].float()) for k, v in ours.items())

    mels = torch.randn(1, enc.config.num_mel_bins, 2 * positions)
    with torch.no_grad():
        hidden = wide(mels).last_hidden_state
    assert hidden.shape == (1, positions, d) and torch.isfinite(hidden).all()
    grafted = copy.deepcopy(model)
    grafted.audio_encoder = wide
    assert grafted.audio_window == positions
    with torch.no_grad():
        emb = grafted.encode_audio(mels, None)
    k = audio_token_count(positions, grafted.graft.pool)
    assert emb[0].shape == (k, model.config.text_config.hidden_size)
    with pytest.raises(ValueError, match="cut_window"):
        widen_window(enc, have - 1)


@pytest.mark.slow
def test_feasibility_full_tiny_memorises_ten_samples(tiny_checkpoint):
    """Gradient flows audio + vision -> text: 10 samples are learned to near-zero loss."""
    torch.manual_seed(0)
    model, proc = load_checkpoint(tiny_checkpoint, "cpu")
    answers = [
        "yes",
        "no",
        "snare",
        "forceps",
        "catheter",
        "upper-left",
        "lower-right",
        "advancing",
        "withdrawing",
        "NBI",
    ]
    # Each answer is tied to its own sound and its own frames (2 small frames: fast).
    samples = [
        proc(clip(10 + i, size=(56, 56), n=2), audio=tone(200 + 90 * i, 0.5), answer=a)
        for i, a in enumerate(answers)
    ]
    batch = proc.collate(samples)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for step in range(80):  # ~55 steps, 30-60 s on 2 shared cores
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if step == 0:
            for part in (model.audio_encoder, model.projector, model.model.visual):
                grads = [p.grad for p in part.parameters() if p.grad is not None]
                assert grads and sum(float(g.abs().sum()) for g in grads) > 0
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
        if loss.item() < 0.05:
            break
    assert losses[-1] < 0.15, losses
    assert batch["labels"].ne(IGNORE_INDEX).sum() > 0


def test_generate_prefill_matches_training_forward(loaded):
    """generate() sees the same inputs as a training forward (vision position included)."""
    model, proc = loaded
    with torch.no_grad():
        for p in model.vision_pos.parameters():
            p.normal_(0, 0.5)
    try:
        inputs = proc(clip(5), audio=tone(450))
        with torch.no_grad():
            fwd = model(**inputs).logits[:, -1]
            gen = model.generate(
                **inputs,
                max_new_tokens=1,
                do_sample=False,
                return_dict_in_generate=True,
                output_logits=True,
            )
        torch.testing.assert_close(gen.logits[0], fwd, rtol=0, atol=1e-5)
    finally:
        with torch.no_grad():
            for p in model.vision_pos.parameters():
                p.zero_()


def test_long_speech_is_heard_in_windows_joined_in_order(loaded):
    """12 s through a 5 s encoder: the live path (windows encoded, each trimmed, joined, then
    pooled) equals the training cache's path (the joined encoder outputs given as audio_hidden),
    the model answers with one audio block, and windows that do not add up are refused."""
    model, proc = loaded
    inputs = proc(clip(3), audio=np.concatenate([tone(300, 6.0), tone(500, 6.0)]), answer="no")
    lengths, windows = inputs["audio_lengths"], inputs["audio_windows"]
    assert windows.tolist() == [inputs["input_features"].shape[0]] and windows.item() >= 3
    with torch.no_grad():
        live = model.encode_audio(inputs["input_features"], lengths, None, windows)
        hidden = model.audio_encoder(inputs["input_features"]).last_hidden_state
        joined = torch.cat([hidden[i, :n] for i, n in enumerate(lengths.tolist())])[None]
        cached = model.encode_audio(None, torch.tensor([joined.shape[1]]), joined)
        loss = model(**inputs).loss
    assert len(live) == 1 and torch.allclose(live[0], cached[0], atol=1e-5)
    assert live[0].shape[0] == int((inputs["input_ids"] == proc.ids[AUDIO_PAD]).sum())
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="do not add up"):
        model(**dict(inputs, audio_windows=windows - 1))

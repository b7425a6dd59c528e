"""The real-scale model at true widths and cut depth, on the CPU.

Qwen2-VL-7B-Instruct and Whisper large-v3-turbo stand-ins (model.standin: random weights, the
real configs with 2 text layers, 2 vision blocks, 2 Whisper encoder and decoder layers) go
through the 7B's own path: build_model (NF4 via bitsandbytes), LoRA on the decoder
projections, one training step, generation. The token counts are the real model's.
"""

from __future__ import annotations

import math
import resource
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.config import GraftConfig
from model.standin import CUT, QWEN_SPECIALS, qwen_config, qwen_tokenizer, whisper_config

ROOT = Path(__file__).resolve().parents[1]
DEMO_SIDE = GraftConfig.from_json(ROOT / "checkpoints" / "demo").image_max_side  # 112 px
SEED_SIDE = 384  # the original work's (and GraftConfig's default) frame size
# Arithmetic (Qwen2VLImageProcessor's smart_resize, factor 28 = patch 14 x merge 2): 112 px is
# 4 x 28 -> 8 x 8 patches -> 4 x 4 = 16 merged tokens; 384 px rounds to 14 x 28 = 392, over
# max_pixels 384^2, so it shrinks to floor(384 / 1.0208 / 28) x 28 = 364 -> 26 x 26 patches
# -> 13 x 13 = 169 tokens.
TOKENS_PER_FRAME = {DEMO_SIDE: 16, SEED_SIDE: 169}
SPEECH_S = 3.0  # a 50-character question spoken by espeak lasts about 3 s (DESIGN.md)
# Arithmetic: Whisper keeps 50 encoder frames a second; its window is 30 s = 1,500 frames.
AUDIO_TOKENS = {"full": 1500, "trim": 150, "trim+pool:2": 75, "trim+pool:4": 38}


def test_configs_hold_the_design_shapes():
    q, w = qwen_config(), whisper_config()
    t, v = q.text_config, q.vision_config
    assert (t.hidden_size, t.num_hidden_layers, t.intermediate_size, t.vocab_size) == (
        3584,
        28,
        18944,
        152064,
    )
    assert (t.num_attention_heads, t.num_key_value_heads) == (28, 4)
    assert t.hidden_size // t.num_attention_heads == 128
    assert (v.depth, v.embed_dim, v.num_heads, v.mlp_ratio, v.hidden_size) == (
        32,
        1280,
        16,
        4,
        3584,
    )
    assert (v.patch_size, v.spatial_merge_size, v.temporal_patch_size) == (14, 2, 2)
    assert (w.d_model, w.encoder_layers, w.decoder_layers, w.encoder_attention_heads) == (
        1280,
        32,
        4,
        20,
    )
    assert (w.encoder_ffn_dim, w.num_mel_bins, w.vocab_size, w.max_source_positions) == (
        5120,
        128,
        51866,
        1500,
    )
    # The parameter counts the hub pages publish (8.29B and 809M) follow from these shapes.
    from transformers import Qwen2VLForConditionalGeneration, WhisperForConditionalGeneration

    with torch.device("meta"):
        n_q = sum(p.numel() for p in Qwen2VLForConditionalGeneration(q).parameters())
        n_w = sum(p.numel() for p in WhisperForConditionalGeneration(w).parameters())
    assert round(n_q / 1e9, 2) == 8.29 and round(n_w / 1e6) == 809


def test_tokenizer_stand_in_has_qwens_size_and_special_ids():
    tok = qwen_tokenizer()
    assert len(tok) == 151_657  # Qwen2-VL's tokenizer, before the three audio tokens
    ids = [tok.convert_tokens_to_ids(s) for s in QWEN_SPECIALS]
    assert ids == list(range(151_643, 151_657))
    cfg = qwen_config()
    assert ids[12] == cfg.image_token_id and ids[9] == cfg.vision_start_token_id
    assert tok.decode(tok.encode("Is the scope advancing?")) == "Is the scope advancing?"


def frames(side: int, n: int = 8) -> list[Image.Image]:
    rng = np.random.default_rng(side)
    return [
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)) for _ in range(n)
    ]


def speech(seconds: float = SPEECH_S) -> np.ndarray:
    """A made-up 'question': a gliding tone at speech level (real speech is not needed here)."""
    t = np.arange(int(seconds * 16_000)) / 16_000
    return (0.3 * np.sin(2 * np.pi * (200 + 100 * t) * t)).astype(np.float32)


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    from model.standin import write_standins

    return write_standins(tmp_path_factory.mktemp("standin"), CUT)


@pytest.mark.slow
def test_true_widths_build_nf4_train_one_step_and_generate(standins):
    """Measured on 2 shared cores, one thread: writing the stand-ins ~7 s (3.6 GB), this test
    144-186 s (the NF4 build 35 s), process peak RSS 9.0 GB (the float32 embedding and head,
    2 x 2.2 GB, and the bf16 files being read)."""
    import bitsandbytes as bnb
    from peft import get_peft_model, prepare_model_for_kbit_training

    from model.checkpoint import build_model
    from model.constants import AUDIO_PAD, IGNORE_INDEX, IMAGE_PAD
    from model.graft import lora_config, set_trainable
    from model.predictor import Predictor

    torch.set_num_threads(1)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    qwen, whisper = standins
    cfg = GraftConfig(base_model=str(qwen), audio_encoder=str(whisper), image_max_side=SEED_SIDE)
    # float32 compute, the CPU default. In bf16 here the 384 px tower alone took 141 s and a
    # 316-token forward 144 s; in float32 tower, audio encoder and training step take 77 s
    model, proc = build_model(cfg, "cpu", quantize=True)
    built = time.perf_counter() - t0

    # -- the shapes -------------------------------------------------------------------------
    lm = model.model.language_model
    q = lm.layers[0].self_attn.q_proj
    assert isinstance(q, bnb.nn.Linear4bit) and q.weight.quant_type == "nf4"
    assert (q.in_features, q.out_features) == (3584, 3584)
    assert lm.layers[1].mlp.down_proj.in_features == 18944 and len(lm.layers) == 2
    assert not isinstance(model.model.visual.blocks[0].attn.qkv, bnb.nn.Linear4bit)
    assert not isinstance(model.lm_head, bnb.nn.Linear4bit) and model.lm_head.out_features == 152064
    assert (model.projector.in_features, model.projector.out_features) == (1280, 3584)
    assert (cfg.audio_dim, cfg.text_dim) == (1280, 3584)
    enc = model.audio_encoder
    assert enc.config.num_mel_bins == proc.feature_extractor.feature_size == 128
    assert model.audio_window == proc.audio_window == 1500 and proc.window_seconds == 30
    assert len(enc.layers) == 2
    assert len(proc.tokenizer) == 151_660  # audio tokens added, inside the 152,064 rows
    assert model.get_input_embeddings().num_embeddings == 152064

    # -- token counts: 8 frames at the demo's and the seed's resolution ---------------------
    audio = speech()
    for side, per_frame in TOKENS_PER_FRAME.items():
        cfg.image_max_side = side
        vis = proc.images(frames(side))
        assert (vis["image_grid_thw"].prod(-1) // 4).tolist() == [per_frame] * 8
        ids = proc(frames(side), audio=audio, vision=vis)["input_ids"]
        assert int((ids == proc.ids[IMAGE_PAD]).sum()) == 8 * per_frame
    # the tower at 384 px: one 3584-wide feature per placeholder
    with torch.no_grad():
        feats = model.model.get_image_features(
            vis["pixel_values"], vis["image_grid_thw"], return_dict=True
        ).pooler_output
    assert [f.shape for f in feats] == [torch.Size([169, 3584])] * 8

    # -- each audio-token policy: projector rows == placeholders ----------------------------
    for policy, expected in AUDIO_TOKENS.items():
        cfg.audio_tokens = policy
        x = proc(frames(DEMO_SIDE, 1), audio=audio)
        n = int((x["input_ids"] == proc.ids[AUDIO_PAD]).sum())
        assert n == expected == math.ceil(x["audio_lengths"].item() / cfg.pool)
    cfg.audio_tokens = "trim"
    with torch.no_grad():
        rows = model.encode_audio(x["input_features"], torch.tensor([1500]))
    assert rows[0].shape == (1500, 3584)

    # -- one QLoRA step at the demo's resolution, the loss on the answer only ---------------
    cfg.image_max_side = DEMO_SIDE
    model = prepare_model_for_kbit_training(
        model,
        use_gradient_checkpointing=True,
        gradient_checkpointing_kwargs={"use_reentrant": False},  # training.trainer's default
    )
    model = get_peft_model(model, lora_config(cfg))
    names = set_trainable(model, cfg)
    lora = [n for n in names if "lora_" in n]
    assert len(lora) == 2 * 7 * 2 and all(".language_model." in n for n in lora)
    answer = "The scope is primarily advancing."
    batch = proc.collate([proc(frames(DEMO_SIDE), audio=audio, answer=answer)])
    n_answer = len(proc.tokenizer.encode(answer, add_special_tokens=False)) + 1  # + <|im_end|>
    assert int((batch["labels"] != IGNORE_INDEX).sum()) == n_answer
    assert batch["labels"][0, -n_answer:].tolist() == batch["input_ids"][0, -n_answer:].tolist()
    packed = q.weight.data.clone()
    proj = model.base_model.model.projector.weight.detach().clone()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    out = model(**batch)
    logits = out.logits[0, :-1].float()
    target = batch["labels"][0, 1:]
    keep = target != IGNORE_INDEX
    manual = torch.nn.functional.cross_entropy(logits[keep], target[keep])
    torch.testing.assert_close(out.loss.float(), manual, rtol=1e-3, atol=1e-3)
    out.loss.backward()
    opt.step()
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0
        for n, p in model.named_parameters()
        if "lora_B" in n
    )
    assert not torch.equal(model.base_model.model.projector.weight.detach(), proj)
    assert torch.equal(q.weight.data, packed)  # the NF4 base does not move
    del out, logits, opt
    stepped = time.perf_counter() - t0

    # -- generation through the serving path (prefix cache on) ------------------------------
    model.eval()
    pred = Predictor(model, proc, max_new_tokens=3)
    a = pred.answer(frames(DEMO_SIDE), audio)
    assert (a.vision_tokens, a.audio_tokens) == (8 * 16, 150) and 1 <= a.new_tokens <= 3
    b = pred.answer(frames(DEMO_SIDE), audio)
    assert b.cached_prefix and b.text == a.text
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(
        f"\nreal widths, cut depth: build {built:.1f} s, to the step {stepped:.1f} s, "
        f"all {time.perf_counter() - t0:.1f} s; process peak RSS {peak_gb:.1f} GB"
    )
    assert peak_gb < 10

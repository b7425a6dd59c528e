"""Checkpoints: tiny build, save -> load equality, projector checks, NF4 + LoRA on the CPU."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from model.checkpoint import PROJECTOR_FILE, load_checkpoint, save_checkpoint
from model.config import GraftConfig
from model.graft import lora_config, set_trainable
from model.tiny import build


def clip(seed: int, n: int = 8) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)) for _ in range(n)]


def tone(freq: float, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(16_000 * seconds)) / 16_000
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def logits(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs).logits


def test_tiny_build_is_small_fast_and_complete(tmp_path):
    t = time.perf_counter()
    ckpt = build(tmp_path / "tiny", seed=3)
    seconds = time.perf_counter() - t
    files = [f for f in ckpt.rglob("*") if f.is_file()]
    size = sum(f.stat().st_size for f in files)
    assert size <= 25e6, size
    assert seconds < 30, seconds
    names = {f.relative_to(ckpt).as_posix() for f in files}
    for need in (
        "graft_config.json",
        "README.md",
        "tokenizer.json",
        PROJECTOR_FILE,
        "base/config.json",
        "base/model.safetensors",
        "audio_encoder/config.json",
        "audio_encoder/model.safetensors",
        "image_processor/preprocessor_config.json",
        "feature_extractor/preprocessor_config.json",
    ):
        assert need in names, need
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]  # no pickle
    cfg = json.loads((ckpt / "graft_config.json").read_text())
    assert cfg["train"] == "full" and cfg["base_model"] == "base"
    assert (cfg["audio_dim"], cfg["text_dim"]) == (64, 128)
    base = json.loads((ckpt / "base/config.json").read_text())
    assert base["architectures"] == ["Qwen2VLForConditionalGeneration"]
    text = base["text_config"]
    assert (text["hidden_size"], text["num_hidden_layers"], text["num_key_value_heads"]) == (
        128,
        4,
        2,
    )
    assert sum(text["rope_parameters"]["mrope_section"]) == 128 // 4 // 2
    # Same seed, same weights: the build is reproducible.
    again = build(tmp_path / "again", seed=3)
    a, b = (load_file(str(p / "base/model.safetensors")) for p in (ckpt, again))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_save_load_identical_logits(tiny_checkpoint, tmp_path):
    model, proc = load_checkpoint(tiny_checkpoint, "cpu")
    with torch.no_grad():  # make the graft weights non-trivial (vision_pos starts at zero)
        for p in model.vision_pos.parameters():
            p.normal_(0, 0.1)
    inputs = proc(clip(0), audio=tone(350), answer="yes")
    before = logits(model, inputs)
    out = save_checkpoint(model, proc, tmp_path / "copy")
    again, proc2 = load_checkpoint(out, "cpu")
    assert torch.equal(before, logits(again, proc2(clip(0), audio=tone(350), answer="yes")))
    # Overwriting keeps other files in the folder (e.g. an eval/ written beside it).
    (out / "eval").mkdir()
    (out / "eval/summary.json").write_text("{}")
    save_checkpoint(again, proc2, out)
    assert (out / "eval/summary.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_half_precision_storage_restores_fp32(tiny_checkpoint, tmp_path):
    model, proc = load_checkpoint(tiny_checkpoint, "cpu")
    model.graft.save_dtype = "bfloat16"
    out = save_checkpoint(model, proc, tmp_path / "bf16")
    stored = load_file(str(out / "base/model.safetensors"))
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.bfloat16}
    half, _ = load_checkpoint(out, "cpu")
    assert half.lm_head.weight.dtype == torch.float32
    inputs = proc(clip(1), audio=tone(500))
    torch.testing.assert_close(logits(half, inputs), logits(model, inputs), atol=0.1, rtol=0.05)


def test_projector_shape_mismatch_names_both_shapes(tiny_checkpoint, tmp_path):
    model, proc = load_checkpoint(tiny_checkpoint, "cpu")
    out = save_checkpoint(model, proc, tmp_path / "bad")
    state = load_file(str(out / PROJECTOR_FILE))
    state["projector.weight"] = torch.zeros(128, 80)
    save_file(state, str(out / PROJECTOR_FILE))
    with pytest.raises(ValueError, match=r"projector\.weight has shape \(128, 80\).*\(128, 64\)"):
        load_checkpoint(out, "cpu")


def test_missing_checkpoint_and_bad_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope", "cpu")
    (tmp_path / "c").mkdir()
    (tmp_path / "c/graft_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read GraftConfig"):
        load_checkpoint(tmp_path / "c", "cpu")


@pytest.mark.slow
def test_nf4_lora_trains_on_cpu_and_round_trips(tiny_checkpoint, tmp_path):
    """The real-scale recipe on the tiny model: NF4 base + LoRA (decoder only) + projector."""
    import bitsandbytes as bnb
    from peft import get_peft_model, prepare_model_for_kbit_training

    torch.manual_seed(0)
    model, proc = load_checkpoint(tiny_checkpoint, "cpu", quantize=True)
    q = model.model.language_model.layers[0].self_attn.q_proj
    assert isinstance(q, bnb.nn.Linear4bit) and q.weight.quant_type == "nf4"
    assert not isinstance(model.model.visual.blocks[0].attn.qkv, bnb.nn.Linear4bit)
    cfg: GraftConfig = model.graft
    cfg.train, cfg.audio_trainable = "lora", False  # the real-scale setting
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, lora_config(cfg))
    names = set_trainable(model, cfg)
    lora = [n for n in names if "lora_" in n]
    assert lora and all(".language_model." in n for n in lora)  # not Whisper, not the tower
    assert {n.split(".lora_")[0].rsplit(".", 1)[1] for n in lora} == set(cfg.lora_targets)
    assert [n for n in names if "lora_" not in n] == [
        n for n in names if ".projector." in n or ".vision_pos." in n
    ]
    batch = proc.collate(
        [
            proc(clip(0), audio=tone(300), answer="The scope is primarily advancing."),
            proc(clip(1), audio=tone(700, 1.0), answer="No, the scope is withdrawing."),
        ]
    )
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    losses = []
    for _ in range(5):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5, losses
    model.eval()
    before = logits(model, batch)
    out = save_checkpoint(model, proc, tmp_path / "lora")
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert "adapter/adapter_config.json" in names and "adapter/adapter_model.safetensors" in names
    assert not any(n.startswith(("base/", "audio_encoder/")) for n in names)
    saved = GraftConfig.from_json(out)
    assert saved.train == "lora" and saved.base_model.endswith("base")
    again, _ = load_checkpoint(out, "cpu", quantize=True)
    torch.testing.assert_close(logits(again, batch), before, rtol=0, atol=1e-5)
    # Full precision + merged LoRA (fast inference) stays close to the NF4 model.
    merged, _ = load_checkpoint(out, "cpu", quantize=False, merge=True)
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    diff = (logits(merged, batch) - before).abs().mean()
    assert diff < 0.5, diff


def test_real_scale_path_in_miniature(stock_models, tmp_path):
    """The 7B route: a stock Qwen2-VL folder (no audio tokens) + a full Whisper folder, joined
    by build_model (new projector, audio tokens added), LoRA, saved and loaded back."""
    from peft import get_peft_model
    from transformers import AutoTokenizer

    from model.checkpoint import build_model
    from model.constants import AUDIO_PAD, AUDIO_SPECIAL

    qwen, whisper = stock_models
    tok = AutoTokenizer.from_pretrained(qwen)
    assert not set(AUDIO_SPECIAL) & set(tok.get_vocab())

    cfg = GraftConfig(
        base_model=str(qwen),
        audio_encoder=str(whisper),
        projector="mlp2x_gelu",
        image_max_side=112,
        quantisation="none",
    )
    model, proc = build_model(cfg, "cpu")
    assert proc.ids[AUDIO_PAD] >= len(tok)  # added on top of the base vocabulary
    assert (cfg.audio_dim, cfg.text_dim) == (48, 128)
    model = get_peft_model(model, lora_config(cfg))
    set_trainable(model, cfg)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)  # LoRA B starts at zero: make the adapter matter
    model.eval()
    inputs = proc(clip(0), audio=tone(300), answer="yes")
    before = logits(model, inputs)
    out = save_checkpoint(model, proc, tmp_path / "ckpt")
    assert GraftConfig.from_json(out).base_model == str(qwen.resolve())
    again, proc2 = load_checkpoint(out, "cpu")
    assert proc2.ids[AUDIO_PAD] == proc.ids[AUDIO_PAD]
    torch.testing.assert_close(logits(again, inputs), before, rtol=0, atol=1e-5)
    merged, _ = load_checkpoint(out, "cpu", merge=True)
    torch.testing.assert_close(logits(merged, inputs), before, rtol=1e-4, atol=1e-4)


def test_build_cli_starts_a_loadable_checkpoint(stock_models, tmp_path):
    """python -m model.build: the real-scale starting point, loaded as the predictor loads it."""
    from model import Predictor
    from model.build import main

    qwen, whisper = stock_models
    out = tmp_path / "init"
    main(
        [
            "--base",
            str(qwen),
            "--audio",
            str(whisper),
            "--out",
            str(out),
            "--projector",
            "mlp2x_gelu",
            "--image-max-side",
            "112",
            "--device",
            "cpu",
        ]
    )
    cfg = GraftConfig.from_json(out)
    assert (cfg.audio_dim, cfg.text_dim, cfg.projector) == (48, 128, "mlp2x_gelu")
    assert cfg.base_model == str(qwen.resolve()) and cfg.train == "lora"
    assert (out / "projector.safetensors").is_file() and not (out / "base").exists()
    ans = Predictor.from_checkpoint(out, device="cpu").answer(clip(0), tone(300))
    assert ans.audio_tokens > 0 and ans.vision_tokens > 0

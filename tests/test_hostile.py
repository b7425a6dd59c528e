"""Hostile but fair input: every entry point refuses it with its own error naming the source,
never a traceback, a memory bomb or a silently wrong result."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app import capture
from model.audio import AudioShapeError, load_audio  # imported before timing
from model.processor import GraftProcessor

ROOT = Path(__file__).resolve().parents[1]


def wav_header(rate: int, channels: int, data_bytes: int, bits: int = 16) -> bytes:
    """A PCM WAV header saying whatever it is told (libsndfile trusts its rate)."""
    block = channels * bits // 8
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + fmt
        + (b"data" + struct.pack("<I", data_bytes))
    )


def tone(seconds: float, sr: int = 16_000) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def wav(y: np.ndarray, sr: int = 16_000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Small files whose headers ask for gigabytes once decoded and resampled to 16 kHz."""
    flac = io.BytesIO()  # 2 h of silence at 8 kHz: 181 KB, 115 M samples decoded
    with sf.SoundFile(flac, "w", samplerate=8000, channels=1, format="FLAC") as f:
        zeros = np.zeros(8000 * 60, dtype=np.int16)
        for _ in range(120):
            f.write(zeros)
    return {
        # 200 KB at "1 Hz": 100,000 s, 1.6 G samples (6 GiB) after resampling (measured before
        # the guard: a 20 KB one took 6.8 s and 1.4 GiB)
        "rate_1hz.wav": wav_header(1, 1, 200_000) + bytes(200_000),
        # 2 MB, under the 10 MB upload cap: 60 GB asked
        "rate_1hz_2mb.wav": wav_header(1, 1, 2_000_000) + bytes(2_000_000),
        "two_hours.flac": flac.getvalue(),
        "many_channels.wav": wav_header(16_000, 64, 64 * 2 * 1600) + bytes(64 * 2 * 1600),
    }


def refused_quickly(call: Callable[[], object], error: type[Exception], match: str) -> None:
    """`call` raises `error`, in well under a second, having allocated almost nothing."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(error, match=match):
            call()
        took = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert took < 0.5, f"refused after {took:.2f} s"
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB allocated before refusing"


# --- 1. the audio decode bomb: the header is checked before any decoding, for every source ---


@pytest.fixture(scope="module")
def proc(tiny_checkpoint):
    return GraftProcessor.from_pretrained(tiny_checkpoint)


@pytest.mark.parametrize("name", ["rate_1hz.wav", "rate_1hz_2mb.wav", "two_hours.flac"])
@pytest.mark.parametrize("source", ["upload", "microphone", "clip"])
def test_app_sources_refuse_the_bomb_before_decoding(bombs, name, source, tmp_path):
    data = bombs[name]
    src: bytes | Path = data
    if source == "clip":  # the clip's recording is a file in the dataset
        src = tmp_path / name
        src.write_bytes(data)
    refused_quickly(
        lambda: capture.decode(src, name, source, trim=True),
        capture.QuestionError,
        rf"^{name}: .*(sample rate 1 Hz is not plausible|lasts 7200\.0 s).*under 30 s",
    )


@pytest.mark.parametrize("name", ["rate_1hz.wav", "two_hours.flac", "many_channels.wav"])
def test_model_path_refuses_the_bomb_before_decoding(bombs, name, proc, tmp_path):
    """What the predictor and evaluation.evaluate hand the processor: a path, bytes or a file."""
    path = tmp_path / name
    path.write_bytes(bombs[name])
    for src in (path, bombs[name], io.BytesIO(bombs[name])):
        refused_quickly(
            lambda src=src: proc.audio_features(src),
            AudioShapeError,
            "not plausible|over the longest question of 30 s|channels",
        )
    with pytest.raises(AudioShapeError, match=f"^{path}: "):
        proc.audio_features(path)


def test_arrays_pass_the_same_guard(proc):
    """The microphone's and evaluation's arrays: an impossible rate or length is refused before
    resampling (sr=0 raised ZeroDivisionError; sr=1 would resample to gigabytes)."""
    y = np.zeros(200_000, dtype=np.float32)
    for sr in (0, 1, -16_000, float("nan"), 10**9):
        refused_quickly(lambda sr=sr: load_audio(y, sr=sr), AudioShapeError, "not plausible")
    long = tone(31.0)  # made before the measurement: only the refusal is timed
    refused_quickly(
        lambda: proc.audio_features(long), AudioShapeError, "31.0 s, over the longest question"
    )
    refused_quickly(
        lambda: load_audio(np.zeros((1000, 1000), np.float32)), AudioShapeError, "1000 channels"
    )


# --- 2. one writer per evaluation folder; a damaged predictions file is reported by line -------


def run_eval(data: Path, ckpt: Path, out: Path, *extra: str) -> list[str]:
    return ["--checkpoint", str(ckpt), "--data", str(data), "--out", str(out), "--limit", "3",
            *extra]  # fmt: skip


def rows_of(out: Path) -> list[tuple[str, str]]:
    lines = (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    return [(r["video_id"], r["id"]) for r in map(json.loads, lines)]


def one_error_line(err: str, *needles: str) -> None:
    """A CLI's refusal: one `error:` line, at the start of its own line (not after a progress
    bar), naming what is wrong; no traceback."""
    assert "Traceback" not in err, err
    lines = [x for x in err.split("\n") if "error: " in x]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_a_second_evaluation_into_a_held_folder_is_refused_naming_the_holder(
    spoken, tiny_checkpoint, tmp_path, capsys
):
    from evaluation.evaluate import main

    out = tmp_path / "eval"
    out.mkdir()
    hold = "from evaluation.evaluate import holding as h\nwith h(__import__('pathlib').Path(%r)):\n"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold % str(out) + " print('held', flush=True); input()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        assert main(run_eval(spoken, tiny_checkpoint, out)) == 2
    finally:
        holder.communicate("\n", timeout=60)
    one_error_line(capsys.readouterr().err, f"pid {holder.pid} on ", "is being written by")
    assert not (out / "predictions.jsonl").exists()
    assert main(run_eval(spoken, tiny_checkpoint, out)) == 0  # released: the run goes ahead
    assert len(rows_of(out)) == len(set(rows_of(out))) == 3


def test_two_concurrent_evaluations_leave_every_row_exactly_once(spoken, tiny_checkpoint, tmp_path):
    """Two real processes into one folder (they left 17 duplicates in 37 rows before)."""
    out = tmp_path / "eval"
    argv = run_eval(spoken, tiny_checkpoint, out, "--limit", "20")  # long enough to overlap
    cmd = [sys.executable, "-m", "evaluation.evaluate", *argv]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.communicate(timeout=300)[1], p.returncode) for p in procs]
    assert sorted(rc for _, rc in results) in ([0, 0], [0, 2]), results
    for err, rc in results:
        assert "Traceback" not in err
        if rc == 2:
            one_error_line(err, "is being written by pid")
    rows = rows_of(out)
    assert len(rows) == len(set(rows)) == 20


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"id": "x", "prediction": "yes"}', "no string video_id"),
        (b'["not", "a", "row"]', "a list, not a prediction row"),
        (b'{"id": "x", "video_id": "v\xff", "prediction": "y"}', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"{not json", "malformed JSON"),
    ],
)
def test_a_damaged_predictions_file_is_reported_by_line(
    spoken, tiny_checkpoint, tmp_path, capsys, line, message
):
    from evaluation.evaluate import main

    out = tmp_path / "eval"
    assert main(run_eval(spoken, tiny_checkpoint, out, "--limit", "2")) == 0
    path = out / "predictions.jsonl"
    path.write_bytes(path.read_bytes() + line + b"\n")  # not the last line: not a torn tail
    capsys.readouterr()
    for argv in (run_eval(spoken, tiny_checkpoint, out), ["--rescore", str(out)]):
        assert main(argv) == 2
        one_error_line(capsys.readouterr().err, f"{path}:3: ", message)


def test_repeated_rows_are_dropped_once_and_the_file_scores_again(
    spoken, tiny_checkpoint, tmp_path, capsys
):
    from data.score import main as score
    from evaluation.evaluate import main

    out = tmp_path / "eval"
    assert main(run_eval(spoken, tiny_checkpoint, out)) == 0
    path = out / "predictions.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines + lines[:2]))  # what two writers left behind
    assert score([str(path)]) == 2  # data.score refuses a repeated key
    capsys.readouterr()
    assert main(["--rescore", str(out)]) == 0
    assert "2 repeated row(s) dropped" in capsys.readouterr().err
    assert len(rows_of(out)) == len(set(rows_of(out))) == 3
    assert score([str(path)]) == 0


# --- 3. nothing from a URL, an upload's name or a data file reaches the page as markup ---------

INJECTED = (
    "[Session expired - log in again](http://evil.example/login)/x",
    "![i](http://evil.example/p.png)/x",
    "v/<img src=x onerror=alert(1)>",
    ":red[ALERT] $x^2$/qa_1",
)


def app_test():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)


@pytest.fixture(scope="module")
def app_data(tmp_path_factory) -> Path:
    from tests.e2e.support import make_dataset

    return make_dataset(tmp_path_factory.mktemp("hostile-app") / "data", samples_per_video=4)


@pytest.fixture
def app_env(monkeypatch, app_data, tmp_path):
    monkeypatch.setenv("SURGVIVQA_DATA", str(app_data))
    monkeypatch.setenv("SURGVIVQA_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("SURGVIVQA_CHECKPOINT", str(tmp_path / "none"))
    return monkeypatch


def shows_only_text(markdown: str) -> None:
    """Escaped Markdown: once the escaped characters are set aside, no link, image, raw HTML,
    colour or math is left to form."""
    bare = re.sub(r"\\.", "", markdown)
    for markup in ("](", "![", "<", "[ALERT]", "$"):
        assert markup not in bare, (markup, markdown)


def unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.mark.parametrize("link", INJECTED)
def test_an_injected_clip_link_is_shown_as_text_without_server_paths(app_env, app_data, link):
    from app.ui import plain

    at = app_test()
    at.query_params["clip"] = link
    at.run()
    assert not at.exception
    warning = "\n".join(w.value for w in at.warning)
    assert plain(link, 80) in warning
    shows_only_text(warning)
    assert str(app_data) not in warning and str(ROOT) not in warning


def test_escaped_markdown_renders_as_the_same_text():
    """CommonMark (as the browser's renderer reads it) shows plain()'s output as the text."""
    import html

    markdown_it = pytest.importorskip("markdown_it")
    from app.ui import JOINER, plain

    md = markdown_it.MarkdownIt("commonmark")
    for text in (*INJECTED, "a\\b `c` *d* _e_ <i>f</i> &amp; # g"):
        rendered = md.render(plain(text))
        assert rendered.startswith("<p>") and rendered.endswith("</p>\n"), rendered
        assert html.unescape(rendered[3:-5]).replace(JOINER, "") == text


def test_an_id_with_html_is_refused_by_the_schema_and_shown_as_text(app_env, app_data, tmp_path):
    from data.schema import DataError, validate_record

    rec = json.loads((app_data / "samples.jsonl").read_text().splitlines()[0])
    for bad in ("<img src=x onerror=alert(1)>", "qa 1", "../x", "x" * 129, "[a](http://e)"):
        with pytest.raises(DataError, match="id .* must be letters, digits"):
            validate_record({**rec, "id": bad})
    copy = tmp_path / "data"
    shutil.copytree(app_data, copy)
    lines = (copy / "samples.jsonl").read_text().splitlines()
    lines[0] = json.dumps({**rec, "id": "<img src=x onerror=alert(1)>"})
    (copy / "samples.jsonl").write_text("\n".join(lines) + "\n")
    app_env.setenv("SURGVIVQA_DATA", str(copy))
    at = app_test()
    at.run()
    assert not at.exception
    error = "\n".join(e.value for e in at.error)
    assert "samples.jsonl:1: id '<img src=x onerror=alert(1)>' must be" in unescape(error)
    shows_only_text(error)


def test_an_uploads_name_is_shown_as_text(app_env):
    at = app_test()
    at.run()
    at.radio(key="w_source").set_value("upload").run()
    name = "[Session expired](http://evil.example).wav"
    at.file_uploader(key="w_upload").set_value((name, b"not audio", "audio/wav")).run()
    assert not at.exception
    error = "\n".join(e.value for e in at.error)
    assert "Could not read" in error and "Session expired" in error
    shows_only_text(error)


# --- 4. the server's hardened settings hold from any working directory -------------------------


def test_the_hardened_settings_are_read_wherever_the_server_starts(tmp_path):
    """What `streamlit run /path/to/app/main.py` resolves started from an unrelated folder (the
    browser test checks the running server); from the repository root, the same."""
    probe = (
        "import streamlit.config as c, streamlit.web.bootstrap as b, sys\n"
        "c._main_script_path = sys.argv[1]\n"  # what `streamlit run FILE` sets first
        "b.load_config_options(flag_options={})\n"
        "print([c.get_option(k) for k in ('server.address', 'server.maxUploadSize',"
        " 'client.showErrorDetails', 'browser.gatherUsageStats', 'server.enableXsrfProtection')])"
    )
    main = str(ROOT / "app" / "main.py")
    for cwd in (tmp_path, ROOT):
        out = subprocess.run(
            [sys.executable, "-c", probe, main],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "HOME": str(tmp_path)},  # no user-level config.toml either
        )
        assert out.stdout.strip() == "['localhost', 10, 'none', False, True]", (cwd, out)


# --- 5, 6. every CLI: one `error:` line naming the file (and line), never a traceback or n = 0 ---


def record(i: int, video: str = "v1") -> dict:
    numbers = [100 * i + 4 * k for k in range(8)]
    return {
        "id": f"qa_{i:04d}", "video_id": video, "frames": [f"{video}_{n}" for n in numbers],
        "frame_numbers": numbers, "question": "Is the scope outside the patient?",
        "question_type": "scope_outside", "support_frames": 8, "total_frames": 8,
        "support_ratio": 1.0, "support_percentage": 100.0,
        "answer": "No, the scope stays within the patient.", "short_answer": "no",
    }  # fmt: skip


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


GOOD = jsonl([record(1), record(2, "v2")])
BAD_LINES = {  # what line 2 holds -> what the error says about it
    "not UTF-8": (b'{"id": "qa_\xff"}', "not UTF-8"),
    "nested": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "a list": (b"[1, 2]", "not a"),
    # ValueError and UnicodeEncodeError tracebacks before, far from the file
    "a huge integer": (b'{"id": ' + b"9" * 5000 + b"}", "integer of 5,000 digits"),
    "a lone surrogate": (b'{"id": "qa_\\ud800"}', "unpaired surrogate"),
}


def cli_cases(tmp_path: Path) -> dict[str, Callable[[Path], tuple[Callable, list[str]]]]:
    """CLI name -> (file under test) -> (main, argv) reading that file."""
    from data import compare, score, split, stats
    from evaluation import evaluate

    preds = tmp_path / "good_predictions.jsonl"
    preds.write_bytes(jsonl([{**record(1), "prediction": "no"}]))
    data = tmp_path / "data"
    (data / "splits").mkdir(parents=True)
    (data / "splits" / "train.jsonl").write_bytes(GOOD)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "graft_config.json").write_text("{}")  # never loaded: the data fails first

    def on_split(path: Path) -> tuple[Callable, list[str]]:
        test = data / "splits" / "test.jsonl"
        test.unlink(missing_ok=True)
        if path.is_dir():
            test.mkdir()
        elif path.exists():
            test.write_bytes(path.read_bytes())
        return evaluate.main, ["--checkpoint", str(ckpt), "--data", str(data),
                               "--out", str(tmp_path / "eval")]  # fmt: skip

    return {
        "score": lambda p: (score.main, [str(p)]),
        "score --train": lambda p: (score.main, [str(preds), "--train", str(p)]),
        "stats": lambda p: (stats.main, [str(p)]),
        "split": lambda p: (split.main, [str(p), "--test-videos", "v1", "--out", str(tmp_path)]),
        "compare": lambda p: (compare.main, [str(preds), str(p)]),
        "evaluate": on_split,
    }


CLIS = ("score", "score --train", "stats", "split", "compare", "evaluate")


@pytest.mark.parametrize("cli", CLIS)
@pytest.mark.parametrize("bad", BAD_LINES)
def test_a_bad_line_is_named_by_file_and_line(tmp_path, capsys, cli, bad):
    content, message = BAD_LINES[bad]
    path = tmp_path / "input.jsonl"
    path.write_bytes(jsonl([{**record(1), "prediction": "no"}]) + content + b"\n")
    main, argv = cli_cases(tmp_path)[cli](path)
    assert main(argv) == 2
    named = "test.jsonl" if cli == "evaluate" else str(path)
    one_error_line(capsys.readouterr().err, f"{named}:2: ", message)


@pytest.mark.parametrize("cli", CLIS)
@pytest.mark.parametrize("bad", ["missing", "folder", "empty"])
def test_a_missing_empty_or_folder_input_is_refused(tmp_path, capsys, cli, bad):
    path = tmp_path / "input.jsonl"
    if bad == "folder":
        path.mkdir()
    elif bad == "empty":
        path.write_bytes(b"")
    main, argv = cli_cases(tmp_path)[cli](path)
    assert main(argv) == 2
    named = "test.jsonl" if cli == "evaluate" else str(path)
    want = {"missing": "no such file", "folder": "no such file", "empty": "no "}[bad]
    if cli == "stats" and bad == "folder":  # a folder is a dataset to data.stats
        want = "no splits/*.jsonl and no samples.jsonl"
    one_error_line(capsys.readouterr().err, named, want)
    assert not (tmp_path / "eval" / "run.json").exists()  # nothing left behind


def test_skip_bad_reports_a_non_utf8_line_and_goes_on(tmp_path, capsys):
    from data.score import main

    path = tmp_path / "p.jsonl"
    row = {**record(1), "prediction": "no"}
    path.write_bytes(jsonl([row]) + b'{"id": "\xff"}\n' + jsonl([{**row, "id": "qa_9"}]))
    assert main([str(path), "--skip-bad"]) == 0
    err = capsys.readouterr().err
    assert f"skipping bad line {path}:2: not UTF-8" in err and "Traceback" not in err


def test_an_empty_train_file_gives_no_prior_and_no_lift(tmp_path, capsys):
    """It gave a 0% prior and "lift +75 pts"."""
    from data.score import main

    preds, train = tmp_path / "p.jsonl", tmp_path / "train.jsonl"
    preds.write_bytes(jsonl([{**record(1), "prediction": "no"}]))
    train.write_bytes(b"\n")
    assert main([str(preds), "--train", str(train)]) == 2
    one_error_line(capsys.readouterr().err, str(train), "no train records")


def test_evaluate_names_or_skips_unreadable_frames_and_recordings(
    spoken, tiny_checkpoint, tmp_path, capsys, bombs
):
    from data.schema import load_jsonl
    from evaluation.evaluate import main

    data = tmp_path / "data"
    shutil.copytree(spoken, data)
    test = load_jsonl(data / "splits" / "test.jsonl")
    clip = test[0]["frames"]  # a broken frame breaks every question on its clip
    on_clip = [r for r in test if r["frames"] == clip]
    other = [r for r in test if r["frames"] != clip]
    frame = data / "frames" / test[0]["video_id"] / f"{clip[3]}.jpg"
    frame.write_bytes(b"\xff\xd8 not a jpeg")
    (data / other[0]["audio"]).write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(64))
    (data / other[1]["audio"]).write_bytes(bombs["rate_1hz.wav"])  # refused before decoding
    out = tmp_path / "eval"
    argv = ["--checkpoint", str(tiny_checkpoint), "--data", str(data), "--out", str(out)]
    assert main(argv) == 2
    one_error_line(capsys.readouterr().err, str(frame), "unreadable", "--skip-bad")
    assert main([*argv, "--skip-bad"]) == 0
    err = capsys.readouterr().err
    expect = [(r, "unreadable") for r in on_clip]
    expect += [(other[0], "cannot decode"), (other[1], "sample rate 1 Hz")]
    for rec, why in expect:
        said = f"skipping sample ('{rec['video_id']}', '{rec['id']}'): "
        assert said in err and why in err.split(said)[1].split("\n")[0]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == len(test) - len(expect) and len(summary["skipped"]) == len(expect)
    assert main(["--rescore", str(out)]) == 0  # skipped samples do not break a rescore


def test_evaluate_without_a_checkpoint_leaves_nothing_behind(spoken, tmp_path, capsys):
    from evaluation.evaluate import main

    out = tmp_path / "eval"
    argv = ["--checkpoint", str(tmp_path / "nope"), "--data", str(spoken), "--out", str(out)]
    assert main(argv) == 2
    one_error_line(capsys.readouterr().err, str(tmp_path / "nope"), "not a checkpoint")
    assert not out.exists()


# --- 7. a broken checkpoint names the file at fault, in every path --------------------------


@pytest.fixture(scope="module")
def broken_checkpoints(tiny_checkpoint, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("broken")
    truncated, wider = root / "truncated", root / "wider"
    for c in (truncated, wider):
        shutil.copytree(tiny_checkpoint, c)
    proj = truncated / "projector.safetensors"
    proj.write_bytes(proj.read_bytes()[:100])  # a copy cut short
    cfg = json.loads((wider / "base" / "config.json").read_text())
    text = cfg.get("text_config", cfg)
    text["hidden_size"] *= 2  # a config that no longer fits the weights beside it
    (wider / "base" / "config.json").write_text(json.dumps(cfg))
    return {"truncated": truncated, "wider": wider}


@pytest.mark.parametrize(
    ("which", "named", "why"),
    [
        ("truncated", "projector.safetensors", "header"),
        ("wider", "base", "weights do not fit its config.json"),
    ],
)
def test_a_broken_checkpoint_says_which_file(broken_checkpoints, which, named, why, capsys):
    from model import Predictor
    from model.checkpoint import CheckpointError

    ckpt = broken_checkpoints[which]
    with pytest.raises(CheckpointError, match=rf"^{ckpt}.*{named}.*{why}.*rebuild it"):
        Predictor.from_checkpoint(ckpt, device="cpu")
    capsys.readouterr()


def test_evaluate_and_the_app_name_a_broken_checkpoint(
    broken_checkpoints, spoken, app_env, tmp_path, capsys
):
    from evaluation.evaluate import main

    proj = broken_checkpoints["truncated"] / "projector.safetensors"
    argv = ["--checkpoint", str(proj.parent), "--data", str(spoken), "--out", str(tmp_path / "e")]
    assert main([*argv, "--limit", "2"]) == 2
    one_error_line(capsys.readouterr().err, str(proj), "rebuild it")

    app_env.setenv("SURGVIVQA_CHECKPOINT", str(proj.parent))
    at = app_test()
    at.run(timeout=300)  # the model loads as the page opens: its failure is said then
    assert not at.exception
    assert at.button(key="answer").disabled  # nothing to answer with
    error = unescape("\n".join(e.value for e in at.error))
    assert "could not be loaded from its checkpoint" in error and str(proj) in error
    assert "failed on this question" not in error


# --- 8. smaller: one rule for short audio, clean audio messages, file modes ----------------------


def test_the_model_path_refuses_audio_the_app_refuses(proc):
    from model.audio import AudioError

    one_sample = wav(np.array([0.5], dtype=np.float32))
    for src in (one_sample, tone(0.2)):  # the app's rule: under 0.3 s is no question
        with pytest.raises(AudioError, match=r"under the 0\.3 s"):
            proc.audio_features(src)
        with pytest.raises(capture.QuestionError, match="too short"):
            capture.decode(src if isinstance(src, bytes) else wav(src), "q.wav")
    assert proc.audio_features(tone(0.35))[1][0] > 0


def test_audio_errors_name_the_source_not_an_object_repr():
    from model.audio import AudioError

    garbage = b"RIFF\x00\x00garbage that is no wav at all" + bytes(100)
    with pytest.raises(AudioError) as e:
        load_audio(garbage)
    assert str(e.value).startswith("<135 bytes>: cannot decode audio")
    assert "object at 0x" not in str(e.value)
    with pytest.raises(capture.QuestionError) as q:
        capture.decode(garbage, "question.ogg")
    assert str(q.value).startswith("Could not read question.ogg as audio: cannot decode")
    assert "object at 0x" not in str(q.value) and "bytes>" not in str(q.value)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_follow_the_umask(tmp_path, umask):
    """Splits, summary.json and run.json were 0600 whatever the umask (mkstemp's mode)."""
    from data.schema import write_jsonl, write_text

    old = os.umask(umask)
    try:
        paths = [write_text(tmp_path / "run.json", "{}\n"), write_jsonl(tmp_path / "s.jsonl", [])]
    finally:
        os.umask(old)
    for path in paths:
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, oct(path.stat().st_mode)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("run.json", b"\xff\xfe", "unreadable"),
        ("run.json", b"[1]", "not a JSON object"),
        ("run.json", b'{"checkpoint": "c"}', "no data, split, mode, ablation"),
        ("summary.json", b"[" * 100_000, "unreadable"),
        ("summary.json", b'{"skipped": [1]}', "malformed 'skipped'"),
    ],
)
def test_rescore_names_a_damaged_run_file(
    spoken, tiny_checkpoint, tmp_path, capsys, name, content, message
):
    from evaluation.evaluate import main

    out = tmp_path / "eval"
    argv = ["--checkpoint", str(tiny_checkpoint), "--data", str(spoken), "--out", str(out)]
    assert main([*argv, "--limit", "2"]) == 0
    (out / name).write_bytes(content)
    capsys.readouterr()
    assert main(["--rescore", str(out)]) == 2
    one_error_line(capsys.readouterr().err, str(out / name), message)


# --- 9. text from data files and checkpoints is shown as text ----------------------------------

EVIL = "\n\n![x](http://evil.example/p.png) [y](http://evil.example/)"


def test_a_blank_line_in_a_question_forms_no_image_in_the_answer_card():
    """HTML escaping does not stop Markdown after a blank line: the browser fetched the image
    inside the answer card."""
    markdown_it = pytest.importorskip("markdown_it")
    from app import ui

    graded = [{"correct": False, "gold": "no" + EVIL, "question": "Is it?" + EVIL}]
    result = {"text": "yes" + EVIL, "understood": "u" + EVIL, "grounding": "g" + EVIL,
              "graded": graded}  # fmt: skip
    card = ui._reference_lines(result) + ui.html_text(result["text"])
    rendered = markdown_it.MarkdownIt("commonmark").render(card)
    assert "<img" not in rendered and "<a " not in rendered, rendered
    assert "evil.example/p.png" in rendered  # shown as the text it is
    assert "\n\n" not in card


def test_the_training_page_shows_a_checkpoints_card_and_base_as_text(
    app_env, tiny_checkpoint, tmp_path
):
    """The Training page rendered links and images from a model card and base_model."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, ckpt)
    (ckpt / "README.md").write_text("# card" + EVIL)
    cfg = json.loads((ckpt / "graft_config.json").read_text())
    evil_base = "q`](http://evil.example/) ![b](http://evil.example/b.png)"
    (ckpt / "graft_config.json").write_text(json.dumps({**cfg, "train": "lora",
                                                        "base_model": evil_base}))  # fmt: skip
    app_env.setenv("SURGVIVQA_CHECKPOINT", str(ckpt))
    at = app_test()
    at.run()
    at.switch_page("../pages/training_run.py").run()
    assert not at.exception
    shown = [e.value for e in (*at.markdown, *at.caption) if "evil" in e.value]
    assert shown
    for value in shown:  # the app's own HTML aside: what came from the files forms nothing
        shows_only_text(value)
    assert any("evil.example/p.png" in c.value for c in at.code)  # the card, as text
    assert any(evil_base in unescape(c.value).replace("\u2060", "") for c in at.caption)

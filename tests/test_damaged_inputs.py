"""Damaged files thrown at the commands, by hypothesis: every one ends as exactly one `error:`
line on stderr and exit 2, no traceback, and nothing outside the command's --out changed.

Each command's `main(argv)` is called in-process (no subprocess: the whole file stays fast).
SURGVIVQA_PROPERTY_EXAMPLES sets the examples per property (default 15)."""

from __future__ import annotations

import itertools
import json
import os
import re
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_hostile import record

ROOT = Path(__file__).resolve().parents[1]
PROPERTY = settings(
    max_examples=int(os.environ.get("SURGVIVQA_PROPERTY_EXAMPLES", 15)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
_case = itertools.count()


# --- helpers ----------------------------------------------------------------------------------


def fresh(tmp_path: Path) -> Path:
    """A new folder per example (tmp_path is shared by all examples of one test)."""
    folder = tmp_path / f"case{next(_case)}"
    folder.mkdir()
    return folder


def snapshot(folder: Path, out: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every file under `folder` but those under `out`: name -> (mtime_ns, size)."""
    seen = {}
    for p in sorted(folder.rglob("*")):
        if out is not None and (p == out or out in p.parents):
            continue
        s = p.stat()
        seen[str(p.relative_to(folder))] = (s.st_mtime_ns, s.st_size if p.is_file() else -1)
    return seen


def refused(capfd, main, argv: list[str]) -> str:
    """Run `main(argv)`; assert exit 2 and one `error:` line on stderr, no traceback."""
    capfd.readouterr()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    err = capfd.readouterr().err
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    # libmpg123 (inside libsndfile) prints its own "Note: ..." lines on a damaged mp3 from C;
    # what the command itself says must still be one error line
    lines = [x for x in err.splitlines() if x.strip() and not x.startswith("Note: ")]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def is_damaged(line: bytes) -> bool:
    """Whether a line is no JSON object (what the readers refuse); blank lines are skipped."""
    if not line.strip():
        return False
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return True
    return not isinstance(value, dict)


def _truncated(row: dict) -> st.SearchStrategy[bytes]:
    text = json.dumps(row).encode()
    return st.integers(1, len(text) - 1).map(lambda k: text[:k])


BAD_JSON = [b"{", b"}", b'{"id": }', b"{'id': 1}", b'{"id": 1,}', b"[1, 2]", b"null", b"NaN x",
            b'{"id": "qa_1" "x": 2}', b"\xff\xfe{}", b'{"id": "\\ud800"}']  # fmt: skip


def _huge(row: dict) -> st.SearchStrategy[bytes]:
    """A valid-looking line with one integer past int64 (19 to 6,000 digits)."""
    return st.tuples(st.sampled_from(sorted(row)), st.integers(19, 6000), st.booleans()).map(
        lambda t: (
            json.dumps({**row, t[0]: 0})
            .replace(f'"{t[0]}": 0', f'"{t[0]}": {"-" if t[2] else ""}{"9" * t[1]}')
            .encode()
        )
    )


def damaged_line(row: dict) -> st.SearchStrategy[bytes]:
    """One line a JSONL reader must refuse: random bytes, a truncated row, bad JSON, or a row
    holding a huge integer."""
    random_bytes = (
        st.binary(min_size=1, max_size=300)
        .map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" "))
        .filter(is_damaged)
    )
    return st.one_of(random_bytes, _truncated(row), st.sampled_from(BAD_JSON), _huge(row))


def damaged_jsonl(good: list[dict]) -> st.SearchStrategy[bytes]:
    """`good`'s lines with one damaged line put in at a random place (or the whole file random
    bytes)."""
    one_bad = st.tuples(damaged_line(good[0]), st.integers(0, len(good))).map(
        lambda t: jsonl(good[: t[1]]) + t[0] + b"\n" + jsonl(good[t[1] :])
    )
    whole = st.binary(min_size=1, max_size=2000).filter(
        lambda b: any(is_damaged(x) for x in b.splitlines())
    )
    return st.one_of(one_bad, whole)


RECORDS = [record(i, f"v{i % 3}") for i in range(9)]
PREDICTIONS = [
    json.loads(x)
    for x in (ROOT / "checkpoints/demo/eval/predictions.jsonl").read_text().splitlines()[:6]
]


# --- JSONL: data.score, data.stats, data.split ------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_score_refuses_damaged_jsonl(tmp_path, capfd, data):
    from data.score import main

    work = fresh(tmp_path)
    pred, train = work / "pred.jsonl", work / "train.jsonl"
    pred.write_bytes(jsonl(PREDICTIONS))
    train.write_bytes(jsonl(RECORDS))
    which = data.draw(st.sampled_from(["predictions", "train"]))
    if which == "predictions":
        pred.write_bytes(data.draw(damaged_jsonl(PREDICTIONS)))
    else:
        train.write_bytes(data.draw(damaged_jsonl(RECORDS)))
    before = snapshot(work)
    refused(capfd, main, [str(pred), "--train", str(train)])
    assert snapshot(work) == before


@PROPERTY
@given(data=st.data())
def test_stats_refuses_damaged_jsonl(tmp_path, capfd, data):
    from data.stats import main

    work = fresh(tmp_path)
    src = work / "s.jsonl"
    src.write_bytes(data.draw(damaged_jsonl(RECORDS)))
    out = work / "out"
    before = snapshot(work, out)
    refused(capfd, main, [str(src), "--out-md", str(out / "s.md"), "--out-json",
                           str(out / "s.json")])  # fmt: skip
    assert snapshot(work, out) == before
    assert not out.exists()  # refused before writing


@PROPERTY
@given(data=st.data())
def test_split_refuses_damaged_jsonl(tmp_path, capfd, data):
    from data.split import main

    work = fresh(tmp_path)
    src = work / "s.jsonl"
    src.write_bytes(data.draw(damaged_jsonl(RECORDS)))
    out = work / "out"
    before = snapshot(work, out)
    refused(capfd, main, [str(src), "--test-videos", "v1", "--out", str(out)])
    assert snapshot(work, out) == before
    assert not (out / "splits").exists() or not any((out / "splits").iterdir())


# --- a TOML recipe: training.train --recipe PATH ----------------------------------------------

DEMO = (ROOT / "training/recipes/demo.toml").read_text()
_ASSIGN = re.compile(r"^(\w+)\s*=.*$", re.M)


def damaged_recipe() -> st.SearchStrategy[bytes]:
    """The demo recipe damaged: random bytes, cut and followed by a broken line, one value of
    a wrong type, an unknown key, table or stage kind."""
    keys = _ASSIGN.findall(DEMO)
    cut = st.integers(0, len(DEMO)).map(lambda k: (DEMO[:k] + "\n= broken [\n").encode())
    wrong = st.tuples(st.sampled_from(keys), st.sampled_from(["[1, 2]", "{a = 1}", "1979-05-27"]))
    wrong_type = wrong.map(
        lambda t: re.sub(rf"^{t[0]}\s*=.*$", f"{t[0]} = {t[1]}", DEMO, count=1, flags=re.M).encode()
    )
    unknown_key = st.tuples(
        st.sampled_from(["[model]", "[data]", "[run]", "[trainer]"]),
        st.from_regex(r"zz[a-z_]{1,12}", fullmatch=True),
    ).map(lambda t: DEMO.replace(t[0], f"{t[0]}\n{t[1]} = 1", 1).encode())
    unknown_table = st.from_regex(r"zz[a-z]{1,8}", fullmatch=True).map(
        lambda n: (DEMO + f"\n[{n}]\nx = 1\n").encode()
    )
    unknown_kind = st.from_regex(r"zz[a-z_]{1,8}", fullmatch=True).map(
        lambda n: (DEMO + f'\n[[stage]]\nkind = "{n}"\n').encode()
    )
    random_bytes = st.binary(min_size=1, max_size=500).filter(_not_toml)
    return st.one_of(random_bytes, cut, wrong_type, unknown_key, unknown_table, unknown_kind)


def _not_toml(b: bytes) -> bool:
    import tomllib

    try:
        tomllib.loads(b.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True
    return False


@PROPERTY
@given(text=damaged_recipe())
def test_train_refuses_a_damaged_recipe(tmp_path, capfd, text):
    from training.train import main

    work = fresh(tmp_path)
    recipe = work / "r.toml"
    recipe.write_bytes(text)
    out = work / "out"
    before = snapshot(work, out)
    argv = ["--recipe", str(recipe), "--data", str(ROOT / "data/demo"), "--output_dir", str(out)]
    refused(capfd, main, argv)
    assert snapshot(work, out) == before
    assert not out.exists()  # refused before any model work


# --- audio: model.speech FILE -----------------------------------------------------------------


def _wav_header(data_size: int, channels: int, rate: int, bits: int) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * channels * bits // 8) & 0xFFFFFFFF,
                      (channels * bits // 8) & 0xFFFF, bits)  # fmt: skip
    return (b"RIFF" + struct.pack("<I", 36 + data_size) + b"WAVE" + b"fmt "
            + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", data_size))  # fmt: skip


def damaged_audio() -> st.SearchStrategy[bytes]:
    """Random bytes, a WAV header that promises what the file does not hold, or a real WAV
    header cut short, each under an audio file name."""
    random_bytes = st.binary(min_size=0, max_size=2000)
    lying = st.builds(
        lambda size, ch, rate, bits, body: _wav_header(size, ch, rate, bits) + body,
        st.integers(0, 2**32 - 37),
        st.sampled_from([0, 1, 2, 65535]),
        st.sampled_from([0, 1, 16000, 2**31]),
        st.sampled_from([0, 3, 8, 16, 24, 64]),
        st.binary(max_size=64),
    ).filter(lambda b: b[22:24] in (b"\x00\x00", b"\xff\xff") or b[24:28] in (b"\0\0\0\0",))
    cut = st.integers(0, 43).map(lambda k: _wav_header(32000, 1, 16000, 16)[:k])
    return st.one_of(random_bytes, lying, cut)


@PROPERTY
@given(body=damaged_audio(), suffix=st.sampled_from([".wav", ".flac", ".ogg", ".mp3"]))
def test_speech_refuses_damaged_audio(tmp_path, capfd, body, suffix):
    from model.speech import main

    work = fresh(tmp_path)
    f = work / f"a{suffix}"
    f.write_bytes(body)
    before = snapshot(work)
    refused(capfd, main, [str(f)])
    assert snapshot(work) == before


# --- a checkpoint: evaluation.evaluate --checkpoint C -----------------------------------------


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("data")
    (d / "splits").mkdir()
    for split in ("train", "test"):
        (d / "splits" / f"{split}.jsonl").write_bytes(jsonl(RECORDS))
    return d


def damaged_config() -> st.SearchStrategy[bytes]:
    """graft_config.json as random bytes, cut short, or JSON that is no config."""
    good = (ROOT / "checkpoints/demo/graft_config.json").read_bytes()
    random_bytes = st.binary(max_size=500).filter(is_damaged_config)
    cut = st.integers(0, len(good) - 1).map(lambda k: good[:k]).filter(is_damaged_config)
    wrong = st.sampled_from(
        [b"[]", b"null", b"1", b'"x"', b'{"vision_tokens": ' + b"9" * 40 + b"}"]
    )
    return st.one_of(random_bytes, cut, wrong)


def is_damaged_config(b: bytes) -> bool:
    try:
        return not isinstance(json.loads(b.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return True


@PROPERTY
@given(body=damaged_config())
def test_evaluate_refuses_a_damaged_checkpoint(tmp_path, capfd, tiny_data, body):
    from evaluation.evaluate import main

    work = fresh(tmp_path)
    ck = work / "ck"
    ck.mkdir()
    (ck / "graft_config.json").write_bytes(body)
    out = work / "out"
    before = snapshot(work, out)
    data_before = snapshot(tiny_data)
    argv = ["--checkpoint", str(ck), "--data", str(tiny_data), "--split", "test", "--out",
            str(out)]  # fmt: skip
    refused(capfd, main, argv)
    assert snapshot(work, out) == before
    assert snapshot(tiny_data) == data_before

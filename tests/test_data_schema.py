"""Schema, validating loader, safe frame paths and atomic writer (data/schema.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data.schema import (
    REQUIRED_FIELDS,
    DataError,
    frame_path,
    load_jsonl,
    record_key,
    validate_record,
    write_jsonl,
)


def rec(id_: str = "qa_000001", video: str = "002-001", start: int = 100, **kw) -> dict:
    numbers = [start + 4 * i for i in range(8)]
    r = {
        "id": id_,
        "video_id": video,
        "frames": [f"{video}_{n}" for n in numbers],
        "frame_numbers": numbers,
        "question": "Is the scope in motion here?",
        "question_type": "scope_motion",
        "support_frames": 8,
        "total_frames": 8,
        "support_ratio": 1.0,
        "support_percentage": 100.0,
        "answer": "Yes, the scope is moving across the frames.",
        "short_answer": "yes",
    }
    r.update(kw)
    return r


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_real_files_load_with_unique_keys_but_repeated_ids(real_dir):
    train = load_jsonl(real_dir / "train_multivideo.jsonl")
    test = load_jsonl(real_dir / "test_multivideo.jsonl")
    assert len(train) == 2302 and len(test) == 1000
    assert len({r["id"] for r in train}) == 2046  # ids repeat across videos
    assert len({record_key(r) for r in train}) == 2302
    assert len({r["id"] for r in train} & {r["id"] for r in test}) == 154


def test_roundtrip_and_atomic_write(tmp_path):
    recs = [rec("a"), rec("a", video="002-002"), rec("b", audio="audio/x.wav", phrasing=2)]
    out = write_jsonl(tmp_path / "sub" / "s.jsonl", recs)
    assert load_jsonl(out) == recs
    assert [p.name for p in out.parent.iterdir()] == ["s.jsonl"]  # no temp file left behind


@pytest.mark.parametrize(
    "line, needle",
    [
        ('{"id": "x", ', "malformed JSON"),
        (json.dumps({k: v for k, v in rec().items() if k != "answer"}), "missing field(s) answer"),
        (json.dumps(rec(question_type="scope_color")), "unknown question_type"),
        (json.dumps(rec(short_answer="maybe")), "not an option"),
        (json.dumps(rec(frame_numbers=list(range(100, 128, 4)))), "7 frame_numbers"),
        (json.dumps(rec(frames=[f"002-001_{n}" for n in range(101, 133, 4)])), "disagrees"),
        (json.dumps(rec(frames=[f"002-009_{n}" for n in range(100, 132, 4)])), "not '<video_id>_"),
        (json.dumps(rec(frames=["../etc_100"] + rec()["frames"][1:])), "unsafe frame"),
        (json.dumps(rec(video="..")), "unsafe video_id"),
        (json.dumps(rec(audio="/etc/passwd")), "audio path"),
        (json.dumps(rec(audio="audio/../../x.wav")), "unsafe audio path"),
        (json.dumps(rec(phrasing="2")), "'phrasing' must be int"),
        ("[1, 2]", "not an object"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, line, needle):
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps(rec("ok")), line])
    with pytest.raises(DataError) as e:
        load_jsonl(path)
    assert f"{path}:2:" in str(e.value) and needle in str(e.value)


def test_dotdot_frame_name_rejected_by_validator():
    r = rec()
    r["video_id"] = "002-001"
    r["frames"][0] = "../002-001_100"
    with pytest.raises(DataError, match="unsafe frame"):
        validate_record(r)


def test_duplicate_key_is_an_error_but_same_id_other_video_is_not(tmp_path):
    ok = write_lines(tmp_path / "ok.jsonl", [json.dumps(rec("a")), json.dumps(rec("a", "002-002"))])
    assert len(load_jsonl(ok)) == 2
    dup = write_lines(tmp_path / "dup.jsonl", [json.dumps(rec("a")), json.dumps(rec("a", start=5))])
    with pytest.raises(DataError, match=r"dup\.jsonl:2: duplicate key \('002-001', 'a'\)"):
        load_jsonl(dup)


def test_skip_bad_reports_every_bad_line_and_keeps_the_good(tmp_path, capsys):
    lines = [
        json.dumps(rec("a")),
        "not json",
        json.dumps({k: v for k, v in rec("b").items() if k != "frames"}),
        json.dumps(rec("c", question_type="nope")),
        "",
        json.dumps(rec("a")),
        json.dumps(rec("d")),
    ]
    path = write_lines(tmp_path / "mixed.jsonl", lines)
    got = load_jsonl(path, skip_bad=True)
    assert [r["id"] for r in got] == ["a", "d"]
    err = capsys.readouterr().err
    for lineno in (2, 3, 4, 6):
        assert f"{path}:{lineno}:" in err
    assert err.count("skipping bad line") == 4


def test_required_fields_match_real_schema(real_dir):
    first = json.loads((real_dir / "eval_multivideo.jsonl").open().readline())
    assert set(REQUIRED_FIELDS) == set(first)


def test_frame_path_resolves_inside_and_rejects_escapes(tmp_path):
    p = frame_path(tmp_path, "002-001", "002-001_100")
    assert p == (tmp_path / "002-001" / "002-001_100.jpg").resolve()
    for video, frame in [
        ("..", "x"),
        ("002-001", ".."),
        ("002-001", "../../etc/passwd"),
        ("a/b", "x"),
        ("002-001", "/etc/passwd"),
        ("", "x"),
        ("002-001", ""),
        ("002-001", "a\\b"),
        ("002-001", ".hidden"),
    ]:
        with pytest.raises(DataError):
            frame_path(tmp_path, video, frame)


def test_frame_path_rejects_symlink_escape(tmp_path):
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "v1").symlink_to(tmp_path)
    with pytest.raises(DataError, match="escapes"):
        frame_path(tmp_path / "frames", "v1", "v1_1")


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_jsonl(tmp_path / "absent.jsonl")

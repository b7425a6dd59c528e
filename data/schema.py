"""SurgViVQA JSONL records: the schema, validating loader, safe frame paths and atomic writer.

    python -c "from data.schema import load_jsonl; print(len(load_jsonl('samples.jsonl')))"

Every line is checked; a bad one raises DataError naming `file:line`, or with skip_bad=True is
reported on stderr and skipped (never dropped silently). The unique key is (video_id, id): the
real benchmark reuses ids across videos.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from data.catalog import CATALOG
from model.cli import InputError, loads
from model.layout import write_text

REQUIRED_FIELDS: tuple[str, ...] = (
    "id",
    "video_id",
    "frames",
    "frame_numbers",
    "question",
    "question_type",
    "support_frames",
    "total_frames",
    "support_ratio",
    "support_percentage",
    "answer",
    "short_answer",
)
# Optional project fields and their types (absent is fine; present must be well-formed).
OPTIONAL_FIELDS: dict[str, type | tuple[type, ...]] = {
    "audio": str,
    "voice": str,
    "caption": str,
    "phrasing": int,
    "scene": dict,
}

# A safe single path component: no separators, no leading dot (so no "." or ".."), no NUL.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


class DataError(InputError, ValueError):
    """A record or file that does not follow the schema; the message names where."""


def record_key(rec: dict) -> tuple[str, str]:
    """The unique key of a record: (video_id, id)."""
    return (rec["video_id"], rec["id"])


def check_name(name: object, what: str) -> str:
    """`name` if it is one safe path component, else DataError (rejects '..', '/', '', abs)."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise DataError(f"unsafe {what} {name!r}: must be one plain path component")
    return name


def frame_path(frames_dir: str | Path, video_id: str, frame: str) -> Path:
    """`<frames_dir>/<video_id>/<frame>.jpg`, guaranteed to stay inside frames_dir."""
    root = Path(frames_dir).resolve()
    path = (root / check_name(video_id, "video_id") / f"{check_name(frame, 'frame')}.jpg").resolve()
    if not path.is_relative_to(root):  # a symlinked component could still lead out
        raise DataError(f"frame path {path} escapes {root}")
    return path


def _frame_number(name: str, video_id: str) -> int:
    prefix, sep, number = name.rpartition("_")
    if not sep or prefix != video_id or not number.isdigit():
        raise DataError(f"frame name {name!r} is not '<video_id>_<number>' for video {video_id!r}")
    return int(number)


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: object) -> bool:
    return (_is_int(x) or isinstance(x, float)) and math.isfinite(x)


def validate_record(rec: object) -> None:
    """Raise DataError describing the first problem of `rec`; return None when it is valid."""
    if not isinstance(rec, dict):
        raise DataError(f"record is a {type(rec).__name__}, not an object")
    missing = [f for f in REQUIRED_FIELDS if f not in rec]
    if missing:
        raise DataError(f"missing field(s) {', '.join(missing)}")
    for f in ("id", "question", "answer", "short_answer", "question_type"):
        if not isinstance(rec[f], str) or not rec[f].strip():
            raise DataError(f"field {f!r} must be a non-empty string, got {rec[f]!r}")
    if len(rec["id"]) > 128 or not _SAFE_NAME.fullmatch(rec["id"]):
        raise DataError(  # ids reach links and pages: no markup, spaces or separators
            f"id {rec['id'][:80]!r} must be letters, digits, '_', '.' or '-' (128 at most)"
        )
    video_id = check_name(rec["video_id"], "video_id")
    qtype = CATALOG.get(rec["question_type"])
    if qtype is None:
        raise DataError(f"unknown question_type {rec['question_type']!r}")
    if rec["short_answer"] not in qtype.options:
        raise DataError(
            f"short_answer {rec['short_answer']!r} is not an option of {qtype.name} "
            f"({', '.join(qtype.options)})"
        )
    frames, numbers = rec["frames"], rec["frame_numbers"]
    if not isinstance(frames, list) or not frames:
        raise DataError("field 'frames' must be a non-empty list")
    if not isinstance(numbers, list) or not all(_is_int(n) for n in numbers):
        raise DataError("field 'frame_numbers' must be a list of integers")
    if len(frames) != len(numbers):
        raise DataError(f"{len(frames)} frames but {len(numbers)} frame_numbers")
    for name, number in zip(frames, numbers, strict=True):
        check_name(name, "frame")
        if _frame_number(name, video_id) != number:
            raise DataError(f"frame {name!r} disagrees with frame_number {number}")
    if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
        raise DataError(f"frame_numbers not strictly increasing: {numbers}")
    for f in ("support_frames", "total_frames"):
        if not _is_int(rec[f]) or rec[f] < 0:
            raise DataError(f"field {f!r} must be a non-negative integer, got {rec[f]!r}")
    if rec["total_frames"] != len(frames) or rec["support_frames"] > rec["total_frames"]:
        raise DataError(
            f"support_frames {rec['support_frames']} / total_frames {rec['total_frames']} "
            f"disagree with {len(frames)} frames"
        )
    for f in ("support_ratio", "support_percentage"):
        if not _is_num(rec[f]):
            raise DataError(f"field {f!r} must be a number, got {rec[f]!r}")
    for f, kind in OPTIONAL_FIELDS.items():
        if (
            f in rec
            and rec[f] is not None
            and (not isinstance(rec[f], kind) or (kind is int and isinstance(rec[f], bool)))
        ):
            raise DataError(f"field {f!r} must be {kind.__name__}, got {rec[f]!r}")
    if rec.get("audio"):
        parts = Path(rec["audio"]).parts
        if Path(rec["audio"]).is_absolute() or not parts or "\\" in rec["audio"]:
            raise DataError(f"audio path {rec['audio']!r} must be relative to the dataset")
        for part in parts:
            check_name(part, "audio path component")


def _bad(where: str, msg: str, skip_bad: bool) -> None:
    if not skip_bad:
        raise DataError(f"{where}: {msg}")
    print(f"skipping bad line {where}: {msg}", file=sys.stderr)


def json_lines(path: str | Path) -> Iterator[tuple[int, object]]:
    """(line number, value) for each non-blank line of a JSONL file. A line that is not UTF-8,
    not JSON or nested too deeply yields a DataError as its value (not raised: the caller
    raises or skips it); a path that is not a readable file raises DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file" + (" (a folder)" if path.is_dir() else ""))
    try:
        fh = path.open("rb")
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror})") from None
    with fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue  # blank lines (a trailing newline) carry no record
            try:
                yield lineno, loads(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                yield lineno, DataError(f"not UTF-8 (byte {e.start + 1} of the line)")
            except json.JSONDecodeError as e:
                yield lineno, DataError(f"malformed JSON ({e.msg} at column {e.colno})")
            except ValueError as e:  # model.cli.loads: a huge integer, an unpaired surrogate
                yield lineno, DataError(f"malformed JSON ({e})")
            except RecursionError:
                yield lineno, DataError("JSON nested too deeply")


def load_jsonl(path: str | Path, skip_bad: bool = False) -> list[dict]:
    """All records of a JSONL file, each validated; duplicate (video_id, id) keys are errors.

    skip_bad=True reports each bad line on stderr and skips it instead of raising.
    """
    path = Path(path)
    records: list[dict] = []
    seen: dict[tuple[str, str], int] = {}
    for lineno, rec in json_lines(path):
        where = f"{path}:{lineno}"
        try:
            if isinstance(rec, DataError):
                raise rec
            validate_record(rec)
        except DataError as e:
            _bad(where, str(e), skip_bad)
            continue
        key = record_key(rec)
        if key in seen:
            _bad(where, f"duplicate key {key} (first at line {seen[key]})", skip_bad)
            continue
        seen[key] = lineno
        records.append(rec)
    return records


def write_jsonl(path: str | Path, records: Iterable[dict]) -> Path:
    """Write records one per line, atomically."""
    return write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))

"""One reader for a data folder (no torch): its records (samples.jsonl and splits/NAME.jsonl),
each record's 8 frames and its spoken question. The app, training and evaluation all read
through it, so every path a record names is held inside the folder the same way.

    python -c "from data.files import read_split; print(len(read_split('data/demo', 'test')))"

File names are model.layout's; records are checked by data.schema (a bad line names file:line).
A record's path that leads out of the data folder ('../', an absolute path, a symlink) is
refused with a DataError naming the record, never opened.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from data.schema import DataError, check_name, frame_path, load_jsonl, record_key
from model.image import ImageTooLargeError as ImageTooLargeError  # the one bounded read
from model.image import open_rgb as open_rgb
from model.layout import FRAMES_DIR, SAMPLES_FILE, SPLITS, split_file


class RecordFileError(DataError):
    """A record's frame or recording that is missing, unreadable or outside the data folder;
    `path` is the (first) file, `missing` how many of the record's frames are missing (the app
    says it in its own words)."""

    def __init__(self, message: str, path: Path, missing: int = 0):
        super().__init__(message)
        self.path, self.missing = path, missing


class NoDataset(DataError):
    """The folder holds neither samples.jsonl nor a split file."""


# --- records ------------------------------------------------------------------------------------
def split_path(data: str | Path, split: str) -> Path:
    """`<data>/splits/<split>.jsonl`; a split name that is not one plain name is refused."""
    return split_file(data, check_name(split, "split name"))


def read_split(data: str | Path, split: str, skip_bad: bool = False) -> list[dict]:
    """The split's records (validated): DataError naming a bad line, FileNotFoundError a
    missing file."""
    return load_jsonl(split_path(data, split), skip_bad=skip_bad)


def sources(data: str | Path) -> list[Path]:
    """The record files the folder holds: samples.jsonl, then the standard splits."""
    files = [Path(data) / SAMPLES_FILE] + [split_file(data, s) for s in SPLITS]
    return [f for f in files if f.is_file()]


def read_dataset(data: str | Path) -> list[dict]:
    """Every record, each with a `split` field ("train", "eval", "test" or "-" when unsplit):
    samples.jsonl where the folder has one, else the union of the splits."""
    data = Path(data)
    if not sources(data):
        raise NoDataset(f"no dataset in {data} (no {SAMPLES_FILE} or {split_file('', '*')})")
    split_of: dict[tuple[str, str], str] = {}
    by_split: dict[str, list[dict]] = {}
    for name in SPLITS:
        if split_file(data, name).is_file():
            by_split[name] = read_split(data, name)
            split_of.update({record_key(r): name for r in by_split[name]})
    if (data / SAMPLES_FILE).is_file():
        records = load_jsonl(data / SAMPLES_FILE)
    else:
        records = [r for rs in by_split.values() for r in rs]
    return [{**r, "split": split_of.get(record_key(r), "-")} for r in records]


# --- a record's files ---------------------------------------------------------------------------
def frame_paths(data: str | Path, rec: dict) -> list[Path]:
    """The clip's frame files (inside <data>/frames); RecordFileError names the first missing."""
    paths = [frame_path(Path(data) / FRAMES_DIR, rec["video_id"], f) for f in rec["frames"]]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise RecordFileError(
            f"frame {missing[0]} of record {record_key(rec)} is missing ({len(missing)} of "
            f"{len(paths)} frames are)",
            missing[0],
            len(missing),
        )
    return paths


def load_frames(data: str | Path, rec: dict) -> list[Image.Image]:
    """The clip's frames as RGB images; RecordFileError naming a missing or unreadable file."""
    frames = []
    for path in frame_paths(data, rec):
        try:
            frames.append(open_rgb(path))
        except OSError as e:  # not an image, a truncated one, or one too large to decode
            raise RecordFileError(
                f"cannot read frame {path} of record {record_key(rec)}: unreadable ({e})", path
            ) from e
    return frames


def audio_path(data: str | Path, rec: dict) -> Path:
    """The record's spoken question; DataError when it has none, when the file is missing, or
    when its path leads out of the data folder."""
    key = (rec.get("video_id"), rec.get("id"))  # the app asks with partial records too
    if not rec.get("audio"):
        raise DataError(f"record {key} has no 'audio' field: run python -m data.tts --data {data}")
    root = Path(data).resolve()
    path = (root / rec["audio"]).resolve()
    if not path.is_relative_to(root):  # '../', an absolute path or a symlink leading out
        raise RecordFileError(
            f"audio {rec['audio']!r} of record {key} is outside the data folder {data}: refused",
            path,
        )
    if not path.is_file():
        raise RecordFileError(f"audio {path} of record {key} is missing", path)
    return path

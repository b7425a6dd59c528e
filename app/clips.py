"""The loaded dataset for the app: validated records tagged with their split, cached per folder.

    python -c "from app.clips import read_dataset; print(len(read_dataset('data/demo')))"

Reads through data.files, the one reader of a data folder (records, frames, recordings, each
path held inside the folder): a bad line is an error naming file:line, never a silent drop.
This module adds the cache, the filters and the app's own words for what is missing.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import streamlit as st
from PIL import Image

from app.settings import short_path
from data import files
from data.schema import DataError, record_key
from model.layout import SPLITS

ALL = "All"  # the filter value meaning "no filter"


class NoData(FileNotFoundError):
    """The data folder holds no dataset yet; the message says how to make one."""


class ClipError(ValueError):
    """A clip whose frames or audio cannot be read; the message names the file."""


def stamp(data_dir: Path) -> tuple[tuple[str, float], ...]:
    """File names and mtimes: a new dataset in the same folder invalidates the cache."""
    return tuple((f.name, f.stat().st_mtime) for f in files.sources(data_dir))


def read_dataset(data_dir: str | Path) -> list[dict]:
    """Every record, each with a `split` field ("train", "eval", "test" or "-" when unsplit)."""
    try:
        return files.read_dataset(data_dir)
    except files.NoDataset:
        raise NoData(
            f"No dataset in {short_path(data_dir)} (no samples.jsonl or splits/). Build the demo "
            "data with `make data`, or point the app at another folder with SURGVIVQA_DATA=... or "
            "`-- --data DIR`."
        ) from None


@st.cache_data(show_spinner="Loading the dataset…", max_entries=4)
def _cached(data_dir: str, version: tuple) -> list[dict]:  # version: hashed, unlike _names
    return read_dataset(data_dir)


def dataset(data_dir: Path) -> list[dict]:
    """The cached dataset of `data_dir`; raises NoData or data.schema.DataError."""
    return _cached(str(data_dir), stamp(data_dir))


def counts(records: Sequence[dict], field: str) -> Counter:
    return Counter(r[field] for r in records)


def option_label(value: str, n: int) -> str:
    return f"{value} ({n})"


def select(records: Sequence[dict], qtype: str = ALL, video: str = ALL) -> list[dict]:
    """Records matching the filters, in a stable order (video, first frame, id)."""
    out = [
        r
        for r in records
        if (qtype == ALL or r["question_type"] == qtype)
        and (video == ALL or r["video_id"] == video)
    ]
    return sorted(out, key=lambda r: (r["video_id"], r["frame_numbers"][0], r["id"]))


SPLIT_WORDS = {  # plain words for each split
    "test": "held-out test clips",
    "eval": "evaluation clips",
    "train": "training clips",
    "-": "unsplit clips",
}


def clip_key(rec: dict) -> tuple[str, tuple[str, ...]]:
    """A clip is its 8 frames: the records that share them are its questions."""
    return rec["video_id"], tuple(rec["frames"])


def group(records: Sequence[dict]) -> list[list[dict]]:
    """The clips of `records` in a stable order (video, first frame), each clip's questions in
    the catalog's type order (then id)."""
    from data.catalog import TYPE_NAMES

    rank = {t: i for i, t in enumerate(TYPE_NAMES)}
    by_clip: dict[tuple, list[dict]] = {}
    for r in records:
        by_clip.setdefault(clip_key(r), []).append(r)
    clips = sorted(by_clip.values(), key=lambda c: (c[0]["video_id"], c[0]["frame_numbers"][0]))
    return [sorted(c, key=lambda r: (rank.get(r["question_type"], 99), r["id"])) for c in clips]


def select_clips(
    records: Sequence[dict], split: str = ALL, qtype: str = ALL, video: str = ALL
) -> list[list[dict]]:
    """The clips of one split and video that hold a question of `qtype` (ALL: any)."""
    kept = [r for r in records if split == ALL or r.get("split", "-") == split]
    clips = group(select(kept, video=video))
    return [c for c in clips if qtype == ALL or any(r["question_type"] == qtype for r in c)]


def clip_counts(records: Sequence[dict], field: str) -> Counter:
    """How many clips (not questions) have each value of `field`."""
    seen: dict[str, set] = {}
    for r in records:
        seen.setdefault(r.get(field, "-"), set()).add(clip_key(r))
    return Counter({k: len(v) for k, v in seen.items()})


def step(index: int, n: int, move: str, rng: random.Random | None = None) -> int:
    """The clip index after "prev" / "next" (wrapping) or "random" (a different clip)."""
    if n <= 0:
        return 0
    if move == "prev":
        return (index - 1) % n
    if move == "next":
        return (index + 1) % n
    if move == "random":
        if n == 1:
            return 0
        pick = (rng or random).randrange(n - 1)
        return pick if pick < index else pick + 1
    raise ValueError(f"unknown move {move!r}")


def frame_paths(data_dir: Path, rec: dict) -> list[Path]:
    """The clip's frame files; ClipError names the first missing one."""
    try:
        return files.frame_paths(data_dir, rec)
    except files.RecordFileError as e:
        raise ClipError(
            f"{e.missing} of {len(rec['frames'])} frames of clip {rec['video_id']}/{rec['id']} "
            f"are missing, first {short_path(e.path)}. Frames live in <data>/frames/<video_id>/; "
            "for the demo data run `make data`."
        ) from None


def load_frames(data_dir: Path, rec: dict) -> list[Image.Image]:
    """The clip's 8 frames as RGB images; ClipError on a missing or unreadable file."""
    frame_paths(data_dir, rec)  # a missing frame in the app's words
    try:
        return files.load_frames(data_dir, rec)
    except files.RecordFileError as e:  # ImageTooLargeError too: bounded before decoding
        raise ClipError(f"cannot read frame {short_path(e.path)}: {e.__cause__ or e}") from e


def audio_path(data_dir: Path, rec: dict) -> Path | None:
    """The clip's recorded question, or None when the record has none, the file is missing or
    its path leads out of the data folder (data.files refuses it)."""
    try:
        return files.audio_path(data_dir, rec)
    except DataError:
        return None


def find(records: Sequence[dict], key: tuple[str, str]) -> dict | None:
    return next((r for r in records if record_key(r) == key), None)


__all__ = ["ALL", "ClipError", "DataError", "NoData", "SPLITS", "dataset", "read_dataset"]

"""A record's files on disk: its 8 frames and its spoken question (no torch).

python -c "from data.files import load_frames; help(load_frames)"
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from data.schema import DataError, frame_path, record_key


def load_frames(data: Path, rec: dict) -> list[Image.Image]:
    """The clip's frames as RGB images; DataError naming the first missing file."""
    frames = []
    for name in rec["frames"]:
        path = frame_path(data / "frames", rec["video_id"], name)
        if not path.is_file():
            raise DataError(f"frame {path} of record {record_key(rec)} is missing")
        try:
            with Image.open(path) as im:
                frames.append(im.convert("RGB"))
        except OSError as e:  # not an image, or a truncated one
            raise DataError(f"frame {path} of record {record_key(rec)} is unreadable: {e}") from e
    return frames


def audio_path(data: Path, rec: dict) -> Path:
    """The record's spoken question; DataError when it has none or the file is missing."""
    if not rec.get("audio"):
        raise DataError(
            f"record {record_key(rec)} has no 'audio' field: run python -m data.tts --data {data}"
        )
    path = data / rec["audio"]
    if not path.is_file():
        raise DataError(f"audio {path} of record {record_key(rec)} is missing")
    return path

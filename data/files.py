"""A record's files on disk: its 8 frames and its spoken question (no torch).

python -c "from data.files import load_frames; help(load_frames)"
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

from data.schema import DataError, frame_path, record_key

MAX_FRAME_PIXELS = 4096 * 4096  # a 4K frame fits; its RGB pixels are at most 50 MB decoded


class ImageTooLargeError(OSError):
    """An image whose header asks for more pixels than any frame has: refused undecoded. An
    OSError, so every `except OSError` around an image read (--skip-bad, the pages) holds it."""


def open_rgb(path: str | Path) -> Image.Image:
    """The image at `path` as RGB, its size read from the header and bounded before a pixel is
    decoded (a 10000x10000 JPEG is 300 MB decoded; eight of them killed the app)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(path)
        except Image.DecompressionBombError as e:  # PIL's own limit (not an OSError)
            raise ImageTooLargeError(f"{path}: too many pixels to decode ({e})") from None
    with im:
        w, h = im.size
        if w * h > MAX_FRAME_PIXELS:
            raise ImageTooLargeError(
                f"{path}: {w}x{h} pixels, past the {MAX_FRAME_PIXELS:,} a frame may have"
            )
        return im.convert("RGB")


def load_frames(data: Path, rec: dict) -> list[Image.Image]:
    """The clip's frames as RGB images; DataError naming the first missing file."""
    frames = []
    for name in rec["frames"]:
        path = frame_path(data / "frames", rec["video_id"], name)
        if not path.is_file():
            raise DataError(f"frame {path} of record {record_key(rec)} is missing")
        try:
            frames.append(open_rgb(path))
        except OSError as e:  # not an image, a truncated one, or one too large to decode
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

"""The bounded image read for model/: a frame's size is read from its header and refused past a
limit before a pixel is decoded. Torch-free and importing nothing of ours, so the model's own
commands (model/ may not import data/) read frames the way data.files.open_rgb does.

    python -c "from model.image import open_rgb; print(open_rgb('frame.jpg').size)"
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

MAX_FRAME_PIXELS = 4096 * 4096  # a 4K frame fits; its RGB pixels are at most 50 MB decoded


class ImageTooLargeError(OSError):
    """An image whose header asks for more pixels than any frame has: refused undecoded. An
    OSError, so every `except OSError` around an image read holds it, and the command boundary
    says it in one line."""


def open_rgb(path: str | Path) -> Image.Image:
    """The image at `path` as RGB, its size bounded before decoding (a 10000x10000 JPEG is
    300 MB decoded; PIL's own bomb error is no OSError)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(path)
        except Image.DecompressionBombError as e:
            raise ImageTooLargeError(f"{path}: too many pixels to decode ({e})") from None
    with im:
        w, h = im.size
        if w * h > MAX_FRAME_PIXELS:
            raise ImageTooLargeError(
                f"{path}: {w}x{h} pixels, past the {MAX_FRAME_PIXELS:,} a frame may have"
            )
        return im.convert("RGB")

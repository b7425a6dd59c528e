"""Clip pictures: the 8-frame grid, the looping flipbook (animated GIF) and the contact sheet.

    python -c "from app.media import build_flipbook; print(len(build_flipbook(['f.jpg'], 2)))"

The flipbook is built once per (clip, speed) with PIL and cached; st.image passes GIF bytes
through untouched as long as they are narrower than its maximum width, so the browser animates.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from data.files import open_rgb  # the one bounded image read

FLIPBOOK_WIDTH = 384  # px: the browser scales it to the column; under st.image's 1460 px limit
THUMB = 112  # px: contact sheet tiles, the tiny model's own input size


def _label(img: Image.Image, text: str) -> Image.Image:
    """A copy of `img` with `text` on a dark band in the top-left corner."""
    img = img.copy()
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(12, img.width // 24))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = 4
    draw.rectangle((0, 0, right - left + 2 * pad, bottom - top + 2 * pad), fill=(11, 30, 45))
    draw.text((pad - left, pad - top), text, fill=(255, 255, 255), font=font)
    return img


def _fit(img: Image.Image, width: int) -> Image.Image:
    height = max(1, round(img.height * width / img.width))
    return img.resize((width, height), Image.Resampling.LANCZOS)


def build_flipbook(
    paths: Sequence[str | Path],
    fps: float,
    numbers: Sequence[int] | None = None,
    width: int = FLIPBOOK_WIDTH,
) -> bytes:
    """A looping animated GIF of the frames at `fps`, each labelled with its frame number."""
    if not paths:
        raise ValueError("a flipbook needs at least one frame")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    frames = []
    for i, path in enumerate(paths):
        img = _fit(open_rgb(path), width)
        tag = f"frame {numbers[i]}" if numbers else f"{i + 1}"
        # octree palettes: 50x faster than PIL's default median cut, and as good for video
        labelled = _label(img, f"{tag}  ·  {i + 1}/{len(paths)}")
        frames.append(labelled.quantize(256, method=Image.Quantize.FASTOCTREE))
    buf = io.BytesIO()
    frames[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=round(1000 / fps),
        loop=0,  # forever
        optimize=False,
    )
    return buf.getvalue()


@st.cache_data(show_spinner=False, max_entries=128)
def flipbook(paths: tuple[str, ...], fps: float, numbers: tuple[int, ...]) -> bytes:
    """The cached flipbook of one clip at one speed."""
    return build_flipbook(paths, fps, numbers)


def frame_grid(images: Sequence[Image.Image], numbers: Sequence[int], columns: int = 4) -> None:
    """The frames in rows of `columns`, large, each captioned with its frame number."""
    for start in range(0, len(images), columns):
        cols = st.columns(columns, gap="small")
        for col, i in zip(cols, range(start, min(start + columns, len(images))), strict=False):
            with col:
                st.image(images[i], caption=f"{i + 1} · frame {numbers[i]}", width="stretch")


def build_contact_sheet(
    rows: Sequence[Sequence[str | Path]], labels: Sequence[str], thumb: int = THUMB
) -> bytes:
    """One JPEG: a row of small frames per clip, the clip's label above the row."""
    if not rows:
        raise ValueError("a contact sheet needs at least one clip")
    band = 22
    ncol = max(len(r) for r in rows)
    sheet = Image.new("RGB", (ncol * (thumb + 2) + 2, len(rows) * (thumb + band + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    for r, (paths, label) in enumerate(zip(rows, labels, strict=True)):
        y = r * (thumb + band + 4)
        draw.text((4, y + 3), label, fill=(27, 39, 51), font=font)
        for c, path in enumerate(paths):
            try:
                tile = open_rgb(path).resize((thumb, thumb), Image.Resampling.BILINEAR)
            except OSError:  # ImageTooLargeError too
                tile = Image.new("RGB", (thumb, thumb), (200, 60, 60))  # a missing frame shows red
            sheet.paste(tile, (2 + c * (thumb + 2), y + band))
    buf = io.BytesIO()
    sheet.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


@st.cache_data(show_spinner=False, max_entries=16)
def contact_sheet(rows: tuple[tuple[str, ...], ...], labels: tuple[str, ...]) -> bytes:
    return build_contact_sheet(rows, labels)

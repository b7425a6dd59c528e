"""Audio in the containers browsers and phones record (m4a/mp4 AAC, webm/mkv Opus) decoded by
PyAV, whose wheel ships FFmpeg's libraries: no FFmpeg to install.

    python -c "from app.containers import decode; print(decode(open('q.m4a','rb').read(), 'q', 30))"

libsndfile (model.audio) reads WAV, FLAC, Ogg (Vorbis, Opus) and MP3 but no MP4 or Matroska
container, so only those go through here, and only as far as the samples: the (frames, channels)
float32 array at the file's own rate is handed to model.audio's intake like any other source,
which downmixes, resamples, checks and trims it exactly as it does a WAV. The same guards come
first: the container's header (rate, channels, the duration when it states one) is checked
before decoding, and decoding stops one frame past the limit, whatever the header said.
"""

from __future__ import annotations

import io
import math

import numpy as np

from model.audio import AudioError, AudioShapeError, check_shape

# (magic bytes at offset, what they open): the ISO base media file ('ftyp' box: m4a, mp4, 3gp)
# and EBML (Matroska, webm). Everything else is libsndfile's to read or refuse.
MAGIC = ((4, b"ftyp", "MP4"), (0, b"\x1a\x45\xdf\xa3", "WebM/Matroska"))
EXTENSIONS = ("m4a", "mp4", "aac", "webm", "mka", "opus")  # what an upload may be named


def container(data: bytes) -> str | None:
    """The container PyAV must open (its name), or None when libsndfile reads the bytes."""
    for at, magic, kind in MAGIC:
        if data[at : at + len(magic)] == magic:
            return kind
    return None


def decode(
    data: bytes, name: str, max_seconds: float, limit: str = "the limit"
) -> tuple[np.ndarray, int]:
    """(samples (frames, channels) float32, rate) of the first audio track; AudioError when
    there is none or it cannot be decoded, AudioShapeError past `max_seconds`."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as box:
            stream = next((s for s in box.streams if s.type == "audio"), None)
            if stream is None:
                raise AudioError(f"{name}: no audio track in the file")
            ctx = stream.codec_context
            rate, channels = int(ctx.sample_rate or 0), int(ctx.channels or 0)
            # a recording from the browser's MediaRecorder states no duration: 0 frames here,
            # the cap below still holds
            seconds = (box.duration or 0) / av.time_base
            frames = math.ceil(seconds * rate) if rate else 0
            check_shape(frames, rate, channels, name, max_seconds, limit)
            cap = math.floor(max_seconds * rate)
            # packed float at the file's own rate and layout: the intake downmixes and resamples
            to_float = av.AudioResampler(format="flt", layout=ctx.layout, rate=rate)
            parts, total = [], 0
            for frame in box.decode(stream):
                for out in to_float.resample(frame):
                    block = out.to_ndarray().reshape(-1, channels)
                    parts.append(block)
                    total += len(block)
                if total > cap:
                    raise AudioShapeError(f"{name}: audio lasts over {limit} of {max_seconds:g} s")
            for out in to_float.resample(None):  # what the resampler still holds
                parts.append(out.to_ndarray().reshape(-1, channels))
    except AudioError:
        raise
    except (av.FFmpegError, ValueError, OSError, EOFError) as e:
        raise AudioError(f"{name}: cannot decode audio ({e})") from e
    if not parts:
        raise AudioError(f"{name}: empty audio (0 samples)")
    return np.concatenate(parts).astype(np.float32, copy=False), rate

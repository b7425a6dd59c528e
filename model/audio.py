"""The one audio intake: a spoken question (path, encoded bytes, a file object or an array)
-> checked float32 16 kHz mono samples, or an AudioError saying why not. No torch here: the app
checks a recording at page render without loading the model.

    python -c "from model.audio import intake; print(intake('q.wav', trim=True).seconds)"

Order: the header is read and refused before decoding (check_shape), then decode, downmix,
resample to 16 kHz, check (length, silence), and optionally trim the quiet ends. The model's
processor takes a `Checked` as it is; anything else goes through `intake` first.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.cli import InputError
from model.constants import (
    MAX_AUDIO_CHANNELS,
    MAX_AUDIO_RATE,
    MAX_AUDIO_SAMPLES,
    MAX_AUDIO_SECONDS,
    MIN_AUDIO_RATE,
    MIN_AUDIO_SECONDS,
    SAMPLE_RATE,
)

AudioSource = str | Path | bytes | bytearray | np.ndarray
SILENCE_RMS = 1e-3  # about -60 dBFS: below this a recording holds no usable speech
MAX_SAMPLE = 16.0  # 24 dB past full scale: a float file louder than this holds no recording
TRIM_DB = 35  # quieter than the loudest frame by this much counts as silence
TRIM_MARGIN_S = 0.1  # kept around the speech so no word onset is cut


class AudioError(InputError, ValueError):
    """Audio that cannot become a question: undecodable, empty, silent or too long."""


class AudioShapeError(AudioError):
    """Audio refused from its header alone: too long, or a rate or channel count no question has."""


class AudioLengthError(AudioError):
    """Decoded audio shorter than any spoken word or longer than the limit it was checked for."""

    def __init__(self, message: str, seconds: float = 0.0, too_long: bool = False):
        super().__init__(message)
        self.seconds = seconds
        self.too_long = too_long


class SilentAudioError(AudioError):
    """Decoded audio whose level (RMS) is below the silence threshold."""

    def __init__(self, message: str, rms: float = 0.0):
        super().__init__(message)
        self.rms = rms


@dataclass(frozen=True)
class Checked:
    """Samples that passed the intake: float32 16 kHz mono, finite, long enough, not silent."""

    samples: np.ndarray
    name: str  # file name or a description, for messages

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def rms(y: np.ndarray) -> float:
    """Root mean square level of the samples (float64 accumulation)."""
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))


def _reason(e: Exception) -> str:
    """libsndfile's own words, without the repr of an in-memory file it puts in them."""
    text = getattr(e, "error_string", None) or str(e)
    return re.sub(r"<[\w.]+ object at 0x[0-9a-fA-F]+>", "the data", text).strip()


def check_shape(
    frames: int, rate: float, channels: int, name: str, max_seconds: float, limit: str = "the limit"
) -> None:
    """Refuse, before any decoding or resampling, audio whose length, rate or channel count no
    spoken question has: memory then stays bounded whatever a header claims."""
    if (
        not isinstance(rate, int | float | np.number)
        or not MIN_AUDIO_RATE <= rate <= MAX_AUDIO_RATE
    ):
        raise AudioShapeError(
            f"{name}: sample rate {rate} Hz is not plausible for speech "
            f"({MIN_AUDIO_RATE}-{MAX_AUDIO_RATE} Hz)"
        )
    if not 1 <= channels <= MAX_AUDIO_CHANNELS:
        raise AudioShapeError(f"{name}: {channels} channels (1-{MAX_AUDIO_CHANNELS} allowed)")
    seconds = frames / rate
    if seconds > max_seconds:
        raise AudioShapeError(
            f"{name}: audio lasts {seconds:.1f} s, over {limit} of {max_seconds:g} s"
        )
    if frames * channels > MAX_AUDIO_SAMPLES:
        raise AudioShapeError(
            f"{name}: {frames} frames x {channels} channels at {rate} Hz is more audio than a "
            f"question holds (at most {MAX_AUDIO_SAMPLES} samples)"
        )


# the files a question may come in: libsndfile's, then PyAV's
EXTENSIONS = ("wav", "flac", "ogg", "mp3", "m4a", "mp4", "aac", "webm", "mka", "opus")
# (magic bytes at offset, what they open): the ISO base media file ('ftyp' box: m4a, mp4, 3gp)
# and EBML (Matroska, webm). Everything else but ADTS is libsndfile's to read or refuse.
MAGIC = ((4, b"ftyp", "MP4"), (0, b"\x1a\x45\xdf\xa3", "WebM/Matroska"))


def container(data: bytes) -> str | None:
    """The container PyAV must open (its name), or None when libsndfile reads the bytes
    (PyAV's wheel ships FFmpeg's libraries: no FFmpeg to install)."""
    for at, magic, kind in MAGIC:
        if data[at : at + len(magic)] == magic:
            return kind
    # an ADTS frame: 12 sync bits, then layer 00 (an MP3 frame's layer bits are never 00)
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0:
        return "ADTS AAC"
    return None


def _decode_av(
    data: bytes | Path, name: str, max_seconds: float, limit: str = "the limit"
) -> tuple[np.ndarray, int]:
    """(samples (frames, channels) float32, rate) of the first audio track of the bytes or
    file; AudioError when there is none or it cannot be decoded, AudioShapeError past
    `max_seconds`."""
    import av

    try:
        src = str(data) if isinstance(data, Path) else io.BytesIO(data)
        with av.open(src, mode="r") as box:
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


def _decode(
    data: bytes | Path, name: str, max_seconds: float, limit: str
) -> tuple[np.ndarray, int]:
    """libsndfile decodes wav, ogg/vorbis/opus and mp3; PyAV (FFmpeg in its wheel) m4a, raw
    aac, webm and flac: libsndfile stops where a FLAC header's total says, FFmpeg decodes every
    frame the file holds, and the two counts must agree. The header is read and checked
    first; no more frames than it allows are ever decoded."""
    import soundfile as sf

    if isinstance(data, Path):
        with open(data, "rb") as fh:
            head = fh.read(16)
    else:
        head = data[:16]
    if container(head):
        y, sr = _decode_av(data, name, max_seconds, limit)
        return y.mean(axis=1), sr
    src = io.BytesIO(data) if isinstance(data, bytes | bytearray) else str(data)
    try:
        with sf.SoundFile(src) as f:  # opening reads the header only (what sf.info reports)
            check_shape(f.frames, f.samplerate, f.channels, name, max_seconds, limit)
            said, sr = f.frames, f.samplerate
            flac = f.format == "FLAC"
            cap = math.floor(max_seconds * f.samplerate)
            if not flac:  # a header can understate the data: read one frame past the cap
                y = f.read(frames=cap + 1, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        raise AudioError(
            f"{name}: cannot decode audio ({_reason(e)}); supported: wav, flac, ogg, mp3, m4a, "
            "aac, webm"
        ) from e
    if flac:  # libsndfile stops where STREAMINFO's total says; FFmpeg decodes every frame
        y, sr = _decode_av(data, name, max_seconds, limit)
        if len(y) != said:
            more = "more audio" if len(y) > said else "less audio"
            raise AudioShapeError(
                f"{name}: its FLAC header says {said / sr:.2f} s but the file holds {more} "
                f"({len(y):,} samples, not {said:,}: a damaged or doctored file)"
            )
    if len(y) > cap:
        raise AudioShapeError(f"{name}: audio lasts over {limit} of {max_seconds:g} s")
    return y.mean(axis=1), sr


def load_audio(
    src: AudioSource,
    sr: int = SAMPLE_RATE,
    max_seconds: float = MAX_AUDIO_SECONDS,
    name: str | None = None,
    limit: str = "the limit",
) -> np.ndarray:
    """Audio (path, encoded bytes, a binary file object, or an array at rate `sr`; integer
    arrays are PCM) -> float32 16 kHz mono, decoded but not yet checked for length or silence.

    Stereo is averaged; any rate is resampled with librosa (soxr). Every source passes the
    same guard first (check_shape: rate, channels, length from the header, before decoding).
    Raises AudioError, naming `name` (or the file), on undecodable input, a missing file, an
    empty clip, NaN samples, audio over `max_seconds` or an implausible rate.
    """
    if hasattr(src, "read"):  # a file-like object (e.g. Streamlit's UploadedFile)
        name = name or getattr(src, "name", None)
        src = src.read()
    if isinstance(src, np.ndarray):
        name = name or f"array{tuple(src.shape)}"
        y = np.asarray(src, dtype=np.float32)
        if y.ndim == 2:  # (n, channels) or (channels, n): the long axis is time
            channels, frames = sorted(y.shape)
        elif y.ndim == 1:
            channels, frames = 1, y.shape[0]
        else:
            raise AudioError(f"{name}: expected a 1-D or 2-D waveform")
        if frames:
            check_shape(frames, sr, channels, name, max_seconds, limit)
        if np.issubdtype(src.dtype, np.integer):  # PCM integers -> [-1, 1)
            y = y / float(np.iinfo(src.dtype).max + 1)
        if y.ndim == 2:
            y = y.mean(axis=1 if y.shape[1] <= y.shape[0] else 0)
        rate = sr
    elif isinstance(src, bytes | bytearray):
        name = name or f"<{len(src)} bytes>"
        if len(src) == 0:
            raise AudioError(f"{name}: empty audio")
        y, rate = _decode(bytes(src), name, max_seconds, limit)
    elif isinstance(src, str | Path):
        path = Path(src)
        name = name or str(path)
        if not path.is_file():
            raise AudioError(f"{name}: no such audio file")
        y, rate = _decode(path, name, max_seconds, limit)
    else:
        raise AudioError(f"unsupported audio source type {type(src).__name__}")
    if y.size == 0:
        raise AudioError(f"{name}: empty audio (0 samples)")
    if not np.isfinite(y).all():
        raise AudioError(f"{name}: audio holds NaN or infinite samples")
    peak = float(np.abs(y).max())
    if peak > MAX_SAMPLE:  # float files may pass full scale a little; 1e30 is no recording
        raise AudioError(f"{name}: samples reach {peak:.3g}, far past full scale (1.0)")
    if rate != SAMPLE_RATE:
        import librosa

        y = librosa.resample(y, orig_sr=rate, target_sr=SAMPLE_RATE)
    return np.ascontiguousarray(y, dtype=np.float32)


def check_length(y: np.ndarray, max_seconds: float, limit: str = "the limit") -> None:
    """AudioLengthError unless 16 kHz samples last MIN_AUDIO_SECONDS to `max_seconds`."""
    seconds = y.size / SAMPLE_RATE
    if seconds > max_seconds:  # resampling can round up past a limit the header met
        raise AudioLengthError(
            f"audio lasts {seconds:.1f} s, over {limit} of {max_seconds:g} s", seconds, True
        )
    if seconds < MIN_AUDIO_SECONDS:  # no spoken word is this short
        raise AudioLengthError(
            f"audio lasts {seconds:.2f} s, under the {MIN_AUDIO_SECONDS:g} s of any spoken word",
            seconds,
            False,
        )


def check(
    y: np.ndarray,
    max_seconds: float = MAX_AUDIO_SECONDS,
    limit: str = "the limit",
    silence: float = SILENCE_RMS,
) -> None:
    """Decoded 16 kHz samples that can be a question pass; else AudioLengthError (too short or
    too long) or SilentAudioError (RMS under `silence`: nothing but the noise floor)."""
    check_length(y, max_seconds, limit)
    level = rms(y - np.mean(y, dtype=np.float64))  # a constant (DC) offset is no sound
    if level < silence:
        raise SilentAudioError(
            f"audio is silent (RMS {level:.2e} < {silence:.0e}, {y.size / SAMPLE_RATE:.1f} s)",
            level,
        )


def trim_silence(samples: np.ndarray) -> np.ndarray:
    """The recording without its leading and trailing quiet (a short margin kept). A person
    pressing record and stop adds a second or more of room noise that the model never heard in
    training: on the demo model that cost a third of the correct answers."""
    import librosa

    _, (start, end) = librosa.effects.trim(
        samples, top_db=TRIM_DB, frame_length=512, hop_length=128
    )
    margin = int(TRIM_MARGIN_S * SAMPLE_RATE)
    return samples[max(0, start - margin) : min(len(samples), end + margin)]


def windows(samples: np.ndarray, size: int, search: int) -> list[np.ndarray]:
    """Consecutive pieces of at most `size` samples that together are `samples`: as few as can
    hold them (every window costs the encoder the same), each cut at the quietest 10 ms of the
    last `search` samples before the window's end that still leaves the rest room enough, so a
    boundary lands between words where the speech allows (Whisper's encoder has absolute
    positions: each piece is heard as a window of its own)."""
    if size < 1 or not 0 < search <= size:
        raise ValueError(f"window of {size} samples, search {search}: expected 0 < search <= size")
    hop = SAMPLE_RATE // 100
    left = max(1, math.ceil(samples.size / size))  # windows still to fill
    out, start = [], 0
    while left > 1:
        lo = max(start + size - search, samples.size - (left - 1) * size)  # the rest must fit
        frames = (start + size - lo) // hop
        cut = start + size
        if frames:
            tail = samples[cut - frames * hop : cut].astype(np.float64)
            energy = np.square(tail.reshape(frames, hop)).sum(1)
            quiet = frames - 1 - int(np.argmin(energy[::-1]))  # the latest of equal minima
            cut = cut - frames * hop + quiet * hop + hop // 2
        out.append(samples[start:cut])
        start, left = cut, left - 1
    out.append(samples[start:])
    return out


def intake(
    src: AudioSource,
    sr: int = SAMPLE_RATE,
    name: str | None = None,
    max_seconds: float = MAX_AUDIO_SECONDS,
    limit: str = "the limit",
    silence: float = SILENCE_RMS,
    trim: bool = False,
) -> Checked:
    """Any audio source -> Checked samples (load_audio, then check); AudioError otherwise.
    trim: cut the leading and trailing quiet, then check what is left again (it is what the
    model will hear)."""
    y = load_audio(src, sr, max_seconds=max_seconds, name=name, limit=limit)
    check(y, max_seconds, limit, silence)
    if trim:
        y = trim_silence(y)
        check(y, max_seconds, limit, silence)
    return Checked(y, name or (str(src) if isinstance(src, str | Path) else "audio"))

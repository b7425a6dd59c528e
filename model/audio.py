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


def _decode(
    data: bytes | Path, name: str, max_seconds: float, limit: str
) -> tuple[np.ndarray, int]:
    """libsndfile decodes wav, flac, ogg/vorbis/opus and mp3; webm/m4a would need FFmpeg.
    The header is read and checked first; no more frames than it allows are ever decoded."""
    import soundfile as sf

    src = io.BytesIO(data) if isinstance(data, bytes | bytearray) else str(data)
    try:
        with sf.SoundFile(src) as f:  # opening reads the header only (what sf.info reports)
            check_shape(f.frames, f.samplerate, f.channels, name, max_seconds, limit)
            if f.format == "FLAC":  # libsndfile stops where the header says: check it
                _check_flac_length(src, f, name)
            cap = math.floor(max_seconds * f.samplerate)
            # a header can understate the data: read one frame past the cap to notice
            y = f.read(frames=cap + 1, dtype="float32", always_2d=True)
            sr = f.samplerate
    except AudioError:
        raise
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        raise AudioError(
            f"{name}: cannot decode audio ({_reason(e)}); supported: wav, flac, ogg, mp3"
        ) from e
    if len(y) > cap:
        raise AudioShapeError(f"{name}: audio lasts over {limit} of {max_seconds:g} s")
    return y.mean(axis=1), sr


def _check_flac_length(src: io.BytesIO | str, f, name: str) -> None:
    """AudioShapeError when a FLAC holds another length of audio than its header says:
    libsndfile decodes only as far as STREAMINFO's total, so a header that understates it
    would hand over part of a question, silently. The last frame's own header says where the
    audio ends (its first sample + its block size); where no last frame can be read back (a
    tag after it), FLAC's bytes bound the length instead: never many more than plain PCM."""
    fh = open(src, "rb") if isinstance(src, str) else src  # noqa: SIM115
    at, start = fh.tell(), None
    try:
        size = fh.seek(0, io.SEEK_END)
        fh.seek(0)
        head = fh.read(42)  # 'fLaC', STREAMINFO's block header and its 34 bytes
        start = 4 if head[:4] == b"fLaC" else None
        while start is not None:  # metadata blocks: 1 byte (last flag, type), 3 bytes length
            fh.seek(start)
            block = fh.read(4)
            if len(block) < 4:
                return
            start += 4 + int.from_bytes(block[1:], "big")
            if block[0] & 0x80:
                break
        if start is None or len(head) < 42:
            return
        max_block = int.from_bytes(head[10:12], "big")
        max_frame = int.from_bytes(head[15:18], "big") or max_block * f.channels * 4 + 64
        fh.seek(max(start, size - max_frame - 16))
        tail = fh.read()
    finally:
        fh.seek(at)
        if fh is not src:
            fh.close()
    said = f.frames / f.samplerate
    end = _flac_end(tail, max_block)
    if end is not None and end != f.frames:
        more = "more audio" if end > f.frames else "less audio"
        raise AudioShapeError(
            f"{name}: its FLAC header says {said:.2f} s but the file holds {more} "
            f"({end:,} samples, not {f.frames:,}: a damaged or doctored file)"
        )
    width = {"PCM_S8": 1, "PCM_16": 2, "PCM_24": 3}.get(f.subtype, 4)
    if end is None and size - start > f.frames * f.channels * width * 1.02 + 4096:
        raise AudioShapeError(
            f"{name}: its FLAC header says {said:.2f} s but the file holds more audio "
            "(a damaged or doctored file)"
        )


def _flac_end(tail: bytes, max_block: int) -> int | None:
    """The sample where a FLAC's audio ends, from its last frame (the one whose CRC-16 runs
    to the end of `tail`), or None when no such frame is there."""
    i = len(tail) - 2
    while (i := tail.rfind(b"\xff", 0, i)) >= 0:
        head = _flac_frame_head(tail, i)
        if head is not None and _crc16(tail[i:-2]) == int.from_bytes(tail[-2:], "big"):
            first, block, variable = head
            return (first if variable else first * max_block) + block
    return None


_BLOCK_SIZES = {1: 192} | {c: 576 << (c - 2) for c in range(2, 6)}
_BLOCK_SIZES |= {c: 256 << (c - 8) for c in range(8, 16)}


def _flac_frame_head(b: bytes, i: int) -> tuple[int, int, bool] | None:
    """(coded number, block size, variable block size) of a frame header at b[i], or None
    where no valid one starts there (its CRC-8 checked)."""
    if len(b) < i + 6 or b[i + 1] not in (0xF8, 0xF9):
        return None
    code, rate = b[i + 2] >> 4, b[i + 2] & 0x0F
    if code == 0 or rate == 15 or b[i + 3] >> 4 > 10 or (b[i + 3] >> 1) & 7 == 3 or b[i + 3] & 1:
        return None
    lead = b[i + 4]
    extra = 0 if lead < 0x80 else 8 - (lead ^ 0xFF).bit_length() - 1  # UTF-8-like number
    if not 0 <= extra <= 6 or (lead >= 0x80 and extra == 0):
        return None
    number = lead & (0x7F >> extra if extra else 0x7F)
    pos = i + 5
    for c in b[pos : pos + extra]:
        if c >> 6 != 2:
            return None
        number = number << 6 | c & 0x3F
    pos += extra
    if code in (6, 7):
        block = int.from_bytes(b[pos : pos + code - 5], "big") + 1
        pos += code - 5
    else:
        block = _BLOCK_SIZES[code]
    pos += {12: 1, 13: 2, 14: 2}.get(rate, 0)
    if pos >= len(b) or _crc8(b[i:pos]) != b[pos]:
        return None
    return number, block, bool(b[i + 1] & 1)


def _crc8(data: bytes) -> int:
    """FLAC's frame header CRC (x^8 + x^2 + x + 1)."""
    crc = 0
    for c in data:
        crc = _CRC8[crc ^ c]
    return crc


def _crc16(data: bytes) -> int:
    """FLAC's frame CRC (x^16 + x^15 + x^2 + 1)."""
    crc = 0
    for c in data:
        crc = (crc << 8 & 0xFFFF) ^ _CRC16[crc >> 8 ^ c]
    return crc


def _table(bits: int, poly: int) -> list[int]:
    top, mask, out = 1 << (bits - 1), (1 << bits) - 1, []
    for n in range(256):
        c = n << (bits - 8)
        for _ in range(8):
            c = ((c << 1) ^ poly) & mask if c & top else (c << 1) & mask
        out.append(c)
    return out


_CRC8, _CRC16 = _table(8, 0x07), _table(16, 0x8005)


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

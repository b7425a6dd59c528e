"""GraftProcessor: PIL frames + spoken question -> model inputs (ids, pixels, mel features, labels).

Prompt (audio mode; the question text never appears):
  <|im_start|>user\n[<|vision_start|><|image_pad|>*n<|vision_end|>]*F
  <|audio_start|><|audio_pad|>*k<|audio_end|><|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>
Text mode (baselines) puts the question text where the audio block is.

    python -c "from model.processor import load_audio; print(load_audio('q.wav').shape)"
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import AutoTokenizer, WhisperFeatureExtractor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from model.config import GraftConfig
from model.constants import (
    AUDIO_END,
    AUDIO_PAD,
    AUDIO_START,
    ENDOFTEXT,
    IGNORE_INDEX,
    IM_END,
    IM_START,
    IMAGE_PAD,
    MAX_AUDIO_CHANNELS,
    MAX_AUDIO_RATE,
    MAX_AUDIO_SAMPLES,
    MAX_AUDIO_SECONDS,
    MIN_AUDIO_RATE,
    MIN_AUDIO_SECONDS,
    SAMPLE_RATE,
    SPECIAL_TOKENS,
    VISION_END,
    VISION_START,
)

AudioSource = str | Path | bytes | bytearray | np.ndarray
IMAGE_DIR = "image_processor"
AUDIO_DIR = "feature_extractor"


class AudioError(ValueError):
    """Audio that cannot become a question: undecodable, empty, silent or too long."""


class AudioShapeError(AudioError):
    """Audio refused from its header alone: too long, or a rate or channel count no question has."""


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


def load_audio(
    src: AudioSource,
    sr: int = SAMPLE_RATE,
    max_seconds: float = MAX_AUDIO_SECONDS,
    name: str | None = None,
    limit: str = "the limit",
) -> np.ndarray:
    """Audio (path, encoded bytes, a binary file object, or an array at rate `sr`; integer
    arrays are PCM) -> float32 16 kHz mono.

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
    if rate != SAMPLE_RATE:
        import librosa

        y = librosa.resample(y, orig_sr=rate, target_sr=SAMPLE_RATE)
    return np.ascontiguousarray(y, dtype=np.float32)


class GraftProcessor:
    """Tokenizer + Qwen2-VL image processor + Whisper feature extractor, one prompt format."""

    def __init__(self, tokenizer, image_processor, feature_extractor, cfg: GraftConfig):
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.feature_extractor = feature_extractor
        self.cfg = cfg
        self.ids = {}
        for tok in SPECIAL_TOKENS:
            i = tokenizer.convert_tokens_to_ids(tok)
            if i is None or i == tokenizer.unk_token_id:
                raise ValueError(f"tokenizer lacks the special token {tok}")
            self.ids[tok] = i
        self.pad_id = tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.ids[ENDOFTEXT]
        self.merge = image_processor.merge_size
        self._newline = self._enc("\n")
        self._user = self._enc("user\n")
        self._assistant = self._enc("assistant\n")

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, folder: str | Path, cfg: GraftConfig | None = None) -> GraftProcessor:
        folder = Path(folder)
        cfg = cfg or GraftConfig.from_json(folder)
        tok = AutoTokenizer.from_pretrained(folder)
        ip = Qwen2VLImageProcessorPil.from_pretrained(folder / IMAGE_DIR)
        fe = WhisperFeatureExtractor.from_pretrained(folder / AUDIO_DIR)
        return cls(tok, ip, fe, cfg)

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.tokenizer.save_pretrained(folder)
        self.image_processor.save_pretrained(folder / IMAGE_DIR)
        self.feature_extractor.save_pretrained(folder / AUDIO_DIR)

    # -- pieces ----------------------------------------------------------------------------
    def _enc(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    @property
    def max_seconds(self) -> float:
        return self.feature_extractor.n_samples / SAMPLE_RATE

    @property
    def audio_window(self) -> int:
        """Encoder output positions of one window: mel frames / 2 (conv stride)."""
        return self.feature_extractor.nb_max_frames // 2

    def audio_features(self, audio: AudioSource, sr: int = SAMPLE_RATE) -> tuple[torch.Tensor, int]:
        """Audio -> (input_features (1, mel, T), encoder frames to keep). Raises AudioError."""
        most = self.max_seconds
        y = load_audio(audio, sr, max_seconds=most, limit="the encoder window")
        seconds = y.size / SAMPLE_RATE
        if y.size > self.feature_extractor.n_samples:  # resampling rounded up past the window
            raise AudioError(f"audio lasts {seconds:.1f} s, over the encoder window of {most:g} s")
        if seconds < MIN_AUDIO_SECONDS:  # the app's rule too: no word is this short
            raise AudioError(
                f"audio lasts {seconds:.2f} s, under the {MIN_AUDIO_SECONDS:g} s of any spoken word"
            )
        rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
        if rms < self.cfg.silence_rms:
            raise AudioError(
                f"audio is silent (RMS {rms:.2e} < {self.cfg.silence_rms:.0e}, {seconds:.1f} s)"
            )
        if self.cfg.audio_peak is not None:  # a quiet or loud microphone sounds like training
            y = y * (self.cfg.audio_peak / float(np.abs(y).max()))
        feats = self.feature_extractor(y, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        window = self.audio_window
        n = window
        if self.cfg.trim:  # 50 encoder frames a second of real speech
            n = min(window, max(1, math.ceil(y.size / (2 * self.feature_extractor.hop_length))))
        return feats["input_features"], n

    def audio_tokens(self, length: int) -> int:
        return math.ceil(length / self.cfg.pool)

    def images(self, frames: list[Image.Image]) -> dict[str, torch.Tensor]:
        """Frames -> pixel_values (patches, dim), image_grid_thw (F, 3); max side bounded."""
        if not frames:
            raise ValueError("no frames given: expected a list of PIL images")
        side = self.cfg.image_max_side
        imgs = []
        for i, f in enumerate(frames):
            if not isinstance(f, Image.Image):
                raise ValueError(f"frame {i}: expected a PIL image, got {type(f).__name__}")
            f = f.convert("RGB")
            scale = side / max(f.size)
            if scale != 1:
                size = (max(1, round(f.width * scale)), max(1, round(f.height * scale)))
                f = f.resize(size, Image.BICUBIC)
            imgs.append(f)
        out = self.image_processor(
            images=imgs,
            size={"shortest_edge": 28 * 28, "longest_edge": side * side},
            return_tensors="pt",
        )
        return {"pixel_values": out["pixel_values"], "image_grid_thw": out["image_grid_thw"]}

    # -- prompt ----------------------------------------------------------------------------
    def __call__(
        self,
        frames: list[Image.Image],
        audio: AudioSource | None = None,
        question: str | None = None,
        answer: str | None = None,
        sr: int = SAMPLE_RATE,
        vision: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """One sample. Give audio (audio mode) or question (text mode), not both.

        vision: a previous `images(frames)` result for the same frames (skips pixel work).

        Returns input_ids, attention_mask, mm_token_type_ids (1, L); pixel_values,
        image_grid_thw; in audio mode input_features (1, mel, T) and audio_lengths (1,);
        with an answer, labels (1, L) = -100 except the answer and its <|im_end|>.
        """
        if (audio is None) == (question is None):
            raise ValueError("give exactly one of audio (audio mode) or question (text mode)")
        ids = self.ids
        vis = self.images(frames) if vision is None else vision
        per_image = (vis["image_grid_thw"].prod(-1) // self.merge**2).tolist()
        seq = [ids[IM_START], *self._user]
        types = [0] * len(seq)
        for n in per_image:
            seq += [ids[VISION_START], *[ids[IMAGE_PAD]] * n, ids[VISION_END]]
            types += [0, *[1] * n, 0]
        out: dict[str, torch.Tensor] = dict(vis)
        if audio is not None:
            feats, length = self.audio_features(audio, sr)
            k = self.audio_tokens(length)
            mid = [ids[AUDIO_START], *[ids[AUDIO_PAD]] * k, ids[AUDIO_END]]
            out["input_features"] = feats
            out["audio_lengths"] = torch.tensor([length])
        else:
            mid = self._enc(question)
        tail = [ids[IM_END], *self._newline, ids[IM_START], *self._assistant]
        seq += mid + tail
        types += [0] * (len(mid) + len(tail))
        labels = [IGNORE_INDEX] * len(seq)
        if answer is not None:
            ans = [*self._enc(answer), ids[IM_END]]
            seq += ans
            types += [0] * len(ans)
            labels += ans
        out["input_ids"] = torch.tensor([seq])
        out["attention_mask"] = torch.ones(1, len(seq), dtype=torch.long)
        out["mm_token_type_ids"] = torch.tensor([types], dtype=torch.int32)
        if answer is not None:
            out["labels"] = torch.tensor([labels])
        return out

    def prefix_length(self, input_ids: torch.Tensor) -> int:
        """Tokens up to and including the last <|vision_end|>: the per-clip cacheable prefix."""
        row = input_ids.reshape(-1).tolist()
        end = self.ids[VISION_END]
        return len(row) - row[::-1].index(end)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    # -- batching --------------------------------------------------------------------------
    def collate(self, samples: list[dict], padding_side: str = "right") -> dict[str, torch.Tensor]:
        """Pad a list of __call__ outputs into one batch.

        padding_side: "right" for training (the default), "left" for generate() (new tokens
        then follow every prompt directly). Keys other than the model inputs are dropped.
        Audio and text samples cannot be mixed in one batch.
        """
        return collate(samples, self.pad_id, padding_side)


SEQ_KEYS = {"input_ids": None, "attention_mask": 0, "mm_token_type_ids": 0, "labels": IGNORE_INDEX}
CAT_KEYS = ("pixel_values", "image_grid_thw", "input_features", "audio_lengths")


def collate(samples: list[dict], pad_id: int, padding_side: str = "right") -> dict:
    """Module-level collate (see GraftProcessor.collate); pad_id fills input_ids."""
    if not samples:
        raise ValueError("collate: empty batch")
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side {padding_side!r}: expected left or right")
    has_audio = ["input_features" in s for s in samples]
    if any(has_audio) and not all(has_audio):
        raise ValueError("collate: audio-mode and text-mode samples mixed in one batch")
    has_labels = ["labels" in s for s in samples]
    if any(has_labels) and not all(has_labels):
        raise ValueError("collate: some samples have labels and others not")
    width = max(s["input_ids"].shape[-1] for s in samples)
    out: dict[str, torch.Tensor] = {}
    for key, fill in SEQ_KEYS.items():
        if key not in samples[0]:
            continue
        fill = pad_id if fill is None else fill
        rows = []
        for s in samples:
            row = s[key].reshape(-1)
            pad = row.new_full((width - row.numel(),), fill)
            rows.append(torch.cat([pad, row] if padding_side == "left" else [row, pad]))
        out[key] = torch.stack(rows)
    for key in CAT_KEYS:
        if key in samples[0]:
            out[key] = torch.cat([s[key] for s in samples])
    return out

"""GraftProcessor: PIL frames + spoken question -> model inputs (ids, pixels, mel features, labels).

Prompt (audio mode; the question text never appears):
  <|im_start|>user\n[<|vision_start|><|image_pad|>*n<|vision_end|>]*F
  <|audio_start|><|audio_pad|>*k<|audio_end|><|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>
Text mode (baselines) puts the question text where the audio block is. Audio comes through
model.audio's intake (a `Checked` from it is taken as it is).

    python -c "from model.processor import GraftProcessor; help(GraftProcessor.audio_features)"
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import AutoTokenizer, WhisperFeatureExtractor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from model.audio import AudioSource, Checked, check_length, intake, windows
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
    MAX_AUDIO_SECONDS,
    SAMPLE_RATE,
    SPECIAL_TOKENS,
    VISION_END,
    VISION_START,
)
from model.layout import FEATURE_DIR, IMAGE_DIR

WINDOW_SEARCH_S = 1.0  # a window boundary moves up to this far back to fall in a pause


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
        fe = WhisperFeatureExtractor.from_pretrained(folder / FEATURE_DIR)
        return cls(tok, ip, fe, cfg)

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.tokenizer.save_pretrained(folder)
        self.image_processor.save_pretrained(folder / IMAGE_DIR)
        self.feature_extractor.save_pretrained(folder / FEATURE_DIR)

    # -- pieces ----------------------------------------------------------------------------
    def _enc(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    @property
    def window_seconds(self) -> float:
        """One encoder window: 5 s for the demo's cut Whisper, 30 s for stock Whisper."""
        return self.feature_extractor.n_samples / SAMPLE_RATE

    @property
    def max_seconds(self) -> float:
        """The longest question heard: longer speech than one window is heard window by window."""
        return MAX_AUDIO_SECONDS

    @property
    def audio_window(self) -> int:
        """Encoder output positions of one window: mel frames / 2 (conv stride)."""
        return self.feature_extractor.nb_max_frames // 2

    def audio_features(
        self, audio: AudioSource | Checked, sr: int = SAMPLE_RATE
    ) -> tuple[torch.Tensor, list[int]]:
        """Audio -> (input_features (W, mel, T), encoder frames to keep in each of its W windows).
        Raises AudioError.

        Speech longer than one window is cut into consecutive windows (at quiet points,
        model.audio.windows); each is encoded on its own and the kept frames are joined in order,
        so audio tokens grow with the speech, not with the window. A `Checked` (the app's
        question) is used as it is, only measured against max_seconds; any other source goes
        through model.audio.intake with that limit."""
        most = self.max_seconds
        if isinstance(audio, Checked):
            check_length(audio.samples, most, "the longest question")
        else:
            audio = intake(
                audio,
                sr,
                max_seconds=most,
                limit="the longest question",
                silence=self.cfg.silence_rms,
            )
        y = audio.samples
        if self.cfg.audio_peak is not None:  # a quiet or loud microphone sounds like training
            y = y * (self.cfg.audio_peak / float(np.abs(y).max()))
        size = self.feature_extractor.n_samples
        pieces = windows(y, size, min(size, round(WINDOW_SEARCH_S * SAMPLE_RATE)))
        feats = self.feature_extractor(pieces, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        window = self.audio_window
        hop2 = 2 * self.feature_extractor.hop_length  # samples per encoder frame
        if self.cfg.trim:  # 50 encoder frames a second of real speech
            lengths = [min(window, max(1, math.ceil(p.size / hop2))) for p in pieces]
        else:
            lengths = [window] * len(pieces)
        return feats["input_features"], lengths

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
        audio: AudioSource | Checked | None = None,
        question: str | None = None,
        answer: str | None = None,
        sr: int = SAMPLE_RATE,
        vision: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """One sample. Give audio (audio mode) or question (text mode), not both.

        vision: a previous `images(frames)` result for the same frames (skips pixel work).

        Returns input_ids, attention_mask, mm_token_type_ids (1, L); pixel_values,
        image_grid_thw; in audio mode input_features (W, mel, T), audio_lengths (W,) (frames
        kept per window) and audio_windows (1,) = W;
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
            feats, lengths = self.audio_features(audio, sr)
            k = self.audio_tokens(sum(lengths))
            mid = [ids[AUDIO_START], *[ids[AUDIO_PAD]] * k, ids[AUDIO_END]]
            out["input_features"] = feats
            out["audio_lengths"] = torch.tensor(lengths)
            out["audio_windows"] = torch.tensor([len(lengths)])
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
CAT_KEYS = ("pixel_values", "image_grid_thw", "input_features", "audio_lengths", "audio_windows")


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

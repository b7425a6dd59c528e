"""Speech recognition for the cascade baseline: a Whisper encoder-decoder transcribes the question.

The cascade (the original work's baseline 3) is ASR -> transcript -> the VLM reading it as text
(Predictor.answer_text). At real scale the ASR is a pretrained Whisper (an HF id or a local
folder); offline and at demo scale it is a tiny WhisperForConditionalGeneration whose encoder
has the graft's encoder config and whose vocabulary is the checkpoint's tokenizer.

    python -m training.asr --checkpoint checkpoints/demo --data data/demo --out runs/asr-tiny \
        --minutes 3      # optional: train the tiny ASR on the dataset's speech
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from transformers import (
    AutoTokenizer,
    GenerationConfig,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
)

from model.constants import ENDOFTEXT, IM_END, IM_START, SAMPLE_RATE
from model.processor import AudioSource, load_audio

TOKEN_SLACK = 1  # closing token after the transcript


class _LengthNote(logging.Filter):
    """Whisper's generate fills the global defaults (max_length 20, min_length 0) into its
    config before the base generate checks them, so a call passing max_new_tokens (or
    min_new_tokens) was told that both were set; the *_new_tokens value does take precedence."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "seem to have been set" not in record.getMessage()


_GENERATE_LOG = logging.getLogger("transformers.generation.utils")


@dataclass
class Transcript:
    text: str
    latency_ms: float
    tokens: int


def _length(row: torch.Tensor, eos: int | list[int] | None) -> int:
    """Tokens up to the first end token: a batch pads the shorter rows after theirs."""
    if eos is None:
        return row.numel()
    ends = torch.isin(row, torch.tensor(eos if isinstance(eos, list) else [eos])).nonzero()
    return int(ends[0]) + 1 if len(ends) else row.numel()


class Transcriber:
    """Greedy Whisper transcription: audio -> text, with its own timing."""

    def __init__(
        self,
        model: WhisperForConditionalGeneration,
        feature_extractor,
        tokenizer,
        generate_kwargs: dict | None = None,
    ):
        self.model = model.eval()
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.generate_kwargs = generate_kwargs or {}  # e.g. language/task for real Whisper
        self.device = next(model.parameters()).device

    @classmethod
    def from_pretrained(cls, ref: str | Path, device: str = "cpu") -> Transcriber:
        """A saved tiny ASR folder, or a real Whisper (HF id like openai/whisper-large-v3-turbo)."""
        ref = str(ref)
        model = WhisperForConditionalGeneration.from_pretrained(ref).to(device)
        fe = WhisperFeatureExtractor.from_pretrained(ref)
        tok = AutoTokenizer.from_pretrained(ref)
        real = bool(getattr(model.generation_config, "lang_to_id", None))
        kw = {"language": "en", "task": "transcribe"} if real else {}
        return cls(model, fe, tok, kw)

    def save(self, out: str | Path) -> Path:
        out = Path(out)
        self.model.save_pretrained(out)  # safetensors
        self.feature_extractor.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        return out

    def features(self, audio: AudioSource, sr: int = SAMPLE_RATE) -> torch.Tensor:
        y = load_audio(audio, sr)
        if y.size > self.feature_extractor.n_samples:
            raise ValueError(
                f"audio lasts {y.size / SAMPLE_RATE:.1f} s, over the ASR window of "
                f"{self.feature_extractor.n_samples / SAMPLE_RATE:.0f} s"
            )
        fe = self.feature_extractor(y, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        return fe["input_features"].to(self.device, self.model.dtype)

    @torch.inference_mode()
    def transcribe(
        self, audio: AudioSource, sr: int = SAMPLE_RATE, tokens: int | None = None
    ) -> Transcript:
        """tokens: decode exactly this many (an untrained ASR never stops by itself)."""
        return self.transcribe_batch([audio], sr, tokens)[0]

    @torch.inference_mode()
    def transcribe_batch(
        self, audios: list[AudioSource], sr: int = SAMPLE_RATE, tokens: int | None = None
    ) -> list[Transcript]:
        """One generate call for all; latency_ms is the batch's time shared equally."""
        t = time.perf_counter()
        feats = torch.cat([self.features(a, sr) for a in audios])
        kw = dict(self.generate_kwargs)
        if tokens is not None:
            kw |= {"min_new_tokens": tokens, "max_new_tokens": tokens}
        note = _LengthNote()
        _GENERATE_LOG.addFilter(note)  # only around this call: other generates keep the note
        try:
            out = self.model.generate(feats, **kw)
        finally:
            _GENERATE_LOG.removeFilter(note)
        ms = (time.perf_counter() - t) * 1000 / len(audios)
        eos = self.model.generation_config.eos_token_id
        return [
            Transcript(
                self.tokenizer.decode(row, skip_special_tokens=True).strip(), ms, _length(row, eos)
            )
            for row in out
        ]

    def reference_tokens(self, text: str) -> int:
        """Decoder steps a perfect ASR spends on `text` (its tokens + the closing token)."""
        return len(self.tokenizer.encode(text, add_special_tokens=False)) + TOKEN_SLACK


def tiny_config(
    encoder: WhisperConfig, tokenizer, decoder_layers: int | None = None
) -> WhisperConfig:
    """Encoder exactly as the graft's; decoder as wide, as deep as the encoder (Whisper's sizes)."""
    d = encoder.to_dict()
    for k in ("architectures", "_name_or_path", "transformers_version", "dtype", "torch_dtype"):
        d.pop(k, None)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (IM_START, IM_END, ENDOFTEXT)}
    d.update(
        vocab_size=-(-len(tokenizer) // 64) * 64,
        decoder_layers=decoder_layers or encoder.encoder_layers,
        decoder_attention_heads=encoder.encoder_attention_heads,
        decoder_ffn_dim=encoder.encoder_ffn_dim,
        max_target_positions=128,  # questions are < 40 tokens
        decoder_start_token_id=ids[IM_START],
        bos_token_id=ids[IM_START],
        eos_token_id=ids[IM_END],
        pad_token_id=ids[ENDOFTEXT],
        suppress_tokens=[],
        begin_suppress_tokens=[],
    )
    cfg = WhisperConfig(**d)
    cfg.architectures = ["WhisperForConditionalGeneration"]
    return cfg


def build_tiny(predictor, seed: int = 0, copy_encoder: bool = True) -> Transcriber:
    """A tiny ASR for a checkpoint: its encoder config (and weights, when copy_encoder), its
    tokenizer and feature extractor. Untrained decoder: transcripts are noise until `train`."""
    g = predictor.graft
    tok = predictor.processor.tokenizer
    cfg = tiny_config(g.audio_encoder.config, tok)
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(cfg)
    if copy_encoder:  # the graft's encoder already hears the questions
        model.model.encoder.load_state_dict(g.audio_encoder.state_dict())
    model.generation_config = GenerationConfig(
        decoder_start_token_id=cfg.decoder_start_token_id,
        eos_token_id=cfg.eos_token_id,
        pad_token_id=cfg.pad_token_id,
        max_new_tokens=48,
    )
    return Transcriber(model.to(predictor.device), predictor.processor.feature_extractor, tok)


def train(
    asr: Transcriber,
    pairs: list[tuple[Path, str]],
    minutes: float,
    batch: int = 16,
    lr: float = 1e-3,
    seed: int = 0,
) -> dict:
    """Teacher-forced cross-entropy on (audio, transcript) pairs for a time budget."""
    rng = random.Random(seed)
    tok, m = asr.tokenizer, asr.model
    eos = m.config.eos_token_id
    cache: dict[Path, torch.Tensor] = {}
    opt = torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=0.01)
    m.train()
    t0, step, losses = time.perf_counter(), 0, []
    bar = tqdm(desc="asr train", unit="step")
    while time.perf_counter() - t0 < minutes * 60:
        items = rng.sample(pairs, min(batch, len(pairs)))
        feats = []
        for p, _ in items:
            if p not in cache:
                cache[p] = asr.features(p)[0]
            feats.append(cache[p])
        ids = [tok.encode(text, add_special_tokens=False) + [eos] for _, text in items]
        width = max(map(len, ids))
        labels = torch.tensor([x + [-100] * (width - len(x)) for x in ids])
        out = m(input_features=torch.stack(feats), labels=labels.to(asr.device))
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        step += 1
        losses.append(out.loss.item())
        bar.update()
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    bar.close()
    m.eval()
    return {
        "steps": step,
        "seconds": time.perf_counter() - t0,
        "loss": float(np.mean(losses[-20:])) if losses else math.nan,
    }


def exact_match(asr: Transcriber, pairs: list[tuple[Path, str]]) -> float:
    """Share of transcripts equal to the reference text (case and spacing ignored)."""

    def norm(s: str) -> str:
        return " ".join(s.lower().split())

    hits = [norm(asr.transcribe(p).text) == norm(t) for p, t in tqdm(pairs, desc="asr eval")]
    return float(np.mean(hits)) if hits else 0.0


def pairs_of(data: Path, split: str) -> list[tuple[Path, str]]:
    """Distinct (audio file, question text) pairs of one split."""
    from data.files import audio_path
    from data.schema import load_jsonl

    seen = {}
    for r in load_jsonl(data / "splits" / f"{split}.jsonl"):
        p = audio_path(data, r)
        seen.setdefault(p, r["question"])
    return sorted(seen.items())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.asr", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--checkpoint", required=True, help="grafted checkpoint (encoder config, tokenizer)"
    )
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="folder for the tiny ASR")
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument(
        "--eval-limit", type=int, default=100, help="eval pairs for the exact-match rate"
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # shared 2-core machine
    from model import Predictor

    asr = build_tiny(Predictor.from_checkpoint(args.checkpoint, device="cpu"), args.seed)
    log = train(asr, pairs_of(args.data, "train"), args.minutes, seed=args.seed)
    log["eval_exact_match"] = exact_match(asr, pairs_of(args.data, "eval")[: args.eval_limit])
    asr.save(args.out)
    (args.out / "train_log.json").write_text(json.dumps(log, indent=1) + "\n")
    print(json.dumps(log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

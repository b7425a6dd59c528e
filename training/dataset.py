"""Training data: records -> model inputs through the model's own processor, features cached.

    python -c "from training.dataset import QADataset; help(QADataset)"

Every clip's pixel tensors and every recording's log-mel features are computed once (tqdm) and
kept in memory as float16: on 2 CPU cores the image and audio preprocessing would otherwise
cost about as much as the training step itself. The prompt is still built by
GraftProcessor.__call__ (the same code the predictor runs), so training and inference agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from data.facts import grounding
from data.files import audio_path, load_frames
from data.schema import DataError, record_key
from model.audio import AudioError
from model.constants import GROUND_SEP
from model.processor import GraftProcessor

TARGETS = ("short", "long", "caption", "grounded")


class ClipKey(tuple):
    """(video_id, frame names): stands in for the PIL frames of a cached clip."""


class CachedProcessor(GraftProcessor):
    """GraftProcessor whose images() and audio_features() read precomputed tensors.

    frames may be a ClipKey and audio a cache key (the record's audio path); anything else
    falls through to the stock processing. With a frozen `encoder`, what is cached and served
    is the encoder's output (trimmed to the speech), under the key `audio_hidden`: the frozen
    ear then runs once per recording, not once per step.
    """

    def __init__(self, base: GraftProcessor, encoder: torch.nn.Module | None = None):
        super().__init__(base.tokenizer, base.image_processor, base.feature_extractor, base.cfg)
        self.clips: dict[ClipKey, dict[str, torch.Tensor]] = {}
        self.sounds: dict[str, tuple[torch.Tensor, int]] = {}
        self.encoder = encoder

    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """Mel features (B, mel, T) -> the frozen encoder's outputs (B, P, d), float32."""
        enc = self.encoder
        with torch.no_grad():
            x = feats.to(enc.conv1.weight.device, enc.conv1.weight.dtype)
            return enc.eval()(x).last_hidden_state.float().cpu()

    def keep(self, heard: list[tuple[str, torch.Tensor, int]]) -> None:
        """Cache (key, mel features, encoder frames) recordings: the features, or the frozen
        encoder's outputs trimmed to the speech."""
        if self.encoder is not None:
            hidden = self.encode(torch.cat([f for _, f, _ in heard]))
            heard = [(k, hidden[i : i + 1, :n], n) for i, (k, _, n) in enumerate(heard)]
        for key, x, n in heard:
            self.sounds[key] = (x.half(), n)

    def __call__(self, frames, audio=None, **kw) -> dict[str, torch.Tensor]:
        out = super().__call__(frames, audio=audio, **kw)
        if self.encoder is not None and "input_features" in out:
            out["audio_hidden"] = out.pop("input_features")
        return out

    def images(self, frames) -> dict[str, torch.Tensor]:
        if isinstance(frames, ClipKey):
            v = self.clips[frames]
            return {
                "pixel_values": v["pixel_values"].float(),
                "image_grid_thw": v["image_grid_thw"],
            }
        return super().images(frames)

    def audio_features(self, audio, sr: int = 16_000):
        if not (isinstance(audio, str) and audio in self.sounds):
            feats, n = GraftProcessor.audio_features(self, audio, sr)
            return (feats if self.encoder is None else self.encode(feats)), n
        feats, n = self.sounds[audio]
        if self.encoder is not None:  # padded to the window, as the encoder would give it
            feats = torch.nn.functional.pad(feats, (0, 0, 0, self.audio_window - feats.shape[1]))
        return feats.float(), n


def clip_key(rec: dict) -> ClipKey:
    return ClipKey((rec["video_id"], *rec["frames"]))


def precompute(
    proc: CachedProcessor, data: Path, records: Sequence[dict], audio: bool = True
) -> None:
    """Fill proc's caches for these records (clips and recordings already cached are kept)."""
    clips = {clip_key(r): r for r in records if "frames" in r and clip_key(r) not in proc.clips}
    for key, rec in tqdm(clips.items(), desc="frames", unit="clip", leave=False):
        v = GraftProcessor.images(proc, load_frames(data, rec))
        proc.clips[key] = {
            "pixel_values": v["pixel_values"].half(),
            "image_grid_thw": v["image_grid_thw"],
        }
    if not audio:
        return
    todo = {r["audio"]: r for r in records if r.get("audio") not in proc.sounds}
    bad = []  # every unusable recording is named at once, not one per rerun
    desc = "audio (frozen encoder)" if proc.encoder is not None else "audio"
    batch: list[tuple[str, torch.Tensor, int]] = []  # the encoder runs 32 recordings at once
    for i, (rel, rec) in enumerate(tqdm(todo.items(), desc=desc, unit="wav", leave=False)):
        try:
            feats, n = GraftProcessor.audio_features(proc, audio_path(data, rec))
        except AudioError as e:
            bad.append(f"{record_key(rec)} {rel}: {e}")
        else:
            batch.append((rel, feats, n))
        if batch and (len(batch) == 32 or i == len(todo) - 1):
            proc.keep(batch)
            batch = []
    if bad:
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise DataError(f"{len(bad)} unusable recording(s): " + "; ".join(bad[:5]) + more)


def grounded_lead(rec: dict) -> str:
    """What a grounded answer says before the short answer: its caption segment + GROUND_SEP."""
    if not rec.get("caption"):
        raise DataError(f"record {record_key(rec)} has no 'caption' to ground its answer")
    return grounding(rec["question_type"], rec["caption"]) + GROUND_SEP


def target_text(rec: dict, target: str) -> str:
    """What the model learns to say: the short or long answer, transcript + scene caption, or
    the scene segment the answer rests on + the short answer (grounded)."""
    if target == "short":
        return rec["short_answer"]
    if target == "long":
        return rec["answer"]
    if target == "caption":
        if not rec.get("caption"):
            raise DataError(f"record {record_key(rec)} has no 'caption' for the caption stage")
        return f"{rec['question']} {rec['caption']}"
    if target == "grounded":
        return grounded_lead(rec) + rec["short_answer"]
    raise ValueError(f"target {target!r}: expected one of {TARGETS}")


class QADataset(torch.utils.data.Dataset):
    """One item per record: the processor's tensors with labels on the target text."""

    def __init__(
        self,
        records: Sequence[dict],
        data: str | Path,
        proc: CachedProcessor,
        target: str = "short",
        mode: str = "audio",
    ):
        if target not in TARGETS:
            raise ValueError(f"target {target!r}: expected one of {TARGETS}")
        if mode not in ("audio", "text"):
            raise ValueError(f"mode {mode!r}: expected audio or text")
        if not records:
            raise DataError(f"no records to train on under {data}")
        self.records = list(records)
        self.data = Path(data)
        self.proc = proc
        self.target = target
        self.mode = mode
        precompute(proc, self.data, self.records, audio=mode == "audio")

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rec = self.records[i]
        answer = target_text(rec, self.target)
        if self.mode == "text":
            return self.proc(clip_key(rec), question=rec["question"], answer=answer)
        return self.proc(clip_key(rec), audio=rec["audio"], answer=answer)


class Collator:
    """The model package's collate (right padding for training)."""

    def __init__(self, proc: GraftProcessor):
        self.proc = proc

    def __call__(self, samples: list[dict]) -> dict[str, torch.Tensor]:
        if "audio_hidden" not in samples[0]:
            return self.proc.collate(samples, padding_side="right")
        rest = [{k: v for k, v in s.items() if k != "audio_hidden"} for s in samples]
        out = self.proc.collate(rest, padding_side="right")
        out["audio_hidden"] = torch.cat([s["audio_hidden"] for s in samples])
        return out

"""Training data: records -> model inputs through the model's own processor, features cached.

    python -c "from training.dataset import QADataset; help(QADataset)"

Every clip's pixel tensors and every recording's log-mel features are computed once (tqdm) and
kept in memory as float16: on 2 CPU cores the image and audio preprocessing would otherwise
cost about as much as the training step itself. The prompt is still built by
GraftProcessor.__call__ (the same code the predictor runs), so training and inference agree.
"""

from __future__ import annotations

import contextlib
import random
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from data.facts import grounding
from data.files import audio_path, load_frames
from data.room import augment
from data.schema import DataError, record_key
from model.audio import AudioError, load_audio
from model.constants import GROUND_SEP
from model.processor import GraftProcessor

TARGETS = ("short", "long", "caption", "grounded")


Take = tuple[torch.Tensor, list[int]]  # (mel windows or encoder outputs, frames per window)


class ClipKey(tuple):
    """(video_id, frame names): stands in for the PIL frames of a cached clip."""


class CachedProcessor(GraftProcessor):
    """GraftProcessor whose images() and audio_features() read precomputed tensors.

    frames may be a ClipKey and audio a cache key (the record's audio path); anything else
    falls through to the stock processing. With a frozen `encoder`, what is cached and served
    is the encoder's output (each window trimmed to its speech, the windows joined), under the
    key `audio_hidden`: the frozen ear then runs once per recording, not once per step. A key
    may hold several takes of its recording (the clean one and copies in a simulated room);
    each use serves one of them at random.
    """

    def __init__(self, base: GraftProcessor, encoder: torch.nn.Module | None = None, seed: int = 0):
        super().__init__(base.tokenizer, base.image_processor, base.feature_extractor, base.cfg)
        self.clips: dict[ClipKey, dict[str, torch.Tensor]] = {}
        self.sounds: dict[str, list[Take]] = {}
        self.encoder = encoder
        self.rng = random.Random(seed)

    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """Mel windows (R, mel, T) -> the frozen encoder's outputs (R, P, d), float32."""
        enc = self.encoder
        with torch.no_grad():
            x = feats.to(enc.conv1.weight.device, enc.conv1.weight.dtype)
            return enc.eval()(x).last_hidden_state.float().cpu()

    def heard(self, batch: list[Take]) -> list[Take]:
        """(mel windows, frames kept per window) takes -> with a frozen encoder, its outputs
        trimmed and joined: (1, L, d) and [L]; without one, the takes as they are."""
        if self.encoder is None:
            return batch
        hidden = self.encode(torch.cat([f for f, _ in batch]))
        out, row = [], 0
        for _, lengths in batch:
            x = torch.cat([hidden[row + j, :n] for j, n in enumerate(lengths)])[None]
            row += len(lengths)
            out.append((x, [x.shape[1]]))
        return out

    def keep(self, takes: list[tuple[str, torch.Tensor, list[int]]]) -> None:
        """Cache (key, mel windows, frames per window) takes, each as one more take of its key."""
        done = self.heard([(f, n) for _, f, n in takes])
        for (key, _, _), (x, n) in zip(takes, done, strict=True):
            self.sounds.setdefault(key, []).append((x.half(), n))

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
            return self.heard([GraftProcessor.audio_features(self, audio, sr)])[0]
        takes = self.sounds[audio]
        x, n = takes[self.rng.randrange(len(takes))] if len(takes) > 1 else takes[0]
        return x.float(), n


def clip_key(rec: dict) -> ClipKey:
    return ClipKey((rec["video_id"], *rec["frames"]))


def babble_voices(data: Path, records: Sequence[dict], n: int = 48) -> list[np.ndarray]:
    """`n` of these recordings (a fixed draw): the other talkers of data.room's babble."""
    files = sorted({r["audio"] for r in records if r.get("audio")})
    pick = random.Random(len(files)).sample(files, min(n, len(files)))
    return [load_audio(data / f) for f in pick]


def precompute(
    proc: CachedProcessor,
    data: Path,
    records: Sequence[dict],
    audio: bool = True,
    room_copies: int = 0,
) -> None:
    """Fill proc's caches for these records (clips and recordings already cached are kept).
    room_copies: besides each clean recording, this many copies in a simulated room
    (data.room.augment: noise, echo, rate, level, telephone), each a pure function of the file
    and copy number."""
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
    voices = babble_voices(data, records) if room_copies and todo else []
    bad = []  # every unusable recording is named at once, not one per rerun
    desc = "audio (frozen encoder)" if proc.encoder is not None else "audio"
    if room_copies:
        desc += f" + {room_copies} room copies"
    batch: list[tuple[str, torch.Tensor, list[int]]] = []  # the encoder runs ~32 takes at once
    for rel, rec in tqdm(todo.items(), desc=desc, unit="wav", leave=False):
        try:
            y = load_audio(audio_path(data, rec))
            batch.append((rel, *GraftProcessor.audio_features(proc, y)))
        except AudioError as e:
            bad.append(f"{record_key(rec)} {rel}: {e}")
            continue
        for c in range(room_copies):
            rng = np.random.default_rng(zlib.crc32(f"{rel}|{c}".encode()))
            with contextlib.suppress(AudioError):  # a copy under the silence floor is dropped
                batch.append((rel, *GraftProcessor.audio_features(proc, augment(y, rng, voices))))
        if len(batch) >= 32:
            proc.keep(batch)
            batch = []
    if batch:
        proc.keep(batch)
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
        room_copies: int = 0,
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
        precompute(proc, self.data, self.records, audio=mode == "audio", room_copies=room_copies)

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
        width = max(s["audio_hidden"].shape[1] for s in samples)  # joined windows differ
        pad = torch.nn.functional.pad
        out["audio_hidden"] = torch.cat(
            [pad(s["audio_hidden"], (0, 0, 0, width - s["audio_hidden"].shape[1])) for s in samples]
        )
        return out

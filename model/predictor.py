"""Predictor: load a checkpoint once, answer spoken questions about 8-frame clips.

The frames come before the audio in the prompt, so the key/value cache of that prefix is kept
per clip and reused when a second question arrives for the same frames; `prime(frames)` fills it
before any question (the app does so when a clip is opened).

    python -m model.predictor CHECKPOINT FRAME_DIR QUESTION.wav
"""

from __future__ import annotations

import argparse
import hashlib
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.audio import AudioSource, Checked
from model.cli import boundary
from model.config import GraftConfig
from model.constants import AUDIO_PAD, ENDOFTEXT, GROUND_SEP, IM_END, IMAGE_PAD, SPECIAL_TOKENS

if TYPE_CHECKING:  # torch loads with the model, not for the command's --help
    import torch
    from PIL import Image

    from model.processor import GraftProcessor


@dataclass
class Answer:
    text: str
    latency_ms: float
    audio_tokens: int
    vision_tokens: int
    cached_prefix: bool  # the clip's key/value prefix came from an earlier question
    new_tokens: int = 0
    mode: str = "audio"  # audio | text
    grounding: str = ""  # what the clip shows, said before the answer (answer_format grounded)
    # mean log-probability of the chosen tokens, end token included (app.confidence's words)
    score: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def split_grounding(text: str, answer_format: str) -> tuple[str, str]:
    """(grounding, answer) of a generated text; a grounded one without the separator keeps
    all of it as the answer, so the scorer judges what the model said."""
    if answer_format == "grounded" and GROUND_SEP in text:
        seen, _, answer = text.rpartition(GROUND_SEP)
        return seen.strip(), answer.strip()
    return "", text


def frames_key(frames: list[Image.Image]) -> str:
    """A hash of the frames' pixels: the prefix cache key."""
    h = hashlib.sha1()
    for f in frames:
        h.update(f"{f.mode}{f.size}".encode())
        h.update(f.tobytes())
    return h.hexdigest()


class Predictor:
    """Greedy answers from a grafted model; thread-safe (one generation at a time)."""

    def __init__(
        self,
        model,
        processor: GraftProcessor,
        max_new_tokens: int | None = None,
        cache_clips: int = 4,
    ):
        from model.graft import graft_modules

        self.model = model.eval()
        self.processor = processor
        self.graft = graft_modules(model)
        self.cfg = processor.cfg
        self.device = self.graft.get_input_embeddings().weight.device
        self.max_new_tokens = max_new_tokens or self.cfg.max_new_tokens
        # the one lock on the model (rope_deltas, prefix cache); reentrant: the app's engine
        self.lock = threading.RLock()  # holds it around a whole answer, whose steps retake it
        self.cache_clips = cache_clips  # clips whose prefix key/values are kept (LRU)
        self._prefix: OrderedDict[str, tuple] = OrderedDict()  # key -> (kv, length, pixels)
        ids = processor.ids
        self._eos = [ids[IM_END], ids[ENDOFTEXT]]
        # Placeholders and structure tokens are never answers.
        self._suppress = [ids[t] for t in SPECIAL_TOKENS if t not in (IM_END, ENDOFTEXT)]

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device | None = None, **kw
    ) -> Predictor:
        from model.checkpoint import load_checkpoint, pick_device

        dev = pick_device(device)
        model, processor = load_checkpoint(path, dev, merge=True)
        return cls(model, processor, **kw)

    # -- public ----------------------------------------------------------------------------
    def answer(
        self,
        frames: list[Image.Image],
        audio: AudioSource | Checked,
        sr: int = 16_000,
        use_cache: bool = True,
    ) -> Answer:
        """Answer the spoken question: a path, encoded bytes or a float array at rate sr (all
        through model.audio's intake), or a Checked from it (taken as it is)."""
        t = time.perf_counter()
        key = frames_key(frames) if use_cache else None
        inputs = self.processor(frames, audio=audio, sr=sr, vision=self._memo_vision(key))
        return self._run(key, inputs, t, "audio")

    def answer_text(
        self, frames: list[Image.Image], question: str, use_cache: bool = True
    ) -> Answer:
        """Text-mode baseline: the question as text instead of audio."""
        t = time.perf_counter()
        key = frames_key(frames) if use_cache else None
        inputs = self.processor(frames, question=question, vision=self._memo_vision(key))
        return self._run(key, inputs, t, "text")

    def prime(self, frames: list[Image.Image], wait: bool = True) -> bool:
        """Encode the clip's frames into the prefix cache before any question is asked (the
        app does this while the clinician looks at the clip), so its first question is
        answered from the cache. Returns False when the clip was already cached, or (wait
        False) at once when another thread holds the model: a page render never waits."""
        import torch

        key = frames_key(frames)
        if not self.lock.acquire(blocking=wait):
            return False
        try:
            if key in self._prefix:
                self._prefix.move_to_end(key)
                return False
            inputs = self.processor(frames, question="")  # the prefix does not depend on it
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            n = self.processor.prefix_length(inputs["input_ids"])
            with torch.inference_mode():
                return not self._prefix_cache(key, inputs, n)[1]
        finally:
            self.lock.release()

    def answer_batch(self, items: list[dict], batch_size: int = 8) -> list[Answer]:
        """items: dicts with 'frames' and 'audio' (optional 'sr') or 'question'.

        Batched greedy generation with left padding (same answers as one by one; no prefix
        cache). latency_ms is the batch's time shared equally among its items.
        """
        import torch

        inputs = []
        for i, it in enumerate(items):
            if "frames" not in it or ("audio" in it) == ("question" in it):
                raise ValueError(f"item {i}: needs 'frames' and one of 'audio' or 'question'")
            try:
                if "audio" in it:
                    inputs.append(
                        self.processor(it["frames"], audio=it["audio"], sr=it.get("sr", 16_000))
                    )
                else:
                    inputs.append(self.processor(it["frames"], question=it["question"]))
            except ValueError as e:  # AudioError included: name the item
                raise type(e)(f"item {i}: {e}") from e
        out: list[Answer | None] = [None] * len(items)
        for mode in ("audio", "text"):
            idx = [i for i, x in enumerate(inputs) if ("input_features" in x) == (mode == "audio")]
            for start in range(0, len(idx), batch_size):
                chunk = idx[start : start + batch_size]
                t = time.perf_counter()
                batch = self.processor.collate([inputs[i] for i in chunk], padding_side="left")
                batch = {k: v.to(self.device) for k, v in batch.items()}
                with self.lock, torch.inference_mode():
                    gen = self.model.generate(**batch, **self._gen_kwargs())
                ms = (time.perf_counter() - t) * 1000 / len(chunk)
                width = batch["input_ids"].shape[1]
                scores = self._scores(gen, width)
                for row, i in enumerate(chunk):
                    new = gen.sequences[row, width:]
                    out[i] = self._answer(inputs[i]["input_ids"], new, ms, False, mode, scores[row])
        return out

    @contextmanager
    def audio_policy(self, name: str):
        """Answer under another audio-token policy inside the block (full, trim, trim+pool:N):
        the processor and the graft share one GraftConfig, so one field switches both."""
        if self.processor.cfg is not self.graft.graft:
            raise RuntimeError("processor and graft hold different GraftConfig objects")
        GraftConfig(audio_tokens=name)  # a bad name fails here, naming the valid ones
        old = self.cfg.audio_tokens
        self.cfg.audio_tokens = name
        try:
            yield
        finally:
            self.cfg.audio_tokens = old

    def clear_cache(self) -> None:
        with self.lock:
            self._prefix.clear()

    # -- internals -------------------------------------------------------------------------
    def _gen_kwargs(self) -> dict:
        return dict(
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            num_beams=1,
            eos_token_id=self._eos,
            pad_token_id=self.processor.pad_id,
            suppress_tokens=self._suppress,
            temperature=None,
            top_p=None,
            top_k=None,
            return_dict_in_generate=True,
            output_logits=True,  # raw logits: the answer's token probabilities (_scores)
        )

    def _run(self, key: str | None, inputs: dict, t0: float, mode: str) -> Answer:
        """Generate the answer; key: the clip's prefix cache key (None: cache off)."""
        import torch

        ids = inputs["input_ids"]
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        cached = False
        with self.lock, torch.inference_mode():
            if key is not None:
                out, cached = self._generate_cached(key, inputs)
            else:
                out = self.model.generate(**inputs, **self._gen_kwargs())
        latency = (time.perf_counter() - t0) * 1000
        new = out.sequences[0, ids.shape[1] :]
        return self._answer(ids, new, latency, cached, mode, self._scores(out, ids.shape[1])[0])

    def _scores(self, out, width: int) -> list[float | None]:
        """Per row, the mean log-probability (softmax of the raw logits) of the tokens generate
        chose, up to and including the first end token: padding after it does not count."""
        import torch

        if not out.logits:
            return [None] * out.sequences.shape[0]
        logp = (
            self.model.compute_transition_scores(out.sequences, out.logits, normalize_logits=True)
            .float()
            .cpu()
        )
        new = out.sequences[:, width:].cpu()
        ended = torch.isin(new, torch.tensor(self._eos))
        after = (ended.long().cumsum(-1) - ended.long()) > 0  # past the first end token
        keep = ~after
        means = (logp * keep).sum(-1) / keep.sum(-1).clamp(min=1)
        return [float(m) for m in means]

    def _answer(
        self, ids, new: torch.Tensor, ms: float, cached: bool, mode: str, score: float | None
    ) -> Answer:
        import torch

        ptok = self.processor.ids
        new = new.cpu()
        keep = ~torch.isin(new, torch.tensor([self.processor.pad_id, *self._eos]))
        grounding, text = split_grounding(self.processor.decode(new), self.cfg.answer_format)
        return Answer(
            text=text,
            grounding=grounding,
            latency_ms=ms,
            audio_tokens=int((ids == ptok[AUDIO_PAD]).sum()),
            vision_tokens=int((ids == ptok[IMAGE_PAD]).sum()),
            cached_prefix=cached,
            new_tokens=int(keep.sum()),
            mode=mode,
            score=score,
        )

    def _memo_vision(self, key: str | None) -> dict | None:
        """The cached clip's pixel_values/grid: a cache hit skips the image processor too."""
        if key is None:
            return None
        with self.lock:
            entry = self._prefix.get(key)
        return None if entry is None else entry[2]

    def _prefix_cache(self, key: str, inputs: dict, n: int) -> tuple[object, bool]:
        """The clip's prefix key/values (computed and kept on a miss), and whether it hit."""
        if key in self._prefix and self._prefix[key][1] == n:
            self._prefix.move_to_end(key)
            return self._prefix[key][0], True
        out = self.model(
            input_ids=inputs["input_ids"][:, :n],
            attention_mask=inputs["attention_mask"][:, :n],
            mm_token_type_ids=inputs["mm_token_type_ids"][:, :n],
            pixel_values=inputs["pixel_values"],
            image_grid_thw=inputs["image_grid_thw"],
            use_cache=True,
            logits_to_keep=1,
        )
        vision = {k: inputs[k].cpu() for k in ("pixel_values", "image_grid_thw")}
        self._prefix[key] = (out.past_key_values, n, vision)
        while len(self._prefix) > self.cache_clips:
            self._prefix.popitem(last=False)
        return out.past_key_values, False

    def _generate_cached(self, key: str, inputs: dict) -> tuple[Any, bool]:
        """Generate continuing from the clip's prefix key/values.

        M-RoPE: positions for the whole prompt come from get_rope_index on the full input_ids
        (as the stock prefill computes them), prepended with the 1-D text positions the way
        generate does ([4, B, L]); generate then slices off the cached part and extends them
        by +1 per new token. rope_deltas is set for the same prompt, so no stale value is used.
        """
        import torch

        n = self.processor.prefix_length(inputs["input_ids"])
        cache, hit = self._prefix_cache(key, inputs, n)
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        core = self.graft.model
        vision_pos, deltas = core.get_rope_index(
            ids,
            mm_token_type_ids=inputs["mm_token_type_ids"],
            image_grid_thw=inputs["image_grid_thw"],
            attention_mask=mask,
        )
        text_pos = (mask.long().cumsum(-1) - 1).clamp(min=0)[None]
        core.rope_deltas = deltas
        kw = {k: v for k, v in inputs.items() if k != "pixel_values"}
        try:
            out = self.model.generate(
                **kw,
                past_key_values=cache,
                position_ids=torch.cat([text_pos, vision_pos]),
                **self._gen_kwargs(),
            )
        finally:
            extra = cache.get_seq_length() - n
            if extra > 0:
                cache.crop(-extra)  # back to the clip prefix for the next question
        return out, hit


@boundary
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m model.predictor", description="answer a spoken question about a clip"
    )
    ap.add_argument("checkpoint", type=Path, help="graft checkpoint folder")
    ap.add_argument("frames", type=Path, help="folder of frame images (sorted by name)")
    ap.add_argument("audio", type=Path, help="the spoken question (wav, flac, ogg or mp3)")
    args = ap.parse_args(argv)
    from model.image import open_rgb  # the bounded read: a huge header is refused undecoded

    frames = [open_rgb(p) for p in sorted(args.frames.glob("*.jpg"))]
    if not frames:
        raise SystemExit(f"{args.frames}: no .jpg frames")
    pred = Predictor.from_checkpoint(args.checkpoint)
    print(pred.answer(frames, args.audio).to_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

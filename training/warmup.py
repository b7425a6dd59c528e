"""Stage 0: supervised warm-up of the vision tower on the clips' scene labels, and a read-out.

    python -c "from training.warmup import SCENE_LABELS; print(SCENE_LABELS)"

Small heads read each scene parameter (motion, quadrant, size, tool, ...) from the vision tokens
exactly as the decoder will see them (tower + merger + learned position). Each head pools the
tokens of a frame with one learned attention query, the single content-addressed hop a decoder
layer makes, so "where" has to become readable by content, not only by which token holds it.
`readout` trains fresh heads on a frozen tower: the diagnostic that tells "vision lacks it"
from "the decoder does not fetch it".
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from data.synth import DOMAINS
from data.words import load as load_words
from data.words import vocabulary, words_of
from model.graft import graft_modules
from training.dataset import CachedProcessor, SpecAugment, clip_key, precompute

# scene key -> its values, in a fixed order (None in a record = not applicable: no loss)
SCENE_LABELS: dict[str, tuple] = {k: tuple(v) for k, v in DOMAINS.items()}
TEMPORAL = ("lesion_motion", "motion")  # read from the frame order, not a frame average
KINDS = ("attention", "mean", "flat")  # how a head pools a frame's tokens (Heads)


def scene_targets(recs: Sequence[dict]) -> dict[str, torch.Tensor]:
    """Per label, the class index of each clip (-100 where the scene leaves it unset)."""
    out = {}
    for k, values in SCENE_LABELS.items():
        idx = []
        for r in recs:
            v = r.get("scene", {}).get(k)
            idx.append(values.index(v) if v in values else -100)
        out[k] = torch.tensor(idx)
    return out


class Heads(nn.Module):
    """Per label: an attention query pools each frame's tokens; a linear layer classifies the
    frame average (static labels) or the frame sequence (temporal labels)."""

    def __init__(self, dim: int, frames: int, tokens: int = 16, kind: str = "attention"):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"head kind {kind!r}: expected one of {KINDS}")
        self.kind = kind
        if kind == "flat":  # linear probe on every token: position read by token index
            self.flat = nn.ModuleDict(
                {k: nn.Linear(dim * frames * tokens, len(v)) for k, v in SCENE_LABELS.items()}
            )
        n = len(SCENE_LABELS)
        self.names = list(SCENE_LABELS)
        self.query = nn.Parameter(torch.randn(n, dim) * dim**-0.5)
        self.key = nn.Linear(dim, dim, bias=False)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.ModuleDict(
            {
                k: nn.Linear(dim * (frames if k in TEMPORAL else 1), len(v))
                for k, v in SCENE_LABELS.items()
            }
        )

    def forward(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """tokens (B, F, T, D) -> logits per label."""
        x = self.norm(tokens)
        if self.kind == "flat":
            return {k: lin(x.flatten(1)) for k, lin in self.flat.items()}
        if self.kind == "mean":
            # a frame's average token must hold the label, so it has to be in every token's
            # content (a position becomes a property, readable by an unselective attention hop)
            pooled = x.mean(2).unsqueeze(1).expand(-1, len(self.names), -1, -1)
        else:
            att = torch.einsum("bftd,nd->bnft", self.key(x), self.query).softmax(-1)
            pooled = torch.einsum("bnft,bftd->bnfd", att, x)  # (B, labels, F, D)
        logits = {}
        for i, k in enumerate(self.names):
            p = pooled[:, i]
            logits[k] = self.out[k](p.flatten(1) if k in TEMPORAL else p.mean(1))
        return logits


def vision_tokens(model, batch: dict[str, torch.Tensor], frames: int) -> torch.Tensor:
    """The merged vision tokens (+ learned position) of a batch of clips: (B, F, T, D)."""
    g = graft_modules(model)
    out = g.model.get_image_features(
        batch["pixel_values"], batch["image_grid_thw"], return_dict=True
    )
    tok = torch.stack(out.pooler_output)  # (B*F, T, D): every frame has the same grid here
    if g.vision_pos is not None:
        merge = g.config.vision_config.spatial_merge_size
        fids = list(range(frames)) * (tok.shape[0] // frames)
        tok = tok + g.vision_pos(batch["image_grid_thw"], fids, merge).view_as(tok).to(tok.dtype)
    return tok.view(-1, frames, *tok.shape[1:])


def _clips(recs: Sequence[dict]) -> list[dict]:
    seen, out = set(), []
    for r in recs:
        k = clip_key(r)
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


def _batch(proc: CachedProcessor, clips: Sequence[dict], device) -> dict[str, torch.Tensor]:
    vs = [proc.clips[clip_key(r)] for r in clips]
    return {
        "pixel_values": torch.cat([v["pixel_values"] for v in vs]).float().to(device),
        "image_grid_thw": torch.cat([v["image_grid_thw"] for v in vs]).to(device),
    }


def _loss(logits: dict, targets: dict, sel: torch.Tensor) -> torch.Tensor:
    losses = []
    for k, lg in logits.items():
        y = targets[k][sel].to(lg.device)
        if (y != -100).any():
            losses.append(nn.functional.cross_entropy(lg, y, ignore_index=-100))
    return torch.stack(losses).sum()


@torch.no_grad()
def score_heads(model, heads: Heads, proc, clips, frames: int, batch: int = 32) -> dict[str, float]:
    """Accuracy of each head on these clips (labels with no applicable clip are left out)."""
    device = next(heads.parameters()).device
    targets = scene_targets(clips)
    right = {k: 0 for k in SCENE_LABELS}
    total = {k: 0 for k in SCENE_LABELS}
    for s in range(0, len(clips), batch):
        part = clips[s : s + batch]
        logits = heads(vision_tokens(model, _batch(proc, part, device), frames))
        sel = torch.arange(s, s + len(part))
        for k, lg in logits.items():
            y = targets[k][sel].to(device)
            ok = y != -100
            right[k] += int((lg.argmax(-1)[ok] == y[ok]).sum())
            total[k] += int(ok.sum())
    return {k: right[k] / total[k] for k in SCENE_LABELS if total[k]}


def fit_heads(
    model,
    proc: CachedProcessor,
    data: str | Path,
    train: Sequence[dict],
    held_out: Sequence[dict],
    steps: int,
    tower: bool,
    lr: float = 1e-3,
    batch: int = 16,
    seed: int = 0,
    desc: str = "vision warm-up",
    kind: str = "attention",
) -> dict:
    """Train heads (and the vision tower + position when `tower`) for `steps` batches of clips.

    Returns {"train": acc, "held_out": acc, "steps", "seconds"}; the heads are thrown away.
    """
    g = graft_modules(model)
    frames = g.graft.frames
    device = g.get_input_embeddings().weight.device
    train_c, held_c = _clips(train), _clips(held_out)
    precompute(proc, Path(data), train_c + held_c, audio=False)
    heads = Heads(g.config.text_config.hidden_size, frames, kind=kind).to(device)
    params = list(heads.parameters())
    tower_params = list(g.model.visual.parameters())
    if g.vision_pos is not None:
        tower_params += list(g.vision_pos.parameters())
    was = [p.requires_grad for p in tower_params]
    for p in tower_params:
        p.requires_grad_(tower)
    if tower:
        params += tower_params
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(steps, 1), pct_start=0.1)
    targets = scene_targets(train_c)
    rng = random.Random(seed)
    order: list[int] = []
    t0 = time.time()
    model.train()
    bar = tqdm(range(steps), desc=desc, unit="step")
    for _ in bar:
        if len(order) < batch:
            order += rng.sample(range(len(train_c)), len(train_c))
        idx, order = order[:batch], order[batch:]
        logits = heads(
            vision_tokens(model, _batch(proc, [train_c[i] for i in idx], device), frames)
        )
        loss = _loss(logits, targets, torch.tensor(idx))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    out = {
        "steps": steps,
        "seconds": round(time.time() - t0, 1),
        "tower_trained": tower,
        "train": score_heads(model, heads, proc, train_c, frames),
        "held_out": score_heads(model, heads, proc, held_c, frames),
    }
    for p, w in zip(tower_params, was, strict=True):
        p.requires_grad_(w)
    return out


class AudioHead(nn.Module):
    """An attention query pools the projected audio tokens; a linear layer names the type."""

    def __init__(self, dim: int, classes: int):
        super().__init__()
        self.query = nn.Parameter(torch.randn(dim) * dim**-0.5)
        self.key = nn.Linear(dim, dim, bias=False)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, classes)

    def forward(self, tokens: list[torch.Tensor]) -> torch.Tensor:
        pooled = []
        for t in tokens:
            x = self.norm(t)
            att = (self.key(x) @ self.query).softmax(0)
            pooled.append(att @ x)
        return self.out(torch.stack(pooled))


class WordHead(nn.Module):
    """Which words of the question vocabulary were spoken: a per-token score, max over time.
    Keyword spotting makes the encoder hear words, not only a wording's overall shape."""

    def __init__(self, dim: int, words: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, words)

    def forward(self, tokens: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([self.out(self.norm(t)).amax(0) for t in tokens])


def _audio_path(model, proc: CachedProcessor, data: str | Path, recs: Sequence[dict]):
    """(grafted modules, their device) with these recordings' features cached."""
    g = graft_modules(model)
    precompute(proc, Path(data), recs)
    return g, g.get_input_embeddings().weight.device


def _tokens(g, proc: CachedProcessor, recs: Sequence[dict], device, mask=None):
    """These recordings' projected audio tokens; mask(features, mel frames) -> features:
    SpecAugment, drawn per recording (training only)."""
    feats = [proc.sounds[r["audio"]] for r in recs]
    if mask is not None:  # 2 mel frames per encoder frame (the conv stride)
        feats = [(mask(f.float(), 2 * n), n) for f, n in feats]
    lengths = torch.tensor([n for _, n in feats], device=device)
    return g.encode_audio(torch.cat([f for f, _ in feats]).float().to(device), lengths)


def _heard(g, head: nn.Module, proc: CachedProcessor, recs: Sequence[dict], device):
    """The head's output on these recordings' projected audio tokens."""
    return head(_tokens(g, proc, recs, device))


@torch.no_grad()
def _scored(g, head: nn.Module, proc: CachedProcessor, recs: Sequence[dict], device, chunk=64):
    """(records, head output) for these records, chunk by chunk, without gradients."""
    for s in range(0, len(recs), chunk):
        part = recs[s : s + chunk]
        yield part, _heard(g, head, proc, part, device)


def _fit_audio_path(
    model, g, head: nn.Module, steps: int, lr: float, batch: int, n: int, seed: int, loss_of, desc
) -> None:
    """Train the head with the audio encoder and projector: AdamW, one-cycle schedule, shuffled
    batches of range(n) scored by loss_of(indices). The model ends in eval mode."""
    params = [*head.parameters(), *g.audio_encoder.parameters(), *g.projector.parameters()]
    was = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(steps, 1), pct_start=0.1)
    rng = random.Random(seed)
    order: list[int] = []
    model.train()
    bar = tqdm(range(steps), desc=desc, unit="step")
    for _ in bar:
        if len(order) < batch:
            order += rng.sample(range(n), n)
        idx, order = order[:batch], order[batch:]
        loss = loss_of(idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    for p, w in zip(params, was, strict=True):
        p.requires_grad_(w)


def fit_words(
    model,
    proc: CachedProcessor,
    data: str | Path,
    train: Sequence[dict],
    held_out: Sequence[dict],
    steps: int,
    lr: float = 3e-3,
    batch: int = 32,
    seed: int = 0,
) -> dict:
    """Keyword spotting: the encoder + projector learn which words were spoken in random word
    strings (data.words), so no sentence shape can stand in for the words themselves."""
    g, device = _audio_path(model, proc, data, [*train, *held_out])
    vocab = vocabulary([r["question"] for r in train])
    w_of = {w: i for i, w in enumerate(vocab)}
    head = WordHead(g.config.text_config.hidden_size, len(vocab)).to(device)

    def spoken(recs: Sequence[dict]) -> torch.Tensor:
        y = torch.zeros(len(recs), len(vocab), device=device)
        for row, r in enumerate(recs):
            y[row, [w_of[w] for w in words_of(r["question"]) if w in w_of]] = 1.0
        return y

    def loss_of(idx: list[int]) -> torch.Tensor:
        recs = [train[i] for i in idx]
        scores = _heard(g, head, proc, recs, device)
        y = spoken(recs)  # the spoken words as a distribution: softmax gives every step a
        return -(y / y.sum(1, keepdim=True) * scores.log_softmax(-1)).sum(1).mean()  # signal

    t0 = time.time()
    _fit_audio_path(model, g, head, steps, lr, batch, len(train), seed, loss_of, "word warm-up")
    found = total = 0  # recall at k: the k best-scored words of an utterance of k words
    for part, scores in _scored(g, head, proc, held_out, device):
        for row, y in zip(scores, spoken(part), strict=True):
            k = int(y.sum())
            found += int(y[row.topk(k).indices].sum()) if k else 0
            total += k
    return {"steps": steps, "seconds": round(time.time() - t0, 1), "words": len(vocab),
            "held_out_word_recall": round(found / max(1, total), 3)}  # fmt: skip


LETTERS = " abcdefghijklmnopqrstuvwxyz"  # the spelling alphabet; CTC index i + 1 (0 = blank)


def spelling(text: str) -> str:
    """What a text sounds like letter by letter: lower-case words and single spaces."""
    return " ".join(words_of(text))


def spelled(text: str) -> list[int]:
    """CTC targets of a text: its spelling's letter indices, anything else dropped."""
    return [LETTERS.index(c) + 1 for c in spelling(text)]


class SpellHead(nn.Module):
    """Per-token letter log-probabilities (+ blank) for CTC over the projected audio tokens."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, len(LETTERS) + 1)

    def forward(self, tokens: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self.out(self.norm(t)).log_softmax(-1) for t in tokens]


def spelling_records(data: str | Path, train: Sequence[dict]) -> list[dict]:
    """What spelling learns from: the train questions, plus the spoken word strings
    (<data>/words) where they were built."""
    said = list(train)
    if (Path(data) / "words" / "train.jsonl").is_file():
        said += load_words(data, "train")
    return said


def spelling_loss(lps: list[torch.Tensor], recs: Sequence[dict], device) -> torch.Tensor:
    """CTC of per-token letter log-probabilities against the records' spoken questions."""
    targets = [torch.tensor(spelled(r["question"])) for r in recs]
    return nn.functional.ctc_loss(
        nn.utils.rnn.pad_sequence(lps),  # (T, B, letters + 1)
        torch.cat(targets).to(device),
        torch.tensor([len(x) for x in lps]),
        torch.tensor([len(t) for t in targets]),
        zero_infinity=True,  # an utterance too fast for its token count adds no gradient
    )


def greedy_spelling(log_probs: torch.Tensor) -> str:
    """Best path: the argmax letter per token, repeats merged, blanks dropped."""
    ids = torch.unique_consecutive(log_probs.argmax(-1)).tolist()
    return "".join(LETTERS[i - 1] for i in ids if i)


def fit_spelling(
    model,
    proc: CachedProcessor,
    data: str | Path,
    train: Sequence[dict],
    held_out: Sequence[dict],
    steps: int,
    lr: float = 3e-3,
    batch: int = 32,
    seed: int = 0,
) -> dict:
    """Character CTC: the encoder + projector learn to spell what was said, so a wording never
    heard in training still reaches the decoder as its letters rather than as a shape."""
    from difflib import SequenceMatcher

    g, device = _audio_path(model, proc, data, [*train, *held_out])
    head = SpellHead(g.config.text_config.hidden_size).to(device)

    def loss_of(idx: list[int]) -> torch.Tensor:
        recs = [train[i] for i in idx]
        return spelling_loss(_heard(g, head, proc, recs, device), recs, device)

    t0 = time.time()
    _fit_audio_path(model, g, head, steps, lr, batch, len(train), seed, loss_of, "spelling")
    match = [
        SequenceMatcher(None, greedy_spelling(x), spelling(r["question"])).ratio()
        for part, lps in _scored(g, head, proc, held_out, device)
        for r, x in zip(part, lps, strict=True)
    ]
    return {"steps": steps, "seconds": round(time.time() - t0, 1),
            "held_out_letter_match": round(sum(match) / max(1, len(match)), 3)}  # fmt: skip


def fit_audio(
    model,
    proc: CachedProcessor,
    data: str | Path,
    train: Sequence[dict],
    held_out: Sequence[dict],
    steps: int,
    lr: float = 3e-3,
    batch: int = 32,
    seed: int = 0,
    augment: SpecAugment | None = None,
    spell_weight: float = 0.0,
) -> dict:
    """Audio warm-up: the encoder + projector learn to tell the question type from speech
    (20 classes, many voices), read from the projected tokens as the decoder sees them.
    augment: SpecAugment on the training recordings (a masked word leaves the others to name
    the type; one with no masks is off). spell_weight > 0: letter CTC on the same tokens
    alongside, so naming the type does not wear away what spelling taught (the words of a
    wording it never heard)."""
    from data.catalog import TYPE_NAMES

    g, device = _audio_path(model, proc, data, [*train, *held_out])
    dim = g.config.text_config.hidden_size
    head = nn.ModuleDict({"kind": AudioHead(dim, len(TYPE_NAMES))})
    if spell_weight:
        head["spell"] = SpellHead(dim)
    head.to(device)
    y_of = {t: i for i, t in enumerate(TYPE_NAMES)}
    rng = random.Random(seed)
    mask = (lambda f, n: augment(f, n, rng)) if augment else None

    def loss_of(idx: list[int]) -> torch.Tensor:
        recs = [train[i] for i in idx]
        tokens = _tokens(g, proc, recs, device, mask)
        y = torch.tensor([y_of[r["question_type"]] for r in recs], device=device)
        loss = nn.functional.cross_entropy(head["kind"](tokens), y)
        if spell_weight:
            loss = loss + spell_weight * spelling_loss(head["spell"](tokens), recs, device)
        return loss

    t0 = time.time()
    _fit_audio_path(model, g, head, steps, lr, batch, len(train), seed, loss_of, "audio warm-up")

    def hits(recs: Sequence[dict]) -> dict[str, list[bool]]:
        """Per question type, whether each record's type was named right."""
        out: dict[str, list[bool]] = {}
        for part, logits in _scored(g, head["kind"], proc, recs, device):
            for p, r in zip(logits.argmax(-1), part, strict=True):
                out.setdefault(r["question_type"], []).append(int(p) == y_of[r["question_type"]])
        return out

    def acc(by_type: dict[str, list[bool]]) -> float:
        flat = [h for v in by_type.values() for h in v]
        return sum(flat) / max(1, len(flat))

    held = hits(held_out)
    by_type = {t: round(sum(v) / len(v), 3) for t, v in sorted(held.items())}
    return {"steps": steps, "seconds": round(time.time() - t0, 1), "recordings": len(train),
            "train_type_acc": acc(hits(train[:512])), "held_out_type_acc": acc(held),
            "held_out_by_type": by_type}  # fmt: skip

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

from data.facts import DOMAINS
from model.graft import graft_modules
from training.dataset import CachedProcessor, clip_key, precompute

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

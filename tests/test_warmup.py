"""Stage 0 pieces that need no dataset: the scene heads."""

from __future__ import annotations

import pytest
import torch

from training.warmup import SCENE_LABELS, Heads


def test_heads_pool_by_attention_or_by_the_plain_average():
    """Attention heads weigh a frame's tokens by a learned query; mean heads ignore it, so
    what they read must be in the average of the tokens."""
    torch.manual_seed(0)
    tokens = torch.randn(2, 8, 16, 32)  # (clips, frames, tokens, dim)
    for kind in ("attention", "mean"):
        heads = Heads(dim=32, frames=8, kind=kind)
        before = heads(tokens)
        assert before["quadrant"].shape == (2, len(SCENE_LABELS["quadrant"]))
        with torch.no_grad():
            heads.query.normal_()
        moved = not torch.allclose(before["quadrant"], heads(tokens)["quadrant"])
        assert moved == (kind == "attention")
    with pytest.raises(ValueError, match="head kind"):
        Heads(dim=32, frames=8, kind="max")

"""Stage 0 pieces that need no dataset: the keyword-spotting head."""

from __future__ import annotations

import torch

from training.warmup import WordHead


def test_word_head_hears_a_word_wherever_it_is_spoken():
    """Max over time: a word's score is its best frame's, wherever in the question that frame
    comes; a frame added to an utterance can only raise scores."""
    torch.manual_seed(0)
    head = WordHead(dim=16, words=5)
    rest = torch.randn(6, 16)
    word = torch.randn(1, 16)
    first, last = head([torch.cat([word, rest]), torch.cat([rest, word])])
    assert torch.allclose(first, last)
    quiet, alone = head([rest, word])
    assert torch.allclose(first, torch.maximum(quiet, alone))
    assert head([rest, rest[:2]]).shape == (2, 5)  # one row per utterance, any length

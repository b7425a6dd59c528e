"""Stage 0 pieces that need no dataset: the scene, keyword-spotting and spelling heads."""

from __future__ import annotations

import pytest
import torch

from training.warmup import (
    LETTERS,
    SCENE_LABELS,
    Heads,
    SpellHead,
    WordHead,
    greedy_spelling,
    spelled,
)


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


def test_spelling_targets_and_best_path():
    """Targets keep letters and single spaces; the best path merges repeats and drops blanks,
    so a blank between two equal letters keeps both."""
    assert spelled("Is NBI on?") == [LETTERS.index(c) + 1 for c in "is nbi on"]
    assert spelled("Lesion's size: <5 mm!") == spelled("lesion s size mm")
    path = [0, "l", "l", 0, "l", "o", "o", 0]
    ids = [p if p == 0 else LETTERS.index(p) + 1 for p in path]
    log_probs = torch.nn.functional.one_hot(torch.tensor(ids), len(LETTERS) + 1).float().log()
    assert greedy_spelling(log_probs) == "llo"


def test_spell_head_scores_every_token_of_every_utterance():
    torch.manual_seed(0)
    head = SpellHead(dim=16)
    short, long = head([torch.randn(3, 16), torch.randn(9, 16)])
    assert short.shape == (3, len(LETTERS) + 1) and long.shape == (9, len(LETTERS) + 1)
    assert torch.allclose(long.exp().sum(-1), torch.ones(9))  # log-probabilities per token


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

"""Shared fixtures: the real SurgViVQA reference files (skipped where absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "surgvivqa"


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """The real SurgViVQA annotation files; tests that need them skip where they are absent."""
    if not (SHARED / "train_multivideo.jsonl").is_file():
        pytest.skip(f"real SurgViVQA annotations not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A complete, untrained tiny checkpoint (model.tiny.build; about a second, offline)."""
    import torch

    from model.tiny import build

    torch.set_num_threads(1)  # 2 shared cores: keep test processes single-threaded
    return build(tmp_path_factory.mktemp("tiny") / "ckpt", seed=0)

"""The grafted audio + vision model: audio intake, config, graft, processor, checkpoints, predictor.

python -c "from model import Predictor; print(Predictor)"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model.audio import AudioError
    from model.config import GraftConfig
    from model.predictor import Answer, Predictor

__all__ = ["Answer", "AudioError", "GraftConfig", "Predictor"]
_WHERE = {
    "Answer": "model.predictor",
    "Predictor": "model.predictor",
    "AudioError": "model.audio",
    "GraftConfig": "model.config",
}


def __getattr__(name: str):
    """Lazy imports: `import model` stays cheap (no torch until a name is used)."""
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")

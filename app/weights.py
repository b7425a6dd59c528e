"""What a checkpoint stores, read without loading it: parameter counts per component.

    python -m app.weights checkpoints/demo   # the Training page's parameter table

The counts come from the checkpoint's param_counts.json if it has one, else from its
safetensors headers (JSON, no tensor data), so the page stays light even for a 7B checkpoint.
Folder and file names are model.layout's.
"""

from __future__ import annotations

import json
import struct
import sys
from collections import Counter
from pathlib import Path

from model.layout import ADAPTER_DIR, AUDIO_DIR, CONFIG_NAME, PROJECTOR_FILE, WEIGHT_DIRS
from model.runfiles import RunFileError, read_json

PARAM_COUNTS = "param_counts.json"  # counts a checkpoint may store: {component: n or {...}}
WARMUP_ONLY = "warm-up"  # trained in stage 0, then frozen (train --freeze_vision)


def safetensors_shapes(path: Path) -> dict[str, int]:
    """{tensor name: element count}, read from the file's JSON header only (no tensor data)."""
    try:
        with path.open("rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            if size > 100_000_000:
                raise RunFileError(f"{path}: implausible safetensors header size {size}")
            header = json.loads(fh.read(size))
    except (OSError, struct.error, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunFileError(f"cannot read the safetensors header of {path}: {e}") from e
    out = {}
    for name, info in header.items():
        if name != "__metadata__":
            n = 1
            for dim in info.get("shape", []):
                n *= int(dim)
            out[name] = n
    return out


def _component(rel: str, name: str) -> str:
    """The part of the model a tensor belongs to, from its file (relative to the checkpoint)
    and its name."""
    low = name.lower()
    if rel.startswith(ADAPTER_DIR):
        return "LoRA adapters"
    if rel.startswith(AUDIO_DIR):
        return "audio encoder (Whisper)"
    if low.startswith("vision_pos"):
        return "vision position embedding"
    if low.startswith("projector") or rel == PROJECTOR_FILE:
        return "audio projector"
    if "visual" in low:
        return "vision tower"
    if "lm_head" in low:
        return "LM head"
    if "embed_tokens" in low:
        return "token embeddings"
    return "language model"


def _trainable(component: str, cfg: dict, frozen_vision: bool = False) -> bool | str:
    if component in ("LoRA adapters", "audio projector", "vision position embedding"):
        return True
    if component == "audio encoder (Whisper)":
        return bool(cfg.get("audio_trainable"))  # a pretrained ear stays frozen
    full = cfg.get("train") == "full"  # the base trains whole only in full mode (tiny model)
    if component == "vision tower" and full and frozen_vision:
        return WARMUP_ONLY
    return full


def parameter_counts(checkpoint: Path, frozen_vision: bool = False) -> tuple[list[dict], str]:
    """Rows {component, parameters, trainable (True, False or WARMUP_ONLY), files} and where the
    numbers came from: counts the checkpoint stores (PARAM_COUNTS) if any, else its safetensors
    headers. frozen_vision: the recipe froze the tower after its warm-up (its freeze_vision).
    RunFileError names a file that cannot be read."""
    stored = checkpoint / PARAM_COUNTS
    if stored.is_file():
        obj = read_json(stored)
        rows = [
            {
                "component": k,
                "parameters": int(v["parameters"] if isinstance(v, dict) else v),
                "trainable": bool(v.get("trainable")) if isinstance(v, dict) else None,
                "files": "",
            }
            for k, v in obj.items()
            if isinstance(v, int | float | dict)
        ]
        return rows, stored.name
    cfg = read_json(checkpoint / CONFIG_NAME)
    totals: Counter = Counter()
    where: dict[str, set[str]] = {}
    files = [*checkpoint.glob("*.safetensors")]
    for sub in WEIGHT_DIRS:
        files += checkpoint.glob(f"{sub}/*.safetensors")
    for f in sorted(files):  # not checkpoint-N/, stage*/, init/: they repeat the same weights
        rel = f.relative_to(checkpoint).as_posix()
        for name, n in safetensors_shapes(f).items():
            comp = _component(rel, name)
            totals[comp] += n
            where.setdefault(comp, set()).add(rel)
    rows = [
        {
            "component": c,
            "parameters": n,
            "trainable": _trainable(c, cfg, frozen_vision),
            "files": ", ".join(sorted(where[c])),
        }
        for c, n in sorted(totals.items(), key=lambda kv: -kv[1])
    ]
    return rows, "safetensors headers"


if __name__ == "__main__":
    found, source = parameter_counts(Path(sys.argv[1] if len(sys.argv) > 1 else "checkpoints/demo"))
    for row in found:
        print(f"{row['component']:28} {row['parameters']:>14,}  trainable {row['trainable']}")
    print(f"from {source}")

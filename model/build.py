"""Start a graft checkpoint from a pretrained Qwen2-VL and a pretrained Whisper (real scale).

    python -m model.build --base Qwen/Qwen2-VL-7B-Instruct \
        --audio openai/whisper-large-v3-turbo --out checkpoints/qwen2vl7b-init

The result holds references to the two models (HF ids or paths), the tokenizer with the audio
tokens added, the image processor, Whisper's feature extractor and a freshly initialised
projector; `training.train --model` fine-tunes it (QLoRA on CUDA). On a GPU machine the base
loads in 4-bit NF4 here, so a 24 GB card suffices; the projector is the only new weight.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from model.cli import boundary
from model.config import PROJECTORS, GraftConfig


def build(
    base: str,
    audio: str,
    out: str | Path,
    device: str | None = None,
    **overrides,
) -> Path:
    """Join base + audio encoder with a new projector and save the checkpoint to `out`."""
    from model.checkpoint import build_model, save_checkpoint  # torch: not for --help

    cfg = GraftConfig(base_model=base, audio_encoder=audio, origin="model.build", **overrides)
    model, processor = build_model(cfg, device)
    return save_checkpoint(model, processor, out)


@boundary
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=GraftConfig.base_model, help="Qwen2-VL HF id or path")
    ap.add_argument("--audio", default=GraftConfig.audio_encoder, help="Whisper HF id or path")
    ap.add_argument("--out", required=True, help="checkpoint folder to write")
    ap.add_argument(
        "--projector", default="linear", choices=PROJECTORS, help="audio -> decoder projector"
    )
    ap.add_argument("--audio-tokens", default="trim", help="full | trim | trim+pool:N")
    ap.add_argument(
        "--image-max-side",
        type=int,
        default=GraftConfig.image_max_side,
        help="frames are scaled down to this longest side in pixels",
    )
    ap.add_argument(
        "--quantisation",
        default="nf4",
        choices=("nf4", "none"),
        help="nf4: the base in 4-bit on CUDA (QLoRA); none: full precision",
    )
    ap.add_argument("--device", default=None, help="cuda | cpu (default: cuda when available)")
    a = ap.parse_args(argv)
    out = build(
        a.base,
        a.audio,
        a.out,
        a.device,
        projector=a.projector,
        audio_tokens=a.audio_tokens,
        image_max_side=a.image_max_side,
        quantisation=a.quantisation,
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

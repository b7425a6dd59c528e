"""Vision read-out of a checkpoint: can fresh heads read the scene from its frozen vision tokens?

    python -m evaluation.readout --checkpoint checkpoints/demo --data data/demo \
        --out checkpoints/demo/eval/readout.json [--steps 150]

Heads (training.warmup) learn the scene labels from the train clips' vision tokens with the
tower frozen, then are scored on the held-out test clips. Beside answer accuracy this tells
"the vision tokens lack it" (read-out at chance) from "the decoder does not fetch it".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model.cli import boundary
from model.layout import write_json

# training.warmup.KINDS, spelled here so that --help loads no torch (a test keeps them equal)
KINDS = ("attention", "mean", "flat")


@boundary
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m evaluation.readout", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--checkpoint", type=Path, required=True, help="graft checkpoint folder")
    ap.add_argument("--data", type=Path, required=True, help="dataset folder (splits/, frames/)")
    ap.add_argument("--out", type=Path, required=True, help="the read-out's JSON file to write")
    ap.add_argument("--steps", type=int, default=150, help="training steps of the heads")
    ap.add_argument("--split", default="test", help="held-out clips to score the heads on")
    ap.add_argument("--kind", default="attention", choices=KINDS, help="how a head pools a frame")
    args = ap.parse_args(argv)
    import torch

    from data.files import read_split
    from model.checkpoint import load_checkpoint
    from training.dataset import CachedProcessor
    from training.warmup import fit_heads

    torch.manual_seed(0)
    model, proc = load_checkpoint(args.checkpoint, "cpu")
    train = read_split(args.data, "train")
    held = read_split(args.data, args.split)
    info = fit_heads(model, CachedProcessor(proc), args.data, train, held, args.steps,
                     tower=False, lr=3e-3, desc="read-out", kind=args.kind)  # fmt: skip
    info |= {"checkpoint": str(args.checkpoint), "split": args.split, "kind": args.kind}
    write_json(args.out, info)
    print(json.dumps(info["held_out"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

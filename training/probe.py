"""Hearing probe: how well the first stage's audio warm-ups name the question type of train
wordings they never heard, in minutes instead of a full run, without reading the test split.

    python -m training.probe --init runs/demo/init --data data/demo --leave_out 5,9 \
        --seeds 42,1 --masks 0,2

Spelling trains once, as in the recipe, on the train split without the left-out wordings
(plus the spoken word strings). Then, for every (masks, seed), the question-type warm-up
starts from that state and is scored on the left-out wordings' train and eval recordings.
`--init` is a run's `init/` folder (the untrained tiny model) or any checkpoint. `--framings 0,1`
also runs each configuration with new framings in the type warm-up (train --warmup_framings),
built here from the wordings not left out (<data>/words/framings-lo5-9.jsonl, kept for reuse).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
from pathlib import Path

import torch

from data.schema import DataError, load_jsonl, write_text
from data.words import REWORDING_FIELDS, build_framings
from data.words import load as load_words
from model.checkpoint import load_checkpoint
from training.dataset import CachedProcessor, SpecAugment, augmented_copies
from training.warmup import fit_audio, fit_spelling, spelling_records


def left_out(data: Path, phrasings: set[int]) -> tuple[list[dict], list[dict], list[dict]]:
    """(train records kept, eval records kept, records of the left-out wordings)."""
    train = load_jsonl(data / "splits" / "train.jsonl")
    ev = load_jsonl(data / "splits" / "eval.jsonl")
    out = [r for r in (*train, *ev) if r.get("phrasing") in phrasings]
    if not out:
        raise DataError(f"{data}: no train or eval record in phrasing(s) {sorted(phrasings)}")
    keep = [r for r in train if r.get("phrasing") not in phrasings]
    return keep, [r for r in ev if r.get("phrasing") not in phrasings], out


def probe(args: argparse.Namespace) -> dict:
    data = Path(args.data)
    train, ev, unheard = left_out(data, set(args.leave_out))
    model, proc = load_checkpoint(args.init, "cpu", trainable=True)
    proc = CachedProcessor(proc)
    spelling = {}
    # new hearings of the kept train questions, in both warm-ups (train --audio_augment)
    extra = augmented_copies(proc, data, train, args.augment, args.seeds[0]) if args.augment else []
    if args.spell_steps:
        said = spelling_records(data, train) + extra
        torch.manual_seed(args.seeds[0])  # the spelling head: same start in every invocation
        spelling = fit_spelling(model, proc, data, said, ev, args.spell_steps, seed=args.seeds[0])
    start = copy.deepcopy(model.state_dict())
    framed = []
    if any(args.framings):  # from the kept wordings only: framings of a left-out one leak it
        name = "framings-lo" + "-".join(map(str, args.leave_out))
        if not (data / "words" / f"{name}.jsonl").is_file():
            build_framings(data, leave_out=frozenset(args.leave_out), name=name)
        framed = load_words(data, name, REWORDING_FIELDS)
    rows = []
    for framings in args.framings:
        heard = [*train, *extra, *(framed if framings else [])]
        for masks in args.masks:
            for seed in args.seeds:
                model.load_state_dict(start)
                torch.manual_seed(seed)  # the head's initial weights
                info = fit_audio(model, proc, data, heard, unheard, args.steps, seed=seed,
                                 augment=SpecAugment(masks, args.time_width),
                                 spell_weight=args.spell_weight)  # fmt: skip
                acc = info["held_out_type_acc"]
                rows.append({"framings": framings, "masks": masks, "seed": seed,
                             "heard_records": len(heard), "unheard_type_acc": acc,
                             "by_type": info["held_out_by_type"]})  # fmt: skip
                print(f"framings {framings} masks {masks} seed {seed}: {acc:.3f}", file=sys.stderr)
    means = {
        f"framings {f} masks {m}": statistics.mean(
            r["unheard_type_acc"] for r in rows if (r["framings"], r["masks"]) == (f, m)
        )
        for f in args.framings
        for m in args.masks
    }
    return {"leave_out": args.leave_out, "unheard_records": len(unheard), "steps": args.steps,
            "augment": args.augment,
            "spell_weight": args.spell_weight, "spelling": spelling, "runs": rows,
            "means": means}  # fmt: skip


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ints = lambda s: [int(x) for x in s.split(",") if x != ""]  # noqa: E731
    ap = argparse.ArgumentParser(
        prog="python -m training.probe",
        description="score the type warm-up on train wordings left out of it",
    )
    ap.add_argument("--init", type=Path, required=True, help="checkpoint to start from")
    ap.add_argument("--data", type=Path, default=Path("data/demo"))
    ap.add_argument("--leave_out", type=ints, default=[5, 9], help="train wordings left out")
    ap.add_argument("--seeds", type=ints, default=[42])
    ap.add_argument("--masks", type=ints, default=[0], help="SpecAugment spans per recording")
    ap.add_argument("--time_width", type=int, default=30, help="widest span, in mel frames")
    ap.add_argument("--spell_weight", type=float, default=0.0, help="letter CTC alongside")
    ap.add_argument("--spell_steps", type=int, default=1500)  # the recipe's
    ap.add_argument("--steps", type=int, default=2000)  # the recipe's type warm-up
    ap.add_argument("--framings", type=ints, default=[0], help="1: the warm-up hears framings")
    ap.add_argument("--augment", type=int, default=0, help="augmented copies of each recording")
    ap.add_argument("--out", type=Path, help="write the result here as JSON")
    args = ap.parse_args(argv)
    if not args.seeds or not args.masks or not args.framings:
        ap.error("--seeds, --masks and --framings need at least one value each")
    if not (args.init / "graft_config.json").is_file():
        ap.error(f"--init {args.init}: not a checkpoint folder (no graft_config.json)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        result = probe(args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=1) + "\n"
    if args.out:
        write_text(args.out, text)
    print(json.dumps(result["means"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

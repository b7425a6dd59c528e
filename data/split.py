"""Train/eval/test split without temporal leakage.

    python -m data.split data/demo --test-videos v05 --eval-fraction 0.15 --seed 0
    python -m data.split train.jsonl eval.jsonl --test-videos 002-003 --out /tmp/ds

Test: every clip of the held-out video(s). Eval: drawn from the other videos, stratified by
question type, as whole groups of clips, where a group is a maximal run of clips of one video
whose frame ranges overlap (chained). Groups never straddle train and eval, so no eval clip
overlaps a train clip of the same video and no train clip needs to be dropped (no buffer).
Groups are visited in a seeded random order and moved into or out of eval while that brings
the per-type eval counts closer to eval_fraction of each type (passes until none helps).
Writes <out>/splits/{train,eval,test}.jsonl atomically and prints sizes per split, type and
answer with the leakage check.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

from data.leakage import frame_range
from data.schema import DataError, load_jsonl, record_key, write_jsonl
from data.stats import stats
from model.cli import boundary
from model.layout import SPLITS, SPLITS_DIR, split_file


def groups(records: list[dict], gap: int = 0) -> list[list[dict]]:
    """Maximal runs of clips of one video whose frame ranges overlap (or lie within gap)."""
    by_video: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_video[r["video_id"]].append(r)
    out: list[list[dict]] = []
    for v in sorted(by_video):
        end = None
        for r in sorted(by_video[v], key=lambda r: (*frame_range(r), r["id"])):
            a, b = frame_range(r)
            if end is None or a > end + gap:
                out.append([])
                end = b
            out[-1].append(r)
            end = max(end, b)
    return out


def split_records(
    records: list[dict],
    test_videos: list[str] | tuple[str, ...],
    eval_fraction: float = 0.15,
    seed: int = 0,
    gap: int = 0,
) -> dict[str, list[dict]]:
    """{"train", "eval", "test"} record lists (input order kept within each split)."""
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    videos = {r["video_id"] for r in records}
    missing = sorted(set(test_videos) - videos)
    if missing:
        raise DataError(f"test video(s) {', '.join(missing)} not in the data ({sorted(videos)})")
    keys = Counter(record_key(r) for r in records)
    dup = [k for k, n in keys.items() if n > 1]
    if dup:
        raise DataError(f"duplicate key(s) {dup[:5]}")
    rest = [r for r in records if r["video_id"] not in test_videos]
    target = {t: eval_fraction * n for t, n in Counter(r["question_type"] for r in rest).items()}
    order = groups(rest, gap)
    random.Random(seed).shuffle(order)
    sizes = [Counter(r["question_type"] for r in g) for g in order]
    inside = [False] * len(order)
    have: Counter = Counter()

    def miss(c: Counter) -> float:
        return sum(abs(c[t] - n) for t, n in target.items())

    # hill climb: toggle a group in or out of eval while that brings counts closer to target
    for _ in range(20):  # converges in 2-3 passes on the real data
        changed = False
        for i, size in enumerate(sizes):
            moved = have - size if inside[i] else have + size
            if miss(moved) < miss(have):
                have, inside[i], changed = moved, not inside[i], True
        if not changed:
            break
    chosen = {record_key(r) for g, yes in zip(order, inside, strict=True) if yes for r in g}
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for r in records:
        if r["video_id"] in test_videos:
            out["test"].append(r)
        else:
            out["eval" if record_key(r) in chosen else "train"].append(r)
    return out


def report(splits: dict[str, list[dict]]) -> str:
    """Sizes per split, type and answer, and the leakage checks, as text."""
    s = stats(splits)
    names = list(splits)
    lines = ["split sizes: " + ", ".join(f"{n} {len(splits[n])}" for n in names)]
    for n in names:
        c = s["splits"][n]
        lines.append(f"  {n}: videos {c['videos']}; answer mix {c['answer_mix']}")
    lines.append(f"{'type':28} " + " ".join(f"{n:>6}" for n in names) + "   answers per split")
    for t in s["types"]["yes_no"] + s["types"]["choice"]:
        cells = " ".join(f"{s['splits'][n]['types'].get(t, 0):6d}" for n in names)
        ans = " | ".join(
            ",".join(f"{a}:{k}" for a, k in s["splits"][n]["answers"].get(t, {}).items())
            for n in names
        )
        lines.append(f"{t:28} {cells}   {ans}")
    for pair, lk in s["leakage"].items():
        lines.append(
            f"leakage {pair}: {lk['overlapping']} of {lk['n']} clips overlap in time, "
            f"{lk['identical']} frame-identical"
        )
    return "\n".join(lines)


@boundary
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m data.split",
        description=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        help="JSONL file(s), or a dataset folder (reads <dir>/samples.jsonl, writes <dir>/splits)",
    )
    ap.add_argument(
        "--test-videos",
        action="append",
        required=True,
        help="held-out video id(s) for test: comma separated, or the option repeated",
    )
    ap.add_argument("--eval-fraction", type=float, default=0.15, help="per type (default 0.15)")
    ap.add_argument("--seed", type=int, default=0, help="order in which groups are drawn")
    ap.add_argument("--gap", type=int, default=0, help="frames apart that still count as overlap")
    ap.add_argument("--out", type=Path, help="dataset folder to write splits/ into")
    ap.add_argument("--skip-bad", action="store_true", help="report bad lines on stderr, skip them")
    args = ap.parse_args(argv)
    files = [p / "samples.jsonl" if p.is_dir() else p for p in args.inputs]
    out = args.out or (
        args.inputs[0] if len(args.inputs) == 1 and args.inputs[0].is_dir() else None
    )
    if out is None:
        ap.error("--out is required when the input is not a dataset folder")
    test_videos = [v for item in args.test_videos for v in item.split(",") if v]
    try:
        records = [r for f in files for r in load_jsonl(f, skip_bad=args.skip_bad)]
        if not records:
            raise DataError(f"{', '.join(map(str, files))}: no records to split")
        splits = split_records(records, test_videos, args.eval_fraction, args.seed, args.gap)
    except (DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, recs in splits.items():
        write_jsonl(split_file(out, name), recs)
    print(f"wrote {out / SPLITS_DIR}/{{{','.join(SPLITS)}}}.jsonl (seed {args.seed})")
    print(report(splits))
    return 0


if __name__ == "__main__":
    sys.exit(main())

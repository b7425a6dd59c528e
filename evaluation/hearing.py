"""What the frozen ear itself makes of each clinic condition: the word error rate of its own
Whisper (tiny.en, the same weights the graft's encoder uses, with Whisper's decoder and 30 s
window) transcribing the stranger split's recordings as each condition says them.

    python -m evaluation.hearing --data data/demo --asr runs/whisper-tiny.en --n 60

The graft never transcribes; this asks how much of each question's words survive the room
before any projector or decoder sees them. A condition whose transcripts keep the words but
whose answers fall behind quiet is the graft's to learn; one whose transcripts lose them is
the ear's (a stronger or cleaned-up input, not more training). The same recordings, chosen once
by their place in the split, are transcribed under every condition; the reference is the text
each condition said (lead-ins and fillers included), lower-cased without punctuation (jiwer).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from model.cli import boundary
from model.layout import write_json

CONDITIONS = ("quiet", "noise-10db", "noise-0db", "reverb", "lead-in", "fillers", "fast", "slow")


def words(text: str) -> str:
    """Lower case, letters, digits and apostrophes only: what the transcript is compared on."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def split_name(condition: str) -> str:
    return "stranger" if condition == "quiet" else f"stranger-{condition}"


def measure(
    data: Path,
    asr: Path,
    n: int,
    seed: int = 0,
    batch: int = 8,
    conditions: tuple[str, ...] = CONDITIONS,
) -> dict:
    """Per condition: word error rate over the same `n` recordings, and a few examples."""
    import jiwer
    from tqdm import tqdm

    from data.files import read_split
    from evaluation.asr import Transcriber

    tr = Transcriber.from_pretrained(asr)
    first = read_split(data, split_name("quiet"))
    picks = sorted(random.Random(seed).sample(range(len(first)), min(n, len(first))))
    out: dict = {"asr": tr.describe(), "n": len(picks), "conditions": {}}
    for cond in tqdm(conditions, desc="conditions", unit="condition"):
        recs = [read_split(data, split_name(cond))[i] for i in picks]
        said, heard = [], []
        for at in range(0, len(recs), batch):
            part = recs[at : at + batch]
            got = tr.transcribe_batch([data / r["audio"] for r in part])
            said += [words(r["question"]) for r in part]
            heard += [words(t.text) for t in got]
        out["conditions"][cond] = {
            "wer": round(float(jiwer.wer(said, heard)), 3),
            "examples": [{"said": s, "heard": h} for s, h in zip(said[:3], heard[:3], strict=True)],
        }
    return out


@boundary
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m evaluation.hearing", description=__doc__.split("\n")[0]
    )
    p.add_argument("--data", type=Path, default=Path("data/demo"), help="dataset folder")
    p.add_argument("--asr", type=Path, default=Path("runs/whisper-tiny.en"),
                   help="Whisper folder (python -m model.whisper_ct2 --out FOLDER)")  # fmt: skip
    p.add_argument("--n", type=int, default=60, help="recordings per condition")
    p.add_argument("--out", type=Path, default=None, help="JSON file to write (else printed)")
    args = p.parse_args(argv)
    result = measure(args.data, args.asr, args.n)
    if args.out:
        write_json(args.out, result)
    else:
        print(json.dumps(result, indent=1))
    print("\n".join(f"{c:12s} WER {v['wer']:.1%}" for c, v in result["conditions"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

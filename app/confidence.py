"""How sure the model is of an answer, in words ("sure", "fairly sure", "unsure"), from the
probabilities it gave its own tokens, calibrated on the evaluation split.

    python -m app.confidence --checkpoint checkpoints/demo --data data/demo --n 300

The score is the mean log-probability of the tokens the model chose (greedy), its end token
included: the grounding said first and the answer after it. The predictor returns it with every
answer (`Answer.score`, from generate's logits through `compute_transition_scores`).

Calibration (`calibrate`, the command above): the checkpoint answers a sample of the eval split
(its evaluation predictions carry no probabilities), each answer scored and graded strictly;
"sure" starts at the lowest score above which at least SURE of the answers were right, "unsure"
below the highest score under which at most UNSURE were. The thresholds are kept per checkpoint
(its identity: a digest of its top-level files, as evaluation runs record it) in
app/calibration.json, with the accuracy measured in each band; a checkpoint without an entry
gets no words, only the score in Details.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from model.runfiles import checkpoint_id  # the identity evaluation runs record

CALIBRATION = Path(__file__).with_name("calibration.json")
SURE = 0.97  # accuracy at or above the "sure" threshold on the eval sample
UNSURE = 0.55  # accuracy below the "unsure" threshold
MIN_BAND = 20  # answers a band needs before its accuracy counts
WORDS = ("sure", "fairly sure", "unsure")


@dataclass(frozen=True)
class Bands:
    """Thresholds on the mean token log-probability, and what they meant on the eval sample."""

    sure: float  # at or above: "sure"
    unsure: float  # below: "unsure"; between: "fairly sure"
    accuracy: dict[str, float | None]  # per word, on the eval sample
    share: dict[str, float]  # of the eval sample's answers, per word
    n: int  # answers measured

    def word(self, score: float) -> str:
        if score >= self.sure:
            return "sure"
        return "unsure" if score < self.unsure else "fairly sure"


def bands_for(checkpoint: Path, table: Path = CALIBRATION) -> Bands | None:
    """The calibration of this checkpoint, or None when it has none."""
    try:
        entry = json.loads(table.read_text(encoding="utf-8")).get(checkpoint_id(checkpoint))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict):
        return None
    try:
        return Bands(
            float(entry["sure"]),
            float(entry["unsure"]),
            dict(entry.get("accuracy", {})),
            dict(entry.get("share", {})),
            int(entry.get("n", 0)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def fit(scores: Sequence[float], correct: Sequence[bool]) -> Bands:
    """Thresholds from scored, graded answers (see the module's docstring)."""
    pairs = sorted(zip(scores, correct, strict=True), reverse=True)  # most confident first
    n = len(pairs)
    sure = math.inf
    right = 0
    for i, (s, ok) in enumerate(pairs, 1):  # the widest top band still right SURE of the time
        right += ok
        if i >= MIN_BAND and right / i >= SURE:
            sure = s
    unsure = -math.inf
    wrong_side = 0
    for i, (s, ok) in enumerate(reversed(pairs), 1):  # the widest bottom band at most UNSURE
        wrong_side += ok
        if i >= MIN_BAND and wrong_side / i <= UNSURE and s < sure:
            unsure = s  # answers under this score go "unsure"; the one at it too (below next)
    unsure = math.nextafter(unsure, math.inf) if math.isfinite(unsure) else unsure
    bands = Bands(sure, min(unsure, sure), {}, {}, n)
    words = [bands.word(s) for s, _ in pairs]
    acc: dict[str, float | None] = {}
    share: dict[str, float] = {}
    for w in WORDS:
        marks = [ok for (_, ok), got in zip(pairs, words, strict=True) if got == w]
        acc[w] = round(sum(marks) / len(marks), 3) if marks else None
        share[w] = round(len(marks) / n, 3) if n else 0.0
    return Bands(bands.sure, bands.unsure, acc, share, n)


# --- calibration ---------------------------------------------------------------------------------


def calibrate(
    checkpoint: Path, data: Path, split: str = "eval", n: int = 300, seed: int = 0
) -> dict:
    """Score and grade `n` answers of `split`; the entry app/calibration.json keeps."""
    from app import clips
    from data.schema import load_jsonl
    from data.score import is_correct_strict
    from model import Predictor

    recs = [r for r in load_jsonl(data / "splits" / f"{split}.jsonl") if r.get("audio")]
    random.Random(seed).shuffle(recs)
    pred = Predictor.from_checkpoint(checkpoint, device="cpu")
    scores, correct = [], []
    for r in recs[:n]:
        out = pred.answer(clips.load_frames(data, r), data / r["audio"])
        if out.score is not None:
            scores.append(out.score)
            correct.append(is_correct_strict(r["question_type"], r["short_answer"], out.text))
    return entry(scores, correct, split)


def entry(scores: Sequence[float], correct: Sequence[bool], split: str) -> dict:
    """What app/calibration.json keeps for a checkpoint: thresholds and what they meant."""
    bands = fit(scores, correct)
    return {
        "sure": bands.sure,
        "unsure": bands.unsure,
        "accuracy": bands.accuracy,
        "share": bands.share,
        "n": bands.n,
        "split": split,
        "overall": round(sum(correct) / len(correct), 3) if correct else None,
        "auroc": round(auroc(scores, correct), 3),
    }


def auroc(scores: Sequence[float], correct: Sequence[bool]) -> float:
    """How often a right answer scores above a wrong one (ties count half)."""
    right = [s for s, ok in zip(scores, correct, strict=True) if ok]
    wrong = [s for s, ok in zip(scores, correct, strict=True) if not ok]
    if not right or not wrong:
        return float("nan")
    wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    return wins / (len(right) * len(wrong))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m app.confidence", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", type=Path, default=Path("checkpoints/demo"))
    p.add_argument("--data", type=Path, default=Path("data/demo"))
    p.add_argument("--split", default="eval")
    p.add_argument("--n", type=int, default=300)
    args = p.parse_args(argv)
    entry = calibrate(args.checkpoint, args.data, args.split, args.n)
    table = json.loads(CALIBRATION.read_text()) if CALIBRATION.is_file() else {}
    table[checkpoint_id(args.checkpoint)] = {"checkpoint": args.checkpoint.name, **entry}
    CALIBRATION.write_text(json.dumps(table, indent=1) + "\n")
    print(json.dumps(entry, indent=1))


if __name__ == "__main__":
    main()

"""Two evaluation runs on the same questions, compared answer by answer.

    python -m data.compare checkpoints/demo/eval runs/NAME [--json]

Each argument is an evaluation folder (its predictions.jsonl) or a predictions JSONL. Both runs
answered the same questions, so the difference is paired: the questions only one of them got
right carry it (McNemar's exact test on those), and the interval resamples the spoken wordings
with both runs' answers to a wording kept together, since records of one wording are heard right
or wrong together (data.score's `by_wording`, for a difference). Two checkpoints differ where
that interval leaves out zero, not where their headline numbers merely differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from data.catalog import TYPE_NAMES
from data.schema import DataError
from data.score import is_correct_strict, load_predictions, prediction_key, wording_ci
from model.cli import boundary
from model.layout import PREDICTIONS_FILE


def _rows(path: Path) -> list[dict]:
    path = Path(path)
    path = path / PREDICTIONS_FILE if path.is_dir() else path
    rows = load_predictions(path)
    if not rows:
        raise DataError(f"{path}: no predictions")
    return rows


def pair(a: list[dict], b: list[dict]) -> list[tuple[dict, dict]]:
    """Rows of the two runs matched by their (video_id, id); both must hold the same questions
    with the same ground truth, else DataError says what differs."""
    if any(prediction_key(r)[1] is None for r in (*a, *b)):
        raise DataError("every row needs an id (or question_id) to be paired")
    ka, kb = {prediction_key(r): r for r in a}, {prediction_key(r): r for r in b}
    if ka.keys() != kb.keys():
        only_a, only_b = sorted(ka.keys() - kb.keys()), sorted(kb.keys() - ka.keys())
        raise DataError(
            f"the runs answered different questions: {len(only_a)} only in the first "
            f"{only_a[:3]}, {len(only_b)} only in the second {only_b[:3]}"
        )
    for k, ra in ka.items():
        rb = kb[k]
        if (ra["question_type"], ra["short_answer"]) != (rb["question_type"], rb["short_answer"]):
            raise DataError(f"question {k}: the runs disagree on its type or answer (other data?)")
    return [(ka[k], kb[k]) for k in ka]


def _right(row: dict) -> bool:
    return is_correct_strict(row["question_type"], row["short_answer"], row["predicted_answer"])


def mcnemar(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: the discordant questions as fair coin flips."""
    from scipy.stats import binomtest

    n = only_a + only_b
    return 1.0 if n == 0 else float(binomtest(only_a, n, 0.5).pvalue)


def wording_interval(groups: dict) -> list[float] | None:
    """95% percentile bootstrap over wordings of the difference in strict accuracy (b - a),
    seeded; None under two wordings."""
    if len(groups) < 2:
        return None
    n, ra, rb = (np.array([g[f] for g in groups.values()], float) for f in ("n", "a", "b"))
    return wording_ci(rb - ra, n)


def _block(c: Counter) -> dict:
    n = c["n"]
    return {
        "n": n,
        "a": c["a"] / n,
        "b": c["b"] / n,
        "diff": (c["b"] - c["a"]) / n,
        "only_a": c["only_a"],
        "only_b": c["only_b"],
        "p": mcnemar(c["only_a"], c["only_b"]),
    }


def compare(a: list[dict], b: list[dict]) -> dict:
    """Strict accuracy of both runs, their paired difference (b - a) overall and per type."""
    per: dict[str, Counter] = {}
    wordings: dict[str | None, Counter] = {}
    for ra, rb in pair(a, b):
        ok_a, ok_b = _right(ra), _right(rb)
        c = Counter(n=1, a=ok_a, b=ok_b, only_a=ok_a and not ok_b, only_b=ok_b and not ok_a)
        per.setdefault(ra["question_type"], Counter()).update(c)
        wordings.setdefault(ra.get("question"), Counter()).update(c)
    if not per:
        raise DataError("no answers to compare")
    out = _block(sum(per.values(), Counter()))
    known = all(isinstance(w, str) for w in wordings)
    out["by_wording"] = (
        {"wordings": len(wordings), "diff": wording_interval(wordings)} if known else None
    )
    out["per_type"] = {t: _block(per[t]) for t in sorted(per, key=TYPE_NAMES.index)}
    return out


def verdict(s: dict) -> str:
    """One line: the difference, its interval over wordings and what it allows one to say."""
    line = f"b - a: {100 * s['diff']:+.1f} pts ({100 * s['a']:.1f}% -> {100 * s['b']:.1f}%)"
    bw = s.get("by_wording")
    if bw and bw["diff"]:
        lo, hi = bw["diff"]
        line += f"; 95% over the {bw['wordings']} wordings {100 * lo:+.1f} to {100 * hi:+.1f}"
        line += ": a difference" if lo > 0 or hi < 0 else ": inside the spread of wordings"
    return line + f"; McNemar p {s['p']:.3g} ({s['only_a']} only a, {s['only_b']} only b)"


def format_table(s: dict, names: tuple[str, str] = ("a", "b")) -> str:
    a, b = names
    lines = [f"a = {a}", f"b = {b}", "", f"{'type':28} {'n':>5} {'a':>7} {'b':>7} {'b - a':>7} "
             f"{'only a':>6} {'only b':>6} {'p':>7}"]  # fmt: skip
    for t, d in s["per_type"].items():
        lines.append(
            f"{t:28} {d['n']:5d} {100 * d['a']:6.1f}% {100 * d['b']:6.1f}% "
            f"{100 * d['diff']:+6.1f}  {d['only_a']:6d} {d['only_b']:6d} {d['p']:7.3g}"
        )
    return "\n".join([*lines, "", verdict(s)])


@boundary
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m data.compare", description=__doc__.split("\n")[0])
    ap.add_argument("a", type=Path, help="evaluation folder or predictions JSONL (the reference)")
    ap.add_argument("b", type=Path, help="evaluation folder or predictions JSONL (the candidate)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    try:
        s = compare(_rows(args.a), _rows(args.b))
    except (DataError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(s, indent=1) if args.json else format_table(s, (str(args.a), str(args.b))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scoring answers: the published lenient keyword metric beside a strict, option-aware one.

    python -m data.score PREDICTIONS.jsonl [--train TRAIN.jsonl] [--json] [--skip-bad]

lenient: short_answer.lower() in prediction.lower() (reproduces published numbers; a constant
"unknown" passes every "no" question and listing all options passes everything).
strict: yes/no types read the leading yes/no word; limited-choice types must name exactly one
option of the type (word boundaries, the catalog's synonyms). No option, or several, is invalid.
Every number comes with a 95% Wilson interval and, given train records, the blind prior: each
type's most frequent train answer, answered without looking at anything. Where rows carry their
question, `by_wording` adds a bootstrap interval over the distinct spoken wordings: records of one
wording are heard right or wrong together, so with few wordings (the test split has one per
type) it, not the Wilson interval, is the yardstick for comparing two runs.
One module because every number of a run (both metrics, intervals, prior) is defined here, once.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np

from data.catalog import CATALOG, TYPE_NAMES, get
from data.schema import DataError, json_lines, load_jsonl
from model.cli import boundary

INVALID = "invalid"  # confusion-matrix column for answers naming no option or several
Z95 = 1.959963984540054  # two-sided 95% normal quantile
RESAMPLES = 2000  # by_wording: bounds move about 0.4 pt (sd) with the seed on the test split

_DASHES = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2212"})


def _norm(text: str) -> str:
    return text.translate(_DASHES).replace("_", " ").lower()


def _phrase_regex(phrase: str) -> str:
    """Regex for one option spelling: separators between words may be space or hyphen,
    '<5' may be written '< 5', and the phrase must stand on word boundaries."""
    parts = re.split(r"([\s\-]+)", _norm(phrase).strip())
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(re.sub(r"([<>])", r"\1\\s*", re.escape(part)))
        elif parts[i - 1][-1:].isdigit() and parts[i + 1][:1].isdigit():
            out.append(r"\s*-\s*" if "-" in part else r"\s+")  # "5-9" needs its hyphen
        else:
            out.append(r"[\s\-]+")  # "upper right" == "upper-right"
    # numbers must not be part of larger numbers ("<50", "15-9", "0.5-9", "5-9.5"); a unit
    # may follow a number directly (">9mm"), a letter may not follow a word ("update")
    tail = r"(?![\d.]*\d)" if out[-1][-1:].isdigit() else r"(?!\w)"
    return r"(?<![\w.])" + "".join(out) + tail


@cache
def _patterns(qtype: str) -> tuple[tuple[str, re.Pattern], ...]:
    t = get(qtype)
    return tuple(
        (opt, re.compile(_phrase_regex(p)))
        for opt in t.options
        for p in (opt, *t.synonyms.get(opt, ()))
    )


def _extract_yes_no(text: str) -> str | None:
    words = re.findall(r"[a-z]+", _norm(text))
    lead = re.match(r"[\W_]*([a-z]+)", _norm(text))
    if not lead or lead.group(1) not in ("yes", "no"):
        return None
    first = lead.group(1)
    other = "no" if first == "yes" else "yes"
    rest = words[1:3]
    # "yes/no", "yes or no", "no, yes" list both answers instead of choosing one
    if rest[:1] == [other] or (rest[:1] in (["or"], ["and"]) and rest[1:2] == [other]):
        return None
    return first


def extract_option(qtype: str, text: str) -> str | None:
    """The one option of `qtype` that `text` names, or None (no option or several: invalid)."""
    t = get(qtype)
    if not isinstance(text, str):
        return None
    if t.is_yes_no:
        return _extract_yes_no(text)
    norm = _norm(text)
    hits = [(m.start(), m.end(), opt) for opt, rx in _patterns(qtype) for m in rx.finditer(norm)]
    # a hit inside a longer hit of another option is part of that option's spelling
    kept = {
        opt
        for s, e, opt in hits
        if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) and o2 != opt for s2, e2, o2 in hits)
    }
    return kept.pop() if len(kept) == 1 else None


def is_correct_strict(qtype: str, short_answer: str, prediction: str) -> bool:
    opt = extract_option(qtype, prediction)
    return opt is not None and opt.lower() == short_answer.lower()


def is_correct_lenient(short_answer: str, prediction: str) -> bool:
    return short_answer.lower() in (prediction or "").lower()


def blind_prior(train_records: list[dict]) -> dict[str, str]:
    """Each type's most frequent train short answer (ties: the catalog's option order)."""
    counts: dict[str, Counter] = {}
    for r in train_records:
        counts.setdefault(r["question_type"], Counter())[r["short_answer"]] += 1
    prior = {}
    for qtype, c in counts.items():
        order = {o: i for i, o in enumerate(CATALOG[qtype].options)} if qtype in CATALOG else {}
        prior[qtype] = max(c, key=lambda a: (c[a], -order.get(a, len(order))))
    return prior


def wilson(k: int, n: int, z: float = Z95) -> list[float]:
    """95% Wilson score interval [lo, hi] for k successes out of n ([0, 1] when n is 0)."""
    if n == 0:
        return [0.0, 1.0]
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return [0.0 if k == 0 else mid - half, 1.0 if k == n else mid + half]


def wording_ci(hits: np.ndarray, n: np.ndarray) -> list[float]:
    """95% percentile bootstrap of sum(hits) / sum(n), resampling wordings (one entry each: its
    hits, or a difference of hits, and its answers). Seeded: the same rows, the same bounds."""
    from scipy.stats import bootstrap

    def rate(hits, counts, axis=-1):
        return hits.sum(axis) / counts.sum(axis)

    r = bootstrap((hits, n), rate, paired=True, vectorized=True, method="percentile",
                  n_resamples=RESAMPLES, random_state=0)  # fmt: skip
    return [float(r.confidence_interval.low), float(r.confidence_interval.high)]


def by_wording(groups: dict, with_prior: bool) -> dict | None:
    """95% interval over wordings (question texts) of strict accuracy and, with a prior, of the
    lift over it; None under two wordings."""
    if len(groups) < 2:
        return None
    n, k, p = (np.array([g[f] for g in groups.values()], float) for f in ("n", "strict", "prior"))
    return {
        "wordings": len(groups),
        "strict": wording_ci(k, n),
        "lift": wording_ci(k - p, n) if with_prior else None,
    }


def _prediction(row: dict) -> str:
    pred = row.get("predicted_answer", row.get("prediction"))
    if not isinstance(pred, str):
        raise DataError(f"row has no string predicted_answer/prediction: {row!r:.200}")
    return pred


def _block(k: int, n: int) -> dict:
    return {"accuracy": k / n if n else 0.0, "correct": k, "ci": wilson(k, n)}


def _heard(c: Counter) -> dict:
    """Grounded answers: how many named a fact of the asked question's kind, and how many of
    the wrong ones did not (the question was heard as another; the rest misread the scene)."""
    return {
        "n": c["n"],
        "rate": c["heard"] / c["n"],
        "wrong": c["wrong"],
        "misheard": c["misheard"],
        "misheard_share": c["misheard"] / c["wrong"] if c["wrong"] else 0.0,
    }


def summarize(rows: list[dict], prior: dict[str, str] | None = None) -> dict:
    """Accuracy overall and per type under both metrics, Wilson intervals, invalid rate,
    confusion (gold x predicted option or 'invalid'), the blind prior with lift over it, and
    for grounded answers (rows with 'heard') how often the question was heard as asked."""
    per: dict[str, dict[str, int]] = {}
    confusion: dict[str, dict[str, Counter]] = {}
    wordings: dict[str | None, Counter] = {}  # question text -> n, strict, prior
    heard: dict[str, Counter] = {}  # type -> rows with a 'heard' verdict, heard, wrong, misheard
    for row in rows:
        qtype, gold, pred = row["question_type"], row["short_answer"], _prediction(row)
        get(qtype)  # unknown type -> KeyError naming the known ones
        opt = extract_option(qtype, pred)
        strict = opt is not None and opt.lower() == gold.lower()
        blind = prior is not None and prior.get(qtype, "").lower() == gold.lower()
        c = per.setdefault(qtype, Counter())
        c["n"] += 1
        c["strict"] += strict
        c["lenient"] += is_correct_lenient(gold, pred)
        c["invalid"] += opt is None
        c["prior"] += blind
        confusion.setdefault(qtype, {}).setdefault(gold, Counter())[opt or INVALID] += 1
        wordings.setdefault(row.get("question"), Counter()).update(n=1, strict=strict, prior=blind)
        if isinstance(row.get("heard"), bool):
            ok = row["heard"]
            heard.setdefault(qtype, Counter()).update(
                n=1, heard=ok, wrong=not strict, misheard=not strict and not ok
            )

    def frac(k: str, c: Counter) -> float:
        return c[k] / c["n"] if c["n"] else 0.0

    total = sum(per.values(), Counter())
    n = total["n"]
    out: dict = {
        "n": n,
        "lenient": _block(total["lenient"], n),
        "strict": {
            **_block(total["strict"], n),
            "invalid": total["invalid"],
            "invalid_rate": frac("invalid", total),
        },
        "prior": None,
        "lift": None,
    }
    if prior is not None:
        out["prior"] = {**_block(total["prior"], n), "answers": dict(sorted(prior.items()))}
        pa = out["prior"]["accuracy"]
        out["lift"] = {
            "strict": out["strict"]["accuracy"] - pa,
            "lenient": out["lenient"]["accuracy"] - pa,
        }
    out["intervals"] = {k: out[k]["ci"] for k in ("lenient", "strict", "prior") if out[k]}
    # only when every row names its question: a partial grouping would understate the spread
    known = all(isinstance(w, str) for w in wordings)
    out["by_wording"] = by_wording(wordings, prior is not None) if known else None
    out["heard"] = _heard(sum(heard.values(), Counter())) if heard else None
    out["per_type"] = {}
    for qtype in sorted(per, key=TYPE_NAMES.index):
        c = per[qtype]
        d = {
            "n": c["n"],
            "kind": CATALOG[qtype].kind,
            "strict": frac("strict", c),
            "lenient": frac("lenient", c),
            "invalid_rate": frac("invalid", c),
            "prior": frac("prior", c) if prior is not None else None,
            "prior_answer": prior.get(qtype) if prior is not None else None,
        }
        d["lift"] = d["strict"] - d["prior"] if prior is not None else None
        d["heard"] = _heard(heard[qtype])["rate"] if qtype in heard else None
        d["intervals"] = {k: wilson(c[k], c["n"]) for k in ("strict", "lenient")}
        if prior is not None:
            d["intervals"]["prior"] = wilson(c["prior"], c["n"])
        out["per_type"][qtype] = d
    out["confusion"] = {
        t: {g: dict(sorted(p.items())) for g, p in sorted(confusion[t].items())}
        for t in out["per_type"]
    }
    return out


def prediction_key(row: dict) -> tuple:
    """(video_id, id) of a prediction row; the original format has question_id and no video."""
    return row.get("video_id"), row.get("id", row.get("question_id"))


def load_predictions(path: str | Path, skip_bad: bool = False) -> list[dict]:
    """Prediction rows from either format: the original (question_id, question_type,
    short_answer, predicted_answer) or the project's (id, video_id, ..., prediction).
    Each row gets `predicted_answer`; bad lines raise DataError naming file:line."""
    path = Path(path)
    rows, seen = [], {}
    for lineno, row in json_lines(path):
        where = f"{path}:{lineno}"
        try:
            if isinstance(row, DataError):
                raise row
            if not isinstance(row, dict):
                raise DataError("line is not a JSON object")
            for f in ("question_type", "short_answer"):
                if not isinstance(row.get(f), str):
                    raise DataError(f"missing or non-string field {f!r}")
            if row["question_type"] not in CATALOG:
                raise DataError(f"unknown question_type {row['question_type']!r}")
            row["predicted_answer"] = _prediction(row)
            key = prediction_key(row)
            if not all(k is None or isinstance(k, str | int) for k in key):
                raise DataError(f"id or video_id is a {type(key[1]).__name__}, not a name")
            if key[1] is not None:
                if key in seen:
                    raise DataError(f"duplicate key {key} (first at line {seen[key]})")
                seen[key] = lineno
        except DataError as e:
            msg = f"{where}: {e}"
            if not skip_bad:
                raise DataError(msg) from None
            print(f"skipping bad line {msg}", file=sys.stderr)
            continue
        rows.append(row)
    return rows


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def format_table(s: dict) -> str:
    """A readable per-type table and the overall lines with their intervals."""
    lines = [
        f"{'type':28} {'kind':6} {'n':>5} {'strict':>7} {'lenient':>7} {'prior':>7} {'invalid':>7}"
    ]
    for t, d in s["per_type"].items():
        lines.append(
            f"{t:28} {d['kind']:6} {d['n']:5d} {_pct(d['strict']):>7} "
            f"{_pct(d['lenient']):>7} {_pct(d['prior']):>7} {_pct(d['invalid_rate']):>7}"
        )
    lines.append("")
    for k in ("strict", "lenient", "prior"):
        if s[k]:
            lo, hi = s[k]["ci"]
            lines.append(
                f"{k:8} accuracy {_pct(s[k]['accuracy'])}  "
                f"(95% CI {_pct(lo).strip()}-{_pct(hi).strip()}, n={s['n']})"
            )
    bw = s.get("by_wording")
    if bw:
        lo, hi = bw["strict"]
        lines.append(
            f"strict 95% CI over the {bw['wordings']} spoken wordings "
            f"{_pct(lo).strip()}-{_pct(hi).strip()} (records of one wording are not independent)"
        )
    lines.append(f"strict invalid-answer rate {_pct(s['strict']['invalid_rate'])}")
    if h := s.get("heard"):
        lines.append(
            f"heard as asked {_pct(h['rate']).strip()} of {h['n']} grounded answers; "
            f"{h['misheard']} of the {h['wrong']} wrong ones ({_pct(h['misheard_share']).strip()}) "
            "are about another question"
        )
    if s["lift"]:
        lines.append(
            f"lift over blind prior: strict {100 * s['lift']['strict']:+.1f} pts, "
            f"lenient {100 * s['lift']['lenient']:+.1f} pts"
            + (
                f"; strict over wordings {100 * bw['lift'][0]:+.1f} to {100 * bw['lift'][1]:+.1f}"
                if bw and bw["lift"]
                else ""
            )
        )
    return "\n".join(lines)


@boundary
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m data.score",
        description="Score a predictions JSONL under the lenient and strict metrics.",
    )
    ap.add_argument("predictions", type=Path, help="predictions JSONL (original or project format)")
    ap.add_argument("--train", type=Path, help="train JSONL: adds the blind per-type prior")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--skip-bad", action="store_true", help="report bad lines on stderr, skip them")
    args = ap.parse_args(argv)
    try:
        rows = load_predictions(args.predictions, skip_bad=args.skip_bad)
        if not rows:  # a table of n = 0 would read as a result
            raise DataError(f"{args.predictions}: no predictions to score")
        prior = None
        if args.train:
            train = load_jsonl(args.train, args.skip_bad)
            if not train:  # an empty prior would be 0% and every lift look large
                raise DataError(f"{args.train}: no train records to take the prior from")
            prior = blind_prior(train)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    s = summarize(rows, prior)
    print(json.dumps(s, indent=1) if args.json else format_table(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Evaluation runs on disk, read without loading any model: finding them, their tables.

    python -m app.runs   # lists the runs the Results page finds (default folders)

A run is an evaluation folder (model.layout: evaluation.evaluate's summary, with
data.score.summarize keys plus checkpoint, split, mode, ablation, created, and usually its
predictions). Runs live in <runs>/<name>/ and in <checkpoint>/eval*/ of every checkpoint beside
the configured one. What a checkpoint stores (parameter counts) is app.weights'; the Trainer's
state is read by model.runfiles.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from data.catalog import CATALOG, TYPE_NAMES
from data.compare import compare
from data.score import INVALID, extract_option, is_correct_strict, load_predictions, wilson
from model.layout import PREDICTIONS_FILE, SUMMARY_FILE
from model.runfiles import RunFileError, read_json

METRICS = ("strict", "lenient", "prior")
RunError = RunFileError  # a run or checkpoint file that cannot be read; the message names it


@dataclass(frozen=True)
class Run:
    name: str  # what the user picks: "runs/<name>" or "<checkpoint>/eval"
    folder: Path
    summary: dict

    @property
    def predictions(self) -> Path:
        return self.folder / PREDICTIONS_FILE

    def overall(self, metric: str) -> tuple[float, list[float]] | None:
        """(accuracy, [lo, hi]) of `metric` over the whole run, or None (no prior recorded)."""
        block = self.summary.get(metric)
        if not block:
            return None
        ci = block.get("ci") or wilson(block.get("correct", 0), self.summary.get("n", 0))
        return float(block["accuracy"]), [float(ci[0]), float(ci[1])]


def _evals(ckpt: Path) -> list[tuple[str, Path]]:
    """A checkpoint's evaluation folders: eval/ first, then eval-* (ablations, other splits)."""
    found = sorted(p for p in ckpt.glob("eval-*") if p.is_dir())
    return [(f"{ckpt.name}/{p.name}", p) for p in [ckpt / "eval", *found]]


def _candidates(runs_dir: Path, checkpoint: Path) -> list[tuple[str, Path]]:
    out = _evals(checkpoint)
    root = checkpoint.parent
    if root.is_dir():
        out += [e for c in sorted(root.iterdir()) if c.is_dir() for e in _evals(c)]
    if runs_dir.is_dir():
        out += [(f"runs/{r.name}", r) for r in sorted(runs_dir.iterdir()) if r.is_dir()]
    return out


def find_runs(runs_dir: Path, checkpoint: Path) -> tuple[list[Run], list[str]]:
    """Readable runs (the configured checkpoint's first) and a message for each unreadable one."""
    runs, problems, seen = [], [], set()
    for name, folder in _candidates(runs_dir, checkpoint):
        path = folder / SUMMARY_FILE
        key = path.resolve()
        if key in seen or not path.is_file():
            continue
        seen.add(key)
        try:
            summary = read_json(path)
            if not isinstance(summary.get("per_type"), dict) or "strict" not in summary:
                raise RunError(f"{path} is not an evaluation summary (no strict / per_type)")
        except RunError as e:
            problems.append(str(e))
            continue
        runs.append(Run(name, folder, summary))
    return runs, problems


def default_runs(found: list[Run], checkpoint: Path, k: int = 4) -> list[str]:
    """What Results shows first: the checkpoint's evaluations on its main split (the answer
    beside the shuffled / silent audio and text controls, then baselines), else the newest runs."""
    ckpt = checkpoint.resolve()
    own = [r for r in found if r.folder.resolve().parent == ckpt]
    main = next((r for r in own if r.folder.name == "eval"), None)
    split = main.summary.get("split") if main else None
    mine = [r for r in own if split is None or r.summary.get("split") == split]
    # the model's own runs (answer, then its controls) before the baselines beside it
    picked = [r.name for r in sorted(mine, key=lambda r: bool(r.summary.get("baseline")))]
    stranger = next((r for r in own if r.folder.name == HEADLINE_EVALS[0]), None)
    if stranger is not None:  # the headline first, beside the held-out test answers
        picked = [stranger.name, *(p for p in picked if p != stranger.name)]
    rest = sorted(
        (r for r in found if r.name not in picked),
        key=lambda r: str(r.summary.get("created", "")),
        reverse=True,
    )
    return (picked + [r.name for r in rest])[:k]


HEADLINE_EVALS = ("eval-stranger", "eval")  # what a clinician brings first: a new voice and words


def headline(checkpoint: Path) -> dict | None:
    """The checkpoint's headline summary: the stranger's (hand-written wordings, an unheard
    voice) when it has one, else its own eval/ summary; None without either."""
    for name in HEADLINE_EVALS:
        path = checkpoint / name / SUMMARY_FILE
        if path.is_file():
            try:
                return read_json(path)
            except RunError:
                continue
    return None


def overall_rows(runs: list[Run]) -> list[dict]:
    """One row per (run, metric): accuracy with its 95% interval, for the overall bar chart."""
    rows = []
    for run in runs:
        for metric in METRICS:
            got = run.overall(metric)
            if got:
                acc, (lo, hi) = got
                rows.append(
                    {
                        "run": run.name,
                        "metric": metric,
                        "accuracy": acc,
                        "lo": lo,
                        "hi": hi,
                        "n": run.summary.get("n", 0),
                    }
                )
    return rows


def type_rows(runs: list[Run]) -> list[dict]:
    """One row per (run, type, metric) with its interval, for the per-type chart and table."""
    rows = []
    for run in runs:
        for qtype, d in run.summary["per_type"].items():
            for metric in METRICS:
                if d.get(metric) is None:
                    continue
                ci = (d.get("intervals") or {}).get(metric)
                if ci is None:
                    ci = wilson(round(d[metric] * d["n"]), d["n"])
                rows.append(
                    {
                        "run": run.name,
                        "type": qtype,
                        "metric": metric,
                        "accuracy": float(d[metric]),
                        "lo": ci[0],
                        "hi": ci[1],
                        "n": d["n"],
                    }
                )
    return rows


def predictions(run: Run) -> list[dict]:
    """The run's prediction rows (each with `predicted_answer`); [] when the file is absent."""
    if not run.predictions.is_file():
        return []
    try:
        return load_predictions(run.predictions)
    except ValueError as e:
        raise RunError(str(e)) from e


def paired(a: Run, b: Run) -> dict:
    """data.compare of two runs' predictions, kept per file content: its bootstrap over
    wordings takes most of a second, and the page reruns on every click."""
    try:
        return _paired(_version(a.predictions), _version(b.predictions))
    except (OSError, ValueError) as e:  # DataError included
        raise RunError(str(e)) from e


def _version(path: Path) -> tuple[str, str]:
    """(path, digest of its bytes): an mtime can stay the same across a quick rewrite."""
    return str(path), hashlib.sha1(path.read_bytes()).hexdigest()


@lru_cache(maxsize=16)
def _paired(a: tuple[str, str], b: tuple[str, str]) -> dict:
    return compare(load_predictions(a[0]), load_predictions(b[0]))


def confusion(rows: list[dict], qtype: str) -> tuple[list[str], list[str], list[list[int]]]:
    """(gold labels, predicted labels incl. 'invalid', counts[gold][pred]) for one type."""
    options = list(CATALOG[qtype].options)
    counts: Counter = Counter()
    for r in rows:
        if r["question_type"] == qtype:
            counts[
                (r["short_answer"], extract_option(qtype, r["predicted_answer"]) or INVALID)
            ] += 1
    gold = options + sorted({g for g, _ in counts} - set(options))
    pred = options + [INVALID]
    return gold, pred, [[counts[(g, p)] for p in pred] for g in gold]


def errors(rows: list[dict]) -> list[dict]:
    """Rows the strict metric marks wrong (an invalid answer counts as wrong)."""
    out = []
    for r in rows:
        opt = extract_option(r["question_type"], r["predicted_answer"])
        if opt is None or opt.lower() != r["short_answer"].lower():
            out.append({**r, "parsed": opt or INVALID})
    return out


def wording_rows(rows: list[dict]) -> list[dict]:
    """Per spoken wording (question text): its type, answers, strict accuracy and, for grounded
    answers, the share heard as asked; worst first. [] when rows lack their question."""
    by: dict[tuple[str, str], Counter] = {}
    for r in rows:
        if not isinstance(r.get("question"), str):
            return []
        c = by.setdefault((r["question_type"], r["question"]), Counter())
        c.update(n=1, strict=is_correct_strict(r["question_type"], r["short_answer"],
                                               r["predicted_answer"]))  # fmt: skip
        if isinstance(r.get("heard"), bool):
            c.update(judged=1, heard=r["heard"])
    out = [
        {
            "type": qtype,
            "wording": text,
            "n": c["n"],
            "strict": c["strict"] / c["n"],
            "heard": c["heard"] / c["judged"] if c["judged"] else None,
        }
        for (qtype, text), c in by.items()
    ]
    return sorted(out, key=lambda w: (w["strict"], TYPE_NAMES.index(w["type"]), w["wording"]))


if __name__ == "__main__":
    from app.settings import load

    cfg = load([])
    found, bad = find_runs(cfg.runs, cfg.checkpoint)
    for run in found:
        print(
            f"{run.name:32} n={run.summary.get('n', '?'):>5}  strict "
            f"{run.summary['strict']['accuracy']:.3f}  {run.folder}"
        )
    for msg in bad:
        print(f"unreadable: {msg}")

"""The clinic-conditions table: the stranger split asked quiet, in noise, in an echoing room,
with a lead-in, with fillers, fast and slow (data.conditions), one row each.

    make clinic      # each condition evaluated into checkpoints/demo/eval-stranger-<condition>

Each row: strict accuracy, its 95% interval over the spoken wordings (what two checkpoints
differ by), the change against quiet, and the types below their blind prior. The headline is
the worst row: what a clinician in a room can count on. evaluation.report and the Results
page render it (no torch here).
"""

from __future__ import annotations

from data.conditions import CONDITIONS, QUIET, split_name

LABELS = {
    QUIET: "quiet",
    "noise-10db": "held-out noise at 10 dB",
    "noise-0db": "held-out noise at 0 dB",
    "reverb": "reverberant room (0.9 s)",
    "lead-in": "with a lead-in sentence",
    "fillers": "with fillers",
    "fast": "fast speech (140%)",
    "slow": "slow speech (70%)",
}
REPORTED_ONLY = ("noise-0db",)  # measured and shown; no target holds it to quiet
TARGET_QUIET = 0.70  # strict, quiet
TARGET_GAP = 0.05  # every other condition within this of quiet


def _own(s: dict) -> bool:
    """The checkpoint's own spoken answers (no baseline, ablation or other token policy)."""
    return (not s.get("baseline") and s.get("mode") == "audio"
            and s.get("ablation", "none") == "none" and not s.get("audio_tokens"))  # fmt: skip


def condition_runs(runs: dict[str, dict]) -> dict[str, dict]:
    """{condition: summary} of the conditions evaluated, in the test's order."""
    by_split = {s.get("split"): s for s in runs.values() if _own(s)}
    return {c: by_split[split_name(c)] for c in CONDITIONS if split_name(c) in by_split}


def rank(split: str) -> int:
    """A split's place in the test's order (other splits after the conditions)."""
    return next((i for i, c in enumerate(CONDITIONS) if split_name(c) == split), len(CONDITIONS))


def label(split: str) -> str | None:
    """The plain name of a condition's split, None for other splits."""
    return next((f"stranger, {LABELS[c]}" for c in CONDITIONS if split_name(c) == split), None)


def below(s: dict) -> list[str]:
    return [t for t, d in s["per_type"].items() if d["strict"] < d["prior"]]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def rows(runs: dict[str, dict]) -> list[dict]:
    """One dict per condition evaluated ([] when only quiet or none is): condition, strict,
    its 95% interval over wordings, the change against quiet, the types below prior."""
    found = condition_runs(runs)
    if len(found) < 2 or QUIET not in found:
        return []
    quiet = found[QUIET]["strict"]["accuracy"]
    out = []
    for c, s in found.items():
        acc = s["strict"]["accuracy"]
        out.append(
            {
                "condition": LABELS[c],
                "strict": acc,
                "over wordings": (s.get("by_wording") or {}).get("strict"),
                "vs quiet": None if c == QUIET else acc - quiet,
                "below prior": below(s),
            }
        )
    return out


def table(runs: dict[str, dict]) -> list[str]:
    """Markdown rows of rows(runs)."""
    found = rows(runs)
    if not found:
        return []
    out = [
        "| how the stranger's question was heard | strict | 95% over wordings | vs quiet | "
        "types below prior |",
        "|---|---|---|---|---|",
    ]
    for r in found:
        bw = r["over wordings"]
        spread = f"{_pct(bw[0])} to {_pct(bw[1])}" if bw else "-"
        gap = "-" if r["vs quiet"] is None else f"{100 * r['vs quiet']:+.1f} pts"
        low = r["below prior"]
        out.append(
            f"| {r['condition']} | {_pct(r['strict'])} | {spread} | {gap} | "
            f"{len(low)}{' (' + ', '.join(low) + ')' if low else ''} |"
        )
    return out


def headline(runs: dict[str, dict]) -> str:
    """The worst condition, in one sentence ('' without conditions)."""
    rows = condition_runs(runs)
    if len(rows) < 2:
        return ""
    worst = min(rows, key=lambda c: rows[c]["strict"]["accuracy"])
    held = {c: s for c, s in rows.items() if c not in REPORTED_ONLY}
    worst_held = min(held, key=lambda c: held[c]["strict"]["accuracy"])
    text = (
        f"**In a clinic's conditions.** The stranger's questions asked {len(rows)} ways "
        f"({'; '.join(LABELS[c] for c in rows)}). The worst is {LABELS[worst]}: "
        f"{_pct(rows[worst]['strict']['accuracy'])} strict against a blind prior of "
        f"{_pct(rows[worst]['prior']['accuracy'])}"
    )
    if worst_held != worst:
        text += (
            f"; apart from {', '.join(LABELS[c] for c in REPORTED_ONLY)}, "
            f"{LABELS[worst_held]}: {_pct(held[worst_held]['strict']['accuracy'])}"
        )
    return text + "."


def targets(runs: dict[str, dict]) -> list[tuple[str, str, bool]]:
    """(target, measured, met): quiet >= 70%, no type below prior in quiet, and every held
    condition within 5 points of quiet."""
    rows = condition_runs(runs)
    if QUIET not in rows or len(rows) < 2:
        return []
    q = rows[QUIET]
    acc = q["strict"]["accuracy"]
    low = below(q)
    out = [
        (f"stranger quiet: strict >= {100 * TARGET_QUIET:.0f}%", _pct(acc), acc >= TARGET_QUIET),
        ("stranger quiet: no type below its prior", ", ".join(low) or "none", not low),
    ]
    for c, s in rows.items():
        if c == QUIET or c in REPORTED_ONLY:
            continue
        gap = s["strict"]["accuracy"] - acc
        out.append(
            (
                f"stranger {LABELS[c]}: within {100 * TARGET_GAP:.0f} pts of quiet",
                f"{_pct(s['strict']['accuracy'])} ({100 * gap:+.1f} pts)",
                gap >= -TARGET_GAP,
            )
        )
    return out

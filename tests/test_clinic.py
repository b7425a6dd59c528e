"""The clinic-conditions table of the report: one row per condition evaluated, the worst row as
the headline, the targets against quiet (summaries made here, shaped like evaluate's)."""

from __future__ import annotations

from data import clinic
from data.conditions import CONDITIONS, split_name
from evaluation import report


def summary(split: str, acc: float, low: tuple[str, ...] = (), **kw) -> dict:
    per = {t: {"strict": 0.3 if t in low else 0.9, "prior": 0.5} for t in ("a", "b", "c")}
    return {
        "split": split, "mode": "audio", "ablation": "none", "n": 100,
        "strict": {"accuracy": acc, "ci": [acc - 0.05, acc + 0.05], "invalid_rate": 0.0},
        "lenient": {"accuracy": acc}, "prior": {"accuracy": 0.44},
        "lift": {"strict": acc - 0.44}, "per_type": per,
        "by_wording": {"wordings": 60, "strict": [acc - 0.07, acc + 0.07]}, **kw,
    }  # fmt: skip


def test_a_row_per_condition_the_worst_as_headline_and_targets_against_quiet():
    accs = dict(zip(CONDITIONS, (0.74, 0.71, 0.52, 0.66, 0.73, 0.72, 0.75, 0.70), strict=True))
    runs = {f"eval-{split_name(c)}": summary(split_name(c), a) for c, a in accs.items()}
    runs["eval-stranger"] = summary("stranger", 0.74, low=("b",))
    runs["eval-stranger-shuffled"] = summary("stranger", 0.2, ablation="shuffled")  # not a row
    rows = clinic.table(runs)
    assert len(rows) == 2 + len(CONDITIONS) and rows[2].startswith("| quiet | 74.0% |")
    assert "| reverberant room (0.9 s) | 66.0% | 59.0% to 73.0% | -8.0 pts | 0 |" in rows
    assert "1 (b)" in rows[2]
    head = clinic.headline(runs)
    assert "The worst is held-out noise at 0 dB: 52.0%" in head
    assert "apart from held-out noise at 0 dB, reverberant room (0.9 s): 66.0%" in head
    met = {name: ok for name, _, ok in clinic.targets(runs)}
    assert (
        met["stranger quiet: strict >= 70%"] and not met["stranger quiet: no type below its prior"]
    )
    assert not met["stranger reverberant room (0.9 s): within 5 pts of quiet"]
    assert met["stranger fast speech (140%): within 5 pts of quiet"]
    assert not any("at 0 dB" in name for name in met)  # reported, held to no target
    assert report.label(runs["eval-stranger-reverb"]).endswith("stranger, reverberant room (0.9 s)")


def test_no_table_without_conditions():
    runs = {"eval-stranger": summary("stranger", 0.7), "eval": summary("test", 0.8)}
    assert clinic.table(runs) == [] and clinic.headline(runs) == "" and clinic.targets(runs) == []

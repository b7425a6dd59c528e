"""Paired comparison of two runs: matching, the discordant counts, McNemar's test, the interval
over wordings, refusals, and the published predictions compared as they were released."""

from __future__ import annotations

import json

import pytest
from scipy.stats import binomtest

from data.compare import compare, main, pair
from data.schema import DataError
from data.score import load_predictions, summarize


def rows(answers: list[tuple[str, str, str]], wording_of=lambda i: f"wording {i % 4}") -> list:
    """(question_type, gold, prediction) -> prediction rows with ids and wordings."""
    return [
        {
            "id": f"q{i}",
            "video_id": "v1",
            "question_type": t,
            "short_answer": g,
            "prediction": p,
            "predicted_answer": p,
            "question": wording_of(i),
        }  # fmt: skip
        for i, (t, g, p) in enumerate(answers)
    ]


def test_difference_counts_the_questions_only_one_run_got_right():
    a = rows([
        *[("nbi_status", "yes", "yes")] * 5, *[("nbi_status", "yes", "no")] * 3,
        *[("lesion_site", "rectum", "rectum")] * 2, *[("lesion_site", "rectum", "cecum")] * 2,
    ])  # fmt: skip
    b = rows([
        *[("nbi_status", "yes", "yes")] * 7, ("nbi_status", "yes", "maybe"),
        *[("lesion_site", "rectum", "cecum")] * 4,
    ])  # fmt: skip
    assert len(a) == len(b) == 12
    s = compare(a, b)
    assert s["n"] == 12 and s["a"] == 7 / 12 and s["b"] == 7 / 12 and s["diff"] == 0.0
    nbi, site = s["per_type"]["nbi_status"], s["per_type"]["lesion_site"]
    assert (nbi["only_a"], nbi["only_b"], nbi["diff"]) == (0, 2, 2 / 8)
    assert (site["only_a"], site["only_b"], site["diff"]) == (2, 0, -2 / 4)
    assert (s["only_a"], s["only_b"], s["p"]) == (2, 2, 1.0)
    assert nbi["p"] == pytest.approx(binomtest(0, 2, 0.5).pvalue)
    # the summary of each run agrees with data.score's
    assert s["a"] == summarize(a)["strict"]["accuracy"]
    assert s["b"] == summarize(b)["strict"]["accuracy"]


def test_the_interval_over_wordings_leaves_out_zero_only_for_a_difference_across_wordings():
    n = 40
    a = rows([("nbi_status", "yes", "no")] * n, wording_of=lambda i: f"w{i % 10}")
    better = rows([("nbi_status", "yes", "yes")] * n, wording_of=lambda i: f"w{i % 10}")
    lo, hi = compare(a, better)["by_wording"]["diff"]
    assert lo > 0 and hi <= 1.0
    # b gains on half the wordings and loses on the other half: no difference to claim
    mixed_a = rows([("nbi_status", "yes", "yes" if i % 10 < 5 else "no") for i in range(n)],
                   wording_of=lambda i: f"w{i % 10}")  # fmt: skip
    mixed_b = rows([("nbi_status", "yes", "no" if i % 10 < 5 else "yes") for i in range(n)],
                   wording_of=lambda i: f"w{i % 10}")  # fmt: skip
    s = compare(mixed_a, mixed_b)
    lo, hi = s["by_wording"]["diff"]
    assert s["diff"] == 0.0 and lo < 0 < hi and s["by_wording"]["wordings"] == 10
    one = rows([("nbi_status", "yes", "yes")] * 4, wording_of=lambda i: "only one")
    assert compare(one, one)["by_wording"]["diff"] is None  # one wording: no interval


def test_runs_of_other_questions_or_other_ground_truth_are_refused():
    a = rows([("nbi_status", "yes", "yes")] * 3)
    with pytest.raises(DataError, match="1 only in the first"):
        pair(a, a[:2])
    other = [dict(r) for r in a]
    other[1]["short_answer"] = "no"
    with pytest.raises(DataError, match="disagree on its type or answer"):
        pair(a, other)
    with pytest.raises(DataError, match="needs an id"):
        pair([{k: v for k, v in r.items() if k != "id"} for r in a], a)


def test_cli_reads_folders_or_files_and_says_bad_input_clearly(tmp_path, capsys):
    a = rows([("nbi_status", "yes", "no")] * 8)
    b = rows([("nbi_status", "yes", "yes")] * 8)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in a))
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in b))
    assert main([str(tmp_path / "run"), str(tmp_path / "b.jsonl"), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["diff"] == 1.0 and s["only_b"] == 8 and s["per_type"]["nbi_status"]["n"] == 8
    assert main([str(tmp_path / "run"), str(tmp_path / "b.jsonl")]) == 0
    assert "b - a: +100.0 pts" in capsys.readouterr().out
    (tmp_path / "bad.jsonl").write_text('{"question_type": "nbi_status"\n')
    assert main([str(tmp_path / "run"), str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
    assert main([str(tmp_path / "run"), str(tmp_path / "missing")]) == 2


def test_published_predictions_compare_on_the_same_test_questions(real_dir):
    """The released zero-shot and fine-tuned predictions answer one test set: paired, their
    difference is the difference of their strict scores, and it is no spread of wordings."""
    path = real_dir / "predictions"
    zero = load_predictions(path / "qwen2_zeroshot_test.jsonl")
    tuned = load_predictions(path / "qwen3_finetuned_test.jsonl")
    s = compare(zero, tuned)
    assert s["n"] == len(zero) == len(tuned)
    sa, sb = summarize(zero)["strict"], summarize(tuned)["strict"]
    assert s["diff"] == pytest.approx(sb["accuracy"] - sa["accuracy"])
    assert s["only_b"] - s["only_a"] == sb["correct"] - sa["correct"]
    lo, hi = s["by_wording"]["diff"]
    assert 0 < lo < s["diff"] < hi

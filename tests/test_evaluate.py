"""Evaluation CLI: per-sample rows agree with data.score, a killed run resumes without
duplicates, the audio ablations really swap or silence the audio, runs never mix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data.schema import load_jsonl, record_key
from data.score import (
    blind_prior,
    is_correct_lenient,
    is_correct_strict,
    load_predictions,
    summarize,
)
from evaluation.evaluate import EvalOptions, audio_sources, evaluate, main

pytestmark = pytest.mark.slow


class Counting:
    """The real tiny-model predictor, counting calls and what audio it was given."""

    def __init__(self, inner):
        self.inner, self.calls, self.audio = inner, 0, []

    def answer(self, frames, audio):
        self.calls += 1
        self.audio.append(audio)
        return self.inner.answer(frames, audio)

    def answer_text(self, frames, question):
        self.calls += 1
        return self.inner.answer_text(frames, question)


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint):
    from model import Predictor

    return Predictor.from_checkpoint(tiny_checkpoint, device="cpu", max_new_tokens=3)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_rows_and_summary_match_the_scoring_module(spoken, predictor, tiny_checkpoint, tmp_path):
    out = tmp_path / "eval"
    s = evaluate(
        EvalOptions(tiny_checkpoint, spoken, "test", out, limit=8, quiet=True), predictor=predictor
    )
    rows = lines(out / "predictions.jsonl")
    test = load_jsonl(spoken / "splits" / "test.jsonl")[:8]
    assert [(r["video_id"], r["id"]) for r in rows] == [record_key(r) for r in test]
    fields = {"id", "video_id", "question_type", "question", "answer", "short_answer", "prediction",
              "strict", "lenient", "latency_ms", "audio_tokens", "vision_tokens",
              "score"}  # fmt: skip
    for row, rec in zip(rows, test, strict=True):
        assert fields <= row.keys()
        assert row["answer"] == rec["answer"] and row["short_answer"] == rec["short_answer"]
        assert row["strict"] == is_correct_strict(rec["question_type"], rec["short_answer"],
                                                  row["prediction"])  # fmt: skip
        assert row["lenient"] == is_correct_lenient(rec["short_answer"], row["prediction"])
        assert row["vision_tokens"] == 128 and row["audio_tokens"] > 0 and row["latency_ms"] > 0
        assert row["score"] <= 0  # a mean log-probability
    prior = blind_prior(load_jsonl(spoken / "splits" / "train.jsonl"))
    expect = summarize(load_predictions(out / "predictions.jsonl"), prior)
    saved = json.loads((out / "summary.json").read_text())
    for k in ("n", "lenient", "strict", "prior", "per_type", "intervals", "lift", "confusion"):
        assert saved[k] == expect[k] == json.loads(json.dumps(s[k])), k
    assert saved["strict"]["accuracy"] == sum(r["strict"] for r in rows) / 8
    assert saved["checkpoint"] == str(tiny_checkpoint) and saved["split"] == "test"
    assert saved["mode"] == "audio" and saved["ablation"] == "none" and saved["created"]


def test_killed_run_resumes_without_duplicates(spoken, predictor, tiny_checkpoint, tmp_path):
    out = tmp_path / "eval"
    evaluate(
        EvalOptions(tiny_checkpoint, spoken, "test", out, limit=6, quiet=True), predictor=predictor
    )
    path = out / "predictions.jsonl"
    full = path.read_text().splitlines(keepends=True)
    # killed after 3 rows, in the middle of writing the 4th
    path.write_text("".join(full[:3]) + full[3][:25])
    again = Counting(predictor)
    s = evaluate(
        EvalOptions(tiny_checkpoint, spoken, "test", out, limit=6, quiet=True), predictor=again
    )
    assert again.calls == 3  # only the missing samples were answered
    rows = lines(path)
    keys = [(r["video_id"], r["id"]) for r in rows]
    assert len(keys) == len(set(keys)) == 6 == s["n"]
    assert path.read_text().splitlines(keepends=True)[:3] == full[:3]
    # a finished run answers nothing new
    third = Counting(predictor)
    evaluate(
        EvalOptions(tiny_checkpoint, spoken, "test", out, limit=6, quiet=True), predictor=third
    )
    assert third.calls == 0 and len(lines(path)) == 6


def test_a_finished_run_is_judged_again_by_the_current_scorer_without_the_model(
    spoken, predictor, tiny_checkpoint, tmp_path
):
    from data.facts import grounding

    out = tmp_path / "eval"
    evaluate(
        EvalOptions(tiny_checkpoint, spoken, "test", out, limit=4, quiet=True), predictor=predictor
    )
    path = out / "predictions.jsonl"
    rows = lines(path)
    test = load_jsonl(spoken / "splits" / "test.jsonl")[:4]
    # as an older scorer left them: one verdict wrong, one grounded answer never judged
    rows[0]["strict"] = not rows[0]["strict"]
    rows[1]["grounding"] = grounding(test[1]["question_type"], test[1]["caption"])
    rows[1]["prediction"] = test[1]["short_answer"]  # heard as asked: an answer it allows
    rows[2]["grounding"] = grounding(test[2]["question_type"], test[2]["caption"])
    rows[2]["prediction"] = "perhaps"  # the asked fact, but no answer the question allows
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = json.loads((out / "summary.json").read_text())
    summary["created"] = "2000-01-01T00:00:00+00:00"  # when the predictions were made
    (out / "summary.json").write_text(json.dumps(summary))
    again = Counting(predictor)
    s = evaluate(
        EvalOptions(tiny_checkpoint, spoken, "test", out, limit=4, quiet=True), predictor=again
    )
    assert again.calls == 0
    fixed = lines(path)
    assert [r["prediction"] for r in fixed] == [r["prediction"] for r in rows]
    assert fixed[0]["strict"] == is_correct_strict(
        test[0]["question_type"], test[0]["short_answer"], rows[0]["prediction"]
    )
    assert fixed[1]["heard"] is True and fixed[1]["grounding_expected"] == rows[1]["grounding"]
    assert fixed[2]["heard"] is False
    assert s["heard"]["n"] == 2 and s["strict"]["correct"] == sum(r["strict"] for r in fixed)
    assert s["created"] == "2000-01-01T00:00:00+00:00" and s["rescored"] > s["created"]


def test_shuffled_audio_comes_from_other_samples(spoken):
    test = load_jsonl(spoken / "splits" / "test.jsonl")
    src = audio_sources(test, "shuffled", seed=0)
    assert all(s is not r for s, r in zip(src, test, strict=True))
    assert sorted(map(record_key, src)) == sorted(map(record_key, test))  # a permutation
    assert [record_key(s) for s in src] == [record_key(s) for s in audio_sources(test, "shuffled")]
    assert audio_sources(test, "silent") == [None] * len(test)
    assert audio_sources(test, "none") == test


def test_ablation_runs_feed_the_swapped_audio(spoken, predictor, tiny_checkpoint, tmp_path):
    pred = Counting(predictor)
    evaluate(
        EvalOptions(
            tiny_checkpoint,
            spoken,
            "test",
            tmp_path / "shuf",
            ablation="shuffled",
            limit=4,
            quiet=True,
        ),
        predictor=pred,
    )
    rows = lines(tmp_path / "shuf" / "predictions.jsonl")
    test = {record_key(r): r for r in load_jsonl(spoken / "splits" / "test.jsonl")}
    for row, audio in zip(rows, pred.audio, strict=True):
        donor = test[tuple(row["audio_from"])]
        assert donor["id"] != row["id"] and audio == spoken / donor["audio"]
    silent = Counting(predictor)
    evaluate(
        EvalOptions(
            tiny_checkpoint,
            spoken,
            "test",
            tmp_path / "sil",
            ablation="silent",
            limit=2,
            quiet=True,
        ),
        predictor=silent,
    )
    assert all(float(abs(a).max()) < 0.05 for a in silent.audio)  # no speech: noise floor only


def test_text_mode_and_run_mixing(spoken, predictor, tiny_checkpoint, tmp_path):
    out = tmp_path / "text"
    s = evaluate(
        EvalOptions(tiny_checkpoint, spoken, "test", out, mode="text", limit=2, quiet=True),
        predictor=predictor,
    )
    assert s["mode"] == "text" and s["n"] == 2
    with pytest.raises(SystemExit, match="another run"):
        evaluate(
            EvalOptions(tiny_checkpoint, spoken, "test", out, mode="audio", limit=2),
            predictor=predictor,
        )
    with pytest.raises(ValueError, match="audio ablations"):
        evaluate(
            EvalOptions(
                tiny_checkpoint, spoken, "test", tmp_path / "x", mode="text", ablation="silent"
            )
        )


def test_rescore_judges_finished_folders_again_from_their_run_json_alone(
    spoken, predictor, tiny_checkpoint, tmp_path, monkeypatch, capsys
):
    from model import Predictor

    out = tmp_path / "eval"
    evaluate(
        EvalOptions(tiny_checkpoint, spoken, "test", out, limit=4, quiet=True), predictor=predictor
    )
    path, summary = out / "predictions.jsonl", out / "summary.json"
    rows = lines(path)
    rows[0]["strict"] = not rows[0]["strict"]  # as an older scorer judged it
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary.write_text(json.dumps(json.loads(summary.read_text()) | {"baseline": "asr"}))

    def no_model(*a, **k):
        raise AssertionError("rescoring loaded a model")

    monkeypatch.setattr(Predictor, "from_checkpoint", no_model)
    assert main(["--rescore", str(out)]) == 0
    fixed, s = lines(path), json.loads(summary.read_text())
    assert fixed[0]["strict"] != rows[0]["strict"] and len(fixed) == 4
    assert s["n"] == 4 and s["baseline"] == "asr" and s["rescored"]
    assert s["strict"]["correct"] == sum(r["strict"] for r in fixed)
    assert f"{out}: strict" in capsys.readouterr().out

    # a killed run (no summary yet) or a gap in the answers is refused; the others still go
    gap = tmp_path / "gap"
    evaluate(
        EvalOptions(tiny_checkpoint, spoken, "test", gap, limit=3, quiet=True), predictor=predictor
    )
    kept = lines(gap / "predictions.jsonl")
    (gap / "predictions.jsonl").write_text(json.dumps(kept[0]) + "\n" + json.dumps(kept[2]) + "\n")
    summary.unlink()
    assert main(["--rescore", str(out), str(gap)]) == 2
    err = capsys.readouterr().err
    assert "no finished evaluation" in err and "not the split's first 2" in err
    assert lines(gap / "predictions.jsonl") == [kept[0], kept[2]]  # nothing lost


def test_another_audio_token_policy_is_recorded_and_never_mixed_with_the_checkpoints(
    spoken, predictor, tiny_checkpoint, tmp_path
):
    own = predictor.cfg.audio_tokens
    assert own != "full"
    evaluate(
        EvalOptions(tiny_checkpoint, spoken, "test", tmp_path / "own", limit=3, quiet=True),
        predictor=predictor,
    )
    out = tmp_path / "full"
    s = evaluate(
        EvalOptions(tiny_checkpoint, spoken, "test", out, limit=3, quiet=True, audio_tokens="full"),
        predictor=predictor,
    )
    assert predictor.cfg.audio_tokens == own  # switched for the run only
    full, trimmed = lines(out / "predictions.jsonl"), lines(tmp_path / "own" / "predictions.jsonl")
    assert all(f["audio_tokens"] > t["audio_tokens"] for f, t in zip(full, trimmed, strict=True))
    assert s["audio_tokens"] == json.loads((out / "run.json").read_text())["audio_tokens"] == "full"
    with pytest.raises(SystemExit, match="audio_tokens='full'"):  # the checkpoint's own policy
        evaluate(
            EvalOptions(tiny_checkpoint, spoken, "test", out, limit=4, quiet=True),
            predictor=predictor,
        )
    assert main(["--rescore", str(out)]) == 0  # rescoring keeps the policy it ran under
    with pytest.raises(ValueError, match="expected full, trim or trim"):
        evaluate(
            EvalOptions(
                tiny_checkpoint,
                spoken,
                "test",
                tmp_path / "bad",
                limit=1,
                quiet=True,
                audio_tokens="half",
            ),
            predictor=predictor,
        )
    with pytest.raises(ValueError, match="--mode audio only"):
        evaluate(
            EvalOptions(
                tiny_checkpoint,
                spoken,
                "test",
                tmp_path / "bad",
                limit=1,
                quiet=True,
                mode="text",
                audio_tokens="full",
            ),
            predictor=predictor,
        )


def test_a_checkpoint_retrained_in_place_is_not_resumed(spoken, predictor, tiny_checkpoint,
                                                        tmp_path):  # fmt: skip
    """Training again into the same folder leaves its old evaluation folders behind: their
    answers must not be taken for the new model's."""
    import shutil

    ckpt, out = tmp_path / "ckpt", tmp_path / "eval"
    shutil.copytree(tiny_checkpoint, ckpt)
    first = Counting(predictor)
    evaluate(EvalOptions(ckpt, spoken, "test", out, limit=2, quiet=True), predictor=first)
    run = json.loads((out / "run.json").read_text())
    assert run["checkpoint_id"] and first.calls == 2
    # an evaluation written before identities were kept is adopted, not refused
    legacy = {k: v for k, v in run.items() if k != "checkpoint_id"}
    (out / "run.json").write_text(json.dumps(legacy))
    again = Counting(predictor)
    evaluate(EvalOptions(ckpt, spoken, "test", out, limit=2, quiet=True), predictor=again)
    assert again.calls == 0  # same state: everything resumed, nothing answered twice
    assert json.loads((out / "run.json").read_text()) == run
    (ckpt / "trainer_state.json").write_text('{"global_step": 10}\n')  # retrained in place
    with pytest.raises(SystemExit, match="earlier state"):
        evaluate(EvalOptions(ckpt, spoken, "test", out, limit=2, quiet=True), predictor=predictor)


def test_cli_prints_the_table(spoken, tiny_checkpoint, tmp_path, capsys):
    rc = main(["--checkpoint", str(tiny_checkpoint), "--data", str(spoken), "--split", "test",
               "--out", str(tmp_path / "cli"), "--limit", "2", "--device", "cpu"])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "strict" in out and "lenient" in out and "prior" in out
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["n"] == 2

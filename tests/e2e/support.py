"""Builders for the app tests: a small dataset with spoken questions, an evaluation run, a
training log. Shared by tests/test_app*.py (AppTest) and tests/e2e (real browser).

    python -c "from tests.e2e.support import make_dataset; print(make_dataset('/tmp/d'))"
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import soundfile as sf

from data.catalog import CATALOG
from data.facts import grounding, heard
from data.schema import load_jsonl, write_jsonl
from data.score import blind_prior, summarize
from data.synth import generate

SR = 16_000


def speech_like(seconds: float = 2.0, seed: int = 0, sr: int = SR) -> np.ndarray:
    """A voiced, syllable-modulated signal: not speech, but loud, varied and non-silent.
    (The offline TTS may be absent; the tests only need audio the loader accepts.)"""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 110 + 40 * rng.random() + 15 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * (3.5 + rng.random()) * t), 0, None) ** 0.7
    y = 0.25 * voice * envelope + 0.01 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def wav_bytes(y: np.ndarray, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def write_wav(path: Path, y: np.ndarray, sr: int = SR) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, subtype="PCM_16")
    return path


def _speak(out: Path) -> None:
    """Spoken questions: the project's offline TTS when it is there, else speech_like audio."""
    try:
        from data.tts import speak

        speak(out, engine="espeak", workers=1)
        if all(r.get("audio") for r in load_jsonl(out / "samples.jsonl")):
            return
    except Exception as e:  # espeak-ng missing or failing: the signal below still tests the app
        print(f"offline TTS unavailable ({e}); using synthetic voiced audio")
    records = load_jsonl(out / "samples.jsonl")
    for i, r in enumerate(records):
        rel = f"audio/{r['video_id']}_{r['id']}.wav"
        write_wav(out / rel, speech_like(1.5 + 0.1 * (i % 5), seed=i))
        r["audio"], r["voice"] = rel, "synthetic"
    audio = {(r["video_id"], r["id"]): r for r in records}
    write_jsonl(out / "samples.jsonl", records)
    for split in ("train", "eval", "test"):
        path = out / "splits" / f"{split}.jsonl"
        rows = load_jsonl(path)
        write_jsonl(path, [audio[(r["video_id"], r["id"])] for r in rows])


def make_dataset(out: str | Path, videos: int = 2, samples_per_video: int = 24) -> Path:
    out = Path(out)
    generate(out, videos=videos, samples_per_video=samples_per_video, size=112, workers=1)
    _speak(out)
    return out


def make_run(
    folder: Path, data: Path, split: str = "test", seed: int = 0, grounded: bool = False
) -> Path:
    """An evaluation run of a simple guessing baseline (random option per question), scored by
    data.score like evaluation.evaluate does, so the Results page reads the real format.
    grounded: each row also says what the clip shows (its caption segment), as a checkpoint
    trained on grounded answers does."""
    rng = random.Random(seed)
    test = load_jsonl(data / "splits" / f"{split}.jsonl")
    prior = blind_prior(load_jsonl(data / "splits" / "train.jsonl"))
    rows = []
    for r in test:
        guess = rng.choice(CATALOG[r["question_type"]].options)
        pred = CATALOG[r["question_type"]].answers.get(guess, guess)
        rows.append(
            {
                "id": r["id"],
                "video_id": r["video_id"],
                "question_type": r["question_type"],
                "question": r["question"],
                "answer": r["answer"],
                "short_answer": r["short_answer"],
                "prediction": pred,
                "predicted_answer": pred,
                **(heard(r, grounding(r["question_type"], r["caption"])) if grounded else {}),
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = summarize(rows, prior) | {
        "created": f"2026-01-01T00:00:{seed:02d}+00:00",  # a later seed is a newer run
        "checkpoint": "guess",
        "split": split,
        "mode": "audio",
        "ablation": "none",
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    return folder


def make_trainer_state(ckpt: Path, steps: int = 60, eval_every: int = 10) -> Path:
    """A trainer_state.json shaped like HF Trainer's (log_history with loss and eval_loss)."""
    history = []
    for step in range(5, steps + 1, 5):
        history.append(
            {
                "step": step,
                "epoch": step / steps,
                "loss": 3.0 * 0.96**step + 0.4,
                "learning_rate": 1e-3,
            }
        )
        if step % eval_every == 0:
            history.append(
                {
                    "step": step,
                    "epoch": step / steps,
                    "eval_loss": 2.8 * 0.97**step + 0.6 + (0.002 * (step - 40)) ** 2,
                }
            )
    best = min((h for h in history if "eval_loss" in h), key=lambda h: h["eval_loss"])
    state = {
        "global_step": steps,
        "best_metric": best["eval_loss"],
        "best_model_checkpoint": str(ckpt / f"checkpoint-{best['step']}"),
        "log_history": history,
    }
    path = ckpt / "trainer_state.json"
    path.write_text(json.dumps(state, indent=1))
    return path

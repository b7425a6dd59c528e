"""The shipped demo checkpoint: small, complete, loadable, and it still scores what its summary
says on test clips regenerated from scratch (same generator, seed and voices)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from data.score import blind_prior, load_predictions, summarize

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints" / "demo"
MAX_MB = 40  # the frozen pretrained ear (Whisper tiny.en encoder, float16) is 16 MB of it
N_REGEN = 40  # test questions regenerated (about 10 clips): enough to catch a drift

pytestmark = pytest.mark.skipif(
    not (SHIPPED / "eval" / "summary.json").is_file(), reason="no shipped demo checkpoint yet"
)


def rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_shipped_checkpoint_is_small_complete_and_final():
    from model.layout import is_complete

    size = sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file())
    assert size <= MAX_MB * 1e6, f"{size / 1e6:.1f} MB"
    assert is_complete(SHIPPED)
    assert not list(SHIPPED.glob("checkpoint-*")) and not (SHIPPED / "stage0").exists()
    state = json.loads((SHIPPED / "trainer_state.json").read_text())
    assert any("loss" in h for h in state["log_history"])
    assert any("eval_loss" in h for h in state["log_history"])
    assert not list(SHIPPED.rglob("*.bin")) and not list(SHIPPED.rglob("*.pt"))


def test_shipped_summary_is_the_score_of_its_predictions():
    saved = json.loads((SHIPPED / "eval" / "summary.json").read_text())
    preds = load_predictions(SHIPPED / "eval" / "predictions.jsonl")
    prior = saved["prior"]["answers"]
    again = summarize(preds, prior)
    for k in ("n", "strict", "lenient", "prior", "per_type", "by_wording"):
        assert again[k] == saved[k], k
    assert saved["split"] == "test" and saved["mode"] == "audio" and saved["ablation"] == "none"


@pytest.mark.slow
def test_shipped_checkpoint_scores_its_summary_on_regenerated_clips(tmp_path):
    """Rebuild the first test clips and their speech from the generator (data.synth defaults:
    the demo dataset's seed) and answer them: same predictions, same accuracy."""
    from data.catalog import CATALOG
    from data.schema import write_jsonl
    from data.split import split_records
    from data.synth import Config, build_records, render_frames, video_ids
    from data.tts import assign_voice, synthesize
    from evaluation.evaluate import EvalOptions, evaluate
    from model import Predictor

    torch.set_num_threads(1)
    cfg = Config()
    records, jobs = build_records(cfg)
    test_video = video_ids(cfg.videos)[-1]
    test = [r for r in records if r["video_id"] == test_video][:N_REGEN]
    clips = {tuple(r["frames"]) for r in test}
    data = tmp_path / "data"
    render_frames([j for j in jobs if tuple(j["frames"]) in clips], data / "frames", cfg.size, 1)
    speech = {}
    for r in test:
        v = assign_voice(r, "test", "espeak", 0)
        r["audio"], r["voice"] = v.file(r["question"]), v.id
        speech[r["audio"]] = (str(data / r["audio"]), v, r["question"])
    (data / "audio").mkdir(parents=True)
    synthesize(list(speech.values()), "espeak", workers=1)
    parts = split_records(
        records, test_videos=[test_video], eval_fraction=cfg.eval_fraction, seed=cfg.seed
    )
    train = parts["train"]
    write_jsonl(data / "splits" / "train.jsonl", train)
    write_jsonl(data / "splits" / "test.jsonl", test)

    shipped = {(r["video_id"], r["id"]): r for r in rows(SHIPPED / "eval" / "predictions.jsonl")}
    pred = Predictor.from_checkpoint(SHIPPED, device="cpu")
    s = evaluate(EvalOptions(SHIPPED, data, "test", tmp_path / "eval", quiet=True), predictor=pred)
    fresh = rows(tmp_path / "eval" / "predictions.jsonl")
    assert len(fresh) == N_REGEN
    # Frames and speech regenerate bit-exactly (data.tts: each utterance in a fresh espeak-ng
    # state, its random seed from the voice and text), so every answer is the shipped one.
    same = sum(r["prediction"] == shipped[(r["video_id"], r["id"])]["prediction"] for r in fresh)
    assert same == N_REGEN, f"only {same}/{N_REGEN} predictions match the shipped run"
    old = sum(shipped[(r["video_id"], r["id"])]["strict"] for r in fresh) / N_REGEN
    assert s["strict"]["accuracy"] == old
    # the regenerated train split gives the shipped prior
    saved = json.loads((SHIPPED / "eval" / "summary.json").read_text())
    assert blind_prior(train) == saved["prior"]["answers"]
    assert all(r["question_type"] in CATALOG for r in fresh)

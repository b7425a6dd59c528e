"""A 21st question type is one record plus its scene cue. The toy below (is there bleeding?)
is declared here and registered for this test only, then taken the whole way: generated,
spoken, trained on for a step, evaluated and reported, with no other file touched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# imported before the toy is registered, as a session imports them: the stranger's wordings
# are checked against the catalog at import, the warm-up's heads are fixed at import
import evaluation.report  # noqa: F401
import training.warmup  # noqa: F401
from data import catalog, facts, grammar, synth, tts
from data.schema import frame_path, load_jsonl
from data.types import Cue, flag, yes_no
from evaluation.evaluate import main as evaluate
from evaluation.report import main as report
from model.layout import PREDICTIONS_FILE, SUMMARY_FILE, is_complete
from training.train import main as train

pytestmark = pytest.mark.slow
BLOOD = np.array([0.45, 0.02, 0.03])  # dark red


def _paint_blood(frames: list, bleeding: bool, rng: np.random.Generator, size: int) -> list:
    """A dark red pool at one spot of every frame."""
    if not bleeding:
        return frames
    cx, cy = rng.uniform(0.3, 0.7, 2) * size
    yy, xx = np.mgrid[:size, :size]
    pool = ((xx - cx) ** 2 + (yy - cy) ** 2 < (0.15 * size) ** 2)[..., None]
    return [np.where(pool, BLOOD, f) for f in frames]


BLEEDING = yes_no(
    "bleeding",
    (
        "Is there active bleeding in the field?",
        "Is the mucosa bleeding?",
        "Do you see blood in these frames?",
        "Is anything bleeding on screen?",
        "Is there blood on the colon wall?",
        "Can you see any bleeding here?",
        "Is blood visible in this clip?",
        "Tell me if there is bleeding.",
        "Is there a pool of blood?",
        "Is the lining bleeding here?",
        "Any blood in view?",
        "Is there bleeding in this clip?",
    ),
    yes="Yes, there is active bleeding.",
    no="No, there is no bleeding.",
    needs=flag("bleeding"),
    grounding="blood ",
    forms=(
        ("Is there {blood}{ctx}", "Do you see {blood}{ctx}", "Is the {wall} bleeding{ctx}"),
        {
            "blood": ("blood", "bleeding", "active bleeding", "a pool of blood"),
            "wall": ("mucosa", "lining", "colon wall"),
            "ctx": ("", " here", " right now"),
        },
    ),
    cue=Cue(
        "bleeding",
        (True, False),
        segment=lambda v: f"blood {'yes' if v else 'no'}",
        paint=_paint_blood,
        weights={True: 0.3, False: 0.7},
        off=False,
    ),
)

RECIPE = """
[model]
tiny = true
[data]
eval_split = "test"
eval_samples = 4
[trainer]
per_device_train_batch_size = 32
per_device_eval_batch_size = 4
eval_steps = 1
save_steps = 1
logging_steps = 1
report_to = "none"
disable_tqdm = true
[[stage]]
kind = "questions"
steps = 1  # one step over every train record, the toy's among them
target = "grounded"
"""


def _red(data: Path, rec: dict) -> float:
    """Share of a clip's first frame that is the blood's dark red."""
    im = Image.open(frame_path(data / "frames", rec["video_id"], rec["frames"][0]))
    px = np.asarray(im.convert("RGB"), float) / 255
    return float((np.abs(px - BLOOD).max(-1) < 0.12).mean())


def test_a_new_type_is_one_record_and_its_cue(tmp_path):
    with catalog.register(BLEEDING):
        assert len(catalog.TYPE_NAMES) == 21 and "bleeding" in facts.DOMAINS
        data = synth.generate(tmp_path / "data", videos=2, samples_per_video=21, workers=1)
        recs = [r for r in load_jsonl(data / "samples.jsonl") if r["question_type"] == "bleeding"]
        by = {r["short_answer"]: r for r in recs}
        assert set(by) == {"yes", "no"}  # one slot a video, the options cycled over videos
        for r in recs:
            assert r["scene"]["bleeding"] is (r["short_answer"] == "yes")
            assert facts.grounding("bleeding", r["caption"]) == f"blood {r['short_answer']}"
        assert _red(data, by["yes"]) > _red(data, by["no"]) + 0.02  # the cue is in the pixels
        test = load_jsonl(data / "splits" / "test.jsonl")
        asked = [r["question"] for r in test if r["question_type"] == "bleeding"]
        assert asked == [BLEEDING.phrasings[grammar.TEST_PHRASING]]
        assert len(grammar.wordings("bleeding")) > len(BLEEDING.phrasings)
        yes = {"question_type": "bleeding", "caption": by["yes"]["caption"]}
        assert facts.heard(yes, "blood yes", "yes")["heard"]  # what evaluation checks
        assert not facts.heard(yes, "tool none", "yes")["heard"]

        tts.speak(data, workers=1)
        assert all(r.get("audio") for r in load_jsonl(data / "samples.jsonl"))

        recipe, ckpt = tmp_path / "toy.toml", tmp_path / "ckpt"
        recipe.write_text(RECIPE)
        args = ["--recipe", str(recipe), "--data", str(data), "--output_dir", str(ckpt)]
        assert train([*args, "--threads", "1"]) == 0 and is_complete(ckpt)

        ev = ["--checkpoint", str(ckpt), "--data", str(data), "--out", str(ckpt / "eval")]
        assert evaluate([*ev, "--split", "test"]) == 0
        s = json.loads((ckpt / "eval" / SUMMARY_FILE).read_text())
        assert s["per_type"]["bleeding"]["n"] == 1 and s["n"] == len(test)
        lines = (ckpt / "eval" / PREDICTIONS_FILE).read_text().splitlines()
        rows = [json.loads(line) for line in lines]
        assert sum(r["question_type"] == "bleeding" for r in rows) == 1

        assert report(["--checkpoint", str(ckpt), "--out", str(tmp_path / "results.md")]) == 0
        assert "bleeding" in (tmp_path / "results.md").read_text()
    assert "bleeding" not in catalog.TYPE_NAMES and "bleeding" not in facts.DOMAINS

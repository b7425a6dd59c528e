"""The stranger test: hand-written questions in a voice training never heard (no torch).

    python -m data.stranger --data data/demo      # writes splits/stranger.jsonl and its WAVs

A clinician at the microphone is a stranger twice over: a voice the model never heard and words
nobody wrote into its training. This split asks the held-out test video's clips (the records of
splits/test.jsonl, same keys, same answers) in wordings written by hand for it, three per type,
apart from the catalog and the grammar (data.grammar never produces them; a test checks both),
spoken by Debian's flite, an offline synthesizer that never speaks in training (data.tts has no
flite voice in any pool). Each type's records take its three wordings in turn, and the voices in
turn over every three, so every wording and every voice is heard evenly. Records get
`phrasing` -2 (STRANGER_PHRASING). Idempotent: existing valid WAVs are kept.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from data.catalog import TYPE_NAMES
from data.schema import DataError, load_jsonl, write_jsonl
from data.tts import TTSError, Voice, audio_ok, to_16k, too_long, write_wav
from model.cli import boundary, int_in, positive_float
from model.layout import split_file

SPLIT = "stranger"
STRANGER_PHRASING = -2  # a record's `phrasing`: a hand-written stranger's wording
ENGINE = "flite"
VOICES = ("awb", "kal16", "rms", "slt")  # flite's full-band voices (kal is 8 kHz, awb_time
# speaks only times of day)
INSTALL = "install Debian's flite package: apt-get install -y flite"

# Written by hand, not generated: how a clinician might put each question at the microphone,
# in words and sentence forms the catalog and the grammar do not use together.
STRANGER: dict[str, tuple[str, str, str]] = {
    "blue_dye_presence": (
        "Have we sprayed any indigo carmine on this segment?",
        "Is the surface coated with blue contrast?",
        "Any sign of chromoendoscopy staining on the wall?",
    ),
    "endoscope_visibility": (
        "Can I see our own scope shaft in the picture?",
        "Are we retroflexed and looking at the insertion tube?",
        "Does the body of the colonoscope appear on the monitor?",
    ),
    "fluid_occlusion_level": (
        "How much of the picture is lost under liquid?",
        "Grade the fluid over the field: none or complete?",
        "To what degree is murky liquid hiding things?",
    ),
    "flush_action": (
        "Are you washing the field with the water pump?",
        "Is someone squirting water through the channel?",
        "Are we giving it a rinse right now?",
    ),
    "lesion_histology_extended": (
        "Would you say this polyp is adenomatous or hyperplastic?",
        "Judging by its surface, what histology fits this lesion?",
        "Hyperplastic or adenomatous, looking at this growth?",
    ),
    "lesion_motion_direction": (
        "Where is the polyp drifting as the clip plays?",
        "Is the lesion sliding up, down, left or right?",
        "Which way does the growth travel over the frames?",
    ),
    "lesion_screen_position": (
        "Which quarter of the monitor is the polyp sitting in?",
        "On the display, which corner holds the lesion?",
        "Where in the picture can I find the growth?",
    ),
    "lesion_site": (
        "Which stretch of colon is this polyp sitting in?",
        "Rectum, sigmoid, ascending or descending for this lesion?",
        "Anatomically, where in the bowel does the growth lie?",
    ),
    "lesion_size_range": (
        "Roughly how many millimetres would you put this polyp at?",
        "Would you size the growth as diminutive, small or large?",
        "Measure the lesion for me: how big is it?",
    ),
    "lighting_mode": (
        "Is the light source on white or on NBI?",
        "What light source is on for this view?",
        "What sort of illumination are we working under?",
    ),
    "mucosa_visibility": (
        "Do I have a good look at the mucosa here?",
        "Is the lining well seen, clean enough to inspect?",
        "Can we inspect the bowel wall properly in this view?",
    ),
    "nbi_status": (
        "Have we switched over to NBI?",
        "Is the narrow band filter engaged?",
        "Is this being viewed under NBI?",
    ),
    "occlusion_check": (
        "Is the lens pressed right up against tissue?",
        "Has the view gone red because we're touching the wall?",
        "Is something stuck to the lens, blocking everything?",
    ),
    "scope_backward_motion": (
        "Are we coming back out now?",
        "Are we on our way out of the colon?",
        "Are we withdrawing the scope at this moment?",
    ),
    "scope_forward_motion": (
        "Are we still pushing on toward the cecum?",
        "Are we getting deeper in with the colonoscope?",
        "Is the scope making forward progress here?",
    ),
    "scope_motion": (
        "Is there any movement of the endoscope?",
        "Is the tip moving around at all?",
        "Has the colonoscope been in motion during this clip?",
    ),
    "scope_motion_type": (
        "Insertion or withdrawal, which phase is this?",
        "Are we pushing in or pulling the scope out?",
        "Inward or outward: where is the scope headed?",
    ),
    "scope_outside": (
        "Has the endoscope come out of the patient completely?",
        "Is the camera seeing the procedure room instead?",
        "Are we filming the room rather than the patient?",
    ),
    "tool_catheter_check": (
        "Is that tube coming through the channel a catheter?",
        "Do we have a catheter out of the scope?",
        "Is the accessory I'm looking at a catheter?",
    ),
    "tool_identification": (
        "What accessory have we got through the channel?",
        "Snare, forceps or catheter: which one is this?",
        "Which instrument did the assistant pass through?",
    ),
}
assert set(STRANGER) == set(TYPE_NAMES), "a stranger's wordings for every question type"


@cache
def flite_voices() -> tuple[str, ...]:
    """The voices the installed flite lists (`flite -lv`); TTSError naming the fix if absent."""
    exe = shutil.which("flite")
    if exe is None:
        raise TTSError(f"the stranger's voice needs the flite synthesizer, not found: {INSTALL}")
    out = subprocess.run([exe, "-lv"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise TTSError(f"flite -lv failed ({out.returncode}: {out.stderr.strip()}); {INSTALL}")
    return tuple(out.stdout.split(":", 1)[-1].split())


class Flite:
    """Debian's flite, one subprocess per utterance (a pure function of text and voice)."""

    name = ENGINE

    def synth(self, text: str, voice: Voice) -> tuple[np.ndarray, int]:
        if voice.name not in flite_voices():  # flite falls back to another voice silently
            raise TTSError(f"flite has no voice {voice.name!r}; it lists {flite_voices()}")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "q.wav"
            # a rate other than 100% stretches flite's durations (140%: 1/1.4 as long)
            stretch = (
                [] if voice.rate == 100 else ["--setf", f"duration_stretch={100 / voice.rate}"]
            )
            run = subprocess.run(
                ["flite", "-voice", voice.name, *stretch, "-t", text, "-o", str(out)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if run.returncode != 0 or not out.is_file():
                raise TTSError(
                    f"flite failed for {text!r} with voice {voice.name} "
                    f"({run.returncode}: {run.stderr.strip()})"
                )
            wav, sr = sf.read(str(out), dtype="float32", always_2d=True)
        if wav.size == 0:
            raise TTSError(f"flite produced no audio for {text!r} with voice {voice.name}")
        return wav.mean(axis=1), sr


def voice_of(name: str, rate: int = 100) -> Voice:
    return Voice(ENGINE, name, rate, 0)  # flite's own pitch; rate in percent of its own


def stranger_records(test: list[dict]) -> list[dict]:
    """The test records asked by a stranger: each type's records in file order take its three
    wordings in turn and the voices in turn over every three (12 combinations, evenly)."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for rec in test:
        qtype = rec["question_type"]
        i = seen[qtype]
        seen[qtype] += 1
        text = STRANGER[qtype][i % 3]
        turn = i // 3 + TYPE_NAMES.index(qtype)  # offset per type: even over the split
        voice = voice_of(VOICES[turn % len(VOICES)])
        r = {k: v for k, v in rec.items() if k not in ("audio", "voice")}
        r |= {"question": text, "phrasing": STRANGER_PHRASING}
        r |= {"audio": voice.file(text), "voice": voice.id}
        out.append(r)
    return out


def speak_file(job: tuple[Path, Voice, str]) -> None:
    """(path, voice, text): flite says the text into a 16 kHz WAV at path."""
    path, voice, text = job
    wav, sr = Flite().synth(text, voice)
    write_wav(path, to_16k(wav, sr))


def build(data: Path, *, workers: int = 2, max_seconds: float = 30.0) -> int:
    """Write <data>/splits/stranger.jsonl and its recordings; returns the files written."""
    data = Path(data)
    test_path = split_file(data, "test")
    if not test_path.is_file():
        raise DataError(f"{test_path} is missing: build the dataset first (python -m data.synth)")
    recs = stranger_records(load_jsonl(test_path))
    if not recs:
        raise DataError(f"{test_path} has no records")
    flite_voices()  # fail before any work when flite is missing
    (data / "audio").mkdir(exist_ok=True)
    todo = {}
    for r in recs:
        if r["audio"] not in todo and not audio_ok(data / r["audio"]):
            todo[r["audio"]] = (
                data / r["audio"],
                voice_of(r["voice"].split(":")[1]),
                r["question"],
            )
    jobs = sorted(todo.values(), key=lambda j: str(j[0]))
    with ThreadPoolExecutor(max(1, workers)) as ex:  # flite runs as subprocesses
        list(tqdm(ex.map(speak_file, jobs), total=len(jobs), desc="speech (flite)", unit="wav"))
    if long := too_long(data, max_seconds, recs):
        shown = "; ".join(f"{said!r} {d:.2f} s" for d, _, said in long[:5])
        raise TTSError(f"{len(long)} stranger recording(s) over {max_seconds:g} s: {shown}")
    write_jsonl(split_file(data, SPLIT), recs)
    return len(jobs)


@boundary
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data", type=Path, default=Path("data/demo"), help="dataset folder (its test split)"
    )
    p.add_argument("--workers", type=int_in(1, 256), default=2, help="parallel flite processes")
    p.add_argument(
        "--max-seconds", type=positive_float, default=30.0, help="longest recording allowed"
    )
    a = p.parse_args(argv)
    try:
        n = build(a.data, workers=a.workers, max_seconds=a.max_seconds)
    except (TTSError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = split_file(a.data, SPLIT)
    print(f"{n} audio files written; {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

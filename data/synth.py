"""The embedded demo dataset: procedural colonoscopy clips with balanced questions.

    python -m data.synth --out data/demo --seed 0
    python -m data.synth --contact-sheet docs/img/contact_sheet.jpg

Plan: for every video, each of the 20 question types gets the same number of (type, answer)
slots with its options cycled evenly; slots are packed greedily into clips (up to
`questions_per_clip` distinct types whose scene requirements agree), then each clip's remaining
scene parameters are drawn at random. One clip = 8 JPEG frames shared by all its records, so
all records of a clip land in the same split (they share frames: the split keeps them together).
The last video is the held-out test video and is asked with the catalog's phrasing 3 only; the
others are asked in wordings drawn from data.grammar (hundreds per type, never phrasing 3 nor a
near copy of it), keyed by the record. Deterministic from the seed; idempotent; frames rendered
in worker processes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import textwrap
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from data import grammar
from data import scene as scn
from data.catalog import CATALOG, TYPE_NAMES
from data.schema import frame_path, load_jsonl, write_jsonl, write_text
from data.score import extract_option

VERSION = 3  # bump when rendering changes, so old frames are re-rendered
STRIDE = 4  # frame-number stride of the real benchmark
FIRST_FRAME = 1000
CLIP_GAP = 16  # frame numbers between clips, so clips never overlap in time
TEST_PHRASING = grammar.TEST_PHRASING  # held out: spoken only in the test split
TRAIN_PHRASINGS = grammar.TRAIN_PHRASINGS  # catalog phrasings in the grammar's pools

DOMAINS: dict[str, tuple] = {
    "view": ("normal", "fluid", "occluded", "outside"),
    "motion": ("still", "advancing", "withdrawing"),
    "lesion": (True, False),
    "quadrant": tuple(scn.QUADRANT_CENTRE),
    "lesion_motion": tuple(scn.LESION_STEP),
    "size": tuple(scn.LESION_RADIUS),
    "site": ("ascending", "descending", "rectum", "sigma"),
    "histology": ("adenoma", "hyperplastic"),
    "tool": ("none", "forceps", "snare", "catheter"),
    "nbi": (True, False),
    "dye": (True, False),
    "flush": (True, False),
    "scope_visible": (True, False),
}
LESION_KEY = {
    "lesion_histology_extended": "histology",
    "lesion_motion_direction": "lesion_motion",
    "lesion_screen_position": "quadrant",
    "lesion_site": "site",
    "lesion_size_range": "size",
}
YES_NO_KEY = {
    "blue_dye_presence": "dye",
    "flush_action": "flush",
    "endoscope_visibility": "scope_visible",
    "nbi_status": "nbi",
}


@dataclass
class Config:
    videos: int = 6  # 5 train/eval videos + 1 held-out test video
    samples_per_video: int = 1280  # 6 x 1,280 = 7,680 records, 64 per type per video: 640 gave
    # the audio path too few takes to learn the question type on new voices (0.80 vs 0.94);
    # 2,560 was worse within the demo's hour (40.7% vs 49.9% test strict: fewer epochs)
    questions_per_clip: int = 4  # records sharing one clip's frames (fewer where views block)
    size: int = 112  # frame side in px: CPU training; up to 384
    seed: int = 0
    eval_fraction: float = 0.15  # of the non-test videos' clips


def requirement(qtype: str, answer: str) -> dict[str, set]:
    """The scene values a (type, answer) pair needs; unconstrained keys are absent."""
    normal = {"view": {"normal"}}
    yes = answer == "yes"
    if qtype in LESION_KEY:
        return {**normal, "lesion": {True}, LESION_KEY[qtype]: {answer}}
    if qtype in YES_NO_KEY:
        req = {**normal, YES_NO_KEY[qtype]: {yes}}
        if qtype == "blue_dye_presence" and yes:
            req["nbi"] = {False}  # dye is shown under white light only
        if qtype == "nbi_status" and yes:
            req["dye"] = {False}
        return req
    if qtype == "lighting_mode":
        return {**normal, "nbi": {answer == "NBI"}, **({"dye": {False}} if answer == "NBI" else {})}
    if qtype == "fluid_occlusion_level":
        return {"view": {"fluid"}} if answer == "complete" else normal
    if qtype == "mucosa_visibility":
        return normal if yes else {"view": {"fluid", "occluded", "outside"}}
    if qtype == "occlusion_check":
        return {"view": {"occluded"}} if yes else normal
    if qtype == "scope_outside":
        return {"view": {"outside"}} if yes else {"view": {"normal", "fluid", "occluded"}}
    if qtype == "scope_motion":
        return {**normal, "motion": {"advancing", "withdrawing"} if yes else {"still"}}
    if qtype == "scope_forward_motion":
        return {**normal, "motion": {"advancing" if yes else "withdrawing"}}
    if qtype == "scope_backward_motion":
        return {**normal, "motion": {"withdrawing" if yes else "advancing"}}
    if qtype == "scope_motion_type":
        return {**normal, "motion": {answer}}
    if qtype == "tool_catheter_check":
        return {**normal, "tool": {"catheter"} if yes else {"forceps", "snare"}}
    if qtype == "tool_identification":
        return {**normal, "tool": {answer}}
    raise KeyError(f"no scene requirement for question type {qtype!r}")


def answer_of(qtype: str, s: dict) -> str | None:
    """The short answer the pixels of scene `s` give to `qtype`, or None if it is not askable."""
    normal = s["view"] == "normal"
    yn = lambda b: "yes" if b else "no"  # noqa: E731
    if qtype in LESION_KEY:
        return s[LESION_KEY[qtype]] if normal and s["lesion"] else None
    if qtype in YES_NO_KEY:
        return yn(s[YES_NO_KEY[qtype]]) if normal else None
    if qtype == "lighting_mode":
        return ("NBI" if s["nbi"] else "WL") if normal else None
    if qtype == "fluid_occlusion_level":
        return {"normal": "absent", "fluid": "complete"}.get(s["view"])
    if qtype == "mucosa_visibility":
        return yn(normal)
    if qtype == "occlusion_check":
        return {"normal": "no", "occluded": "yes"}.get(s["view"])
    if qtype == "scope_outside":
        return yn(s["view"] == "outside")
    moving = s["motion"] != "still"
    if qtype == "scope_motion":
        return yn(moving) if normal else None
    if qtype == "scope_forward_motion":
        return yn(s["motion"] == "advancing") if normal and moving else None
    if qtype == "scope_backward_motion":
        return yn(s["motion"] == "withdrawing") if normal and moving else None
    if qtype == "scope_motion_type":
        return s["motion"] if normal and moving else None
    if qtype == "tool_catheter_check":
        return yn(s["tool"] == "catheter") if normal and s["tool"] != "none" else None
    if qtype == "tool_identification":
        return s["tool"] if normal and s["tool"] != "none" else None
    raise KeyError(f"unknown question type {qtype!r}")


def _merge(a: dict[str, set], b: dict[str, set]) -> dict[str, set] | None:
    out = dict(a)
    for k, v in b.items():
        out[k] = out[k] & v if k in out else set(v)
        if not out[k]:
            return None
    if out.get("dye") == {True} and out.get("nbi") == {True}:
        return None  # dye is shown under white light only
    return out


def _pick(rng: np.random.Generator, allowed: set, prefer: dict | None = None):
    """One value of `allowed` (in domain order), weighted by `prefer` where given."""
    vals = sorted(allowed, key=str)
    w = np.array([(prefer or {}).get(v, 1.0) for v in vals], dtype=float)
    return vals[int(rng.choice(len(vals), p=w / w.sum()))]


def complete(req: dict[str, set], rng: np.random.Generator) -> dict:
    """A full scene meeting `req`; free parameters drawn at random (obstructed views blank)."""
    allowed = {k: set(req.get(k, v)) for k, v in DOMAINS.items()}
    view = _pick(
        rng, allowed["view"], {"normal": 1.0, "fluid": 1e-9, "occluded": 1e-9, "outside": 1e-9}
    )
    s: dict = {"view": view}
    if view != "normal":
        s.update(
            motion="still",
            lesion=False,
            tool="none",
            nbi=False,
            dye=False,
            flush=False,
            scope_visible=False,
            site=None,
        )
    else:
        s["motion"] = _pick(rng, allowed["motion"])
        s["site"] = _pick(rng, allowed["site"])
        s["lesion"] = _pick(rng, allowed["lesion"], {True: 0.6, False: 0.4})
        s["tool"] = _pick(rng, allowed["tool"], {"none": 3.0})
        s["nbi"] = _pick(rng, allowed["nbi"], {True: 0.3, False: 0.7})
        dye = allowed["dye"] - ({True} if s["nbi"] else set())
        s["dye"] = _pick(rng, dye, {True: 0.2, False: 0.8})
        s["flush"] = _pick(rng, allowed["flush"], {True: 0.2, False: 0.8})
        s["scope_visible"] = _pick(rng, allowed["scope_visible"], {True: 0.2, False: 0.8})
    for k in ("quadrant", "lesion_motion", "size", "histology"):
        s[k] = _pick(rng, allowed[k]) if s["lesion"] else None
    s["fluid"] = "complete" if view == "fluid" else "absent"
    s["occluded"] = view == "occluded"
    s["outside"] = view == "outside"
    return {k: s[k] for k in (*DOMAINS, "fluid", "occluded", "outside")}


def caption(s: dict) -> str:
    """A compact caption of the scene, e.g. 'scope advancing. lesion upper left. motion up. ...'."""
    if s["view"] == "outside":
        return "scope outside the patient."
    if s["view"] == "fluid":
        return "fluid covers the view completely."
    if s["view"] == "occluded":
        return "view blocked close up."
    yn = lambda b: "yes" if b else "no"  # noqa: E731
    parts = [f"scope {s['motion']}", f"site {s['site']}"]
    if s["lesion"]:
        parts += [
            f"lesion {s['quadrant'].replace('-', ' ')}",
            f"motion {s['lesion_motion']}",
            f"size {s['size']}",
            s["histology"],
        ]
    else:
        parts.append("no lesion")
    parts += [
        f"tool {s['tool']}",
        f"nbi {yn(s['nbi'])}",
        f"dye {yn(s['dye'])}",
        f"flush {yn(s['flush'])}",
        f"shaft {yn(s['scope_visible'])}",
    ]
    return ". ".join(parts) + "."


# question type -> the caption segment that grounds its answer ("" = the caption's first one,
# which for a blocked or outside view is the whole caption)
GROUNDING = {
    **dict.fromkeys(
        ("fluid_occlusion_level", "mucosa_visibility", "occlusion_check", "scope_outside"), ""
    ),
    **dict.fromkeys(
        ("scope_motion", "scope_forward_motion", "scope_backward_motion", "scope_motion_type"),
        "scope ",
    ),
    "lesion_site": "site ",
    "lesion_screen_position": "lesion ",
    "lesion_motion_direction": "motion ",
    "lesion_size_range": "size ",
    "lesion_histology_extended": ("adenoma", "hyperplastic"),
    "tool_identification": "tool ",
    "tool_catheter_check": "tool ",
    "nbi_status": "nbi ",
    "lighting_mode": "nbi ",
    "blue_dye_presence": "dye ",
    "flush_action": "flush ",
    "endoscope_visibility": "shaft ",
}


def grounding(qtype: str, caption_text: str) -> str:
    """The caption segment the answer to `qtype` rests on, e.g. 'lesion upper left'."""
    parts = [p for p in caption_text.rstrip(".").split(". ") if p]
    key = GROUNDING[qtype]
    if key == "":
        return parts[0]
    hits = [p for p in parts if (p in key if isinstance(key, tuple) else p.startswith(key))]
    if len(hits) != 1:
        raise ValueError(f"caption {caption_text!r} has no single segment for {qtype}")
    return hits[0]


def grounding_kind(segment: str) -> str:
    """What a caption segment is about: its first word ('scope advancing' -> 'scope'), or
    'histology' for the bare histology words. Two segments of one kind answer the same question
    (or neighbours that read the same fact, like the four scope-motion types)."""
    seg = segment.strip().lower()
    return "histology" if seg in GROUNDING["lesion_histology_extended"] else seg.split(" ")[0]


def heard(rec: dict, said: str, answer: str | None = None) -> dict:
    """A grounded answer's caption segment, the one the asked question rests on, and whether
    the question was heard as asked: the two segments are of one kind and, given the answer,
    it is one the asked question allows. Types of one kind tell apart only by the answer:
    "yes" after `tool catheter` answers the catheter check, not "Name the instrument"."""
    if not said:
        return {}
    out = {"grounding": said}
    if rec.get("caption"):
        qtype = rec["question_type"]
        want = grounding(qtype, rec["caption"])
        ok = grounding_kind(said) == grounding_kind(want)
        if answer is not None:
            ok = ok and extract_option(qtype, answer) is not None
        out |= {"grounding_expected": want, "heard": ok}
    return out


def video_ids(n: int) -> list[str]:
    return [f"demo-{i + 1:02d}" for i in range(n)]


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(keys)))


def plan_video(cfg: Config, v: int) -> list[dict]:
    """Clips of video `v`: [{"scene", "questions": [(type, answer), ...]}], deterministic."""
    rng = _rng(cfg.seed, v, 0)
    n_types = len(TYPE_NAMES)
    base, extra = divmod(cfg.samples_per_video, n_types)
    slots = []
    for t, name in enumerate(TYPE_NAMES):
        n = base + (1 if (t - v) % n_types < extra else 0)
        opts = CATALOG[name].options
        offset = v * n  # rotate the cycle per video so totals stay even across videos
        slots += [(name, opts[(offset + i) % len(opts)]) for i in range(n)]
    order = rng.permutation(len(slots))
    remaining = [slots[i] for i in order]
    clips = []
    while remaining:
        first = remaining.pop(0)
        req, chosen = requirement(*first), [first]
        keep = []
        for slot in remaining:
            merged = None
            if len(chosen) < cfg.questions_per_clip and slot[0] not in {c[0] for c in chosen}:
                merged = _merge(req, requirement(*slot))
            if merged is None:
                keep.append(slot)
            else:
                req = merged
                chosen.append(slot)
        remaining = keep
        s = complete(req, rng)
        for qtype, ans in chosen:
            got = answer_of(qtype, s)
            if got != ans:
                raise AssertionError(f"planner bug: {qtype} wants {ans!r}, scene gives {got!r}")
        clips.append({"scene": s, "questions": chosen})
    return clips


def build_records(cfg: Config) -> tuple[list[dict], list[dict]]:
    """All records, and one render job per clip (video, frames, scene, render seed)."""
    vids = video_ids(cfg.videos)
    records, jobs = [], []
    for v, vid in enumerate(vids):
        rng = _rng(cfg.seed, v, 1)
        hue = float(rng.uniform(-0.04, 0.06))  # the procedure's palette nudge
        test = v == len(vids) - 1
        n = 0
        for c, clip in enumerate(plan_video(cfg, v)):
            start = FIRST_FRAME + c * (8 * STRIDE + CLIP_GAP)
            numbers = [start + STRIDE * k for k in range(scn.FRAMES)]
            frames = [f"{vid}_{k}" for k in numbers]
            s = clip["scene"]
            seed = int(np.random.SeedSequence([cfg.seed, v, c, 2]).generate_state(1)[0])
            jobs.append({"video_id": vid, "frames": frames, "scene": s, "seed": seed, "hue": hue})
            for qtype, ans in clip["questions"]:
                qt, rid = CATALOG[qtype], f"qa_{n:06d}"
                if test:
                    question, ph = qt.phrasings[TEST_PHRASING], TEST_PHRASING
                else:
                    question = grammar.draw(qtype, f"{vid}/{rid}", cfg.seed)
                    ph = grammar.phrasing_index(qtype, question)  # -1 unless a catalog one
                records.append(
                    {
                        "id": rid,
                        "video_id": vid,
                        "frames": frames,
                        "frame_numbers": numbers,
                        "question": question,
                        "question_type": qtype,
                        "support_frames": scn.FRAMES,
                        "total_frames": scn.FRAMES,
                        "support_ratio": 1.0,
                        "support_percentage": 100.0,
                        "answer": qt.answers[ans],
                        "short_answer": ans,
                        "caption": caption(s),
                        "phrasing": ph,
                        "scene": s,
                    }
                )
                n += 1
    return records, jobs


def _frame_ok(path: Path, size: int) -> bool:
    try:
        with Image.open(path) as im:
            im.load()
            return im.size == (size, size)
    except (OSError, ValueError, SyntaxError):
        return False


def _render_job(args: tuple) -> int:
    """Render one clip's frames unless all exist and decode; returns frames written."""
    job, frames_dir, size, force = args
    paths = [frame_path(frames_dir, job["video_id"], f) for f in job["frames"]]
    if not force and all(_frame_ok(p, size) for p in paths):
        return 0
    images = scn.render(job["scene"], job["seed"], size, job["hue"])
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    for im, p in zip(images, paths, strict=True):
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        im.save(tmp, format="JPEG", quality=90)
        os.replace(tmp, p)
    return len(paths)


def render_frames(
    jobs: list[dict], frames_dir: Path, size: int, workers: int, force: bool = False
) -> int:
    """Render every clip (in `workers` processes), skipping valid existing ones."""
    args = [(j, frames_dir, size, force) for j in jobs]
    bar = tqdm(total=len(jobs), desc="clips", unit="clip")
    written = 0
    if workers <= 1:
        for a in args:
            written += _render_job(a)
            bar.update()
    else:
        with get_context("fork").Pool(workers) as pool:
            for w in pool.imap_unordered(_render_job, args, chunksize=8):
                written += w
                bar.update()
    bar.close()
    return written


def _split(records: list[dict], test_video: str, cfg: Config) -> dict[str, list[dict]]:
    from data.split import split_records

    out = split_records(
        records, test_videos=[test_video], eval_fraction=cfg.eval_fraction, seed=cfg.seed
    )
    if isinstance(out, dict):
        return {k: list(out[k]) for k in ("train", "eval", "test")}
    train, ev, test = out
    return {"train": list(train), "eval": list(ev), "test": list(test)}


def _carry_speech(records: list[dict], path: Path) -> None:
    """Keep `audio`/`voice` of an earlier run where the record is otherwise unchanged."""
    if not path.is_file():
        return
    try:
        old = {(r["video_id"], r["id"]): r for r in load_jsonl(path)}
    except ValueError:
        return  # unreadable: it is rewritten whole
    for r in records:
        o = old.get((r["video_id"], r["id"]))
        if o and "audio" in o and all(o.get(k) == v for k, v in r.items()):
            r["audio"], r["voice"] = o["audio"], o.get("voice", "")


def generate(
    out: Path,
    *,
    videos: int = 6,
    samples_per_video: int = Config.samples_per_video,
    seed: int = 0,
    size: int = 112,
    workers: int = 2,
    questions_per_clip: int = 4,
    eval_fraction: float = 0.15,
) -> Path:
    """Write the dataset under `out` (frames, samples.jsonl, splits/); returns `out`."""
    cfg = Config(videos, samples_per_video, questions_per_clip, size, seed, eval_fraction)
    if not 32 <= size <= 384:
        raise ValueError(f"size {size} outside 32..384 px")
    if videos < 2:
        raise ValueError("need at least 2 videos (one is held out for test)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, jobs = build_records(cfg)
    meta_path = out / "synth.json"
    meta = {"version": VERSION, **asdict(cfg)}
    force = not meta_path.is_file() or json.loads(meta_path.read_text()) != meta
    render_frames(jobs, out / "frames", size, workers, force=force)
    _carry_speech(records, out / "samples.jsonl")
    parts = _split(records, video_ids(videos)[-1], cfg)
    write_jsonl(out / "samples.jsonl", records)
    for name, recs in parts.items():
        write_jsonl(out / "splits" / f"{name}.jsonl", recs)
    write_text(meta_path, json.dumps(meta, indent=1) + "\n")
    return out


def contact_sheet(path: Path, seed: int = 0, size: int = 112) -> Path:
    """One clip per question type (8 frames in a row, labelled), from a small fresh plan."""
    cfg = Config(videos=2, samples_per_video=200, seed=seed, size=size)
    records, jobs = build_records(cfg)
    by_frames = {tuple(j["frames"]): j for j in jobs}
    label_w = 220
    sheet = Image.new("RGB", (label_w + 8 * size, len(TYPE_NAMES) * size), (255, 255, 255))
    g = ImageDraw.Draw(sheet)
    used: set[tuple] = set()
    for row, qtype in enumerate(TYPE_NAMES):
        opts = CATALOG[qtype].options
        want = "yes" if "yes" in opts else opts[-1]
        fits = [r for r in records if r["question_type"] == qtype and r["short_answer"] == want]
        rec = next((r for r in fits if tuple(r["frames"]) not in used), fits[0])  # distinct clips
        used.add(tuple(rec["frames"]))
        job = by_frames[tuple(rec["frames"])]
        for k, im in enumerate(scn.render(job["scene"], job["seed"], size, job["hue"])):
            sheet.paste(im, (label_w + k * size, row * size))
        text = f"{qtype}\n-> {want}\n" + "\n".join(textwrap.wrap(rec["question"], 40))
        g.multiline_text((6, row * size + 8), text, fill=(0, 0, 0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    sheet.save(tmp, format="JPEG", quality=80)
    os.replace(tmp, path)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("data/demo"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--videos", type=int, default=Config.videos)
    p.add_argument("--samples-per-video", type=int, default=Config.samples_per_video)
    p.add_argument("--questions-per-clip", type=int, default=Config.questions_per_clip)
    p.add_argument("--size", type=int, default=Config.size)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--contact-sheet", type=Path, help="write a one-clip-per-type image and exit")
    a = p.parse_args(argv)
    if a.contact_sheet:
        print(contact_sheet(a.contact_sheet, a.seed, a.size))
        return 0
    out = generate(
        a.out,
        videos=a.videos,
        samples_per_video=a.samples_per_video,
        seed=a.seed,
        size=a.size,
        workers=a.workers,
        questions_per_clip=a.questions_per_clip,
    )
    n = sum(1 for _ in (out / "samples.jsonl").open())
    print(f"{n} records in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

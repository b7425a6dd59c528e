"""The embedded demo dataset: procedural colonoscopy clips with balanced questions.

    python -m data.synth --out data/demo --seed 0
    python -m data.synth --contact-sheet docs/img/contact_sheet.jpg

data.plan decides the clips, their scenes and the records (balanced (type, answer) slots packed
into clips; the last video held out for test, asked in the catalog's phrasing 3 only); this
module renders each clip's 8 JPEG frames (data.scene) in worker processes and writes the
dataset: frames, samples.jsonl, splits/ and synth.json. Deterministic from the seed; idempotent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import textwrap
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

from PIL import Image, ImageDraw
from tqdm import tqdm

from data import scene as scn
from data.catalog import CATALOG, TYPE_NAMES
from data.plan import Config, build_records, video_ids
from data.schema import frame_path, load_jsonl, write_jsonl, write_text
from data.split import split_records
from model.cli import boundary, int_in

VERSION = 3  # bump when rendering changes, so old frames are re-rendered


def _frame_ok(path: Path, size: int) -> bool:
    try:
        with Image.open(path) as im:
            if im.size != (size, size):  # read from the header: nothing decoded yet
                return False
            im.load()
            return True
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
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


@boundary
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("data/demo"), help="dataset folder to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the scenes and wordings")
    p.add_argument("--videos", type=int_in(1, 10_000), default=Config.videos, help="videos")
    p.add_argument(
        "--samples-per-video",
        type=int_in(1),
        default=Config.samples_per_video,
        help="records a video",
    )
    p.add_argument(
        "--questions-per-clip",
        type=int_in(1),
        default=Config.questions_per_clip,
        help="questions asked of one 8-frame clip",
    )
    p.add_argument("--size", type=int_in(16, 4096), default=Config.size, help="frame side in px")
    p.add_argument("--workers", type=int_in(1, 256), default=2, help="processes painting frames")
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

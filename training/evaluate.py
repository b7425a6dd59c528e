"""Evaluate a checkpoint on one split: per-sample predictions and a scored summary.

    python -m training.evaluate --checkpoint checkpoints/demo --data data/demo --split test \
        --out checkpoints/demo/eval [--mode audio|text] [--audio-ablation shuffled|silent] \
        [--audio-tokens full|trim|trim+pool:N]
    python -m training.evaluate --rescore checkpoints/demo/eval*   # finished runs, no model

Writes OUT/predictions.jsonl (one line per sample, appended and flushed as it goes, so a killed
run continues where it stopped without duplicates; the rows already there are judged again by
the current scorer, so rerunning a finished evaluation re-scores it without the model) and
OUT/summary.json (data.score.summarize plus run metadata). The blind prior comes from the train
split. OUT/run.json names what the answers come from: a folder holding answers of another
checkpoint, split or mode, or of the same checkpoint folder before it was trained again, is
refused rather than resumed. `--audio-ablation shuffled` feeds each clip the spoken question
of another sample and `silent` feeds 3 s of a quiet room's noise floor (no speech): a model
that scores as well that way has not learned to listen. A grounded answer's caption segment
is compared with the one its question rests on (`heard`): a different kind, or an answer the
asked question does not allow ("yes" to "Name the instrument"), means it was heard as another.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data.files import audio_path, load_frames
from data.schema import DataError, load_jsonl, record_key, write_jsonl, write_text
from data.score import blind_prior, format_table, is_correct_lenient, is_correct_strict, summarize
from data.synth import heard
from model.config import GraftConfig

MODES = ("audio", "text")
ABLATIONS = ("none", "shuffled", "silent")
SAMPLE_RATE = 16_000  # what the processor resamples everything to
SILENCE_S = 3.0  # about one spoken question
SILENCE_RMS = 3e-3  # a quiet room's noise floor (-50 dBFS): the processor refuses digital zeros
ID_MAX_BYTES = 64 << 20  # files hashed into a checkpoint's identity: configs, markers, projector
# what one evaluation folder holds (audio_tokens only where --audio-tokens overrode the policy)
RUN_KEYS = ("checkpoint", "data", "split", "mode", "ablation", "audio_tokens")


def write_json(path: Path, obj: dict) -> None:
    """Write JSON atomically."""
    write_text(path, json.dumps(obj, indent=1) + "\n")


def audio_sources(records: list[dict], ablation: str, seed: int = 0) -> list[dict | None]:
    """The record whose audio each sample hears: itself, another sample (shuffled), or None
    (silence). Shuffling is a seeded derangement: nobody keeps their own recording."""
    if ablation == "none":
        return list(records)
    if ablation == "silent":
        return [None] * len(records)
    if len(records) < 2:
        raise ValueError("the shuffled ablation needs at least 2 samples")
    rng = random.Random(seed)
    order = list(range(len(records)))
    rng.shuffle(order)
    # rotate by one inside the shuffled order: nobody keeps their own audio
    src = {order[i]: order[(i + 1) % len(order)] for i in range(len(order))}
    return [records[src[i]] for i in range(len(records))]


def read_done(path: Path) -> dict[tuple[str, str], dict]:
    """Rows already written by an earlier (maybe killed) run; a torn last line is dropped."""
    done: dict[tuple[str, str], dict] = {}
    if not path.is_file():
        return done
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    good = 0
    for i, line in enumerate(lines):
        if not line.strip():
            good += len(line) + 1
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # killed mid-write: cut the torn tail and redo that sample
                with path.open("r+b") as fh:
                    fh.truncate(good)
                break
            raise DataError(f"{path}:{i + 1}: malformed JSON in an earlier evaluation") from None
        done[(row["video_id"], row["id"])] = row
        good += len(line) + 1
    return done


def checkpoint_id(checkpoint: str | Path) -> str | None:
    """A digest of a checkpoint folder's top-level files (graft config, COMPLETE marker, trainer
    state, projector): training into the same folder again changes it, the big weights below
    need not be read. None for what is not a folder (a baseline's name)."""
    folder = Path(checkpoint)
    if not folder.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(p for p in folder.iterdir() if p.is_file()):
        if f.stat().st_size <= ID_MAX_BYTES:
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def check_run(out: Path, meta: dict) -> None:
    """Refuse to append to predictions made under another checkpoint, split, mode or ablation,
    or under an earlier state of the same checkpoint folder (retrained in place)."""
    run = out / "run.json"
    if not run.is_file():
        write_json(run, meta)
        return
    old = json.loads(run.read_text())
    diff = [k for k in RUN_KEYS if old.get(k) != meta.get(k)]
    if diff:
        was = ", ".join(f"{k}={old.get(k)!r}" for k in diff)
        raise SystemExit(f"{out} holds predictions of another run ({was}); choose another --out")
    if old.get("checkpoint_id") is None:  # written before identities were kept: adopt this one
        write_json(run, meta)
    elif old["checkpoint_id"] != meta.get("checkpoint_id"):
        raise SystemExit(
            f"{out} holds predictions of an earlier state of {meta['checkpoint']} (its files "
            "changed since: retrained?); remove the folder or choose another --out"
        )


def verdicts(rec: dict, prediction: str, said: str) -> dict:
    """A row's judged fields, from its record and what the model said."""
    qtype, gold = rec["question_type"], rec["short_answer"]
    return {
        **heard(rec, said, prediction),
        "strict": is_correct_strict(qtype, gold, prediction),
        "lenient": is_correct_lenient(gold, prediction),
    }


def rejudge(path: Path, done: dict, records: list[dict]) -> None:
    """Stored rows judged again by the current scorer (a metric added since costs no model
    run); the file is rewritten atomically, only when a verdict changed."""
    changed = False
    for rec in records:
        row = done.get(record_key(rec))
        if row is not None:
            new = verdicts(rec, row["prediction"], row.get("grounding", ""))
            changed |= any(row.get(k) != v for k, v in new.items())
            row.update(new)
    if changed:
        write_jsonl(path, done.values())


def predict(predictor, data: Path, rec: dict, src: dict | None, mode: str):
    frames = load_frames(data, rec)
    if mode == "text":
        return predictor.answer_text(frames, rec["question"])
    if src is None:
        rng = np.random.default_rng(0)
        audio = (rng.standard_normal(int(SILENCE_S * SAMPLE_RATE)) * SILENCE_RMS).astype(np.float32)
    else:
        audio = audio_path(data, src)
    return predictor.answer(frames, audio)


def evaluate(
    checkpoint: str | Path,
    data: str | Path,
    split: str,
    out: str | Path,
    mode: str = "audio",
    ablation: str = "none",
    limit: int = 0,
    seed: int = 0,
    device: str | None = None,
    predictor=None,
    quiet: bool = False,
    ident: str | None = None,
    audio_tokens: str | None = None,
) -> dict:
    """Evaluate and return the summary (also written to out/summary.json). ident: what the
    answers come from, when `checkpoint` is a name rather than a folder (the baselines).
    audio_tokens: another audio-token policy than the checkpoint's (full, trim, trim+pool:N)."""
    from model import Predictor  # torch-heavy: imported only when evaluating

    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    if ablation not in ABLATIONS:
        raise ValueError(f"ablation {ablation!r} is not one of {ABLATIONS}")
    if mode == "text" and ablation != "none":
        raise ValueError("audio ablations apply to --mode audio only")
    if audio_tokens is not None:
        if mode == "text":
            raise ValueError("--audio-tokens applies to --mode audio only")
        GraftConfig(audio_tokens=audio_tokens)  # a bad policy fails here, naming the valid ones
    data, out = Path(data), Path(out)
    records = load_jsonl(data / "splits" / f"{split}.jsonl")
    if limit:
        records = records[:limit]
    prior = blind_prior(load_jsonl(data / "splits" / "train.jsonl"))
    sources = audio_sources(records, ablation, seed)
    meta = {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "split": split,
        "mode": mode,
        "ablation": ablation,
        **({"audio_tokens": audio_tokens} if audio_tokens else {}),
    }
    out.mkdir(parents=True, exist_ok=True)
    check_run(out, {**meta, "checkpoint_id": ident or checkpoint_id(checkpoint)})
    pred_path = out / "predictions.jsonl"
    done = read_done(pred_path)
    rejudge(pred_path, done, records)
    todo = [(r, s) for r, s in zip(records, sources, strict=True) if record_key(r) not in done]
    if predictor is None and todo:
        predictor = Predictor.from_checkpoint(checkpoint, device=device)
    policy = predictor.audio_policy(audio_tokens) if audio_tokens and todo else nullcontext()
    with pred_path.open("a", encoding="utf-8") as fh, policy:
        bar = tqdm(
            total=len(records),
            initial=len(records) - len(todo),
            desc=f"eval {split}",
            unit="q",
            disable=quiet,
        )
        for rec, src in todo:
            ans = predict(predictor, data, rec, src, mode)
            row = {
                "id": rec["id"],
                "video_id": rec["video_id"],
                "question_type": rec["question_type"],
                "question": rec["question"],
                "answer": rec["answer"],
                "short_answer": rec["short_answer"],
                "prediction": ans.text,
                **verdicts(rec, ans.text, ans.grounding),
                "latency_ms": round(float(ans.latency_ms), 2),
                "audio_tokens": int(ans.audio_tokens),
                "vision_tokens": int(ans.vision_tokens),
            }
            if src is not None and src is not rec:
                row["audio_from"] = list(record_key(src))
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            done[record_key(rec)] = row
            bar.update(1)
        bar.close()
    keys = {record_key(r) for r in records}
    rows = [done[k] for k in (record_key(r) for r in records) if k in keys]
    summary = summarize(rows, prior)
    lat = [r["latency_ms"] for r in rows]
    summary.update(meta)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    old = out / "summary.json"
    if not todo and old.is_file():  # nothing answered anew: the predictions keep their date
        was = json.loads(old.read_text())
        summary |= {k: v for k, v in was.items() if k not in summary}  # a baseline's name
        summary["created"] = was.get("created", now)
        summary["rescored"] = now
    else:
        summary["created"] = now
    summary["latency_ms"] = {"median": float(np.median(lat)), "p90": float(np.percentile(lat, 90))}
    write_json(out / "summary.json", summary)
    return summary


def rescore(out: str | Path) -> dict:
    """Judge a finished evaluation folder again by the current scorer, from its run.json and
    stored answers alone: no model is loaded, so baselines whose models are gone rescore too.
    Keys the summary gained besides evaluate's own (a baseline's name) are kept by evaluate."""
    out = Path(out)
    if not (out / "run.json").is_file() or not (out / "summary.json").is_file():
        raise DataError(f"{out}: no finished evaluation (run.json and summary.json) to rescore")
    meta = json.loads((out / "run.json").read_text())
    records = load_jsonl(Path(meta["data"]) / "splits" / f"{meta['split']}.jsonl")
    done = read_done(out / "predictions.jsonl")
    n = sum(record_key(r) in done for r in records)  # a --limit run answered the first n
    if n == 0 or any(record_key(r) not in done for r in records[:n]):
        raise DataError(f"{out}: {n} of {len(records)} answered, not the split's first {n}")
    return evaluate(
        meta["checkpoint"], meta["data"], meta["split"], out, meta["mode"], meta["ablation"],
        limit=n, quiet=True, ident=meta.get("checkpoint_id"), audio_tokens=meta.get("audio_tokens"),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m training.evaluate", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--checkpoint", help="checkpoint folder (graft_config.json)")
    ap.add_argument("--data", help="dataset folder (splits/, frames/, audio/)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--out", help="output folder for predictions and summary")
    ap.add_argument(
        "--rescore",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="judge finished evaluation folders again by the current scorer (no model)",
    )
    ap.add_argument(
        "--mode",
        choices=MODES,
        default="audio",
        help="audio: hear the question; text: read it (baseline)",
    )
    ap.add_argument(
        "--audio-ablation",
        choices=ABLATIONS,
        default="none",
        help="shuffled: another sample's audio; silent: no speech (noise floor)",
    )
    ap.add_argument(
        "--audio-tokens",
        metavar="POLICY",
        help="audio-token policy instead of the checkpoint's: full, trim or trim+pool:N",
    )
    ap.add_argument("--limit", type=int, default=0, help="first N samples only (0: all)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the shuffled ablation")
    ap.add_argument("--device", default=None, help="torch device (default: the predictor's)")
    args = ap.parse_args(argv)
    if args.rescore:
        return _rescore_all(args.rescore)
    if not (args.checkpoint and args.data and args.out):
        ap.error("--checkpoint, --data and --out are required (or --rescore DIR ...)")
    if args.audio_tokens:
        try:
            GraftConfig(audio_tokens=args.audio_tokens)
        except ValueError as e:
            ap.error(str(e))
    t0 = time.time()
    try:
        s = evaluate(
            args.checkpoint,
            args.data,
            args.split,
            args.out,
            args.mode,
            args.audio_ablation,
            args.limit,
            args.seed,
            args.device,
            audio_tokens=args.audio_tokens,
        )
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_table(s))
    print(
        f"mode {s['mode']}, ablation {s['ablation']}, {s['n']} samples in {time.time() - t0:.0f}s"
        f" -> {args.out}"
    )
    return 0


def _rescore_all(folders: list[Path]) -> int:
    """Rescore each folder; a bad one is reported and the others still go."""
    failed = 0
    for out in folders:
        try:
            s = rescore(out)
        except DataError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        heard = (s.get("heard") or {}).get("rate")
        said = f", heard as asked {heard:.1%}" if heard is not None else ""
        print(f"{out}: strict {s['strict']['accuracy']:.1%}{said} ({s['n']} answers)")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

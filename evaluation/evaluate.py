"""Evaluate a checkpoint on one split: per-sample predictions and a scored summary.

    python -m evaluation.evaluate --checkpoint checkpoints/demo --data data/demo --split test \
        --out checkpoints/demo/eval [--mode audio|text] [--audio-ablation shuffled|silent] \
        [--audio-tokens full|trim|trim+pool:N]
    python -m evaluation.evaluate --rescore checkpoints/demo/eval*   # finished runs, no model

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
The run folder's bookkeeping (lock, stored answers, identity, rescoring) is evaluation.runfolder;
what stays is the answering loop and its command line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data.facts import heard
from data.files import audio_path, load_frames, read_split, split_path
from data.schema import DataError, record_key, write_jsonl
from data.score import blind_prior, format_table, is_correct_lenient, is_correct_strict, summarize
from evaluation.runfolder import check_run, checkpoint_id, dated, earlier, holding, rescoring
from model.cli import boundary, describe, int_in
from model.config import GraftConfig
from model.constants import SAMPLE_RATE
from model.layout import CONFIG_NAME, PREDICTIONS_FILE, SUMMARY_FILE, is_checkpoint, write_json

MODES = ("audio", "text")
ABLATIONS = ("none", "shuffled", "silent")

SILENCE_S = 3.0  # about one spoken question
NOISE_RMS = 3e-3  # a quiet room's noise floor (-50 dBFS): the intake refuses digital zeros


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
        audio = (rng.standard_normal(int(SILENCE_S * SAMPLE_RATE)) * NOISE_RMS).astype(np.float32)
    else:
        audio = audio_path(data, src)
    return predictor.answer(frames, audio)


@dataclass(frozen=True)
class EvalOptions:
    """One evaluation: what answers (a checkpoint folder, or a baseline's name), on which split
    of which data folder, into which folder, and how. Checked when made: a bad mode, ablation
    or audio-token policy is a ValueError before anything is read."""

    checkpoint: str | Path
    data: Path
    split: str
    out: Path
    mode: str = "audio"  # audio: hear the question; text: read it (baseline)
    ablation: str = "none"  # shuffled: another sample's audio; silent: no speech
    limit: int = 0  # the split's first N samples only (0: all)
    seed: int = 0  # of the shuffled ablation
    device: str | None = None  # torch device of a predictor loaded here
    quiet: bool = False  # no progress bar
    ident: str | None = None  # what the answers come from when `checkpoint` is a name
    audio_tokens: str | None = None  # another audio-token policy than the checkpoint's
    skip_bad: bool = False  # bad lines and unreadable samples reported and left out

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "out", Path(self.out))
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} is not one of {MODES}")
        if self.ablation not in ABLATIONS:
            raise ValueError(f"ablation {self.ablation!r} is not one of {ABLATIONS}")
        if self.mode == "text" and self.ablation != "none":
            raise ValueError("audio ablations apply to --mode audio only")
        if self.audio_tokens is not None:
            if self.mode == "text":
                raise ValueError("--audio-tokens applies to --mode audio only")
            GraftConfig(audio_tokens=self.audio_tokens)  # a bad policy fails here, naming the valid

    def meta(self) -> dict:
        """What the answers come from, as run.json and the summary keep it."""
        return {
            "checkpoint": str(self.checkpoint),
            "data": str(self.data),
            "split": self.split,
            "mode": self.mode,
            "ablation": self.ablation,
            **({"audio_tokens": self.audio_tokens} if self.audio_tokens else {}),
        }


def evaluate(opts: EvalOptions, predictor=None) -> dict:
    """Evaluate and return the summary (also written into opts.out). predictor: a live one to
    answer with (else the checkpoint's is loaded, only when a sample is left to answer).
    With opts.skip_bad, bad split lines and samples whose frames or recording cannot be read
    are reported and left out (listed in the summary's `skipped`) instead of stopping the run.
    Raises DataError for bad data and when another process writes opts.out."""
    records = read_split(opts.data, opts.split, skip_bad=opts.skip_bad)
    if opts.limit:
        records = records[: opts.limit]
    if not records:
        raise DataError(f"{split_path(opts.data, opts.split)}: no records to evaluate")
    train = read_split(opts.data, "train", skip_bad=opts.skip_bad)
    if not train:
        raise DataError(
            f"{split_path(opts.data, 'train')}: no records, so no blind prior to judge against"
        )
    prior = blind_prior(train)
    sources = audio_sources(records, opts.ablation, opts.seed)
    opts.out.mkdir(parents=True, exist_ok=True)
    with holding(opts.out):
        ident = opts.ident or checkpoint_id(opts.checkpoint)
        check_run(opts.out, {**opts.meta(), "checkpoint_id": ident})
        return _run(opts, predictor, records, sources, prior)


def _run(opts: EvalOptions, predictor, records: list[dict], sources: list, prior: dict) -> dict:
    """evaluate's answering and summary, under the folder's lock."""
    from model import AudioError, Predictor  # torch-heavy: imported only when evaluating
    from model.checkpoint import CheckpointError

    out = opts.out
    pred_path = out / PREDICTIONS_FILE
    done, was, skipped = earlier(out)
    rejudge(pred_path, done, records)
    todo = [
        (r, s)
        for r, s in zip(records, sources, strict=True)
        if record_key(r) not in done and (not opts.skip_bad or record_key(r) not in skipped)
    ]
    if not opts.skip_bad:
        skipped = {}
    if predictor is None and todo:
        try:
            predictor = Predictor.from_checkpoint(opts.checkpoint, device=opts.device)
        except (CheckpointError, FileNotFoundError) as e:  # they name the file at fault
            raise DataError(str(e)) from e
    policy = (
        predictor.audio_policy(opts.audio_tokens) if opts.audio_tokens and todo else nullcontext()
    )
    bar = tqdm(
        total=len(records),
        initial=len(records) - len(todo),
        desc=f"eval {opts.split}",
        unit="q",
        disable=opts.quiet,
    )
    with pred_path.open("a", encoding="utf-8") as fh, policy, bar:  # an error starts a new line
        for rec, src in todo:
            try:
                ans = predict(predictor, opts.data, rec, src, opts.mode)
            except (DataError, AudioError) as e:  # a broken frame or recording of this sample
                if not opts.skip_bad:
                    raise DataError(f"sample {record_key(rec)}: {e} (--skip-bad skips it)") from e
                skipped[record_key(rec)] = str(e)
                bar.write(f"skipping sample {record_key(rec)}: {e}", file=sys.stderr)
                continue
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
                # mean log-probability of its tokens: what app.confidence calibrates
                "score": None if ans.score is None else round(float(ans.score), 4),
            }
            if src is not None and src is not rec:
                row["audio_from"] = list(record_key(src))
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            done[record_key(rec)] = row
            bar.update(1)
    rows = [done[k] for k in (record_key(r) for r in records) if k in done]
    if not rows:
        raise DataError(f"{out}: no sample could be answered ({len(skipped)} skipped)")
    summary = summarize(rows, prior)
    lat = [r["latency_ms"] for r in rows]
    summary.update(opts.meta())
    summary["skipped"] = [[list(k), why] for k, why in skipped.items()]
    dated(summary, was, answered=bool(todo))
    summary["latency_ms"] = {"median": float(np.median(lat)), "p90": float(np.percentile(lat, 90))}
    write_json(out / SUMMARY_FILE, summary)
    return summary


def rescore(out: str | Path) -> dict:
    """Judge a finished evaluation folder again by the current scorer, from its run metadata and
    stored answers alone: no model is loaded, so baselines whose models are gone rescore too.
    Keys the summary gained besides evaluate's own (a baseline's name) are kept by evaluate."""
    out = Path(out)
    with rescoring(out) as (meta, n, skip_bad):
        opts = EvalOptions(
            meta["checkpoint"], meta["data"], meta["split"], out, meta["mode"], meta["ablation"],
            limit=n, quiet=True, ident=meta.get("checkpoint_id"),
            audio_tokens=meta.get("audio_tokens"), skip_bad=skip_bad,
        )  # fmt: skip
        return evaluate(opts)


@boundary
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m evaluation.evaluate", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--checkpoint", help=f"checkpoint folder ({CONFIG_NAME})")
    ap.add_argument("--data", help="dataset folder (splits/, frames/, audio/)")
    ap.add_argument("--split", default="test", help="split name (splits/NAME.jsonl)")
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
    ap.add_argument("--limit", type=int_in(0), default=0, help="first N samples only (0: all)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the shuffled ablation")
    ap.add_argument("--device", default=None, help="torch device (default: the predictor's)")
    ap.add_argument(
        "--skip-bad",
        action="store_true",
        help="report bad split lines and unreadable frames or recordings, leave them out",
    )
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
    if not is_checkpoint(args.checkpoint):
        print(f"error: {args.checkpoint}: not a checkpoint (no {CONFIG_NAME})", file=sys.stderr)
        return 2
    opts = EvalOptions(
        args.checkpoint, args.data, args.split, args.out, args.mode, args.audio_ablation,
        args.limit, args.seed, args.device, audio_tokens=args.audio_tokens,
        skip_bad=args.skip_bad,
    )  # fmt: skip
    t0 = time.time()
    try:
        s = evaluate(opts)
    except DataError as e:
        print(f"error: {describe(e)}", file=sys.stderr)
        return 2
    print(format_table(s))
    skipped = f", {len(s['skipped'])} skipped" if s["skipped"] else ""
    print(
        f"mode {s['mode']}, ablation {s['ablation']}, {s['n']} samples{skipped} in "
        f"{time.time() - t0:.0f}s -> {args.out}"
    )
    return 0


def _rescore_all(folders: list[Path]) -> int:
    """Rescore each folder; a bad one is reported and the others still go."""
    failed = 0
    for out in folders:
        try:
            s = rescore(out)
        except DataError as e:
            print(f"error: {describe(e)}", file=sys.stderr)
            failed += 1
            continue
        heard = (s.get("heard") or {}).get("rate")
        said = f", heard as asked {heard:.1%}" if heard is not None else ""
        print(f"{out}: strict {s['strict']['accuracy']:.1%}{said} ({s['n']} answers)")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

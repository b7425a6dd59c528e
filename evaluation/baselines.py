"""Baselines through the evaluator's own harness: blind prior, zero-shot base, ASR cascade, oracle.

    python -m evaluation.baselines --checkpoint checkpoints/demo --data data/demo --split test \
        --runs runs [--only prior,zero-shot,asr,oracle] \
        [--asr runs/whisper-tiny.en] [--reader runs/reader]

Each baseline goes through evaluation.evaluate.evaluate with its own predictor, so it writes the
same evaluation folder RUNS/baseline-<name>/ (predictions and summary) as a model run (the
summary adds `baseline` and `baseline_detail`), and the Results page shows them side by side.
- prior: each question type's most frequent train answer; looks at nothing (the question text
  only tells it the type).
- zero-shot: the base without fine-tuning, reading the question as text. Tiny checkpoints
  (train=full) hold a fine-tuned base, so their zero-shot model is the same architecture and
  tokenizer with fresh weights (what model.tiny.build makes); LoRA checkpoints use the
  pretrained base Qwen2-VL without the adapter.
- asr: the original's baseline 3. A pretrained Whisper (--asr: a saved Whisper folder; the
  demo's is tiny.en from `python -m model.whisper_ct2 --out runs/whisper-tiny.en`) transcribes
  the audio with stock decoding (30 s window, greedy) and a fine-tuned checkpoint, the reader,
  reads the transcript as text (Predictor.answer_text). Transcripts go to transcripts.jsonl
  beside the predictions; the summary and the run's metadata record the ASR (`asr`). The reader is
  --reader (a checkpoint taught to read questions: `training.train --recipe reader --model
  CKPT`), else --checkpoint itself (an audio checkpoint never read a question as text).
- oracle: the cascade with a perfect ASR: the reader reads the reference question. The ceiling
  of any cascade with this reader.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from data.files import read_split
from data.schema import DataError
from data.score import blind_prior, format_table
from evaluation.evaluate import EvalOptions, evaluate
from evaluation.runfolder import checkpoint_id, read_json
from model.cli import boundary, int_in
from model.layout import RUN_FILE, SUMMARY_FILE, write_json

NAMES = ("prior", "zero-shot", "asr", "oracle")


def answer(text: str, t0: float, mode: str, **kw):
    from model.predictor import Answer

    ms = (time.perf_counter() - t0) * 1000
    base = dict(audio_tokens=0, vision_tokens=0, cached_prefix=False, new_tokens=0)
    return Answer(text=text, latency_ms=ms, mode=mode, **(base | kw))


class BlindPrior:
    """Answers each question with its type's most frequent train answer."""

    def __init__(self, prior: dict[str, str], records: list[dict]):
        self.prior = prior
        self.qtype: dict[str, str] = {}
        for r in records:  # the question text names the type; nothing else is read
            old = self.qtype.setdefault(r["question"], r["question_type"])
            if old != r["question_type"]:
                raise DataError(
                    f"question {r['question']!r} has types {old} and {r['question_type']}: "
                    "the prior cannot tell them apart"
                )
        missing = sorted(set(self.qtype.values()) - set(prior))
        if missing:
            raise DataError(f"no train records of types {missing}: no prior answer for them")

    def answer_text(self, frames, question: str, use_cache: bool = True):
        t0 = time.perf_counter()
        return answer(self.prior[self.qtype[question]], t0, "prior")

    def answer(self, frames, audio, sr: int = 16_000, use_cache: bool = True):
        raise TypeError("the blind prior runs in text mode (it hears nothing)")


class Cascade:
    """ASR -> transcript -> the VLM reading it as text; timing covers both."""

    def __init__(self, predictor, asr, record_transcripts: bool = True):
        self.predictor, self.asr = predictor, asr
        self.transcripts: list[dict] = []
        self.record = record_transcripts

    def answer(self, frames, audio, sr: int = 16_000, use_cache: bool = True):
        t0 = time.perf_counter()
        tr = self.asr.transcribe(audio, sr)
        a = self.predictor.answer_text(frames, tr.text, use_cache=use_cache)
        if self.record:
            self.transcripts.append(
                {"audio": str(audio), "transcript": tr.text, "asr_ms": round(tr.latency_ms, 2)}
            )
        return answer(
            a.text,
            t0,
            "asr",
            vision_tokens=a.vision_tokens,
            new_tokens=a.new_tokens,
            cached_prefix=a.cached_prefix,
            grounding=a.grounding,
        )

    def answer_text(self, frames, question: str, use_cache: bool = True):
        return self.predictor.answer_text(frames, question, use_cache=use_cache)


def zero_shot_predictor(checkpoint: str | Path, device: str | None = None, seed: int = 0):
    """The base model without fine-tuning, with the checkpoint's tokenizer and processor."""
    import torch
    from transformers import AutoConfig, WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from model.checkpoint import build_model, pick_device, resolve
    from model.config import GraftConfig
    from model.constants import AUDIO_PAD
    from model.graft import AudioQwen2VL
    from model.predictor import Predictor
    from model.processor import GraftProcessor

    checkpoint = Path(checkpoint)
    cfg = GraftConfig.from_json(checkpoint)
    cfg.answer_format = "plain"  # never taught to ground: all it says is its answer
    dev = pick_device(device)
    if cfg.train == "lora":  # pretrained base, no adapter (the projector is unused in text mode)
        model, processor = build_model(cfg, dev, folder=checkpoint)
        return Predictor(model, processor)
    processor = GraftProcessor.from_pretrained(checkpoint, cfg)
    qcfg = AutoConfig.from_pretrained(resolve(checkpoint, cfg.base_model))
    wcfg = WhisperConfig.from_pretrained(resolve(checkpoint, cfg.audio_encoder))
    torch.manual_seed(seed)
    model = AudioQwen2VL(qcfg)
    model.attach(WhisperEncoder(wcfg), cfg, processor.ids[AUDIO_PAD])
    return Predictor(model.to(dev), processor)


def _finish(out: Path, name: str, detail: str, summary: dict) -> dict:
    summary["baseline"] = name
    summary["baseline_detail"] = detail
    write_json(out / SUMMARY_FILE, summary)
    return summary


def run_prior(data: Path, split: str, out: Path, limit: int = 0) -> dict:
    records = read_split(data, split)
    prior = blind_prior(read_split(data, "train"))
    pred = BlindPrior(prior, records)
    s = evaluate(
        EvalOptions("baseline:prior", data, split, out, mode="text", limit=limit), predictor=pred
    )
    return _finish(out, "prior", "most frequent train answer per question type", s)


def run_zero_shot(
    checkpoint: Path, data: Path, split: str, out: Path, limit: int = 0, device: str | None = None
) -> dict:
    pred = zero_shot_predictor(checkpoint, device)
    ref = f"baseline:zero-shot:{checkpoint}"
    s = evaluate(
        EvalOptions(
            ref, data, split, out, mode="text", limit=limit, ident=checkpoint_id(checkpoint)
        ),
        predictor=pred,
    )
    kind = "pretrained base, no adapter" if pred.cfg.train == "lora" else "untrained tiny base"
    return _finish(out, "zero-shot", f"{kind}; question as text", s)


def run_asr(
    checkpoint: Path,
    data: Path,
    split: str,
    out: Path,
    asr_ref: str | Path,
    limit: int = 0,
    device: str | None = None,
    reader: Path | None = None,
) -> dict:
    from evaluation.asr import Transcriber
    from model import Predictor
    from model.checkpoint import pick_device

    dev = str(pick_device(device))
    asr = Transcriber.from_pretrained(asr_ref, device=dev)  # first: a bad folder fails at once
    checkpoint = reader or checkpoint  # the checkpoint that reads the transcript
    pred = Predictor.from_checkpoint(checkpoint, device=dev)
    cas = Cascade(pred, asr)
    s = evaluate(
        EvalOptions(
            f"baseline:asr:{checkpoint}:{asr_ref}",
            data,
            split,
            out,
            mode="audio",
            limit=limit,
            ident=f"{checkpoint_id(checkpoint)}:{checkpoint_id(asr_ref)}",
        ),
        predictor=cas,
    )
    _append_transcripts(out, data, cas.transcripts)
    run = read_json(out / RUN_FILE)
    write_json(out / RUN_FILE, run | {"asr": asr.describe()})
    s["asr"] = asr.describe()
    return _finish(out, "asr", f"ASR {asr_ref} -> {checkpoint} reading the transcript", s)


def run_oracle(
    reader: Path, data: Path, split: str, out: Path, limit: int = 0, device: str | None = None
) -> dict:
    from model import Predictor

    pred = Predictor.from_checkpoint(reader, device=device)
    s = evaluate(
        EvalOptions(
            f"baseline:oracle:{reader}",
            data,
            split,
            out,
            mode="text",
            limit=limit,
            ident=checkpoint_id(reader),
        ),
        predictor=pred,
    )
    return _finish(out, "oracle", f"perfect ASR: {reader} reading the reference question", s)


def _append_transcripts(out: Path, data: Path, rows: list[dict]) -> None:
    """One line per transcribed audio file (a transcript depends on the file alone)."""
    with (out / "transcripts.jsonl").open("a", encoding="utf-8") as fh:
        for row in rows:
            path = Path(row["audio"])
            rel = path.relative_to(data) if path.is_relative_to(data) else path
            fh.write(json.dumps({**row, "audio": str(rel)}, ensure_ascii=False) + "\n")


@boundary
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m evaluation.baselines", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--data", type=Path, required=True, help="dataset folder (splits/, audio/)")
    ap.add_argument("--checkpoint", type=Path, help="needed by zero-shot and asr")
    ap.add_argument("--split", default="test", help="split to answer (default test)")
    ap.add_argument("--runs", type=Path, default=Path("runs"), help="parent of PREFIX<name>/")
    ap.add_argument(
        "--prefix", default="baseline-", help="run folder prefix (eval-baseline-: in a checkpoint)"
    )
    ap.add_argument("--only", default=",".join(NAMES), help=f"comma list of {', '.join(NAMES)}")
    ap.add_argument(
        "--asr",
        type=Path,
        default=Path("runs/whisper-tiny.en"),
        help="saved Whisper folder transcribing for asr (`python -m model.whisper_ct2 --out DIR`)",
    )
    ap.add_argument(
        "--reader", type=Path, help="checkpoint reading asr/oracle text (default: --checkpoint)"
    )
    ap.add_argument("--limit", type=int_in(0), default=0, help="first N samples only (0: all)")
    ap.add_argument("--device", default=None, help="cuda | cpu (default: cuda when available)")
    ap.add_argument("--threads", type=int_in(1), default=1, help="torch threads (shared CPU: 1)")
    args = ap.parse_args(argv)
    from evaluation.asr import AsrError, check_folder  # torch: not for --help

    names = [n.strip() for n in args.only.split(",") if n.strip()]
    bad = sorted(set(names) - set(NAMES))
    if bad:
        ap.error(f"unknown baselines {bad}; known: {', '.join(NAMES)}")
    if set(names) - {"prior"} and args.checkpoint is None:
        ap.error("zero-shot, asr and oracle need --checkpoint")
    if args.reader is not None and not args.reader.is_dir():
        ap.error(f"--reader {args.reader}: no such checkpoint folder")
    if "asr" in names:
        try:
            check_folder(args.asr)
        except AsrError as e:
            ap.exit(2, f"error: --asr {e}\n")
    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(args.threads)

    hf_logging.set_verbosity_error()  # generate's per-call notes would bury the progress bars
    try:
        for name in names:
            out = args.runs / f"{args.prefix}{name}"
            if name == "prior":
                s = run_prior(args.data, args.split, out, args.limit)
            elif name == "zero-shot":
                s = run_zero_shot(
                    args.checkpoint, args.data, args.split, out, args.limit, args.device
                )
            elif name == "asr":
                s = run_asr(args.checkpoint, args.data, args.split, out, args.asr, args.limit,
                            args.device, reader=args.reader)  # fmt: skip
            else:
                reader = args.reader or args.checkpoint
                s = run_oracle(reader, args.data, args.split, out, args.limit, args.device)
            print(f"== baseline {name}: {s['baseline_detail']} -> {out}")
            print(format_table(s))
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except AsrError as e:  # a folder whose config.json looked right but does not load
        print(f"error: --asr {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

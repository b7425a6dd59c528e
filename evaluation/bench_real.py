"""Real-scale GPU benchmark: the Qwen2-VL-7B + Whisper large-v3-turbo graft at its true shapes.

    python -m evaluation.bench --real-shapes                # CUDA only: measures, writes the report
    python -m evaluation.bench --real-shapes --plan         # no GPU: the token arithmetic alone

Random-weight stand-ins (model.standin, full depth unless --depth cut) go through the 7B's own
path (build_model, NF4 via bitsandbytes, LoRA as in training.train, Predictor). Every figure is
measured with torch.cuda: memory by memory_allocated / max_memory_allocated, time between CUDA
events around whole calls (preprocessing included) after warm-up runs. Random weights never stop
by themselves, so every decode length is a fixed budget (min = max new tokens), stated in the
report: `--answer-tokens` per answer, `--transcript-tokens` for the cascade's Whisper.

What it measures (docs/benchmarks-gpu.md; the JSON beside it names the device):
1. memory: weights in NF4 and in bf16; the peak of one QLoRA step (batch 1, gradient
   checkpointing, 8 frames at 384 px, LoRA r=64 on the decoder projections);
2. batch 1, bf16 (and NF4 beside it): answer latency p50/p95 and time to first token, the graft
   vs the cascade (Whisper large-v3-turbo decodes a fixed-length transcript, then the 7B reads a
   question of about that length; its time to first token includes the whole transcript);
3. each audio-token policy (full, trim, trim+pool:2, trim+pool:4);
4. a second question on the same clip with the prefix cache on vs recomputing the prefix;
5. throughput with `--batch` questions a call, graft vs cascade.
The sections run with the targets' figures first (bench_real_report.SECTIONS); the report is written
after each one; a section that fails is recorded with its error and the others still run, so
one short GPU session yields every figure it can.

One benchmark read top to bottom (arithmetic, inputs, meter, the measured sections, the CLI), so
longer than most modules; its report is evaluation.bench_real_report (no torch).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import platform
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from evaluation.bench_real_report import (
    DEMO_SIDE,
    FRAMES,
    GB,
    NOT_MEASURED,
    POLICIES,
    QUESTION,
    SECTIONS,
    SEED_SIDE,
    SPEECH_S,
    render,
    summarise,
    targets,
)
from model.cli import boundary


# -- arithmetic (no GPU) -------------------------------------------------------------------
def param_counts(depth) -> dict[str, int]:
    """Parameters of each part, counted on meta-device models built from the configs."""
    import torch
    from transformers import Qwen2VLForConditionalGeneration, WhisperForConditionalGeneration

    from model.standin import qwen_config, whisper_config

    with torch.device("meta"):
        q = Qwen2VLForConditionalGeneration(qwen_config(depth))
        w = WhisperForConditionalGeneration(whisper_config(depth))
    lm = q.model.language_model
    linear = sum(
        m.weight.numel()
        for n, m in lm.named_modules()
        if isinstance(m, torch.nn.Linear) and ".layers." in f".{n}"
    )
    t = q.config.text_config
    return {
        "qwen": sum(p.numel() for p in q.parameters()),
        "qwen_decoder_linear": linear,  # what NF4 quantises (vision tower and head stay bf16)
        "whisper": sum(p.numel() for p in w.parameters()),
        "whisper_encoder": sum(p.numel() for p in w.model.encoder.parameters()),
        "projector": w.config.d_model * t.hidden_size + t.hidden_size,
        "text_layers": t.num_hidden_layers,
        "kv_heads": t.num_key_value_heads,
        "head_dim": t.hidden_size // t.num_attention_heads,
    }


def prompt_tokens(speech_s: float = SPEECH_S) -> dict:
    """Placeholders and whole prompts for 8 frames, computed with the stand-in processor."""
    from transformers import WhisperFeatureExtractor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    from model.config import GraftConfig
    from model.constants import AUDIO_PAD, AUDIO_SPECIAL, IMAGE_PAD
    from model.processor import GraftProcessor
    from model.standin import qwen_tokenizer

    tok = qwen_tokenizer()
    tok.add_tokens(list(AUDIO_SPECIAL), special_tokens=True)
    cfg = GraftConfig()
    proc = GraftProcessor(tok, Qwen2VLImageProcessorPil(), WhisperFeatureExtractor(128), cfg)
    audio = speech(speech_s)
    out: dict = {"speech_s": speech_s, "frames": FRAMES, "per_frame": {}, "prompt": {}}
    for side in (DEMO_SIDE, SEED_SIDE):
        cfg.image_max_side = side
        x = proc(clip(side, FRAMES), audio=audio)
        out["per_frame"][str(side)] = int((x["input_ids"] == proc.ids[IMAGE_PAD]).sum()) // FRAMES
    cfg.image_max_side = SEED_SIDE
    out["audio"] = {}
    for policy in POLICIES:
        cfg.audio_tokens = policy
        x = proc(clip(SEED_SIDE, FRAMES), audio=audio)
        out["audio"][policy] = int((x["input_ids"] == proc.ids[AUDIO_PAD]).sum())
        out["prompt"][policy] = int(x["input_ids"].shape[1])
    out["prefix"] = proc.prefix_length(x["input_ids"])
    out["question_tokens"] = len(tok.encode(QUESTION, add_special_tokens=False))
    return out


def arithmetic(depth=None, speech_s: float = SPEECH_S) -> dict:
    """Token and byte arithmetic from the configs (no measurement)."""
    from model.standin import FULL

    p = param_counts(depth or FULL)
    t = prompt_tokens(speech_s)
    kv_per_token = 2 * p["text_layers"] * p["kv_heads"] * p["head_dim"] * 2  # K and V, bf16
    graft = p["qwen"] + p["whisper_encoder"] + p["projector"]
    nf4_bits = 4 + 8 / 64 + 32 / (64 * 256)  # NF4 + double-quantised absmax (QLoRA paper)
    nf4 = p["qwen_decoder_linear"] * nf4_bits / 8 + (graft - p["qwen_decoder_linear"]) * 2
    return {
        "params": p,
        "tokens": t,
        "kv_bytes_per_token": kv_per_token,
        "prefix_kv_mb": kv_per_token * t["prefix"] / 2**20,
        "graft_params": graft,
        "weights_bf16_gb": graft * 2 / GB,
        "weights_nf4_gb": nf4 / GB,
    }


# -- inputs --------------------------------------------------------------------------------
def clip(side: int, n: int = FRAMES, seed: int = 0) -> list:
    """n random square frames: pixels do not change the cost, only the size does."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)) for _ in range(n)
    ]


def speech(seconds: float = SPEECH_S, pitch: float = 200.0) -> np.ndarray:
    """A made-up spoken question of `seconds`: a gliding tone at speech level."""
    t = np.arange(int(seconds * 16_000)) / 16_000
    return (0.3 * np.sin(2 * np.pi * (pitch + 100 * t) * t)).astype(np.float32)


# -- measurement helpers --------------------------------------------------------------------
class Meter:
    """Time and memory on the benchmark's device: CUDA events and the allocator's statistics on
    a GPU. On the CPU (the test's rehearsal on a tiny model) perf_counter, and no memory."""

    def __init__(self, device: str):
        import torch

        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"

    def call_ms(self, fn: Callable[[], object]) -> float:
        import torch

        if not self.cuda:
            t = time.perf_counter()
            fn()
            return (time.perf_counter() - t) * 1000
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        return a.elapsed_time(b)

    def timed(self, fn: Callable[[], object], runs: int, warmup: int = 2) -> dict:
        """stats of `runs` calls after `warmup` untimed ones."""
        for _ in range(warmup):
            fn()
        self.sync()
        return self.stats([self.call_ms(fn) for _ in range(runs)])

    @staticmethod
    def stats(ms: list[float]) -> dict:
        from evaluation.bench_report import stats

        return stats(ms)

    def sync(self) -> None:
        import torch

        if self.cuda:
            torch.cuda.synchronize()

    def reset(self) -> None:
        """Free what is unreferenced and restart the peak statistics."""
        import torch

        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    def allocated(self) -> int | None:
        import torch

        return torch.cuda.memory_allocated() if self.cuda else None

    def peak(self) -> int | None:
        import torch

        return torch.cuda.max_memory_allocated() if self.cuda else None

    def peak_reserved(self) -> int | None:
        import torch

        return torch.cuda.max_memory_reserved() if self.cuda else None


def gb(n_bytes: float | None) -> float | None:
    return None if n_bytes is None else float(n_bytes) / GB


def fixed_predictor(model, proc, tokens: int):
    """A Predictor that always decodes exactly `tokens` (random weights never stop)."""
    from model.predictor import Predictor

    class Fixed(Predictor):
        def _gen_kwargs(self) -> dict:
            return super()._gen_kwargs() | {"min_new_tokens": self.max_new_tokens}

    return Fixed(model, proc, max_new_tokens=tokens)


@contextlib.contextmanager
def budget(pred, tokens: int):
    old = pred.max_new_tokens
    pred.max_new_tokens = tokens
    try:
        yield
    finally:
        pred.max_new_tokens = old


# -- the benchmark -------------------------------------------------------------------------
class RealBench:
    """Every measurement of the report, on `device` (CUDA for the report; CPU in the test)."""

    def __init__(
        self,
        qwen: Path,
        whisper: Path,
        a: argparse.Namespace,
        device: str = "cuda",
        progress: Callable[[str], None] = lambda _: None,
    ):
        self.qwen, self.whisper, self.a, self.progress = qwen, whisper, a, progress
        self.meter = Meter(device)
        self.frames = clip(a.side, FRAMES)
        self.audio = speech(a.speech_seconds)
        self.audio2 = speech(a.speech_seconds, pitch=260.0)  # a second question, same clip

    def build(self, quantize: bool):
        from model.checkpoint import build_model
        from model.config import GraftConfig

        cfg = GraftConfig(
            base_model=str(self.qwen), audio_encoder=str(self.whisper), image_max_side=self.a.side
        )
        self.meter.reset()
        before = self.meter.allocated()
        # bf16 weights and compute on CUDA (load_base's default there), NF4 when quantize
        model, proc = build_model(cfg, self.meter.device, quantize=quantize)
        self.meter.sync()
        after = self.meter.allocated()
        return model, proc, None if after is None else gb(after - before)

    def batch1(self, pred, audio, use_cache: bool = False) -> dict:
        """Answer latency and time to first token at batch 1."""
        a, out = self.a, {}
        for tokens, tag in ((a.answer_tokens, "answer"), (1, "ttft")):
            with budget(pred, tokens):
                out[tag] = self.meter.timed(
                    lambda: pred.answer(self.frames, audio, use_cache=use_cache), a.runs
                )
        return out

    def policies(self, pred) -> dict:
        out = {}
        for name in POLICIES:
            with pred.audio_policy(name):
                row = {"audio_tokens": pred.answer(self.frames, self.audio).audio_tokens}
                row |= self.batch1(pred, self.audio)
            out[name] = row
        return out

    def prefix_cache(self, pred) -> dict:
        """The second question on a clip whose first was answered: cached vs recomputed."""
        a, out = self.a, {}
        pred.clear_cache()
        pred.answer(self.frames, self.audio, use_cache=True)  # question 1 fills the cache
        # (the uncached calls neither read nor evict it, so every cached call hits it)
        for tokens, tag in ((1, "ttft"), (a.answer_tokens, "answer")):
            with budget(pred, tokens):
                for use, name in ((True, "cached"), (False, "recomputed")):
                    out[f"{tag}_{name}"] = self.meter.timed(
                        lambda use=use: pred.answer(self.frames, self.audio2, use_cache=use),
                        a.runs,
                    )
        out["cache_hit"] = bool(pred.answer(self.frames, self.audio2).cached_prefix)
        pred.clear_cache()
        return out

    def cascade(self, reader, asr) -> dict:
        """Whisper decodes `transcript_tokens`, then the 7B reads QUESTION (batch 1)."""
        a = self.a
        out = {"asr": self.meter.timed(lambda: asr.transcribe(self.audio), a.runs)}
        out["asr_steps"] = asr.transcribe(self.audio).tokens  # decoder steps of one transcript

        def both():
            asr.transcribe(self.audio)
            return reader.answer_text(self.frames, QUESTION, use_cache=False)

        for tokens, tag in ((a.answer_tokens, "answer"), (1, "ttft")):
            with budget(reader, tokens):
                out[tag] = self.meter.timed(both, a.runs)
        return out

    def batched(self, pred, asr) -> dict:
        a = self.a
        clips = [clip(a.side, FRAMES, seed=i) for i in range(a.batch)]
        audios = [speech(a.speech_seconds, 180.0 + 10 * i) for i in range(a.batch)]
        graft_items = [{"frames": c, "audio": x} for c, x in zip(clips, audios, strict=True)]
        text_items = [{"frames": c, "question": QUESTION} for c in clips]

        def cascade():
            asr.transcribe_batch(audios)
            pred.answer_batch(text_items, batch_size=a.batch)

        with budget(pred, a.answer_tokens):
            g = self.meter.timed(lambda: pred.answer_batch(graft_items, batch_size=a.batch), a.runs)
            c = self.meter.timed(cascade, a.runs)
        return {
            "batch": a.batch,
            "graft": g | {"samples_per_s": a.batch * 1000 / g["p50_ms"]},
            "cascade": c | {"samples_per_s": a.batch * 1000 / c["p50_ms"]},
        }

    def qlora_step(self, model, proc) -> dict:
        """Peak memory and time of a QLoRA step, the model prepared as training.train does."""
        import torch
        from peft import get_peft_model, prepare_model_for_kbit_training

        from model.graft import lora_config, set_trainable

        cfg, dev = proc.cfg, self.meter.device
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=True,
            gradient_checkpointing_kwargs={"use_reentrant": False},  # training.trainer's default
        )
        model = get_peft_model(model, lora_config(cfg))
        if self.meter.cuda:  # training.train's bf16 LoRA weights on CUDA
            for n, p in model.named_parameters():
                if "lora_" in n:
                    p.data = p.data.to(torch.bfloat16)
        set_trainable(model, cfg)
        sample = proc(self.frames, audio=self.audio, answer="The scope is primarily advancing.")
        batch = {k: v.to(dev) for k, v in proc.collate([sample]).items()}
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        model.train()

        def step() -> None:
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=self.meter.cuda):
                loss = model(**batch).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        step()  # warm-up: allocates the optimizer state
        self.meter.reset()
        times = [self.meter.call_ms(step) for _ in range(self.a.train_steps)]
        return {
            "tokens": int(batch["input_ids"].shape[1]),
            "peak_gb": gb(self.meter.peak()),
            "peak_reserved_gb": gb(self.meter.peak_reserved()),
            "step_ms": self.meter.stats(times),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        }

    def asr_model(self):
        """The cascade's Whisper (encoder + decoder) from the stand-in folder."""
        import torch
        from transformers import (
            AutoTokenizer,
            WhisperFeatureExtractor,
            WhisperForConditionalGeneration,
        )

        from evaluation.asr import Transcriber

        dtype = torch.bfloat16 if self.meter.cuda else torch.float32
        m = WhisperForConditionalGeneration.from_pretrained(self.whisper, dtype=dtype)
        fe = WhisperFeatureExtractor.from_pretrained(self.whisper)
        tok = AutoTokenizer.from_pretrained(self.whisper)
        asr = Transcriber(m.to(self.meter.device), fe, tok, {"path": str(self.whisper)})
        n = self.a.transcript_tokens  # exactly n steps: random weights never stop
        asr.generate_kwargs |= {"min_new_tokens": n, "max_new_tokens": n}
        return asr

    def run(self, save: Callable[[dict], None] = lambda _: None) -> dict:
        """Every section in turn, the targets' first; `save` gets the result after each one, so
        a run stopped by its time limit keeps what it measured. A section that fails is
        recorded in res["errors"] (with the sections that needed it) and the run goes on: one
        failure (NF4 kernels missing, say) must not cost the other figures of a GPU session."""
        res: dict = {"sections": [], "errors": {}}
        held: dict = {}  # what later sections use: the NF4 model, the bf16 predictor, the ASR
        n = self.a.answer_tokens

        def nf4_serving() -> None:
            model, proc, res["weights_nf4_gb"] = self.build(quantize=True)
            from model.checkpoint import keep_trainable_layout

            keep_trainable_layout(model)  # the QLoRA step trains this model after serving
            held["nf4"] = model, proc
            self.progress("built NF4")
            res["nf4"] = self.batch1(fixed_predictor(model, proc, n), self.audio)

        def qlora() -> None:  # on the NF4 base just served (the step changes it: last use)
            res["qlora_step"] = self.qlora_step(*held.pop("nf4"))

        def bf16_serving() -> None:
            held.pop("nf4", None)  # freed before the bf16 weights are counted
            model, proc, res["weights_bf16_gb"] = self.build(quantize=False)
            held["pred"] = fixed_predictor(model, proc, n)
            self.progress("built bf16")
            res["bf16"] = self.batch1(held["pred"], self.audio)

        def prefix() -> None:
            res["prefix_cache"] = self.prefix_cache(held["pred"])
            res["bf16_serving_peak_gb"] = gb(self.meter.peak())  # every batch-1 call since build

        def cascade() -> None:  # Whisper large-v3-turbo (encoder + decoder) beside the same 7B
            held["asr"] = self.asr_model()
            res["cascade"] = self.cascade(held["pred"], held["asr"])

        def policies() -> None:
            res["policies"] = self.policies(held["pred"])

        def batched() -> None:
            res["batched"] = self.batched(held["pred"], held["asr"])

        steps = {  # section: (what it runs, what it needs from earlier sections)
            "NF4 serving": (nf4_serving, ()),
            "QLoRA step": (qlora, ("nf4",)),
            "bf16 serving": (bf16_serving, ()),
            "prefix cache": (prefix, ("pred",)),
            "cascade": (cascade, ("pred",)),
            "policies": (policies, ("pred",)),
            "batched": (batched, ("pred", "asr")),
        }
        for name in SECTIONS:
            fn, needs = steps[name]
            missing = [k for k in needs if k not in held]
            if missing:
                res["errors"][name] = f"not run: an earlier section failed ({', '.join(missing)})"
            else:
                try:
                    fn()
                    res["sections"].append(name)
                except Exception as e:  # recorded and reported; the next section still runs
                    res["errors"][name] = f"{type(e).__name__}: {e}"
                    traceback.print_exc()
                    self.meter.reset()  # what the failed call allocated
            self.progress(name + (" FAILED" if name in res["errors"] else ""))
            save(res)
        return res


# -- CLI -----------------------------------------------------------------------------------
def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m evaluation.bench --real-shapes", description=__doc__.splitlines()[0]
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=Path("docs/benchmarks-gpu.md"),
        help="markdown report, rewritten after every section; its JSON beside it",
    )
    ap.add_argument(
        "--standins", type=Path, default=Path("runs/standin"), help="stand-in folder (reused)"
    )
    ap.add_argument("--depth", choices=("full", "cut"), default="full", help="cut: 2 layers")
    ap.add_argument("--answer-tokens", type=int, default=8, help="fixed answer decode budget")
    ap.add_argument("--transcript-tokens", type=int, default=16, help="cascade's Whisper budget")
    ap.add_argument(
        "--speech-seconds", type=float, default=SPEECH_S, help="length of the spoken question"
    )
    ap.add_argument("--side", type=int, default=SEED_SIDE, help="frame size in px (max side)")
    ap.add_argument("--runs", type=int, default=10, help="timed runs a figure")
    ap.add_argument("--batch", type=int, default=8, help="questions a call, throughput row")
    ap.add_argument("--train-steps", type=int, default=2, help="timed QLoRA steps (+1 warm-up)")
    ap.add_argument("--plan", action="store_true", help="no GPU: write the arithmetic alone")
    ap.add_argument("--note", action="append", default=[], help="a line for the report's notes")
    a = ap.parse_args(argv)
    for name in ("answer_tokens", "transcript_tokens", "runs", "batch", "side", "train_steps"):
        if getattr(a, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 < a.speech_seconds <= 30:
        ap.error("--speech-seconds must be in (0, 30]: Whisper's window is 30 s")
    return a


def result(a: argparse.Namespace, argv: list[str]) -> dict:
    from model.standin import CUT, FULL

    depth = CUT if a.depth == "cut" else FULL
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m evaluation.bench --real-shapes", *argv]),
        "depth": "full" if a.depth == "full" else "cut (2 layers a stack)",
        "budgets": {
            "answer_tokens": a.answer_tokens,
            "transcript_tokens": a.transcript_tokens,
            "runs": a.runs,
            "batch": a.batch,
            "side": a.side,
            "train_steps": a.train_steps,
        },
        "arithmetic": arithmetic(depth, a.speech_seconds),
        "notes": list(a.note),
    }


def write(res: dict, out: Path) -> None:
    from data.schema import write_text

    write_text(out.with_suffix(".json"), json.dumps(res, indent=1) + "\n")
    write_text(out, render(res))


def machine() -> dict:
    import torch
    import transformers

    props = torch.cuda.get_device_properties(0)
    return {
        "device": torch.cuda.get_device_name(0),
        "device_memory_gb": gb(props.total_memory),
        "cuda": torch.version.cuda,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


@boundary
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = parse(argv)
    import torch

    if not a.plan and not torch.cuda.is_available():
        print(
            "error: --real-shapes measures on CUDA and none is available here "
            "(--plan writes the token arithmetic without a GPU)",
            file=sys.stderr,
        )
        return 2
    res = result(a, argv)
    if a.plan:
        res["device"] = None
        res["targets"] = targets(None)
        write(res, a.out)
        print(f"wrote {a.out} (arithmetic only; every GPU figure: {NOT_MEASURED})")
        return 0
    from transformers.utils import logging as hf_logging

    from model.standin import CUT, FULL, write_standins

    hf_logging.set_verbosity_error()
    t0 = time.perf_counter()
    qwen, whisper = write_standins(a.standins, CUT if a.depth == "cut" else FULL)
    res["standin_seconds"] = time.perf_counter() - t0
    res |= machine()

    def say(what: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s] {what}", file=sys.stderr, flush=True)

    say(f"stand-ins ready in {res['standin_seconds']:.0f} s")

    def save(measured: dict) -> None:  # after every section: a run cut short keeps its figures
        res["measured"] = measured
        res["figures"] = summarise(res)
        res["targets"] = targets(res["figures"])
        res["seconds"] = time.perf_counter() - t0
        write(res, a.out)

    measured = RealBench(qwen, whisper, a, "cuda", say).run(save)
    print(render(res))
    return 1 if measured["errors"] else 0  # the report names each failed section


if __name__ == "__main__":
    raise SystemExit(main())

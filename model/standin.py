"""Real-shape stand-ins: Qwen2-VL-7B-Instruct and Whisper large-v3-turbo, randomly initialised.

Speed and memory need no trained weights, only the true shapes. This writes two folders laid
out like the hub's repositories (config, random bf16 safetensors, tokenizer, image processor /
feature extractor), so `model.build` / `model.checkpoint.build_model` load them exactly as they
load the real models (NF4 included). No hub access: the configs are `model/shapes/*.json`
(the hub's config.json layout with the shapes of DESIGN.md, "Real-scale shapes").

    python -m model.standin --out runs/standin                  # full depth (~18 GB on disk)
    python -m model.standin --out runs/standin-cut --cut        # 2 text / vision / audio layers

The tokenizers are stand-ins too: byte-level BPE on the project's text, padded with filler
entries so the vocabulary sizes and the special tokens' ids are Qwen's and Whisper's (the
prompt's placeholder counts do not depend on the tokenizer; text lengths differ a little).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from model.cli import boundary
from model.constants import CHAT_TEMPLATE
from model.layout import COMPLETE

if TYPE_CHECKING:  # torch, tokenizers and transformers load where used: --help stays instant
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2VLConfig, WhisperConfig

SHAPES = Path(__file__).with_name("shapes")
QWEN_JSON = SHAPES / "qwen2-vl-7b-instruct.json"
WHISPER_JSON = SHAPES / "whisper-large-v3-turbo.json"
# Qwen2's tokenizer: 151,643 byte-level BPE entries, then these specials (ids 151643..151656).
QWEN_ORDINARY = 151_643
QWEN_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
WHISPER_ORDINARY = 50_257  # then <|endoftext|> 50257, <|startoftranscript|> 50258, ...
SHARD_BYTES = 2 << 30  # the hub shards ~4-5 GB; smaller shards keep the writer's peak low
POOL = 1_000_003  # random values tiled from a prime-length pool: rows never repeat in step
INIT_STD = 0.02  # both configs' initializer_range / init_std


@dataclass(frozen=True)
class Depth:
    """Layers of each stack; None keeps the real depth."""

    text_layers: int | None = None
    vision_depth: int | None = None
    encoder_layers: int | None = None
    decoder_layers: int | None = None


FULL = Depth()
CUT = Depth(text_layers=2, vision_depth=2, encoder_layers=2, decoder_layers=2)


def _merge(d: dict, over: dict | None) -> dict:
    """d with `over`'s keys replaced; nested dicts (vision_config) merged one level down."""
    for k, v in (over or {}).items():
        d[k] = d[k] | v if isinstance(v, dict) and isinstance(d.get(k), dict) else v
    return d


def qwen_dict(depth: Depth = FULL, over: dict | None = None) -> dict:
    """The Qwen2-VL-7B-Instruct config (hub layout), cut to `depth`; `over`: other changes
    (a narrow rehearsal model in the benchmark's test)."""
    d = _merge(json.loads(QWEN_JSON.read_text()), over)
    if depth.text_layers is not None:
        d["num_hidden_layers"] = depth.text_layers
        d["max_window_layers"] = depth.text_layers
    if depth.vision_depth is not None:
        d["vision_config"]["depth"] = depth.vision_depth
    return d


def whisper_dict(depth: Depth = FULL, over: dict | None = None) -> dict:
    """The Whisper large-v3-turbo config (hub layout), cut to `depth`."""
    d = _merge(json.loads(WHISPER_JSON.read_text()), over)
    if depth.encoder_layers is not None:
        d["encoder_layers"] = d["num_hidden_layers"] = depth.encoder_layers
    if depth.decoder_layers is not None:
        d["decoder_layers"] = depth.decoder_layers
    return d


def qwen_config(depth: Depth = FULL) -> Qwen2VLConfig:
    from transformers import Qwen2VLConfig

    return Qwen2VLConfig.from_dict(qwen_dict(depth))


def whisper_config(depth: Depth = FULL) -> WhisperConfig:
    from transformers import WhisperConfig

    return WhisperConfig.from_dict(whisper_dict(depth))


def _bpe_parts() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A small byte-level BPE trained on the project's text: (vocab, merges)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from model.tiny import CORPUS

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=1024, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(CORPUS.split("\n"), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def padded_tokenizer(
    ordinary: int, specials: tuple[str, ...], total: int | None = None, **kw
) -> PreTrainedTokenizerFast:
    """BPE with exactly `ordinary` entries (fillers after the trained ones), then `specials`,
    then filler specials up to `total`: the real tokenizer's size and special ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab, merges = _bpe_parts()
    if len(vocab) > ordinary:
        raise ValueError(f"trained BPE has {len(vocab)} entries, over {ordinary}")
    vocab = dict(vocab)
    for i in range(len(vocab), ordinary):
        vocab[f"<filler{i}>"] = i  # unreachable by any merge: never produced by encoding
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    extra = (
        [] if total is None else [f"<|extra_{i}|>" for i in range(total - ordinary - len(specials))]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok)
    fast.add_tokens([*specials, *extra], special_tokens=True)  # first: ids in the real order
    for k, v in kw.items():
        setattr(fast, k, v)
    return fast


def qwen_tokenizer() -> PreTrainedTokenizerFast:
    tok = padded_tokenizer(
        QWEN_ORDINARY, QWEN_SPECIALS, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def whisper_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    return padded_tokenizer(
        WHISPER_ORDINARY,
        ("<|endoftext|>", "<|startoftranscript|>"),
        total=vocab_size,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )


class _Filler:
    """Cheap random values: a normal(0, std) pool tiled at a random offset per tensor
    (drawing 8 B normals one by one takes minutes; a copy takes seconds)."""

    def __init__(self, seed: int, dtype: torch.dtype):
        import torch

        self.gen = torch.Generator().manual_seed(seed)
        self.pool = (torch.randn(POOL, generator=self.gen) * INIT_STD).to(dtype)
        self.dtype = dtype

    def __call__(self, name: str, shape: torch.Size) -> torch.Tensor:
        import torch

        n = shape.numel()
        leaf = name.rsplit(".", 1)[-1]
        parent = name.rsplit(".", 2)[-2] if name.count(".") >= 1 else ""
        if leaf == "bias":
            return torch.zeros(shape, dtype=self.dtype)
        if leaf == "weight" and ("norm" in parent or parent in ("ln_q", "ln_f")):
            return torch.ones(shape, dtype=self.dtype)
        out = torch.empty(n, dtype=self.dtype)
        off = int(torch.randint(POOL, (1,), generator=self.gen))
        i = 0
        while i < n:
            k = min(n - i, POOL - off)
            out[i : i + k].copy_(self.pool[off : off + k])
            i, off = i + k, 0
        return out.view(shape)


def write_weights(model: torch.nn.Module, folder: Path, fill, skip: tuple[str, ...] = ()) -> int:
    """Random safetensors shards for a meta-device model's state dict; returns bytes written.

    One shard is in memory at a time, so a 7B writes with ~2 GB of RAM."""
    from safetensors.torch import save_file

    shards: list[list[str]] = []
    cur: dict[str, torch.Tensor] = {}
    cur_bytes = total = 0

    def flush() -> None:
        shards.append(list(cur))
        save_file(cur, str(folder / f"shard-{len(shards)}.tmp"), metadata={"format": "pt"})

    for name, meta in model.state_dict().items():
        if name in skip:
            continue
        t = fill(name, meta.shape)
        if cur and cur_bytes + t.nbytes > SHARD_BYTES:
            flush()
            cur, cur_bytes = {}, 0
        cur[name] = t
        cur_bytes += t.nbytes
        total += t.nbytes
    flush()
    n = len(shards)
    if n == 1:
        os.replace(folder / "shard-1.tmp", folder / "model.safetensors")
        return total
    weight_map = {}
    for i, names in enumerate(shards, 1):
        final = f"model-{i:05d}-of-{n:05d}.safetensors"
        os.replace(folder / f"shard-{i}.tmp", folder / final)
        weight_map |= dict.fromkeys(names, final)
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=1) + "\n")
    return total


def write_qwen(folder: Path, depth: Depth = FULL, seed: int = 0, over: dict | None = None) -> int:
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    d = qwen_dict(depth, over)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.device("meta"):
        model = Qwen2VLForConditionalGeneration(Qwen2VLConfig.from_dict(d))
    size = write_weights(model, folder, _Filler(seed, torch.bfloat16))
    (folder / "config.json").write_text(json.dumps(d, indent=2) + "\n")
    qwen_tokenizer().save_pretrained(folder)
    Qwen2VLImageProcessorPil().save_pretrained(folder)  # HF defaults = Qwen2-VL's processor
    return size


def write_whisper(
    folder: Path, depth: Depth = FULL, seed: int = 1, over: dict | None = None
) -> int:
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )
    from transformers.models.whisper.modeling_whisper import sinusoids

    d = whisper_dict(depth, over)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = WhisperConfig.from_dict(d)
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(cfg)
    base = _Filler(seed, torch.bfloat16)

    def fill(name: str, shape: torch.Size) -> torch.Tensor:
        if name.endswith("encoder.embed_positions.weight"):  # fixed sinusoids, as Whisper's
            return sinusoids(*shape).to(torch.bfloat16)
        return base(name, shape)

    skip = ("proj_out.weight",) if cfg.tie_word_embeddings else ()  # tied to embed_tokens
    size = write_weights(model, folder, fill, skip)
    (folder / "config.json").write_text(json.dumps(d, indent=2) + "\n")
    GenerationConfig(
        decoder_start_token_id=cfg.decoder_start_token_id,
        eos_token_id=cfg.eos_token_id,
        pad_token_id=cfg.pad_token_id,
        max_length=cfg.max_target_positions,
    ).save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=cfg.num_mel_bins).save_pretrained(folder)
    whisper_tokenizer(cfg.vocab_size).save_pretrained(folder)
    return size


def write_standins(
    out: str | Path, depth: Depth = FULL, seed: int = 0, over: dict[str, dict] | None = None
) -> tuple[Path, Path]:
    """(qwen, whisper) stand-in folders under `out`; an existing complete pair is reused.

    over: {"qwen": {...}, "whisper": {...}} config changes beyond the depth (tests only)."""
    out = Path(out)
    over = over or {}
    done = out / COMPLETE
    qwen, whisper = out / "qwen2-vl-7b-instruct", out / "whisper-large-v3-turbo"
    want = json.dumps({"depth": depth.__dict__, "seed": seed, "over": over}, sort_keys=True)
    if done.is_file() and done.read_text() == want:
        return qwen, whisper
    out.mkdir(parents=True, exist_ok=True)
    done.unlink(missing_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".standin."))
    try:
        write_qwen(tmp / qwen.name, depth, seed, over.get("qwen"))
        write_whisper(tmp / whisper.name, depth, seed + 1, over.get("whisper"))
        for p in (qwen, whisper):
            if p.exists():
                shutil.rmtree(p)
            os.replace(tmp / p.name, p)
        done.write_text(want)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return qwen, whisper


@boundary
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m model.standin", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--out", type=Path, required=True, help="folder for the two stand-ins")
    ap.add_argument("--cut", action="store_true", help="2 layers per stack (the CPU test's depth)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    a = ap.parse_args(argv)
    t = time.perf_counter()
    qwen, whisper = write_standins(a.out, CUT if a.cut else FULL, a.seed)
    size = sum(f.stat().st_size for p in (qwen, whisper) for f in p.rglob("*") if f.is_file())
    print(f"{qwen} + {whisper}: {size / 1e9:.2f} GB in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

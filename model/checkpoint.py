"""Checkpoint save/load for the grafted model (safetensors only, never pickle). The folder's
names and layout: model.layout.

    python -c "from model.checkpoint import load_checkpoint; load_checkpoint('checkpoints/demo')"
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import (
    AutoTokenizer,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperModel,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from model.cli import InputError
from model.config import GraftConfig
from model.constants import AUDIO_PAD, AUDIO_SPECIAL
from model.graft import AudioQwen2VL, graft_modules
from model.layout import (
    ADAPTER_DIR,
    AUDIO_DIR,
    BASE_DIR,
    CARD_NAME,
    CONFIG_NAME,
    PROJECTOR_FILE,
    install,
)
from model.processor import GraftProcessor


class CheckpointError(InputError, ValueError):
    """A checkpoint that cannot be loaded; the message names the file and what to do."""


class NonFiniteWeightsError(CheckpointError):
    """Trained weights holding NaN or inf (a run that diverged): never saved, never COMPLETE."""


def check_finite(model, where: str | Path) -> None:
    """NonFiniteWeightsError naming the first of the trainable tensors (the only ones training
    can break) that holds a NaN or an inf."""
    bad = [n for n, p in model.named_parameters() if p.requires_grad and not p.isfinite().all()]
    if bad:
        raise NonFiniteWeightsError(
            f"{where}: {len(bad)} trained tensor(s) hold NaN or inf (first {bad[0]}): the run "
            "diverged and is not saved; lower the learning rate or check the data"
        )


@contextmanager
def _naming(
    what: Path | str, fix: str = "copy the checkpoint again or rebuild it"
) -> Iterator[None]:
    """Errors inside become a CheckpointError naming `what` (safetensors and transformers
    name neither the file nor the cause: "incomplete metadata", "look at the above report")."""
    try:
        yield
    except (CheckpointError, MemoryError, torch.OutOfMemoryError):
        raise  # running out of memory is no fault of the files
    except Exception as e:  # SafetensorError, OSError, ValueError, RuntimeError...
        why = str(e).strip() or type(e).__name__
        if "ignore_mismatched_sizes" in why:
            why = "its weights do not fit its config.json (sizes differ)"
        raise CheckpointError(f"{what}: {why}; {fix}") from e


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
GRAFT_PREFIXES = ("audio_encoder.", "projector.", "vision_pos.")


def resolve(folder: str | Path | None, name: str) -> str:
    """A model reference: a folder inside the checkpoint, a local path, or an HF id."""
    if folder is not None and (Path(folder) / name).is_dir():
        return str((Path(folder) / name).resolve())
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser().resolve())
    return name


def pick_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_encoder(ref: str, dtype: torch.dtype = torch.float32) -> WhisperEncoder:
    """Whisper encoder from an encoder-only folder or a full Whisper checkpoint (id or path)."""
    wcfg = WhisperConfig.from_pretrained(ref)
    if "WhisperEncoder" in (wcfg.architectures or []):
        return WhisperEncoder.from_pretrained(ref, dtype=dtype, use_safetensors=True)
    whisper = WhisperModel.from_pretrained(ref, dtype=dtype, use_safetensors=True)
    return whisper.get_encoder()


def load_base(
    ref: str, device: torch.device, quantize: bool, dtype: torch.dtype | None = None
) -> AudioQwen2VL:
    """Qwen2-VL weights into AudioQwen2VL: NF4 (bitsandbytes) when quantize, else full precision."""
    if dtype is None:
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if not quantize:
        return AudioQwen2VL.from_pretrained(ref, dtype=dtype, use_safetensors=True).to(device)
    from transformers import BitsAndBytesConfig

    bnb = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,  # QLoRA: ~0.4 bit/param saved
        bnb_4bit_compute_dtype=dtype,
        llm_int8_skip_modules=["model.visual", "lm_head"],  # vision tower and head stay exact
    )
    return AudioQwen2VL.from_pretrained(
        ref,
        quantization_config=bnb,
        dtype=dtype,
        device_map={"": str(device)},
        use_safetensors=True,  # never a pickle: loading one can run code
    )


def keep_trainable_layout(model: torch.nn.Module) -> None:
    """NF4 layers keep the layout they train in. On a CPU with AVX512-BF16, bitsandbytes repacks
    a layer's weights for its inference kernel the first time it runs in eval mode, and that
    layout cannot train (its bias is added in place): a model that trains after an evaluation,
    as the Trainer's does, must never be repacked."""
    from bitsandbytes.nn import Linear4bit

    for m in model.modules():
        if isinstance(m, Linear4bit):
            m.support_avx512bf16_for_cpu = False


def load_projector(folder: Path, model: AudioQwen2VL, cfg: GraftConfig) -> None:
    """Load projector (+ vision_pos) weights; a shape mismatch names both shapes."""
    path = folder / PROJECTOR_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing projector weights")
    with _naming(path):
        state = load_file(str(path))
    own = {f"projector.{k}": v for k, v in model.projector.state_dict().items()}
    if model.vision_pos is not None:
        own |= {f"vision_pos.{k}": v for k, v in model.vision_pos.state_dict().items()}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{path}: missing {missing}, unexpected {unexpected}")
    for k, v in state.items():
        if v.shape != own[k].shape:
            raise CheckpointError(
                f"{path}: {k} has shape {tuple(v.shape)} but the model expects "
                f"{tuple(own[k].shape)} (audio d_model {cfg.audio_dim} -> text hidden "
                f"{cfg.text_dim}); the projector was trained for another base/encoder"
            )
        own[k].copy_(v.to(own[k].dtype))


def new_processor(cfg: GraftConfig, base_ref: str, audio_ref: str) -> GraftProcessor:
    """Processor: the base's tokenizer (+ audio tokens) and image processor, Whisper's extractor."""
    tok = AutoTokenizer.from_pretrained(base_ref)
    missing = [t for t in AUDIO_SPECIAL if t not in tok.get_vocab()]
    if missing:
        tok.add_tokens(missing, special_tokens=True)
    ip = Qwen2VLImageProcessorPil.from_pretrained(base_ref)
    fe = WhisperFeatureExtractor.from_pretrained(audio_ref)
    return GraftProcessor(tok, ip, fe, cfg)


def build_model(
    cfg: GraftConfig,
    device: str | torch.device | None = None,
    quantize: bool | None = None,
    folder: str | Path | None = None,
) -> tuple[AudioQwen2VL, GraftProcessor]:
    """A fresh graft: base + encoder from cfg's references, new projector (start of training)."""
    dev = pick_device(device)
    base_ref, audio_ref = resolve(folder, cfg.base_model), resolve(folder, cfg.audio_encoder)
    q = cfg.quantisation == "nf4" and dev.type == "cuda" if quantize is None else quantize
    processor = (
        GraftProcessor.from_pretrained(folder, cfg)
        if folder
        else new_processor(cfg, base_ref, audio_ref)
    )
    cfg.base_model, cfg.audio_encoder = base_ref, audio_ref  # absolute: survive a save elsewhere
    model = load_base(base_ref, dev, q)
    _fit_vocab(model, processor)
    enc_dtype = torch.float32 if dev.type == "cpu" else torch.bfloat16
    model.attach(load_encoder(audio_ref, enc_dtype), cfg, processor.ids[AUDIO_PAD])
    return model, processor


def _fit_vocab(model: AudioQwen2VL, processor: GraftProcessor) -> None:
    n = len(processor.tokenizer)
    if n > model.config.text_config.vocab_size:
        model.resize_token_embeddings(n, pad_to_multiple_of=64)


ADAPTER_WEIGHTS = "adapter_model.safetensors"  # PEFT's name; its pickled .bin is refused


def load_checkpoint(
    folder: str | Path,
    device: str | torch.device | None = None,
    quantize: bool | None = None,
    merge: bool = False,
    trainable: bool = False,
):
    """Load a checkpoint -> (model, processor). model is AudioQwen2VL or a PEFT wrapper of it.

    quantize: None = NF4 where CUDA is available and cfg.quantisation == 'nf4'.
    merge: fold LoRA into the base weights (faster inference; only when not quantised).
    trainable: keep the LoRA adapter trainable (to continue training).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such checkpoint folder")
    with _naming(folder / CONFIG_NAME):
        cfg = GraftConfig.from_json(folder)
    dev = pick_device(device)
    q = cfg.quantisation == "nf4" and dev.type == "cuda" if quantize is None else quantize
    with _naming(f"{folder} (base {cfg.base_model}, audio encoder {cfg.audio_encoder})"):
        model, processor = build_model(cfg, dev, q, folder=folder)
    with torch.no_grad():
        load_projector(folder, model, cfg)
    if q and trainable:
        keep_trainable_layout(model)
    if (folder / ADAPTER_DIR).is_dir():
        from peft import PeftModel

        with _naming(folder / ADAPTER_DIR):
            if not (folder / ADAPTER_DIR / ADAPTER_WEIGHTS).is_file():  # PEFT would unpickle
                raise FileNotFoundError(f"no {ADAPTER_WEIGHTS} (only safetensors load)")
            model = PeftModel.from_pretrained(
                model, str(folder / ADAPTER_DIR), is_trainable=trainable
            )
        if merge and not q:
            model = model.merge_and_unload()
    model.eval()
    return model, processor


def _cast(state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {
        k: (v.to(dtype) if v.is_floating_point() else v).detach().contiguous().cpu()
        for k, v in state.items()
    }


def _card(cfg: GraftConfig, processor: GraftProcessor) -> str:
    return (
        "# SurgViVQA-Audio checkpoint\n\n"
        "Qwen2-VL that answers a spoken question about an 8-frame endoscopy clip: a Whisper\n"
        "encoder's output is projected into the decoder at `<|audio_pad|>` positions.\n\n"
        f"- base: `{cfg.base_model}`; audio encoder: `{cfg.audio_encoder}`\n"
        f"- trains: `{cfg.train}`; projector: `{cfg.projector}` "
        f"({cfg.audio_dim} -> {cfg.text_dim})\n"
        f"- audio tokens: `{cfg.audio_tokens}` (window {processor.max_seconds:.0f} s); "
        f"frames: {cfg.frames} at max side {cfg.image_max_side}px\n"
        f"- vision position embedding: {cfg.vision_pos_embed}; origin: {cfg.origin or '-'}\n\n"
        "Load: `from model import Predictor; Predictor.from_checkpoint(path)`.\n"
        "Research prototype: not for clinical use.\n"
    )


def _stock_architecture(path: Path) -> None:
    """base/ is a plain Qwen2-VL checkpoint: any Qwen2-VL code can load it."""
    d = json.loads(path.read_text())
    d["architectures"] = ["Qwen2VLForConditionalGeneration"]
    path.write_text(json.dumps(d, indent=2) + "\n")


def save_checkpoint(model, processor: GraftProcessor, out: str | Path) -> Path:
    """Write a checkpoint that load_checkpoint (and Predictor.from_checkpoint) reads.

    lora mode: the PEFT adapter + projector; base and encoder stay references (HF id or path).
    full mode: also the whole base and encoder, stored in cfg.save_dtype.
    """
    out = Path(out)
    check_finite(model, out)  # a diverged run leaves its last good save, never a NaN one
    g = graft_modules(model)
    cfg = GraftConfig.from_dict(dict(g.graft.__dict__))  # a copy: in-memory refs stay
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp."))
    try:
        proj = {f"projector.{k}": v for k, v in g.projector.state_dict().items()}
        if g.vision_pos is not None:
            proj |= {f"vision_pos.{k}": v for k, v in g.vision_pos.state_dict().items()}
        save_file(_cast(proj, torch.float32), str(tmp / PROJECTOR_FILE))
        if cfg.train == "full":
            dtype = DTYPES[cfg.save_dtype]
            state = {k: v for k, v in g.state_dict().items() if not k.startswith(GRAFT_PREFIXES)}
            g.save_pretrained(str(tmp / BASE_DIR), state_dict=_cast(state, dtype))
            _stock_architecture(tmp / BASE_DIR / "config.json")
            enc = g.audio_encoder
            enc.config.architectures = ["WhisperEncoder"]
            # a frozen (pretrained) ear is stored in float16: its weights came as float16
            enc_dtype = dtype if cfg.audio_trainable else torch.float16
            enc.save_pretrained(str(tmp / AUDIO_DIR), state_dict=_cast(enc.state_dict(), enc_dtype))
            cfg.base_model, cfg.audio_encoder = BASE_DIR, AUDIO_DIR
        elif model is not g:  # a PEFT wrapper: its save_pretrained writes only the adapter
            model.save_pretrained(str(tmp / ADAPTER_DIR))
        processor.save_pretrained(tmp)
        cfg.save(tmp)
        (tmp / CARD_NAME).write_text(_card(cfg, processor))
        install(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out

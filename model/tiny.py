"""Tiny same-architecture checkpoint (Qwen2-VL + Whisper encoder), built offline in seconds.

The Qwen2-VL part has no pretrained weights (the CPU demo trains it fully). The ear is either a
pretrained Whisper (a folder from model.whisper_ct2: frozen, its window cut to the spec's) or,
for fast tests, a random tiny encoder that trains with the rest.

    python -m model.tiny --out checkpoints/tiny [--seed 0] [--text-file extra.txt]
    python -m model.tiny --out checkpoints/tiny --whisper runs/whisper-tiny.en
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from model.cli import boundary
from model.config import GraftConfig
from model.constants import (
    AUDIO_PAD,
    CHAT_TEMPLATE,
    ENDOFTEXT,
    IM_END,
    IMAGE_PAD,
    SPECIAL_TOKENS,
    VIDEO_PAD,
    VISION_END,
    VISION_START,
)
from model.layout import AUDIO_DIR, BASE_DIR

if TYPE_CHECKING:  # torch, tokenizers and transformers load where used: --help stays instant
    from transformers import PreTrainedTokenizerFast

# The project's answer, caption and question wording, so BPE merges fit it (byte-level BPE
# still encodes any other text, only in more tokens). Callers add more through `texts`.
CORPUS = """
yes no. Yes, blue dye is visible on the mucosa. No, no dye is visible on the mucosa.
Yes, the endoscope body is visible in the frames. No, the endoscope body is not visible.
Fluid occlusion is absent and clean mucosa stays visible. Fluid occlusion completely obscures
the view. Yes, the endoscopist is flushing the scene. No, there is no flushing observed.
Histology corresponds to adenoma. Histology corresponds to hyperplastic.
The lesion shifts downward across the frames. The lesion drifts toward the left side of the
screen. The lesion drifts toward the right side of the screen. The lesion stays stable without
noticeable movement. The lesion shifts upward across the frames.
The lesion appears in the lower-left quadrant of the screen. lower-right upper-left upper-right
The lesion is located in the ascending. descending rectum sigma sigmoid
The lesion is <5 mm. The lesion is 5-9 mm. The lesion is >9 mm. millimeter size range
NBI light is on in this sequence. WL light is on in this sequence. white light narrow band
Yes, clean mucosa is visible across frames. No, clean mucosa is not consistently visible.
Yes, NBI light is on in these frames. No, WL light is on instead.
Yes, a close-up obstruction blocks the view. No, clean mucosa stays visible without
obstruction. Yes, the scope is withdrawing. No, the scope is advancing.
Yes, the scope is moving across the frames. No, the scope is not moving in these frames.
The scope is primarily advancing. The scope is primarily withdrawing.
Yes, the scope is outside the patient. No, the scope stays within the patient.
Yes, the visible tool is a catheter. No, the visible tool is not a catheter.
Catheter is visible on screen. Forceps are visible on screen. Snare is visible on screen.
scope advancing. scope withdrawing. scope still. lesion upper left. lesion upper right.
lesion lower left. lesion lower right. lesion none. motion up. motion down. motion left.
motion right. motion stable. size <5. size 5-9. size >9. tool snare. tool forceps.
tool catheter. tool none. nbi yes. nbi no. dye yes. dye no. fluid absent. fluid complete.
flush yes. flush no. outside yes. outside no. site ascending. site descending.
Is contrast dye visible on the mucosal surface? Is the endoscope body visible?
How severe is the fluid-based occlusion? Is the endoscopist flushing the scene in these
frames? Which histologic category matches the lesion? In which direction does the lesion
drift over the frames? In what screen quadrant does the lesion appear? At which anatomical
site is the lesion located? Into which millimeter bracket does the lesion size fall?
What lighting modality illuminates this sequence? Can you clearly observe clean mucosa in
these frames? Are these frames captured using NBI mode? Does a close-up obstruction block
the field of view? When motion occurs, does the scope pull backward? When motion occurs, is
the scope pushing forward? Is the scope actively moving throughout this clip? Is the scope
primarily advancing or withdrawing in this sequence? Is the scope positioned outside the
patient here? Is the instrument on screen a catheter? Which instrument is present in this
clip? Where is the polyp? What tool can you see? Which way is the camera moving?
"""


@dataclass
class TinySpec:
    hidden: int = 128  # text width: 2 cores train it in minutes
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2  # grouped-query attention as in Qwen2
    intermediate: int = 512
    vision_depth: int = 2
    vision_dim: int = 64
    vision_heads: int = 2
    audio_dim: int = 64
    audio_layers: int = 2
    audio_heads: int = 2
    mel_bins: int = 80  # Whisper v1-v2 mels; large-v3 uses 128
    audio_positions: int = 250  # 5 s window: questions last < 4.8 s; 2.5x faster than 1500
    vocab: int = 1024  # BPE target; the corpus is small
    image_side: int = 112  # 8x8 patches -> 16 merged tokens a frame


def tokenizer(
    texts: Iterable[str] = (), vocab: int = 1024, specials: tuple[str, ...] = SPECIAL_TOKENS
) -> PreTrainedTokenizerFast:
    """Byte-level BPE on CORPUS + texts, with Qwen's special tokens and the audio tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = [*CORPUS.split("\n"), *texts]
    tok.train_from_iterator(lines, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        additional_special_tokens=[t for t in specials if t not in (IM_END, ENDOFTEXT)],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _mrope(head_dim: int) -> list[int]:
    """Temporal/height/width split of the rotary half-dim as in Qwen2-VL (16, 24, 24 of 64)."""
    half = head_dim // 2
    t = half // 4
    h = (half - t) // 2
    return [t, h, half - t - h]


def build(
    out: str | Path,
    seed: int = 0,
    texts: Iterable[str] = (),
    whisper: str | Path | None = None,
    **overrides,
) -> Path:
    """Build and save an untrained tiny checkpoint; overrides: TinySpec or GraftConfig fields.

    whisper: a WhisperForConditionalGeneration folder whose encoder, frozen and cut to
    `audio_positions`, is the ear (the audio_* spec fields then come from it); None: random.
    """
    import torch
    from transformers import Qwen2VLConfig, WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from model.checkpoint import load_encoder
    from model.graft import AudioQwen2VL, cut_window

    out = Path(out)
    spec_keys = {f.name for f in fields(TinySpec)}
    cfg_keys = {f.name for f in fields(GraftConfig)}
    unknown = sorted(set(overrides) - spec_keys - cfg_keys)
    if unknown:
        raise ValueError(f"unknown overrides {unknown}; known: {sorted(spec_keys | cfg_keys)}")
    spec = TinySpec(**{k: v for k, v in overrides.items() if k in spec_keys})
    if spec.audio_positions % 50:
        raise ValueError(f"audio_positions {spec.audio_positions}: must be a multiple of 50 (1 s)")
    cfg_kw = dict(
        base_model=BASE_DIR,
        audio_encoder=AUDIO_DIR,
        image_max_side=spec.image_side,
        quantisation="none",
        train="full",
        vision_pos_embed=True,  # measured: +0.08 held-out accuracy for the tiny model
        audio_trainable=whisper is None,  # a random encoder must learn; a pretrained one stays
        audio_peak=0.89,  # data.tts writes speech at this peak; a random encoder knows no other
        origin=f"model.tiny seed={seed}",
    )
    cfg_kw |= {k: v for k, v in overrides.items() if k in cfg_keys}
    cfg = GraftConfig(**cfg_kw)

    torch.manual_seed(seed)
    tok = tokenizer(texts, spec.vocab)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    head_dim = spec.hidden // spec.heads
    qcfg = Qwen2VLConfig(
        text_config=dict(
            vocab_size=-(-len(tok) // 64) * 64,
            hidden_size=spec.hidden,
            intermediate_size=spec.intermediate,
            num_hidden_layers=spec.layers,
            num_attention_heads=spec.heads,
            num_key_value_heads=spec.kv_heads,
            max_position_embeddings=4096,
            max_window_layers=spec.layers,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": _mrope(head_dim),
            },
            bos_token_id=ids[ENDOFTEXT],
            eos_token_id=ids[IM_END],
            pad_token_id=ids[ENDOFTEXT],
        ),
        vision_config=dict(
            depth=spec.vision_depth,
            embed_dim=spec.vision_dim,
            hidden_size=spec.hidden,
            num_heads=spec.vision_heads,
            mlp_ratio=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        image_token_id=ids[IMAGE_PAD],
        video_token_id=ids[VIDEO_PAD],
        vision_start_token_id=ids[VISION_START],
        vision_end_token_id=ids[VISION_END],
        tie_word_embeddings=False,
    )
    qcfg.architectures = ["Qwen2VLForConditionalGeneration"]
    if whisper is not None:
        encoder = cut_window(load_encoder(str(whisper)), spec.audio_positions)
        model = AudioQwen2VL(qcfg)
        return _save(model, encoder, tok, cfg, ids, spec, encoder.config.num_mel_bins, out)
    wcfg = WhisperConfig(
        d_model=spec.audio_dim,
        encoder_layers=spec.audio_layers,
        encoder_attention_heads=spec.audio_heads,
        encoder_ffn_dim=4 * spec.audio_dim,
        decoder_layers=1,
        decoder_attention_heads=spec.audio_heads,
        decoder_ffn_dim=4 * spec.audio_dim,
        num_mel_bins=spec.mel_bins,
        max_source_positions=spec.audio_positions,
    )
    wcfg.architectures = ["WhisperEncoder"]
    model = AudioQwen2VL(qcfg)
    encoder = WhisperEncoder(wcfg)
    # At HF's init (std 0.02) the fixed sinusoidal positions drown the sound: conv output is
    # ~2% of the signal and clips differ by 0.5%. PyTorch's conv init and positions at 0.1
    # let the sound through (clips differ by ~35%), so the random encoder can learn.
    with torch.no_grad():
        encoder.conv1.reset_parameters()
        encoder.conv2.reset_parameters()
        encoder.embed_positions.weight.mul_(0.1)
    return _save(model, encoder, tok, cfg, ids, spec, spec.mel_bins, out)


def _save(model, encoder, tok, cfg: GraftConfig, ids: dict, spec: TinySpec, mels: int, out: Path):
    from transformers import WhisperFeatureExtractor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    from model.checkpoint import save_checkpoint
    from model.processor import GraftProcessor

    ip = Qwen2VLImageProcessorPil(
        size={"shortest_edge": 28 * 28, "longest_edge": spec.image_side**2}
    )
    fe = WhisperFeatureExtractor(feature_size=mels, chunk_length=spec.audio_positions // 50)
    model.attach(encoder, cfg, ids[AUDIO_PAD])
    processor = GraftProcessor(tok, ip, fe, cfg)
    return save_checkpoint(model, processor, out)


@boundary
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.tiny", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="checkpoint folder to write")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    ap.add_argument("--text-file", type=Path, help="extra tokenizer training text, one per line")
    ap.add_argument("--whisper", type=Path, help="pretrained Whisper folder (model.whisper_ct2)")
    args = ap.parse_args(argv)
    texts = args.text_file.read_text().splitlines() if args.text_file else ()
    t = time.perf_counter()
    path = build(args.out, seed=args.seed, texts=texts, whisper=args.whisper)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    print(f"{path}: {size / 1e6:.1f} MB in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

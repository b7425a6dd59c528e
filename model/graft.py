"""AudioQwen2VL: Qwen2-VL that also hears, via a Whisper encoder and a projector.

The pattern is transformers' qwen2_audio: audio embeddings are masked_scatter'ed at the
<|audio_pad|> positions; input_ids still go to the stock model so that it places the image
features and computes M-RoPE positions exactly as it does without audio.

    python -m pytest tests/test_model_graft.py -q
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from transformers import Qwen2VLForConditionalGeneration
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from model.config import GraftConfig

WHISPER_WINDOW_S = 30  # stock Whisper's input window: 3000 mel frames -> 1500 encoder positions


def build_projector(kind: str, d_in: int, d_out: int) -> nn.Module:
    """LLaVA's projector builder: 'linear' or 'mlp{N}x_gelu'."""
    if kind == "linear":
        return nn.Linear(d_in, d_out)
    if kind.startswith("mlp") and kind.endswith("x_gelu"):
        depth = int(kind[3:-6])
        layers: list[nn.Module] = [nn.Linear(d_in, d_out)]
        for _ in range(depth - 1):
            layers += [nn.GELU(), nn.Linear(d_out, d_out)]
        return nn.Sequential(*layers)
    raise ValueError(f"unknown projector type {kind!r}: expected linear or mlpNx_gelu")


class VisionPos(nn.Module):
    """Learned (frame, row, column) embedding added to the merged vision tokens.

    Zero-initialised, so a fresh one leaves the stock model's output unchanged.
    """

    def __init__(self, dim: int, frames: int, side: int):
        super().__init__()
        self.frame = nn.Embedding(frames, dim)
        self.row = nn.Embedding(side, dim)
        self.col = nn.Embedding(side, dim)
        for e in (self.frame, self.row, self.col):
            nn.init.zeros_(e.weight)

    def forward(self, grid_thw: torch.Tensor, frame_ids: list[int], merge: int) -> torch.Tensor:
        out = []
        dev = self.row.weight.device
        for (t, h, w), f in zip(grid_thw.tolist(), frame_ids, strict=True):
            h, w = h // merge, w // merge
            r = torch.arange(h, device=dev).clamp(max=self.row.num_embeddings - 1)
            c = torch.arange(w, device=dev).clamp(max=self.col.num_embeddings - 1)
            grid = self.row(r)[:, None, :] + self.col(c)[None, :, :]  # (h, w, dim), row-major
            fe = self.frame(torch.tensor(min(f, self.frame.num_embeddings - 1), device=dev))
            out.append((grid + fe).reshape(1, h * w, -1).expand(t, -1, -1).reshape(t * h * w, -1))
        return torch.cat(out)


def cut_window(encoder: WhisperEncoder, positions: int) -> WhisperEncoder:
    """The encoder hearing `positions` outputs (50 a second) instead of its 30 s window: the
    first rows of its position table, the rest dropped. A departure from stock Whisper, whose
    effect on the features is measured in docs/experiments.md."""
    have = encoder.config.max_source_positions
    if not 0 < positions <= have:
        raise ValueError(f"window of {positions} positions: expected 1..{have}")
    if positions == have:
        return encoder
    table = encoder.embed_positions.weight.data[:positions].clone()
    encoder.embed_positions = nn.Embedding(positions, table.shape[1])
    encoder.embed_positions.weight.data.copy_(table)
    encoder.embed_positions.requires_grad_(False)
    encoder.config.max_source_positions = encoder.max_source_positions = positions
    return encoder


def widen_window(encoder: WhisperEncoder, positions: int) -> WhisperEncoder:
    """A new encoder with `encoder`'s weights hearing `positions` outputs (50 a second), at least
    its own window: e.g. Whisper's 1,500 again for an encoder cut by cut_window. Its position
    table is Whisper's fixed sinusoids at the new length (never trained), so only the window
    changes; `encoder` itself is left as it is."""
    have = encoder.config.max_source_positions
    if positions < have:
        raise ValueError(f"window of {positions} positions: expected {have} or more (cut_window)")
    cfg = copy.deepcopy(encoder.config)
    cfg.max_source_positions = positions
    wide = WhisperEncoder(cfg).to(encoder.conv1.weight.device)
    state = {k: v for k, v in encoder.state_dict().items() if "embed_positions" not in k}
    missing, _ = wide.load_state_dict(state, strict=False)
    if [k for k in missing if "embed_positions" not in k]:
        raise RuntimeError(f"encoder weights missing after the window change: {missing}")
    return wide


def audio_token_count(length: int, pool: int) -> int:
    """Audio placeholders for `length` encoder frames average-pooled by `pool`."""
    return math.ceil(length / pool)


class AudioQwen2VL(Qwen2VLForConditionalGeneration):
    """Qwen2-VL + frozen Whisper encoder + projector. Call `attach` after from_pretrained."""

    def __init__(self, config):
        super().__init__(config)
        self.audio_encoder: WhisperEncoder | None = None
        self.projector: nn.Module | None = None
        self.vision_pos: VisionPos | None = None
        self.graft: GraftConfig | None = None
        self.audio_token_id: int | None = None

    def attach(
        self,
        encoder: WhisperEncoder,
        cfg: GraftConfig,
        audio_token_id: int,
        projector: nn.Module | None = None,
    ) -> AudioQwen2VL:
        """Add the audio encoder, projector (new unless given) and optional vision position."""
        cfg.audio_dim = encoder.config.d_model
        cfg.text_dim = self.config.text_config.hidden_size
        dev = self.get_input_embeddings().weight.device
        self.audio_encoder = encoder.to(dev)
        self.audio_encoder.requires_grad_(cfg.audio_trainable)
        if projector is None:
            projector = build_projector(cfg.projector, cfg.audio_dim, cfg.text_dim)
        self.projector = projector.to(dev)
        if cfg.vision_pos_embed:
            side = cfg.pos_max_side
            self.vision_pos = VisionPos(cfg.text_dim, max(cfg.frames, 16), side).to(dev)
        self.graft = cfg
        self.audio_token_id = audio_token_id
        return self

    def _supports_mm_encoder_outputs(self) -> bool:
        # generate() would otherwise pre-encode the images with the stock get_image_features
        # and pass mm_encoder_outputs, bypassing vision_pos; raw pixels reach forward instead
        # (on the prefill step only), so training and generation share one image path.
        return False

    @property
    def audio_window(self) -> int:
        """Encoder output positions for one window (1500 for real Whisper)."""
        return self.audio_encoder.config.max_source_positions

    def encode_audio(
        self,
        input_features: torch.Tensor | None,
        audio_lengths: torch.Tensor | None,
        audio_hidden: torch.Tensor | None = None,
        audio_windows: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """Mel windows (R, mel, T) -> per-sample projected embeddings (k_i, text_dim).

        Each of the R rows is one encoder window; audio_lengths (R,) keeps its first frames
        (None: all); audio_windows (B,) says how many consecutive rows make each sample (None:
        one each), and a sample's kept frames are joined in order before pooling.
        audio_hidden: the frozen encoder's outputs (R, P, d_audio) computed beforehand (the
        training cache), used instead of running the encoder on input_features.
        """
        enc = self.audio_encoder
        if audio_hidden is not None:
            hidden = audio_hidden.to(enc.conv1.weight.device)
        else:
            feats = input_features.to(enc.conv1.weight.device, enc.conv1.weight.dtype)
            hidden = enc(feats).last_hidden_state  # (R, P, d_audio)
        rows = []
        for i in range(hidden.shape[0]):
            n = hidden.shape[1] if audio_lengths is None else int(audio_lengths[i])
            if not 0 < n <= hidden.shape[1]:
                raise ValueError(f"audio_lengths[{i}]={n}: expected 1..{hidden.shape[1]}")
            rows.append(hidden[i, :n])
        counts = [1] * len(rows) if audio_windows is None else audio_windows.tolist()
        if sum(counts) != len(rows) or min(counts, default=1) < 1:
            raise ValueError(
                f"audio_windows {counts} do not add up to the {len(rows)} windows given"
            )
        pool = self.graft.pool
        proj_dtype = next(self.projector.parameters()).dtype
        out, start = [], 0
        for c in counts:
            h = torch.cat(rows[start : start + c])
            start += c
            n = h.shape[0]
            if pool > 1:
                k = audio_token_count(n, pool)
                pad = k * pool - n
                h = nn.functional.pad(h, (0, 0, 0, pad)).view(k, pool, -1).sum(1)
                count = torch.full((k, 1), float(pool), device=h.device, dtype=h.dtype)
                count[-1] = pool - pad  # the last window averages only real frames
                h = h / count
            out.append(self.projector(h.to(proj_dtype)))
        return out

    def _image_outputs(self, input_ids, pixel_values, image_grid_thw):
        """Image features with the learned (frame, row, column) embedding added."""
        out = self.model.get_image_features(pixel_values, image_grid_thw, return_dict=True)
        starts = (input_ids == self.config.vision_start_token_id).sum(1).tolist()
        frame_ids = [j for n in starts for j in range(n)]
        if len(frame_ids) != image_grid_thw.shape[0]:
            raise ValueError(
                f"{len(frame_ids)} <|vision_start|> tokens but {image_grid_thw.shape[0]} images"
            )
        merge = self.config.vision_config.spatial_merge_size
        pos = self.vision_pos(image_grid_thw, frame_ids, merge)
        sizes = [x.shape[0] for x in out.pooler_output]
        flat = torch.cat(out.pooler_output) + pos.to(out.pooler_output[0].dtype)
        out.pooler_output = tuple(torch.split(flat, sizes))
        return {"image": out}

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values=None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        pixel_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        image_grid_thw: torch.LongTensor | None = None,
        video_grid_thw: torch.LongTensor | None = None,
        mm_token_type_ids: torch.IntTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        mm_encoder_outputs: dict | None = None,
        input_features: torch.Tensor | None = None,
        audio_lengths: torch.LongTensor | None = None,
        audio_hidden: torch.Tensor | None = None,
        audio_windows: torch.LongTensor | None = None,
        **kwargs,
    ):
        r"""Stock Qwen2-VL forward plus audio.

        input_features: (R, mel, T) Whisper log-mel windows, `audio_windows[i]` per sample.
        audio_lengths: (R,) encoder frames to keep per window (trim policy); None = all.
        audio_hidden: (R, P, d_audio) a frozen encoder's outputs instead of input_features.
        audio_windows: (B,) consecutive windows of each sample; None = one each.
        """
        if inputs_embeds is None and input_ids is not None:
            n_pad = input_ids == self.audio_token_id if self.audio_token_id is not None else None
            if input_features is not None or audio_hidden is not None:
                inputs_embeds = self._merge_audio(
                    input_ids, input_features, audio_lengths, audio_hidden, audio_windows
                )
            elif n_pad is not None and n_pad.any():
                past = 0 if past_key_values is None else past_key_values.get_seq_length()
                if past == 0:
                    raise ValueError(
                        f"input_ids hold {int(n_pad.sum())} <|audio_pad|> tokens but no "
                        "input_features were given"
                    )
            if self.vision_pos is not None and pixel_values is not None:
                mm_encoder_outputs = self._image_outputs(input_ids, pixel_values, image_grid_thw)
                pixel_values = None
        return super().forward(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            labels=labels,
            use_cache=use_cache,
            pixel_values=pixel_values,
            pixel_values_videos=pixel_values_videos,
            image_grid_thw=image_grid_thw,
            video_grid_thw=video_grid_thw,
            mm_token_type_ids=mm_token_type_ids,
            logits_to_keep=logits_to_keep,
            mm_encoder_outputs=mm_encoder_outputs,
            **kwargs,
        )

    def _merge_audio(
        self, input_ids, input_features, audio_lengths, audio_hidden=None, audio_windows=None
    ):
        if self.audio_encoder is None:
            raise ValueError("input_features given but no audio encoder attached (call attach)")
        rows = (input_features if audio_hidden is None else audio_hidden).shape[0]
        clips = rows if audio_windows is None else audio_windows.numel()
        if clips != input_ids.shape[0]:
            raise ValueError(
                f"{clips} audio clips for a batch of {input_ids.shape[0]} "
                "sequences: expected one clip per sequence"
            )
        embeds = self.encode_audio(input_features, audio_lengths, audio_hidden, audio_windows)
        mask = input_ids == self.audio_token_id
        for i, e in enumerate(embeds):
            n = int(mask[i].sum())
            if n != e.shape[0]:
                raise ValueError(
                    f"sample {i}: {n} <|audio_pad|> placeholders but {e.shape[0]} audio frames "
                    f"(policy {self.graft.audio_tokens!r}); build the prompt with GraftProcessor"
                )
        inputs_embeds = self.get_input_embeddings()(input_ids)
        audio = torch.cat(embeds).to(inputs_embeds.device, inputs_embeds.dtype)
        return inputs_embeds.masked_scatter(mask.unsqueeze(-1).to(inputs_embeds.device), audio)


def graft_modules(model: nn.Module) -> AudioQwen2VL:
    """The AudioQwen2VL inside a PEFT wrapper (or the model itself)."""
    for m in model.modules():
        if isinstance(m, AudioQwen2VL):
            return m
    raise TypeError(f"{type(model).__name__} holds no AudioQwen2VL")


def lora_config(cfg: GraftConfig):
    """LoRA on the Qwen2 decoder only: a regex keeps Whisper's and the vision tower's q/k/v out."""
    from peft import LoraConfig

    names = "|".join(cfg.lora_targets)
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=rf".*language_model\.layers\.\d+\.(self_attn|mlp)\.({names})",
        task_type="CAUSAL_LM",
    )


def set_trainable(model: nn.Module, cfg: GraftConfig) -> list[str]:
    """Mark what trains (`cfg.train`); returns the names of trainable parameters.

    lora: LoRA weights (already trainable after get_peft_model) + projector + vision_pos.
    full: everything, Whisper only if `audio_trainable`.
    """
    g = graft_modules(model)
    if cfg.train == "full":
        model.requires_grad_(True)
    for p in g.projector.parameters():
        p.requires_grad_(True)
    if g.vision_pos is not None:
        g.vision_pos.requires_grad_(True)
    g.audio_encoder.requires_grad_(cfg.audio_trainable)
    return [n for n, p in model.named_parameters() if p.requires_grad]

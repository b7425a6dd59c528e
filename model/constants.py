"""Token strings and label constants shared by the model package."""

from __future__ import annotations

IGNORE_INDEX = -100  # label value the loss skips (torch CrossEntropy default)

# Qwen2-VL's own special tokens (same strings in the tiny tokenizer).
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
ENDOFTEXT = "<|endoftext|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"

# Added audio tokens (added on top of Qwen's tokenizer; kept in every checkpoint).
AUDIO_START = "<|audio_start|>"
AUDIO_PAD = "<|audio_pad|>"
AUDIO_END = "<|audio_end|>"

QWEN_SPECIAL = (ENDOFTEXT, IM_START, IM_END, VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)
AUDIO_SPECIAL = (AUDIO_START, AUDIO_PAD, AUDIO_END)
SPECIAL_TOKENS = QWEN_SPECIAL + AUDIO_SPECIAL

# A grounded answer: what the clip shows, GROUND_SEP, the answer ("lesion upper left: upper-left")
GROUND_SEP = ": "
ANSWER_FORMATS = ("plain", "grounded")

SAMPLE_RATE = 16_000  # Whisper's input rate
ENCODER_FRAMES_PER_SECOND = 50  # Whisper: 100 mel frames/s, conv stride 2

# What any audio source may be before it is decoded (model.audio.load_audio checks the
# header first): a spoken question lasts seconds, so a header asking for more is refused, not
# decoded and resampled (a 200 KB WAV whose header says 1 Hz would otherwise resample to 6 GiB).
MIN_AUDIO_SECONDS = 0.3  # shorter than any word: an empty or aborted recording
MAX_AUDIO_SECONDS = 30.0  # Whisper's window: the longest question any checkpoint hears
MIN_AUDIO_RATE = 4_000  # Hz; below telephone quality no speech is left
MAX_AUDIO_RATE = 192_000  # Hz; studio recorders stop here
MAX_AUDIO_CHANNELS = 8
MAX_AUDIO_SAMPLES = 30 * 96_000 * 2  # decoded samples, all channels: 23 MB as float32

# Qwen's chat layout, for the tokenizers built here (the tiny model's, the real-shape stand-in's)
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

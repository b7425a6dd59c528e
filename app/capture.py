"""The spoken question: browser microphone, built-in recorder, upload or the clip's recording.

    python -c "from app.capture import decode; print(decode(open('q.wav','rb').read(), 'q.wav'))"

Every source ends in `decode`: the model's one audio intake (model.audio: header guard, decode,
16 kHz mono float32 resampled from the browser's 44.1/48 kHz, length and silence checks, trim),
its refusals turned into one clear QuestionError. The Question is handed to the model as it is.
The microphone goes through `record` so tests can patch it (a custom component cannot run in
AppTest). Its speech_to_text is never used: the model hears the audio itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.audio import (
    AudioError,
    AudioLengthError,
    AudioShapeError,
    Checked,
    SilentAudioError,
    intake,
)
from model.constants import MAX_AUDIO_SECONDS as MAX_SECONDS  # one rule with the model path
from model.constants import SAMPLE_RATE  # what the intake returns
from model.layout import FEATURE_DIR

UPLOAD_TYPES = ("wav", "flac", "ogg", "mp3")  # what the intake decodes without FFmpeg


class QuestionError(ValueError):
    """Audio the app cannot use as a question; the message says what to do."""


@dataclass(frozen=True)
class Question(Checked):
    """A checked spoken question (samples: 16 kHz mono float32) and where it came from."""

    source: str = "upload"  # "clip" | "microphone" | "upload"


def record(key: str) -> dict | None:
    """The streamlit-mic-recorder widget: {"bytes", "sample_rate", ...} once recorded, else None."""
    from streamlit_mic_recorder import mic_recorder

    return mic_recorder(
        start_prompt="●  Record question",
        stop_prompt="■  Stop recording",
        format="wav",  # webm would need FFmpeg to decode
        key=key,
    )


def decode(src: bytes | Path, name: str, source: str = "upload", trim: bool = False) -> Question:
    """A checked Question from WAV/FLAC/OGG/MP3 bytes or a file; QuestionError otherwise.
    trim: cut leading and trailing silence (for live recordings and uploads)."""
    if isinstance(src, bytes | bytearray) and len(src) == 0:
        raise QuestionError(f"{name} is empty (0 bytes). Record or choose the file again.")
    try:  # the intake checks the header (length, rate, channels) before decoding anything
        audio = intake(bytes(src) if isinstance(src, bytearray) else src, name=name, trim=trim)
    except AudioShapeError as e:
        raise QuestionError(
            f"{e}. A question must be under {MAX_SECONDS:.0f} s at an ordinary sample rate: "
            "trim it or record just the question."
        ) from e
    except AudioLengthError as e:
        if e.too_long:
            raise QuestionError(
                f"{name} lasts {e.seconds:.0f} s; a question must be under {MAX_SECONDS:.0f} s. "
                "Trim it or record just the question."
            ) from e
        raise QuestionError(
            f"{name} is empty or too short ({e.seconds:.2f} s). Record the question again."
        ) from e
    except SilentAudioError as e:
        raise QuestionError(
            f"{name} is silent (level {20 * np.log10(max(e.rms, 1e-12)):.0f} dBFS). Check that "
            "the right microphone is selected and speak closer to it."
        ) from e
    except AudioError as e:
        why = str(e).removeprefix(f"{name}: ")
        raise QuestionError(f"Could not read {name} as audio: {why}.") from e
    except (OSError, ValueError, RuntimeError, EOFError) as e:  # decoders raise these too
        raise QuestionError(
            f"Could not read {name} as audio ({type(e).__name__}: {e}). "
            f"Use one of: {', '.join(UPLOAD_TYPES)}."
        ) from e
    return Question(audio.samples, name, source)


def window_seconds(checkpoint: Path) -> float | None:
    """How much audio the checkpoint's encoder hears (its feature extractor's window), read
    from the JSON config so no model needs loading; None when unknown."""
    import json

    path = checkpoint / FEATURE_DIR / "preprocessor_config.json"
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
        return float(cfg["n_samples"]) / float(cfg.get("sampling_rate", SAMPLE_RATE))
    except (OSError, ValueError, KeyError, TypeError):
        return None

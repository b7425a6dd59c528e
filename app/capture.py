"""The spoken question: browser microphone, built-in recorder, upload or the clip's recording.

    python -c "from app.capture import decode; print(decode(open('q.wav','rb').read(), 'q.wav'))"

Every source ends in `decode`: the model package's loader (16 kHz mono float32, resampled from
the browser's 44.1/48 kHz), then checks that turn bad input into one clear QuestionError.
The microphone goes through `record` so tests can patch it (a custom component cannot run in
AppTest). Its speech_to_text is never used: the model hears the audio itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.constants import MAX_AUDIO_SECONDS as MAX_SECONDS  # one rule with the model path
from model.constants import MIN_AUDIO_SECONDS as MIN_SECONDS
from model.constants import SAMPLE_RATE  # what the model's loader returns

SILENCE_RMS = 1e-3  # about -60 dBFS: nothing but the noise floor
UPLOAD_TYPES = ("wav", "flac", "ogg", "mp3")  # what the loader decodes without FFmpeg
TRIM_DB = 35  # quieter than the loudest frame by this much counts as silence
TRIM_MARGIN_S = 0.1  # kept around the speech so no word onset is cut


class QuestionError(ValueError):
    """Audio the app cannot use as a question; the message says what to do."""


@dataclass(frozen=True)
class Question:
    samples: np.ndarray  # 16 kHz mono float32
    source: str  # "clip" | "microphone" | "upload"
    name: str  # file name or a description, for messages and history

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def record(key: str) -> dict | None:
    """The streamlit-mic-recorder widget: {"bytes", "sample_rate", ...} once recorded, else None."""
    from streamlit_mic_recorder import mic_recorder

    return mic_recorder(
        start_prompt="●  Record question",
        stop_prompt="■  Stop recording",
        format="wav",  # webm would need FFmpeg to decode
        key=key,
    )


def check(samples: np.ndarray, name: str) -> np.ndarray:
    """`samples` if they can be a spoken question, else QuestionError saying why not."""
    seconds = len(samples) / SAMPLE_RATE
    if seconds < MIN_SECONDS:
        raise QuestionError(
            f"{name} is empty or too short ({seconds:.2f} s). Record the question again."
        )
    if seconds > MAX_SECONDS:
        raise QuestionError(
            f"{name} lasts {seconds:.0f} s; a question must be under {MAX_SECONDS:.0f} s. "
            "Trim it or record just the question."
        )
    if not np.all(np.isfinite(samples)):
        raise QuestionError(f"{name} contains invalid samples (NaN or infinity).")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    if rms < SILENCE_RMS:
        raise QuestionError(
            f"{name} is silent (level {20 * np.log10(max(rms, 1e-12)):.0f} dBFS). Check that the "
            "right microphone is selected and speak closer to it."
        )
    return samples


def decode(src: bytes | Path, name: str, source: str = "upload", trim: bool = False) -> Question:
    """A checked Question from WAV/FLAC/OGG/MP3 bytes or a file; QuestionError otherwise.
    trim: cut leading and trailing silence (for live recordings and uploads)."""
    from model.processor import AudioError, AudioShapeError, load_audio  # the model's loader

    if isinstance(src, bytes | bytearray) and len(src) == 0:
        raise QuestionError(f"{name} is empty (0 bytes). Record or choose the file again.")
    try:  # the loader checks the header (length, rate, channels) before decoding anything
        samples = load_audio(bytes(src) if isinstance(src, bytearray) else src, name=name)
    except AudioShapeError as e:
        raise QuestionError(
            f"{e}. A question must be under {MAX_SECONDS:.0f} s at an ordinary sample rate: "
            "trim it or record just the question."
        ) from e
    except AudioError as e:
        why = str(e).removeprefix(f"{name}: ")
        raise QuestionError(f"Could not read {name} as audio: {why}.") from e
    except (OSError, ValueError, RuntimeError, EOFError) as e:  # decoders raise these too
        raise QuestionError(
            f"Could not read {name} as audio ({type(e).__name__}: {e}). "
            f"Use one of: {', '.join(UPLOAD_TYPES)}."
        ) from e
    samples = check(np.asarray(samples, dtype=np.float32).reshape(-1), name)
    if trim:
        samples = trim_silence(samples)
    return Question(samples, source, name)


def trim_silence(samples: np.ndarray) -> np.ndarray:
    """The recording without its leading and trailing quiet (a short margin kept). A person
    pressing record and stop adds a second or more of room noise that the model never heard in
    training: on the demo model that cost a third of the correct answers."""
    import librosa

    _, (start, end) = librosa.effects.trim(
        samples, top_db=TRIM_DB, frame_length=512, hop_length=128
    )
    margin = int(TRIM_MARGIN_S * SAMPLE_RATE)
    return samples[max(0, start - margin) : min(len(samples), end + margin)]


def window_seconds(checkpoint: Path) -> float | None:
    """How much audio the checkpoint's encoder hears (its feature extractor's window), read
    from the JSON config so no model needs loading; None when unknown."""
    import json

    path = checkpoint / "feature_extractor" / "preprocessor_config.json"
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
        return float(cfg["n_samples"]) / float(cfg.get("sampling_rate", SAMPLE_RATE))
    except (OSError, ValueError, KeyError, TypeError):
        return None

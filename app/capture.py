"""The spoken question: the browser's microphone (st.audio_input), an upload or the clip's own
recording.

    python -c "from app.capture import decode; print(decode(open('q.wav','rb').read(), 'q.wav'))"

Every source ends in `decode`: the model's one audio intake (model.audio: header guard, decode,
16 kHz mono float32 resampled from the browser's 44.1/48 kHz, length and silence checks, trim),
then model.speech's check that a voice is in it (noise and music are refused: the model would
answer them), its refusals turned into one clear QuestionError that says how many seconds were
heard. The Question is handed to the model as it is. The longest question is the checkpoint's
(its processor's max_seconds, `limit_seconds`).
Uploads in the containers libsndfile cannot open (m4a, aac, webm) are decoded by PyAV inside
the same intake (model.audio).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model.audio import (
    EXTENSIONS,
    AudioError,
    AudioLengthError,
    AudioShapeError,
    Checked,
    SilentAudioError,
    check_length,
    intake,
    trim_silence,
)
from model.constants import (
    MAX_AUDIO_SECONDS,  # what GraftProcessor.max_seconds returns
    SAMPLE_RATE,  # what the intake returns
)
from model.layout import FEATURE_DIR
from model.speech import SpeechCheck, analyse

UPLOAD_TYPES = EXTENSIONS  # what model.audio reads
UPLOAD_WORDS = "WAV, FLAC, OGG, MP3, M4A, AAC or WebM"


class QuestionError(ValueError):
    """Audio the app cannot use as a question; the message says what to do."""


@dataclass(frozen=True)
class Question(Checked):
    """A checked spoken question (samples: 16 kHz mono float32) and where it came from."""

    source: str = "upload"  # "clip" | "microphone" | "upload"
    speech: SpeechCheck | None = None  # model.speech's verdict on the samples

    @property
    def weak(self) -> bool:
        """Speech that stands out little from the background: answered, with a warning."""
        return self.speech is not None and self.speech.weak


NOT_A_VOICE = {
    "noise": "it sounds like noise, not a voice",
    "music": "it sounds like music or a steady tone, not a voice",
    "silence": "it is silent",
}


def limit_seconds(predictor: object | None = None) -> float:
    """The longest question the model hears: the loaded predictor's processor says so; before
    any model is loaded, the value that processor returns (model.constants.MAX_AUDIO_SECONDS)."""
    processor = getattr(predictor, "processor", None)
    return float(getattr(processor, "max_seconds", MAX_AUDIO_SECONDS))


def weak_note(q: Question) -> str:
    """What the page says about speech that barely stands out from the background."""
    if not q.weak or q.speech is None:
        return ""
    return (
        f"Your voice is only about {q.speech.snr_db:.0f} dB louder than the background noise: "
        "the model still answers, but it may mishear. A quieter room or a closer microphone "
        "helps."
    )


def decode(
    src: bytes | Path,
    name: str,
    source: str = "upload",
    trim: bool = False,
    max_seconds: float = MAX_AUDIO_SECONDS,
) -> Question:
    """A checked Question from WAV/FLAC/OGG/MP3/M4A/WebM bytes or a file; QuestionError
    otherwise. Every kind ends in the one intake (model.audio), m4a and webm by way of PyAV.
    trim: cut leading and trailing silence (for live recordings and uploads). max_seconds: the
    model's limit (`limit_seconds`)."""
    if isinstance(src, bytes | bytearray) and len(src) == 0:
        raise QuestionError(f"{name} is empty (0 bytes). Record or choose the file again.")
    most = f"{max_seconds:g} s"
    limit = "the longest question"
    try:  # the intake checks the header (length, rate, channels) before decoding anything
        data: bytes | Path = src if isinstance(src, Path) else bytes(src)
        audio = intake(
            data,
            SAMPLE_RATE,
            name=name,
            max_seconds=max_seconds,
            limit=limit,
            silence=0.0,  # judged below by model.speech, which says how long the silence was
        )
        check = analyse(audio.samples)  # on the whole take: the background shows around speech
        if not check.is_speech:
            why = NOT_A_VOICE[check.verdict]
            raise QuestionError(
                f"No speech heard in {name} ({audio.seconds:.1f} s): {why}. "
                + (
                    "Check that the right microphone is selected and speak close to it."
                    if check.verdict == "silence"
                    else "Ask your question again, close to the microphone."
                )
            )
        samples = trim_silence(audio.samples) if trim else audio.samples
        check_length(samples, max_seconds, limit)
    except QuestionError:
        raise
    except AudioShapeError as e:
        raise QuestionError(
            f"{e}. A question must be under {most} at an ordinary sample rate: "
            "trim it or record just the question."
        ) from e
    except AudioLengthError as e:
        if e.too_long:
            raise QuestionError(
                f"{name} lasts {e.seconds:.0f} s; a question must be under {most}. "
                "Trim it or record just the question."
            ) from e
        raise QuestionError(
            f"{name} is empty or too short ({e.seconds:.2f} s). Record the question again."
        ) from e
    except SilentAudioError as e:  # only where a caller's intake has a silence floor
        raise QuestionError(
            f"{name} is silent. Check that the right microphone is selected and speak closer to it."
        ) from e
    except AudioError as e:
        why = str(e).removeprefix(f"{name}: ")
        raise QuestionError(f"Could not read {name} as audio: {why}.") from e
    except (OSError, ValueError, RuntimeError, EOFError) as e:  # decoders raise these too
        raise QuestionError(
            f"Could not read {name} as audio ({type(e).__name__}: {e}). "
            f"Use one of: {', '.join(UPLOAD_TYPES)}."
        ) from e
    return Question(samples, name, source, check)


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

"""The model, loaded once per process and shared by every session.

    python -c "from app.engine import checkpoint_problem; print(checkpoint_problem('ckpt'))"

st.cache_resource hands the same Predictor to every browser session and sessions call it at the
same time; Qwen2-VL keeps per-request state (rope deltas, the vision prefix cache) on the module,
so every answer runs under the Predictor's own lock (the one lock on the model).

Nobody waits for the model on their first question: `warm` starts loading it in a background
thread when the server starts (app.serve, what `make demo` runs) or at the latest on the first
page any browser opens (app/main.py); the Ask page's `engine()` then finds it loaded, or shows
a spinner with the time spent until it is. The other pages read `loaded()` and never wait.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from app.settings import short_path
from model.layout import CONFIG_NAME, is_checkpoint

HOW_TO_GET_ONE = (
    "Build the demo checkpoint with `make demo-checkpoint` (tiny model, CPU), or point the app "
    "at one with `SURGVIVQA_CHECKPOINT=DIR` or `python -m streamlit run app/main.py -- "
    "--checkpoint DIR`."
)


@dataclass
class Engine:
    predictor: Any  # model.Predictor (typed loosely so this module imports no torch)
    checkpoint: str
    device: str
    load_s: float
    answered: int = 0  # questions answered by this process, all sessions together
    bands: Any = None  # app.confidence.Bands of this checkpoint (None: not calibrated)


_LOADED: dict[str, Engine] = {}  # checkpoint -> engine, so the sidebar can report without loading
_WARMING: dict[str, threading.Thread] = {}  # checkpoint -> the thread loading it
_WARM_LOCK = threading.Lock()
log = logging.getLogger(__name__)


def checkpoint_problem(path: Path) -> str | None:
    """Why `path` is not a usable checkpoint, or None when it looks like one."""
    if not path.exists():
        return f"No checkpoint at {short_path(path)}. {HOW_TO_GET_ONE}"
    if not is_checkpoint(path):
        return f"{short_path(path)} is not a checkpoint (no {CONFIG_NAME}). {HOW_TO_GET_ONE}"
    return None


def _stamp(path: Path) -> float:
    return (path / CONFIG_NAME).stat().st_mtime


@st.cache_resource(show_spinner=False, max_entries=2)
def _load(checkpoint: str, device: str | None, version: float) -> Engine:  # version: hashed
    from model import Predictor  # torch and transformers load here, on the Ask page only

    start = time.perf_counter()
    from app.confidence import bands_for

    predictor = Predictor.from_checkpoint(checkpoint, device=device)
    dev = str(getattr(predictor, "device", device or "cpu"))
    _first_answer(predictor)
    eng = Engine(predictor, checkpoint, dev, time.perf_counter() - start)
    eng.bands = bands_for(Path(checkpoint))
    _LOADED[checkpoint] = eng
    return eng


def _first_answer(predictor: Any) -> None:
    """One answer to a blank clip and a tone, not kept in the prefix cache: the first forward
    passes set up the CPU's kernels (seconds on a busy machine), so a person's first question
    does not pay for them."""
    import numpy as np
    from PIL import Image

    side = int(getattr(predictor.cfg, "image_max_side", 112) or 112)
    frames = [Image.new("RGB", (side, side), (90, 40, 40))] * int(predictor.cfg.frames)
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(16_000) / 16_000).astype(np.float32)
    try:
        predictor.answer(frames, tone, use_cache=False)
    except Exception as e:  # a warm-up only: the real question meets any real fault
        log.warning("the warm-up answer failed: %s", e)


def warm(checkpoint: Path, device: str | None) -> bool:
    """Start loading `checkpoint` in a background thread, once per process; True when a load
    is under way or done. A checkpoint that cannot load is left for the Ask page to explain."""
    if checkpoint_problem(checkpoint):
        return False
    key = str(checkpoint.resolve())
    with _WARM_LOCK:
        if key in _LOADED or key in _WARMING:
            return True
        try:
            stamp = _stamp(checkpoint)
        except OSError:
            return False

        def load() -> None:
            try:
                _load(key, device, stamp)
            except Exception as e:  # the Ask page's engine() meets the same error and says it
                log.warning("the model did not load from %s: %s", checkpoint.name, e)

        _WARMING[key] = threading.Thread(target=load, name="svq-warm", daemon=True)
        _WARMING[key].start()
    return True


def loading(checkpoint: Path) -> bool:
    """Whether a background load of `checkpoint` is still running."""
    thread = _WARMING.get(str(checkpoint.resolve()))
    return thread is not None and thread.is_alive()


def engine(checkpoint: Path, device: str | None) -> Engine:
    """The shared engine for `checkpoint`: loaded already (started by `warm`), or loaded now
    (joining a load under way), with a spinner that counts the seconds."""
    key = str(checkpoint.resolve())
    if key in _LOADED:  # already in memory: no spinner
        return _load(key, device, _stamp(checkpoint))
    with st.spinner(f"Loading the model from {checkpoint.name}… (once per server)", show_time=True):
        return _load(key, device, _stamp(checkpoint))


def loaded(checkpoint: Path) -> Engine | None:
    """The engine for `checkpoint` if some session already loaded it, without loading it."""
    return _LOADED.get(str(checkpoint.resolve()))


def ask(eng: Engine, frames: list, audio: Any) -> tuple[Any, str | None, float | None]:
    """One answer (audio: the checked Question, given to the model as it is), all of it under
    the Predictor's lock: one request at a time on the shared model, counted. With it, how sure
    the model is in words (None: the checkpoint is not calibrated) and the mean log-probability
    of its tokens (app.confidence)."""
    with eng.predictor.lock:
        out = eng.predictor.answer(frames, audio)
        eng.answered += 1
    score = out.score
    word = eng.bands.word(score) if eng.bands is not None and score is not None else None
    return out, word, score


def prime(eng: Engine, frames: list) -> bool:
    """Encode the clip's frames into the model's prefix cache while the clinician looks at it,
    so the first question on it is answered from the cache. Skipped (False) while another
    session holds the model: a page render never waits for someone else's answer."""
    return eng.predictor.prime(frames, wait=False)


def explain(err: Exception) -> str:
    """A message for the page, never a traceback: bad audio is the user's to fix, the rest ours."""
    kinds = {c.__name__ for c in type(err).__mro__}  # by name, subclasses too: no torch here
    if "AudioError" in kinds:
        return f"The model could not use this audio: {err}"
    if "CheckpointError" in kinds:  # the files are at fault, not the question
        return f"The model could not be loaded from its checkpoint: {err}"
    if isinstance(err, MemoryError | RuntimeError) and "memory" in str(err).lower():
        return f"The model ran out of memory on this question ({err}). Try again in a moment."
    return f"The model failed on this question ({type(err).__name__}: {err})."

"""One error boundary for every command line: a user's mistake is one `error:` line and exit 2.

    @boundary
    def main(argv: list[str] | None = None) -> int: ...

What a user can get wrong (a damaged data file, a checkpoint, a recipe value, a recording, a
path that is missing, a folder where a file goes, a file that is not UTF-8) is said in one line
on stderr naming the file, and the command exits 2. Anything else is a bug and keeps its
traceback. The project's own errors say so by deriving from `InputError`.

Torch-free and importing nothing of ours, so every package (data/ included) may use it.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

EXIT_INPUT = 2  # argparse's own exit code for a bad command line
MAX_INT_DIGITS = 18  # every integer of ours fits int64; Python's own limit is 4,300 digits
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class InputError(Exception):
    """Base of the errors that are the input's fault, not the code's (DataError,
    CheckpointError, AudioError, RecipeError...): the boundary prints their message alone."""


class OutputFolderError(InputError, FileExistsError):
    """An output folder that holds files this command did not write: never deleted."""


def describe(e: BaseException) -> str:
    """One line for an error the user can fix, naming the file where the error knows it."""
    if isinstance(e, OSError) and not isinstance(e, InputError) and e.filename is not None:
        what = os.fsdecode(e.filename)
        if e.filename2 is not None:
            what += f" -> {os.fsdecode(e.filename2)}"
        why = e.strerror or str(e)
        if isinstance(e, FileExistsError) and os.path.isfile(e.filename):
            why += " (a file, where a folder is needed)"  # mkdir's words alone puzzle
        return f"{what}: {why}"
    if isinstance(e, UnicodeError) and not isinstance(e, InputError):
        return f"text that is not valid Unicode ({e})"
    text = " ".join(str(e).split()) or type(e).__name__
    return text


def is_input_error(e: BaseException) -> bool:
    """Whether `e` is the input's fault: ours by declaration, or an OS or encoding error of a
    file the command reads or writes (missing, a folder, no permission, disk full...)."""
    return isinstance(e, InputError | OSError | UnicodeError)


F = TypeVar("F", bound=Callable[..., int | None])


def boundary(main: F) -> F:
    """Wrap a CLI's `main` so input errors end as one `error:` line on stderr and exit 2."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except Exception as e:
            if not is_input_error(e):
                raise  # a bug: the traceback stays visible
            sys.stdout.flush()
            print(f"error: {describe(e)}", file=sys.stderr)
            return EXIT_INPUT

    return wrapped  # type: ignore[return-value]


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from low to high (inclusive); argparse names the flag."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            top = f" and at most {high:,}" if high is not None else ""
            raise argparse.ArgumentTypeError(f"{value} out of range: at least {low}{top}")
        return value

    parse.__name__ = "integer"  # argparse says "invalid integer value" for a ValueError
    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number over 0 (nan, inf and 0 are no length or rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a finite number over 0")
    return value


def loads(text: str) -> object:
    """json.loads that refuses, with a ValueError saying what, what would break the program
    far from the file: an integer past int64 and an unpaired surrogate escape (no UTF-8 text
    can hold one: printing or writing it fails later)."""
    value = json.loads(text, parse_int=_int)
    if _SURROGATE_ESCAPE.search(text):  # rare: checked only where an escape could be one
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("an unpaired surrogate escape (\\ud800-\\udfff)") from None
    return value


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(digits.lstrip('-')):,} digits")
    return int(digits)


class NotUtf8Error(InputError, UnicodeError):
    """A text file (JSON, TOML, ...) holding bytes that are not UTF-8: named by file and line."""


def read_utf8(path: str | Path) -> str:
    """A text file's content as UTF-8; a byte that is not is a NotUtf8Error naming the file, the
    line and the byte (a bare UnicodeDecodeError names neither)."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        byte = e.start - raw.rfind(b"\n", 0, e.start)
        raise NotUtf8Error(f"{path}:{line}: not UTF-8 (byte {byte} of the line)") from None


def claim_folder(out: str | Path, ours: Iterable[str], what: str) -> Path:
    """`out` as a folder this command may write into: absent, empty, or holding only entries
    named in `ours` (what an earlier run of it wrote). Anything else is someone's files:
    OutputFolderError, before any work is done and nothing deleted."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"{out}: exists and is not a folder; {what} needs a folder")
    if not out.exists():
        return out
    ours = set(ours)
    foreign = sorted(p.name for p in out.iterdir() if p.name not in ours)
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        shown = ", ".join(foreign[:3]) + more
        raise OutputFolderError(
            f"{out}: holds files {what} did not write ({shown}); nothing was deleted: "
            "give a new or empty folder"
        )
    return out

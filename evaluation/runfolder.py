"""An evaluation folder's bookkeeping: its lock, the answers already stored, what they come
from, the summary's dates and skipped samples, and what a rescore needs.

    python -c "from evaluation.runfolder import checkpoint_id as c; print(c('checkpoints/demo'))"

File names are model.layout's (run, predictions, summary); JSON objects are read by
model.runfiles and JSONL lines by data.schema.json_lines, their errors given here as DataError.
evaluation.evaluate answers the questions and scores them.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from data.files import read_split
from data.schema import DataError, json_lines, record_key, write_jsonl
from model import runfiles
from model.layout import LOCK_FILE, PREDICTIONS_FILE, RUN_FILE, SUMMARY_FILE, write_json
from model.runfiles import checkpoint_id as checkpoint_id  # evaluations record it

# what one evaluation folder holds (audio_tokens only where --audio-tokens overrode the policy)
RUN_KEYS = ("checkpoint", "data", "split", "mode", "ablation", "audio_tokens")
_HELD: set[Path] = set()  # folders this process holds


def read_json(path: Path) -> dict:
    """A JSON object from `path`; DataError naming the file when it is not one."""
    try:
        return runfiles.read_json(path)
    except runfiles.RunFileError as e:
        raise DataError(str(e)) from None


def read_done(path: Path) -> tuple[dict[tuple[str, str], dict], int]:
    """Rows already written by an earlier (maybe killed) run, and how many repeated a key
    (the first is kept); a torn last line (no newline after it) is cut from the file, any other
    damage is a DataError naming the line."""
    done: dict[tuple[str, str], dict] = {}
    repeated = 0
    if not path.is_file():
        return done, repeated
    bad: DataError | None = None  # raised once a line follows it: only the last may be torn
    for lineno, row in json_lines(path):
        if bad is not None:
            raise bad
        where = f"{path}:{lineno}"
        if isinstance(row, DataError):
            bad = DataError(f"{where}: {row}")
            continue
        if not isinstance(row, dict):
            raise DataError(f"{where}: a {type(row).__name__}, not a prediction row")
        missing = [k for k in ("video_id", "id", "prediction") if not isinstance(row.get(k), str)]
        if missing:
            raise DataError(f"{where}: no string {', '.join(missing)} in a prediction row")
        key = (row["video_id"], row["id"])
        if key in done:
            repeated += 1
        else:
            done[key] = row
    if bad is not None:
        raw = path.read_bytes()
        if raw.endswith(b"\n"):  # written whole: damaged, not torn
            raise bad
        with path.open("r+b") as fh:  # killed mid-write: cut the torn tail, redo that sample
            fh.truncate(raw.rfind(b"\n") + 1)
    return done, repeated


def earlier(out: Path) -> tuple[dict[tuple[str, str], dict], dict, dict[tuple[str, str], str]]:
    """What an earlier run left in `out`: its answers by key (a repeated row, left by two
    writers before folders were locked, is dropped and the file rewritten), its summary ({}
    when none) and the samples it skipped."""
    pred_path = out / PREDICTIONS_FILE
    done, repeated = read_done(pred_path)
    if repeated:
        print(f"{pred_path}: {repeated} repeated row(s) dropped", file=sys.stderr)
        write_jsonl(pred_path, done.values())
    old = out / SUMMARY_FILE
    was = read_json(old) if old.is_file() else {}
    return done, was, skipped_of(old, was)


def skipped_of(path: Path, summary: dict) -> dict[tuple[str, str], str]:
    """The samples a --skip-bad run left out, from its summary: (video_id, id) -> why."""
    try:
        return {(str(v), str(i)): str(why) for (v, i), why in summary.get("skipped") or []}
    except (TypeError, ValueError):
        raise DataError(f"{path}: a malformed 'skipped' list") from None


def dated(summary: dict, was: dict, answered: bool) -> None:
    """Date a new summary: when nothing was answered anew the predictions keep their date (and
    the keys the old summary had besides evaluate's own, a baseline's name); `rescored` says
    when they were judged again."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    if not answered and was:
        summary |= {k: v for k, v in was.items() if k not in summary}
        summary["created"] = was.get("created", now)
        summary["rescored"] = now
    else:
        summary["created"] = now


@contextmanager
def holding(out: Path) -> Iterator[None]:
    """One writer per evaluation folder: a second evaluation (or rescore) of the same folder is
    refused, naming the holder, instead of appending the same answers twice. The kernel drops
    the lock when its process ends, killed or not, so a crashed run never blocks the next."""
    key = out.resolve()
    if key in _HELD:  # rescore -> evaluate in this process: already ours
        yield
        return
    path = out / LOCK_FILE
    with path.open("a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            for _ in range(20):  # the holder writes its name just after taking the lock
                fh.seek(0)
                holder = fh.read().strip()
                if holder:
                    break
                time.sleep(0.05)
            holder = holder or "another process"
            raise DataError(
                f"{out} is being written by {holder} ({path}); wait for it to finish or choose "
                "another --out"
            ) from None
        fh.seek(0)
        fh.truncate()
        since = datetime.now(UTC).isoformat(timespec="seconds")
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {since}\n")
        fh.flush()
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)  # closing the file releases the lock


def check_run(out: Path, meta: dict) -> None:
    """Refuse to append to predictions made under another checkpoint, split, mode or ablation,
    or under an earlier state of the same checkpoint folder (retrained in place)."""
    run = out / RUN_FILE
    if not run.is_file():
        write_json(run, meta)
        return
    old = read_json(run)
    diff = [k for k in RUN_KEYS if old.get(k) != meta.get(k)]
    if diff:
        was = ", ".join(f"{k}={old.get(k)!r}" for k in diff)
        raise SystemExit(f"{out} holds predictions of another run ({was}); choose another --out")
    if old.get("checkpoint_id") is None:  # written before identities were kept: adopt this one
        write_json(run, meta)
    elif old["checkpoint_id"] != meta.get("checkpoint_id"):
        raise SystemExit(
            f"{out} holds predictions of an earlier state of {meta['checkpoint']} (its files "
            "changed since: retrained?); remove the folder or choose another --out"
        )


@contextmanager
def rescoring(out: Path) -> Iterator[tuple[dict, int, bool]]:
    """Hold a finished evaluation folder and give (its run metadata, how many of the split's
    first samples it answered or skipped, whether it skipped any) for evaluating it again."""
    run, summary = out / RUN_FILE, out / SUMMARY_FILE
    if not run.is_file() or not summary.is_file():
        raise DataError(f"{out}: no finished evaluation ({run.name} and {summary.name}) to rescore")
    with holding(out):
        meta = read_json(run)
        bad = [k for k in ("checkpoint", "data", "split", "mode", "ablation")
               if not isinstance(meta.get(k), str)]  # fmt: skip
        if bad:
            raise DataError(f"{run}: no {', '.join(bad)}")
        skipped = set(skipped_of(summary, read_json(summary)))
        records = read_split(meta["data"], meta["split"])
        done, _ = read_done(out / PREDICTIONS_FILE)
        answered = [record_key(r) in done or record_key(r) in skipped for r in records]
        n = sum(answered)  # a --limit run answered (or skipped) the first n
        if n == 0 or not all(answered[:n]):
            raise DataError(f"{out}: {n} of {len(records)} answered, not the split's first {n}")
        yield meta, n, bool(skipped)

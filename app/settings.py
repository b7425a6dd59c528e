"""Where the app reads its checkpoint, data and runs: env vars, overridden by CLI args.

    python -m streamlit run app/main.py -- --checkpoint checkpoints/demo --data data/demo

Env vars: SURGVIVQA_CHECKPOINT, SURGVIVQA_DATA, SURGVIVQA_RUNS, SURGVIVQA_DEVICE.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from model.layout import is_checkpoint

ROOT = Path(__file__).resolve().parents[1]  # the repository root: defaults are relative to it


def short_path(path: Path | str) -> str:
    """A path as the pages show it: relative to the project or the working folder, else its
    last two parts. A browser never sees the server's own folder layout."""
    p = Path(path).expanduser().resolve()
    for base in (ROOT, Path.cwd()):
        try:
            return str(p.relative_to(base.resolve()))
        except ValueError:
            pass
    return str(Path(*p.parts[-2:])) if len(p.parts) > 2 else p.name


@dataclass(frozen=True)
class Settings:
    checkpoint: Path = ROOT / "checkpoints" / "demo"  # the shipped tiny demo model
    data: Path = ROOT / "data" / "demo"  # what `make data` writes
    runs: Path = ROOT / "runs"  # evaluation.evaluate writes runs/<name>/summary.json
    device: str | None = None  # None: the predictor picks (cuda when available, else cpu)

    @property
    def checkpoints_root(self) -> Path:
        """The folder holding sibling checkpoints (each may carry eval/summary.json)."""
        return self.checkpoint.parent

    @property
    def has_checkpoint(self) -> bool:
        return is_checkpoint(self.checkpoint)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="app/main.py", add_help=False)
    p.add_argument("--checkpoint")
    p.add_argument("--data")
    p.add_argument("--runs")
    p.add_argument("--device")
    return p


def _script_args(argv: list[str]) -> list[str]:
    # `streamlit run app/main.py -- --data D` leaves argv = [app/main.py, --data, D]; under
    # pytest or any other host argv belongs to someone else, so it is ignored.
    if argv and Path(argv[0]).name == "main.py" and Path(argv[0]).parent.name == "app":
        return argv[1:]
    return []


def _path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (Path.cwd() / path).resolve()


def load(argv: list[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Settings from env vars, then CLI args after `--` (the last word wins)."""
    env = dict(os.environ) if env is None else env
    args, _ = _parser().parse_known_args(_script_args(sys.argv if argv is None else argv))
    d = Settings()

    def pick(cli: str | None, var: str, default: Path) -> Path:
        value = cli or env.get(var)
        return _path(value) if value else default

    return Settings(
        checkpoint=pick(args.checkpoint, "SURGVIVQA_CHECKPOINT", d.checkpoint),
        data=pick(args.data, "SURGVIVQA_DATA", d.data),
        runs=pick(args.runs, "SURGVIVQA_RUNS", d.runs),
        device=args.device or env.get("SURGVIVQA_DEVICE") or None,
    )

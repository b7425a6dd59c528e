"""The commands as a user first meets them: `--help` of every command answers at once (no torch
loaded for it) and explains every option, and the README's quick commands run as written.

Each command runs in its own interpreter, as a user would start it; the measured seconds are
printed (`pytest -s`): the aim is under 2 s each, the assert only a loose guard against an
import of torch creeping back (CI machines vary)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import pytest

from tests.test_doors import cli_modules

ROOT = Path(__file__).resolve().parents[1]
HELP_TARGET_S = 2.0  # the aim, printed beside each figure
HELP_GUARD_S = 10.0  # the assert: torch alone takes longer than this on a loaded 2-core box


def run(args: list[str], cwd: Path = ROOT, timeout: float = 120) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, seconds) of `python ARGS` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    p = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    return p.returncode, p.stdout, p.stderr, time.perf_counter() - t


@cache
def helped(module: str) -> tuple[int, str, str, float]:
    return run(["-m", module, "--help"])


def options_without_help(text: str) -> list[str]:
    """The arguments of an argparse --help text that have no help string of their own."""
    lines = text.splitlines()
    bare, in_args = [], False
    for i, line in enumerate(lines):
        if line and not line[0].isspace():  # "options:", "positional arguments:", usage...
            in_args = line.endswith(":") and not line.startswith("usage")
            continue
        if not in_args or not re.match(r"  \S", line):
            continue  # wrapped help text (deeper indent) or a blank line
        invocation, *text_ = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if not text_ and not re.match(r"\s{3,}\S", nxt):
            bare.append(invocation)
    return bare


def test_the_help_parser_sees_what_argparse_writes():
    import argparse

    ap = argparse.ArgumentParser(prog="x")
    ap.add_argument("src", help="a source")
    ap.add_argument("dst")
    ap.add_argument("--long-option-name-with-choices", choices=("alpha", "beta"), help="which")
    ap.add_argument("--bare", type=int)
    ap.add_argument("--flag", action="store_true", help="a flag")
    assert options_without_help(ap.format_help()) == ["dst", "--bare BARE"]


COMMANDS = cli_modules()


@pytest.mark.parametrize("module", COMMANDS)
def test_help_answers_at_once(module):
    code, out, err, seconds = helped(module)
    verdict = "ok" if seconds < HELP_TARGET_S else "over the aim"
    print(f"\n{module} --help: {seconds:.2f} s (aim < {HELP_TARGET_S:g} s: {verdict})")
    assert code == 0 and out.startswith("usage:"), err[-2000:]
    assert seconds < HELP_GUARD_S, (
        f"{module} --help took {seconds:.1f} s: a heavy import at the top?"
    )


@pytest.mark.parametrize("module", COMMANDS)
def test_every_option_says_what_it_is(module):
    code, out, err, _ = helped(module)
    assert code == 0, err[-2000:]
    bare = options_without_help(out)
    assert not bare, f"{module}: give these help text: {bare}"


def test_readout_spells_the_head_kinds_of_training_warmup():
    from evaluation.readout import KINDS
    from training.warmup import KINDS as WARMUP_KINDS

    assert KINDS == WARMUP_KINDS


# --- the README's commands, as written -------------------------------------------------------


def readme_commands() -> list[str]:
    """Every `python -m ...` command of the README, in code blocks (continuations joined) and
    in inline code, with the `.venv/bin/` prefix and trailing comments dropped."""
    text = (ROOT / "README.md").read_text()
    found = []
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            found.append(line.split(" #")[0])
    found += re.findall(r"`([^`\n]*python -m [^`\n]*)`", text)
    cmds = []
    for c in found:
        m = re.search(r"(?:\.venv/bin/)?python -m \S.*", c)
        if m and m.group(0).strip() not in cmds:
            cmds.append(" ".join(m.group(0).split()))
    return cmds


# Placeholders (DATA, C, RUN...) and commands that train, evaluate, download or write into the
# repository: their --help alone. The others run as written, reading data/demo only.
PLACEHOLDER = re.compile(r"(?<![\w./-])[A-Z][A-Z_]*(?![\w])|\.\.\.|\[")
AS_WRITTEN = ("python -m data.stats",)


def test_the_readme_names_its_commands():
    cmds = readme_commands()
    assert len(cmds) >= 20, cmds
    assert set(AS_WRITTEN) <= set(cmds), "the README no longer says these as written"
    assert "python -m data.split DATA --test-videos VIDEO_ID" in cmds
    assert PLACEHOLDER.search("python -m data.split DATA --test-videos VIDEO_ID")
    assert not PLACEHOLDER.search("python -m data.stats")


@pytest.mark.parametrize("command", readme_commands())
def test_a_readme_command_starts(command):
    """Every command's module exists and its --help answers (placeholders or minutes of work
    keep the rest from running here)."""
    module = shlex.split(command)[2]
    if module.split(".")[0] not in ("data", "model", "training", "evaluation"):
        pytest.skip(f"{module}: not a command of ours")
    code, out, err, _ = helped(module)
    assert code == 0 and "usage:" in out, f"{command}: {err[-1000:]}"


def demo_copy(tmp_path: Path) -> Path:
    """A working folder whose data/demo is the demo data (read only here), or a skip."""
    demo = ROOT / "data" / "demo"
    if not (demo / "splits" / "test.jsonl").is_file():
        pytest.skip("no demo data (make data)")
    work = tmp_path / "repo"
    (work / "data").mkdir(parents=True)
    (work / "data" / "demo").symlink_to(demo)
    return work


@pytest.mark.parametrize("command", AS_WRITTEN)
def test_a_quick_readme_command_runs_as_written(command, tmp_path):
    work = demo_copy(tmp_path)
    code, out, err, seconds = run(shlex.split(command)[1:], cwd=work)
    print(f"\n{command}: {seconds:.2f} s")
    assert code == 0 and out.startswith("# Data distribution"), err[-2000:]


def test_the_distribution_page_is_what_its_command_writes_now(tmp_path):
    """docs/data_distribution.md names the command that wrote it: run again on the demo data,
    it writes the same page (7,680 records were left on it after the stranger split came)."""
    work = demo_copy(tmp_path)
    page = (ROOT / "docs" / "data_distribution.md").read_text()
    command = re.search(r"Generated by `([^`]+)`", page).group(1)
    args = shlex.split(command)
    assert args[:3] == ["python", "-m", "data.stats"], command
    (work / "docs").mkdir()
    code, _, err, _ = run(args[1:], cwd=work)
    assert code == 0, err[-2000:]
    assert (work / "docs" / "data_distribution.md").read_text() == page

"""Every module of ours imports on its own; the import graph among them has no cycle and goes
the folders' way (docs/architecture.md, "Folders and the direction of imports").

    .venv/bin/python -m pytest tests/test_imports.py -q

A module that does not load torch at import is imported alone in a fresh interpreter (and a
data/ module must leave torch unloaded). One that loads torch takes ~6 s to import here, so
those are imported in one fresh interpreter per package, in turn. pages/ and app/main.py are
Streamlit scripts that draw the UI at import: they are parsed for the graph, not imported.
The graph counts imports inside functions too, but not those under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("app", "pages", "data", "model", "training", "evaluation")
SCRIPTS = {"app.main"}  # besides pages/: Streamlit scripts, not libraries
HEAVY = {"torch", "transformers", "peft", "accelerate"}  # third-party roots that load torch
ALLOWED = {  # folder -> folders of ours it may import (docs/architecture.md)
    "app": {"app", "pages", "model", "data"},
    "pages": {"app", "pages", "model", "data"},
    "training": {"training", "model", "data"},
    # evaluate, baselines, benchmark and report are the doc's training/ row, moved out of it
    "evaluation": {"evaluation", "training", "model", "data"},
    "model": {"model"},  # nothing of ours
    "data": {"data"},  # no torch; besides, only the torch-free model modules below
}
# where they exist; the check below then holds them to no torch like the data modules
DATA_MAY_IMPORT = {"model.layout", "model.audio", "model.cli", "model.image"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for f in FOLDERS for p in sorted((ROOT / f).rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _ours(name: str) -> str | None:
    """`name` or its longest prefix that is a module of ours."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in modules():
            return ".".join(parts[:k])
    return None


@cache
def imports(mod: str) -> tuple[tuple[str, bool], ...]:
    """(imported module, at module scope) for every import statement in `mod`'s file: ours
    resolved to the module (`from data import synth` -> data.synth), others to their root."""
    path = modules()[mod]
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: list[tuple[str, bool]] = []

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        if node.level:
            up = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*up, base] if base else up)
        return [f"{base}.{a.name}" if _ours(base) else base for a in node.names]

    def walk(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for sub in child.orelse:
                    walk(ast.Module(body=[sub], type_ignores=[]), top)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                for t in targets(child):
                    out.append((_ours(t) or t.split(".")[0], top))
            inner = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            walk(child, top and not inner)

    walk(ast.parse(path.read_text(), str(path)), True)
    return tuple(dict.fromkeys(out))


def edges(mod: str, top_only: bool = False) -> set[str]:
    """Modules of ours that `mod` imports (at module scope only, with top_only)."""
    return {t for t, top in imports(mod) if t in modules() and t != mod and (top or not top_only)}


@cache
def loads_torch(mod: str) -> bool:
    """Whether importing `mod` loads torch, from the imports run at module scope."""
    seen, todo = set(), [mod]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        if any(t in HEAVY for t, top in imports(m) if top):
            return True
        todo += edges(m, top_only=True)
    return False


def importable() -> list[str]:
    return [m for m in modules() if m.split(".")[0] != "pages" and m not in SCRIPTS]


def torch_free_required() -> set[str]:
    data = {m for m in modules() if m.split(".")[0] == "data"}
    return data | {t for m in data for t in edges(m) if t in DATA_MAY_IMPORT}


def import_groups() -> dict[str, list[str]]:
    """Test id -> modules imported in turn by one fresh interpreter."""
    groups: dict[str, list[str]] = {}
    for m in importable():
        if loads_torch(m) and m not in torch_free_required():
            groups.setdefault(f"{m.split('.')[0]} (torch)", []).append(m)
        else:
            groups[m] = [m]
    return groups


IMPORT_SCRIPT = """
import importlib, sys, traceback
names, torch_free = sys.argv[1].split(","), sys.argv[2] == "1"
failed = []
for name in names:
    try:
        importlib.import_module(name)
    except BaseException:
        failed.append(name + ":\\n" + traceback.format_exc())
if torch_free and "torch" in sys.modules:
    failed.append(f"{names} loaded torch")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


@pytest.mark.parametrize("group", sorted(import_groups()))
def test_module_imports_in_a_fresh_interpreter(group):
    names = import_groups()[group]
    torch_free = all(m in torch_free_required() for m in names)
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT, ",".join(names), str(int(torch_free))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]


def test_the_walk_finds_every_folder_and_the_imports_in_functions():
    assert {m.split(".")[0] for m in modules()} == set(FOLDERS)
    assert "data.split" in edges("data.synth", top_only=True)
    assert "model.tiny" in edges("evaluation.bench") - edges("evaluation.bench", top_only=True)
    assert "model.predictor" not in edges("model")  # under TYPE_CHECKING only
    assert loads_torch("model.graft") and not loads_torch("data.synth")


def test_no_import_cycle():
    graph = {m: sorted(edges(m)) for m in modules()}
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for t in graph[m]:
            if state.get(t) == 1:
                cycles.append([*path[path.index(t) :], t])
            elif t not in state:
                visit(t)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_folders_import_in_the_documented_direction():
    wrong = []
    for m in modules():
        folder = m.split(".")[0]
        for t in sorted(edges(m)):
            if t.split(".")[0] in ALLOWED[folder]:
                continue
            if folder == "data" and t in DATA_MAY_IMPORT:
                continue
            wrong.append(f"{m} -> {t}")
    assert not wrong, "\n".join(wrong)

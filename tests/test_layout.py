"""Architecture rules: the on-device runtime never imports ``training`` nor the benchmarks, and runs without
torch; no module grows past 400 lines; the project's modules import one another without a cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("assistant", "training")
MAX_LINES = 400

RUNTIME = ["assistant.audio", "assistant.stream", "assistant.gate", "assistant.decision", "assistant.student",
           "assistant.registry", "assistant.intents", "assistant.handlers", "assistant.loop", "assistant.remote",
           "assistant.mic", "assistant.cli", "assistant.commands.loop", "assistant.commands.teacher"]


def test_runtime_imports_neither_training_nor_torch() -> None:
    code = ("import sys, importlib\n"
            f"for m in {RUNTIME!r}: importlib.import_module(m)\n"
            "from assistant.registry import Registry\n"
            "from assistant.student import Student\n"
            "Student(Registry().path()).probs(__import__('numpy').zeros((1, 16000), 'float32'))\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('training', 'torch', 'transformers')\n"
            "             or m.startswith('assistant.bench'))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"the runtime pulled in: {out.stdout.strip()}"


def test_no_runtime_file_imports_training() -> None:
    root = ROOT / "assistant"
    offenders = [str(p) for p in root.rglob("*.py")
                 if any(line.strip().startswith(("import training", "from training")) for line in p.read_text().splitlines())]
    assert offenders == []


def _modules() -> dict[str, Path]:
    """Every module of the two packages by dotted name (a package by its ``__init__.py``)."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def test_no_module_is_over_400_lines() -> None:
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these by responsibility (lines): {long}"


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (module level and inside functions alike:
    a lazy import still closes a cycle, it only moves where it breaks)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [base] + [f"{base}.{a.name}" for a in node.names]  # ``from pkg import module`` too
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle met walking ``graph`` (module -> the modules it imports), as a path back to its start."""
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        if node in trail:
            cycles.append(trail[trail.index(node):] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, trail + [node])
        done.add(node)

    for name in sorted(graph):
        visit(name, [])
    return cycles


def test_no_import_cycle_among_project_modules() -> None:
    modules = _modules()
    cycles = _cycles({name: _imports(name, path, modules) for name, path in modules.items()})
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_sees_a_cycle(tmp_path: Path) -> None:
    """The check above is not vacuous: two modules that import each other (one of them lazily) are a cycle."""
    (tmp_path / "a.py").write_text("from .b import x\n")
    (tmp_path / "b.py").write_text("def x():\n    from .a import y\n")
    modules = {"p.a": tmp_path / "a.py", "p.b": tmp_path / "b.py"}
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph == {"p.a": {"p.b"}, "p.b": {"p.a"}}
    assert _cycles(graph) == [["p.a", "p.b", "p.a"]]

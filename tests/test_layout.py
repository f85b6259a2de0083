"""Architecture rules: the on-device runtime never imports ``training``, and runs without torch."""

from __future__ import annotations

import subprocess
import sys

RUNTIME = ["assistant.audio", "assistant.stream", "assistant.gate", "assistant.decision", "assistant.student",
           "assistant.registry", "assistant.intents", "assistant.handlers", "assistant.loop", "assistant.remote",
           "assistant.mic", "assistant.cli"]


def test_runtime_imports_neither_training_nor_torch() -> None:
    code = ("import sys, importlib\n"
            f"for m in {RUNTIME!r}: importlib.import_module(m)\n"
            "from assistant.registry import Registry\n"
            "from assistant.student import Student\n"
            "Student(Registry().path()).probs(__import__('numpy').zeros((1, 16000), 'float32'))\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('training', 'torch', 'transformers'))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"the runtime pulled in: {out.stdout.strip()}"


def test_no_runtime_file_imports_training() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "assistant"
    offenders = [str(p) for p in root.rglob("*.py")
                 if any(line.strip().startswith(("import training", "from training")) for line in p.read_text().splitlines())]
    assert offenders == []

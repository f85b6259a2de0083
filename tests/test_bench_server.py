"""``training bench-server`` end to end against a real ``serve-teacher`` (short levels, no restart phase)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SAMPLES

pytestmark = pytest.mark.slow


def test_bench_server_reports_levels_checks_and_memory(tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    run = subprocess.run([sys.executable, "-m", "training.cli", "bench-server", "--clients", "1,2", "--seconds", "3",
                          "--no-restart", "--samples", str(SAMPLES), "--report-dir", str(tmp_path), "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(out.read_text())
    for key in ("machine", "teacher", "server", "levels", "throughput_ratio_4_vs_1", "memory_mb", "checks",
                "restart", "date"):
        assert key in data, key
    assert [lv["clients"] for lv in data["levels"]] == [1, 2]
    for lv in data["levels"]:
        assert lv["answered"] > 0 and lv["hung_threads"] == 0, lv
        assert lv["answered"] + lv["rejected_429"] + lv["errors"] == lv["sends"]
        assert set(lv["per_kind"]) == {"command", "intent"} and lv["memory_mb"]["max"] > 0
    assert data["checks"] == {"no_token": 401, "wrong_token": 401, "too_large": 413, "malformed": 400}
    assert data["restart"] is None and data["throughput_ratio_4_vs_1"] is None  # --no-restart; no 4-client level
    assert data["memory_mb"]["overall"]["max"] >= data["memory_mb"]["overall"]["start"] > 0
    assert (tmp_path / "bench-server.md").is_file() and (tmp_path / "bench-server.png").stat().st_size > 0

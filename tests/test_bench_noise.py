"""``training bench-noise``: noise mixed at a set SNR, and the report on real clips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


@pytest.mark.parametrize("snr", [20.0, 10.0, 5.0, -3.0])
def test_noise_is_mixed_at_the_asked_snr(snr: float) -> None:
    from training.bench.noise import mix_at_snr

    rng = np.random.default_rng(0)
    speech = rng.standard_normal(16000).astype(np.float32) * 0.2
    noise = rng.standard_normal(16000).astype(np.float32) * 0.05
    mixed = mix_at_snr(speech, noise, snr)
    got = 10 * np.log10(np.mean(speech ** 2) / np.mean((mixed - speech) ** 2))
    assert mixed.dtype == np.float32 and abs(got - snr) < 1e-3


@pytest.mark.slow
@pytest.mark.data
def test_bench_noise_reports_student_and_teacher_at_each_snr(shared_data: Path, tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "training.cli", "bench-noise", "--data", str(shared_data),
                          "--every", "60", "--snr", "10,0", "--report-dir", str(tmp_path), "--json",
                          str(tmp_path / "n.json"), "--quiet", "--cache", str(tmp_path / "c.sqlite")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    r = json.loads((tmp_path / "n.json").read_text())
    assert [row["snr_db"] for row in r["rows"]] == [None, 10.0, 0.0]
    assert all(0 <= row["student"] <= 1 and 0 <= row["teacher"] <= 1 for row in r["rows"])
    assert r["rows"][0]["teacher"] > 0.5 and (tmp_path / "noise-accuracy.png").is_file()

"""It keeps running: a short soak through the real loop, and a microphone that delivers garbage."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.audio import load_audio
from assistant.bench.soak import clip_pool, run_soak, scenes
from assistant.intents import IntentSet
from assistant.loop import Assistant
from assistant.registry import Registry
from assistant.student import Student

from .conftest import sample

ROOT = Path(__file__).resolve().parents[1]


def _bot() -> Assistant:
    return Assistant(Student(Registry().path()), IntentSet.load(), None)


def test_scenes_come_from_the_pool_and_stay_in_range(tmp_path: Path) -> None:
    pool = clip_pool(tmp_path / "no-data", ROOT, random.Random(0))  # no real data: shipped clips + synthetic noise
    assert pool["commands"] and pool["speech"] and pool["noise"] and pool["source"] == ["audio_samples + synthetic noise"]
    gen = scenes(pool, random.Random(1))
    for _ in range(50):
        s = next(gen)
        assert s.dtype == np.float32 and s.size > 0 and np.isfinite(s).all() and np.abs(s).max() <= 1


def test_a_short_soak_reports_flat_memory_and_no_errors(tmp_path: Path) -> None:
    pool = clip_pool(tmp_path / "no-data", ROOT, random.Random(0))
    r = run_soak(_bot(), 0.05, pool, seed=0, progress=False)
    assert r["audio_hours"] >= 0.05 and r["errors"] == 0 and r["realtime_factor"] > 1
    assert r["latency_ms_first_hour"]["n"] > 0 and r["decisions_per_hour"][0] > 0
    assert r["rss_growth_mb"] is not None and r["rss_growth_mb"] < 50 and len(r["rss_mb"]) >= 3


@pytest.mark.slow
def test_the_soak_command_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    r = subprocess.run([sys.executable, "-m", "assistant.cli", "soak", "--hours", "0.03", "--no-teacher",
                        "--data", str(tmp_path / "none"), "--report-dir", str(tmp_path), "--json", str(out)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads(out.read_text())
    for key in ("audio_hours", "realtime_factor", "rss_growth_mb", "latency_ms_first_hour", "latency_ms_last_hour",
                "errors", "machine"):
        assert key in data, key
    assert (tmp_path / "soak-student.md").is_file()


@pytest.mark.parametrize("garbage", ["nan", "inf", "zeros", "clipping", "dc"])
def test_a_microphone_delivering_garbage_for_seconds_then_a_command(garbage: str) -> None:
    """Seconds of NaN, inf, silence, full-scale clipping or DC from the microphone: no crash, and the next
    real command is still answered."""
    rng = np.random.default_rng(0)
    bad = {"nan": np.full(16000, np.nan), "inf": np.full(16000, np.inf), "zeros": np.zeros(16000),
           "clipping": np.sign(rng.normal(size=16000)), "dc": np.full(16000, 0.9)}[garbage].astype(np.float32)
    bot = _bot()
    for _ in range(3):  # 3 s of it, in microphone-sized chunks
        for i in range(0, bad.size, 320):
            bot.feed(bad[i:i + 320])
    quiet = np.zeros(16000, np.float32)
    yes = load_audio(sample("yes")).samples
    events = bot.feed_all(np.concatenate([quiet, yes, quiet]), 320)
    answered = [e for e in events if e.intent is not None]
    assert answered and answered[-1].intent.intent == "Confirm", [(e.decision.action, e.answer) for e in events]

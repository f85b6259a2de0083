"""The labelling job as a user runs it: resumable after a kill, shardable, bad files skipped and listed."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from training.cache import LabelCache

from .conftest import COMMANDS

pytestmark = pytest.mark.slow
TRAINING = [sys.executable, "-m", "training.cli"]


def _rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM labels").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """The shipped samples, plus a corrupt and an empty file."""
    root = tmp_path / "clips"
    shutil.copytree(COMMANDS, root)
    (root / "yes" / "broken.wav").write_bytes(b"RIFF0000WAVEnope" * 4)
    (root / "no" / "empty.flac").write_bytes(b"")
    return root


def _label(folder: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*TRAINING, "label", str(folder), "--cache", str(cache), "--threads", "2",
                           "--batch-size", "2", "--quiet", *extra], capture_output=True, text=True, timeout=600)


def test_kill_then_resume_loses_nothing_and_repeats_nothing(folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "labels.sqlite"
    total = len(list(folder.rglob("*.flac"))) - 1  # minus the empty file
    proc = subprocess.Popen([*TRAINING, "label", str(folder), "--cache", str(cache), "--threads", "2",
                             "--batch-size", "2", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _rows(cache) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _rows(cache)
    assert 0 < before < total, "the kill should land mid-run"
    out = _label(folder, cache, "--json", str(tmp_path / "run.json"))
    assert out.returncode == 0, out.stderr
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["clips"] == total
    assert run["cached"] == before and run["new"] == total - before  # nothing lost, nothing twice
    assert _rows(cache) == total
    assert {Path(p).name for p, _ in run["bad"]} == {"broken.wav", "empty.flac"}
    assert "skipped" in out.stdout and "broken.wav" in out.stdout


def test_shards_split_the_work_and_merge(folder: Path, tmp_path: Path) -> None:
    a, b, whole = tmp_path / "a.sqlite", tmp_path / "b.sqlite", tmp_path / "whole.sqlite"
    for shard, db in (("0/2", a), ("1/2", b)):
        assert _label(folder, db, "--shard", shard).returncode == 0
    na, nb = _rows(a), _rows(b)
    assert na > 0 and nb > 0
    merged = subprocess.run([*TRAINING, "cache-merge", str(a), str(b), "--cache", str(whole)],
                            capture_output=True, text=True)
    assert merged.returncode == 0, merged.stderr
    assert _rows(whole) == na + nb == len(list(folder.rglob("*.flac"))) - 1
    # a shard run's labels equal a single run's labels
    single = tmp_path / "single.sqlite"
    assert _label(folder, single).returncode == 0
    ca, cs = LabelCache(whole), LabelCache(single)
    rows = ca.db.execute("SELECT audio_sha, teacher, labelset FROM labels").fetchall()
    for sha, teacher, ls in rows:
        x, y = ca.get_many([sha], teacher, ls)[sha], cs.get_many([sha], teacher, ls)[sha]
        assert np.allclose(x.probs, y.probs, atol=1e-4)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    out = subprocess.run([*TRAINING, "label", str(tmp_path / "missing")], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "no such file or folder" in out.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    out = subprocess.run([*TRAINING, "label", str(empty)], capture_output=True, text=True)
    assert out.returncode == 2 and "no audio files" in out.stderr
    out = subprocess.run([*TRAINING, "label", str(empty), "--shard", "3/2"], capture_output=True, text=True)
    assert out.returncode == 2 and "--shard" in out.stderr and "Traceback" not in out.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("labels:\n  yes: [yes]\n")
    out = subprocess.run([*TRAINING, "label", str(COMMANDS), "--labelset", str(bad)], capture_output=True, text=True)
    assert out.returncode == 2 and "quote it" in out.stderr and "Traceback" not in out.stderr

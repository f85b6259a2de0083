"""Labelling on a real two-node Ray cluster (loopback): same answers as one process, a killed worker loses
nothing, and without Ray the user is told which extra to install."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile as sf

from assistant.audio import load_audio
from training.cache import LabelCache
from training.corpus import find_clips

from .conftest import COMMANDS

RAY = Path(sys.executable).parent / "ray"
SPEC = {"model": "tiny.en", "backend": "ctranslate2", "compute_type": "float32"}
ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}  # loopback only: no token to hand around


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nodes(address: str) -> int:
    r = subprocess.run([str(RAY), "status", "--address", address], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **ENV})
    return r.stdout.split("Pending:")[0].count(" node_") if r.returncode == 0 else 0


def _start(args: list[str]) -> subprocess.Popen:
    """``ray start ... --block`` in a process group of its own, so teardown ends exactly what it started."""
    return subprocess.Popen([str(RAY), "start", *args, "--num-cpus", "1", "--node-ip-address", "127.0.0.1",
                             "--disable-usage-stats", "--block"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **ENV}, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()  # ``ray start --block`` stops its node's processes on SIGTERM
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever of that group is left
    except ProcessLookupError:
        pass
    proc.wait()


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A head and one worker node, 1 CPU each, on this machine; yields (address, their ``ray start`` processes)."""
    pytest.importorskip("ray")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    with pytest.MonkeyPatch.context() as mp:
        for k, v in ENV.items():
            mp.setenv(k, v)
        try:
            procs.append(_start(["--head", "--port", str(port), "--include-dashboard=false"]))
            deadline = time.time() + 180
            while _nodes(address) < 1 and time.time() < deadline:
                time.sleep(1)
            procs.append(_start(["--address", address]))
            while _nodes(address) < 2 and time.time() < deadline:
                time.sleep(1)
            assert _nodes(address) == 2, "the two-node Ray cluster did not come up in 3 minutes"
            yield address, procs
        finally:
            for p in reversed(procs):
                _stop(p)
            current = Path("/tmp/ray/ray_current_cluster")  # the head's note of itself: stale once it stops
            if current.is_file() and current.read_text().strip().endswith(f":{port}"):
                current.unlink()


@pytest.fixture(scope="module")
def labelset():
    from assistant.labelset import load_labelset

    return load_labelset("speech_commands")


@pytest.mark.slow
def test_cluster_labels_match_one_process(cluster, labelset, ct2_teacher, tmp_path: Path) -> None:
    from training.cluster import label_clips_ray
    from training.label import label_clips

    address, _ = cluster
    clips = [find_clips([d])[0] for d in sorted(COMMANDS.iterdir()) if d.is_dir()]  # 12: one per label
    assert len(clips) == 12
    remote_cache, local_cache = LabelCache(tmp_path / "ray.sqlite"), LabelCache(tmp_path / "one.sqlite")
    remote = label_clips_ray(clips, SPEC, labelset, remote_cache, address=address, batch_size=4, progress=False)
    local = label_clips(clips, ct2_teacher, labelset, local_cache, batch_size=4, progress=False)
    assert remote.new == 12 and not remote.bad and remote_cache.count() == 12
    assert list(remote.labels) == list(local.labels)  # the same clips, in clip order
    diff = max(float(np.abs(remote.labels[p].probs - local.labels[p].probs).max()) for p in local.labels)
    print(f"\nmax |probs(ray) - probs(one process)| over 12 clips: {diff:.2e}")
    assert diff <= 1e-3
    assert all(remote.labels[p].top == local.labels[p].top for p in local.labels)
    assert all(remote.labels[p].transcript["text"] == local.labels[p].transcript["text"] for p in local.labels)
    # the driver stores under its own teacher id, so the one-process path finds the cluster's labels
    assert remote_cache.get_many([load_audio(clips[0].path).sha256], ct2_teacher.id, labelset.id)
    rerun = label_clips_ray(clips, SPEC, labelset, remote_cache, address="127.0.0.1:1", progress=False)
    assert rerun.cached == 12 and rerun.new == 0  # all cached: Ray is not even contacted


def _variants(root: Path, n: int) -> int:
    """``n`` clips from the shipped ones at gains 0.9..1.1 (distinct audio), plus an exact copy and a broken
    file; returns the number of distinct readable clips."""
    shipped = sorted(COMMANDS.rglob("*.flac"))
    for i in range(n):
        src = shipped[i % len(shipped)]
        x = load_audio(src).samples * np.float32(0.9 + 0.2 * i / max(1, n - 1))
        out = root / src.parent.name / f"{src.stem}-g{i:02d}.wav"
        out.parent.mkdir(parents=True, exist_ok=True)
        sf.write(out, x, 16000, subtype="FLOAT")  # float32 WAV: load_audio gives back exactly these samples
    first = next(root.rglob("*-g00.wav"))
    (first.parent / "copy-of-g00.wav").write_bytes(first.read_bytes())
    (root / "yes").mkdir(exist_ok=True)
    (root / "yes" / "broken.wav").write_bytes(b"RIFF0000WAVEnope" * 4)
    return n


def _descendants(roots: set[int]) -> Iterator[tuple[int, str]]:
    """(pid, command line) of the processes below ``roots`` (Linux /proc)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    for pid in parent:
        p = pid
        while p in parent and p not in roots and p > 1:
            p = parent[p]
        if p in roots and pid not in roots:
            try:
                yield pid, (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue


@pytest.mark.slow
def test_killed_worker_loses_no_clip(cluster, labelset, ct2_teacher, tmp_path: Path) -> None:
    from training.cluster import label_clips_ray

    address, procs = cluster
    distinct = _variants(tmp_path / "clips", 40)
    clips = find_clips([tmp_path / "clips"])
    db = tmp_path / "labels.sqlite"
    cache = LabelCache(db)
    killed: list[int] = []

    def kill_one_actor() -> None:  # once a few batches are committed, SIGKILL one teacher actor's process
        deadline = time.time() + 240
        while time.time() < deadline and not killed:
            with sqlite3.connect(db, timeout=5) as c:
                done = c.execute("SELECT COUNT(*) FROM labels").fetchone()[0]
            if done >= 6:
                actors = [pid for pid, cmd in _descendants({p.pid for p in procs}) if "Labeller" in cmd]
                if actors:
                    os.kill(actors[0], signal.SIGKILL)
                    killed.append(actors[0])
            time.sleep(0.2)

    killer = threading.Thread(target=kill_one_actor, daemon=True)
    killer.start()
    run = label_clips_ray(clips, SPEC, labelset, cache, teacher_id=ct2_teacher.id, address=address, batch_size=2,
                          progress=False)
    killer.join(5)
    assert killed, "no teacher actor process was found to kill"
    assert len(run.bad) == 1 and run.bad[0][0].endswith("broken.wav")
    assert len(run.labels) == len(clips) - 1  # every readable clip, the copy included
    assert run.new == distinct and run.cached == 1  # the exact copy is labelled once
    assert cache.count() == distinct  # nothing missing, nothing stored twice
    shas = {load_audio(c.path).sha256 for c in clips if not c.path.name.startswith("broken")}
    assert set(cache.get_many(shas, ct2_teacher.id, labelset.id)) == shas


def test_without_ray_one_line_names_the_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                              tmp_path: Path) -> None:  # not slow: it fails before a teacher loads
    from training.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the 'cluster' extra were not installed
    code = main(["label", str(COMMANDS / "yes"), "--ray", "--cache", str(tmp_path / "c.sqlite"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["error: this needs the 'cluster' extra (ray is not installed): pip install "
                   "'voice-assistant[cluster]'"]

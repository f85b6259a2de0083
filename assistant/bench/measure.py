"""Measurement helpers shared by the benchmarks: timing statistics, peak memory, the device profile, and
one real-time pass of the streaming loop over a scripted session."""

from __future__ import annotations

import os
import platform
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

from ..audio import SAMPLE_RATE
from ..decision import Action
from ..intents import IntentSet
from ..loop import Assistant, LoopConfig, Transcriber
from ..student import Student

CHUNK = SAMPLE_RATE // 50
"""20 ms: what a microphone delivers per callback."""


def machine() -> dict:
    """Where a figure was measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(terse=True)}


def stats(xs: list[float] | np.ndarray) -> dict:
    """n, median, p95, p99, mean of a sample (None when empty)."""
    a = np.asarray(xs, dtype=np.float64)
    if a.size == 0:
        return {"n": 0, "median": None, "p95": None, "p99": None, "mean": None}
    return {"n": int(a.size), "median": float(np.median(a)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean())}


def time_calls(fn: Callable[[], object], runs: int, warmup: int = 20) -> list[float]:
    """Milliseconds per call of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (MiB): Linux ``VmHWM``, which, unlike ``ru_maxrss``,
    does not carry over the parent's peak across fork + exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024


def apply_profile(profile: str) -> dict:
    """``small``: pin this process to one core (children inherit it); ``host``: leave it. Returns what was set."""
    if profile == "small" and hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return {"profile": "small", "cores": [core], "threads": 1}
    return {"profile": profile, "cores": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}


def session_run(student: Student, intents: IntentSet, transcribe: Transcriber | None,
                audio: np.ndarray, script: list[dict], realtime: bool = True, cfg: LoopConfig | None = None,
                profile: dict[str, list[float]] | None = None) -> list[dict]:
    """One pass of the streaming loop over a scripted session, fed in 20 ms chunks (at real-time pace unless
    ``realtime`` is False). Per utterance: its answer and the response time (ms) from the wall-clock moment
    its last speech sample arrived to the moment its answer existed. Deferrals go to a worker thread, as in
    ``assistant listen``. ``profile``, when given, collects seconds per loop stage and hop."""
    answers: list[tuple[float, object]] = []  # (wall time answered, event)
    teacher_ms: dict[int, float | None] = {}
    lock = threading.Lock()
    worker = ThreadPoolExecutor(max_workers=1)
    local = threading.local()

    def timed(seg: np.ndarray):
        t0 = time.perf_counter()
        try:
            return transcribe(seg)  # type: ignore[misc]
        finally:
            local.ms = (time.perf_counter() - t0) * 1000

    def resolve(seg: np.ndarray, pending) -> None:
        local.ms = None
        ev = bot.resolve(seg, pending)
        with lock:
            answers.append((time.perf_counter(), ev))
            teacher_ms[id(ev)] = local.ms

    def defer(seg: np.ndarray, pending) -> None:
        worker.submit(resolve, seg, pending)

    bot: Assistant
    bot = Assistant(student, intents, timed if transcribe else None, cfg, defer=defer)
    if profile is not None:
        bot.profile = profile
    start = time.perf_counter()
    for i in range(0, audio.size, CHUNK):
        if realtime:
            time.sleep(max(0.0, start + (i + CHUNK) / SAMPLE_RATE - time.perf_counter()))  # chunk i has "arrived"
        for ev in bot.feed(audio[i:i + CHUNK]):
            if ev.answered_by == "student":
                with lock:
                    answers.append((time.perf_counter(), ev))
    for ev in bot.flush():
        if ev.answered_by == "student":
            answers.append((time.perf_counter(), ev))
    worker.shutdown(wait=True)
    rows = []
    for utt in script:
        # the answer belongs to the first decision taken after the utterance began
        mine = [(t, ev) for t, ev in answers if ev.decision.action is not Action.IGNORE
                and utt["start_s"] <= ev.decision.time_s <= utt["end_s"] + 2.5]
        if not mine:
            rows.append({**utt, "answered": False})
            continue
        t, ev = min(mine, key=lambda x: x[1].decision.time_s)
        arrived = start + utt["end_s"] if realtime else None  # wall time the last speech sample arrived
        rows.append({**utt, "answered": True, "action": ev.decision.action.value, "answered_by": ev.answered_by,
                     "intent_got": ev.intent.intent if ev.intent else None, "answer": ev.answer,
                     "right": bool(ev.intent and ev.intent.intent == utt["intent"]),
                     "decided_at_s": ev.decision.time_s,
                     "audio_wait_ms": (ev.decision.time_s - utt["end_s"]) * 1000,
                     "compute_ms": ev.compute_ms, "teacher_ms": teacher_ms.get(id(ev)),
                     "response_ms": (t - arrived) * 1000 if arrived is not None else None})
    return rows

"""``assistant soak``: hours of audio through the real loop as fast as it goes — commands, requests, other
speech, noise and quiet in random order — with resident memory, decision latency and errors over time.

A kitchen-shelf assistant listens for days; this shows whether memory stays flat, latency stays steady and
nothing breaks. The stream is generated scene by scene from a pool of clips (never held whole: 10 h of
16 kHz audio is 2.3 GB), from ``--data`` (``../shared/data``) where present, else from ``audio_samples/``
and synthetic noise.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from ..audio import SAMPLE_RATE, load_audio
from ..errors import AssistantError
from .measure import machine

CHUNK = SAMPLE_RATE // 10
"""Samples fed per call (100 ms, as a microphone callback delivers them)."""
RSS_EVERY_S = 60.0
"""Audio seconds between two memory samples."""
WARMUP_S = 600.0
"""Memory growth is counted after this much audio (allocators and caches settle first)."""


def rss_mb() -> float:
    """This process's resident memory (MB), from /proc (0 where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _clips(paths: list[Path], n: int, rng: random.Random, max_s: float) -> list[np.ndarray]:
    """Up to ``n`` of ``paths`` loaded (unreadable ones skipped: the soak is about the loop)."""
    out = []
    for p in rng.sample(paths, min(n, len(paths))):
        try:
            out.append(load_audio(p, max_seconds=max_s).samples)
        except AssistantError:
            continue
    return out


def clip_pool(data: Path, root: Path, rng: random.Random) -> dict[str, list[np.ndarray]]:
    """Commands, longer speech and noise to build scenes from: real recordings where ``data`` has them."""
    def files(d: Path, pattern: str = "*") -> list[Path]:
        return sorted(p for p in d.rglob(pattern) if p.suffix in (".wav", ".flac")) if d.is_dir() else []

    commands = files(data / "gsc_v2_test_dev")
    speech = files(data / "coffee_orders" / "clips") + files(data / "librispeech_snippets") + files(data / "fsdd")
    noise = files(data / "noise")
    pool = {"commands": _clips(commands, 400, rng, 2.0), "speech": _clips(speech, 150, rng, 10.0), "noise": []}
    for n in _clips(noise, 6, rng, 3600.0):
        pool["noise"] += [n[i:i + 8 * SAMPLE_RATE] for i in range(0, n.size - 8 * SAMPLE_RATE, 8 * SAMPLE_RATE)]
    if not pool["commands"]:
        pool["commands"] = _clips(files(root / "audio_samples" / "commands"), 400, rng, 2.0)
    if not pool["speech"]:
        pool["speech"] = _clips(files(root / "audio_samples" / "session"), 4, rng, 60.0)
    if not pool["noise"]:
        g = np.random.default_rng(rng.randrange(2**32))
        pool["noise"] = [np.cumsum(g.normal(0, 1, 8 * SAMPLE_RATE)).astype(np.float32) for _ in range(8)]
        pool["noise"] = [0.05 * x / (np.abs(x).max() + 1e-9) for x in pool["noise"]]
    pool["source"] = ["../shared/data" if commands else "audio_samples + synthetic noise"]  # type: ignore[list-item]
    return pool


def scenes(pool: dict, rng: random.Random) -> Iterator[np.ndarray]:
    """Endless scenes: a command and a pause (45 %), a longer utterance (15 %), noise (20 %), quiet (20 %)."""
    g = np.random.default_rng(rng.randrange(2**32))
    while True:
        r = rng.random()
        quiet = (g.normal(0, 10 ** (-60 / 20), int(rng.uniform(0.4, 1.5) * SAMPLE_RATE))).astype(np.float32)
        if r < 0.45:
            body = rng.choice(pool["commands"]) * rng.uniform(0.3, 1.5)
        elif r < 0.60:
            body = rng.choice(pool["speech"])
        elif r < 0.80:
            body = rng.choice(pool["noise"]) * rng.uniform(0.2, 1.0)
        else:
            body = np.zeros(int(rng.uniform(2, 6) * SAMPLE_RATE), np.float32)
        yield np.clip(np.concatenate([body.astype(np.float32), quiet]), -1, 1)


def run_soak(bot, hours: float, pool: dict, seed: int = 0, progress: bool = True) -> dict:
    """Feed ``hours`` of scenes to ``bot`` (an :class:`~assistant.loop.Assistant`); the figures."""
    rng = random.Random(seed)
    total = int(hours * 3600 * SAMPLE_RATE)
    fed, errors, first_errors = 0, 0, []
    rss: list[tuple[float, float]] = [(0.0, rss_mb())]
    events: list[tuple[float, float, str]] = []  # (audio s, compute ms, action)
    start = time.perf_counter()
    next_rss, next_print = RSS_EVERY_S, 0.5 * 3600
    for scene in scenes(pool, rng):
        for i in range(0, scene.size, CHUNK):
            try:
                for e in bot.feed(scene[i:i + CHUNK]):
                    events.append((fed / SAMPLE_RATE, e.compute_ms, e.decision.action.value))
            except Exception as e:  # noqa: BLE001 - a soak counts failures instead of stopping at one
                errors += 1
                if len(first_errors) < 5:
                    first_errors.append(f"{type(e).__name__}: {e}")
            fed += min(CHUNK, scene.size - i)
            if fed / SAMPLE_RATE >= next_rss:
                rss.append((fed / SAMPLE_RATE, rss_mb()))
                next_rss += RSS_EVERY_S
            if progress and fed / SAMPLE_RATE >= next_print:
                wall = time.perf_counter() - start
                print(f"soak: {fed / SAMPLE_RATE / 3600:.1f} h of audio in {wall / 60:.1f} min "
                      f"({fed / SAMPLE_RATE / wall:.0f}x real time), {len(events)} decisions, {rss[-1][1]:.0f} MB, "
                      f"{errors} errors", flush=True)
                next_print += 0.5 * 3600
        if fed >= total:
            break
    wall = time.perf_counter() - start
    audio_s = fed / SAMPLE_RATE
    hours_seen = max(1, int(np.ceil(audio_s / 3600 - 0.01)))  # 10.001 h: ten hours, not eleven

    def lat(lo: float, hi: float) -> dict:
        xs = [ms for t, ms, a in events if lo <= t < hi and a != "IGNORE"]
        if not xs:
            return {"median": None, "p95": None, "n": 0}
        return {"median": round(statistics.median(xs), 3), "p95": round(float(np.percentile(xs, 95)), 3),
                "n": len(xs)}

    after = [m for t, m in rss if t >= min(WARMUP_S, audio_s / 2)]
    last_hour_from = max(0.0, audio_s - 3600)
    return {
        "audio_hours": round(audio_s / 3600, 3), "wall_s": round(wall, 1), "realtime_factor": round(audio_s / wall, 1),
        "rss_mb_start": round(rss[0][1], 1), "rss_mb_end": round(rss[-1][1], 1),
        "rss_growth_mb": round(max(after) - after[0], 1) if after else None,
        "latency_ms_first_hour": lat(0, min(3600, audio_s)), "latency_ms_last_hour": lat(last_hour_from, audio_s + 1),
        "decisions_per_hour": [sum(1 for t, _, a in events if h * 3600 <= t < (h + 1) * 3600 and a != "IGNORE")
                               for h in range(hours_seen)],
        "actions": {a: sum(1 for *_, x in events if x == a) for a in sorted({x for *_, x in events})},
        "errors": errors, "first_errors": first_errors,
        "rss_mb": [[round(t / 3600, 4), round(m, 1)] for t, m in rss],
        "latency_ms_by_10min": [[b / 6, lat(b * 600, (b + 1) * 600)["median"], lat(b * 600, (b + 1) * 600)["p95"]]
                                for b in range(int(np.ceil(audio_s / 600)))],
    }


def plot_soak(r: dict, path: Path) -> Path | None:
    """Memory and latency over audio time (None without matplotlib: a device install)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    t, m = zip(*r["rss_mb"])
    a.plot(t, m)
    a.set(xlabel="audio hours", ylabel="resident memory (MB)", title="memory")
    rows = [x for x in r["latency_ms_by_10min"] if x[1] is not None]
    if rows:
        h, med, p95 = zip(*rows)
        b.plot(h, med, label="median")
        b.plot(h, p95, label="p95")
        b.legend()
    b.set(xlabel="audio hours", ylabel="decision compute (ms)", title="latency per 10 min of audio")
    fig.suptitle(f"soak: {r['audio_hours']:g} h at {r['realtime_factor']:g}x real time, {r['errors']} errors")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_soak(r: dict, report_dir: Path, json_path: str | None, name: str) -> None:
    """JSON + Markdown (+ plot) under ``report_dir``; prints the Markdown."""
    report_dir.mkdir(parents=True, exist_ok=True)
    lf, ll = r["latency_ms_first_hour"], r["latency_ms_last_hour"]
    lines = [f"# Soak: {name}", "",
             f"{r['audio_hours']:g} h of audio ({r['source']}; seed {r['seed']}) through the real loop on "
             f"{r['machine']['cpu']}, {r['machine']['cores']} cores, {r['date']}; teacher: {r['teacher']}.", "",
             "| audio | wall | real time | memory start → end | growth after 10 min | latency first hour "
             "(median / p95) | last hour | errors |", "|---|---|---|---|---|---|---|---|",
             f"| {r['audio_hours']:g} h | {r['wall_s'] / 60:.1f} min | {r['realtime_factor']:g}x | "
             f"{r['rss_mb_start']:.0f} → {r['rss_mb_end']:.0f} MB | {r['rss_growth_mb']} MB | "
             f"{lf['median']} / {lf['p95']} ms | {ll['median']} / {ll['p95']} ms | {r['errors']} |", "",
             f"Decisions per hour: {r['decisions_per_hour']}; actions: {r['actions']}."]
    (report_dir / f"{name}.md").write_text("\n".join(lines) + "\n")
    (report_dir / f"{name}.json").write_text(json.dumps(r, indent=1))
    plot_soak(r, report_dir / f"{name}.png")
    if json_path:
        Path(json_path).write_text(json.dumps(r, indent=1))
    print("\n".join(lines))


def cmd_soak(args: argparse.Namespace) -> int:
    from ..commands.common import intents_for
    from ..commands.loop import _student, _transcriber
    from ..loop import Assistant

    root = Path(__file__).resolve().parents[2]
    student = _student(args.student)
    intents = intents_for(args.intents, student.manifest)
    transcribe = _transcriber(args, intents)
    pool = clip_pool(Path(args.data), root, random.Random(args.seed))
    print(f"soak: {args.hours:g} h from {pool['source'][0]}: {len(pool['commands'])} commands, "
          f"{len(pool['speech'])} longer utterances, {len(pool['noise'])} noise cuts; "
          f"teacher {'none' if transcribe is None else 'answering deferrals'}", flush=True)
    bot = Assistant(student, intents, transcribe)
    r = run_soak(bot, args.hours, pool, args.seed)
    r.update(machine=machine(), date=time.strftime("%Y-%m-%d"), seed=args.seed, source=pool["source"][0],
             student=student.dir.name,
             teacher="none" if transcribe is None else (args.teacher_url or args.model))
    name = "soak-student" if transcribe is None else "soak-teacher"
    write_soak(r, Path(args.report_dir), args.json, name)
    return 1 if r["errors"] else 0

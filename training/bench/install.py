"""``training bench-install``: the device install as a user makes it — a fresh virtual environment with the
checkout installed without extras — and what it costs: disk, whether torch came with it, and the time from
starting ``assistant run`` on a shipped clip to its first decision."""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assistant.bench.measure import machine

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "ctranslate2", "faster_whisper", "fastapi", "matplotlib", "piper")
"""Modules a device install must not contain (the teacher's and training's)."""


def _size_mb(path: Path, skip_cache: bool = False) -> float:
    """Bytes of the files under ``path`` (MB); ``skip_cache``: without ``__pycache__`` folders."""
    total = 0
    for f in path.rglob("*"):
        if f.is_file() and not f.is_symlink() and not (skip_cache and "__pycache__" in f.parts):
            total += f.stat().st_size
    return total / 1e6


def run_bench_install(args: argparse.Namespace) -> dict:
    """Build the venv, measure it, time ``assistant run CLIP --no-teacher`` ``--repeats`` times."""
    clip = Path(args.clip) if args.clip else sorted((ROOT / "audio_samples" / "commands" / "yes").glob("*.flac"))[0]
    with tempfile.TemporaryDirectory(prefix="device-install-") as tmp:
        venv = Path(tmp) / "venv"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        print("bench-install: pip install of the checkout, no extras ...", flush=True)
        pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              "-c", str(ROOT / "requirements.lock"), str(ROOT)], capture_output=True, text=True)
        if pip.returncode:
            raise SystemExit(f"bench-install: pip install failed: {pip.stderr.strip()[-500:]}")
        install_s = time.perf_counter() - t0
        probe = "import importlib.util as u, sys; print(','.join(m for m in sys.argv[1:] if u.find_spec(m)))"
        found = subprocess.run([str(venv / "bin" / "python"), "-c", probe, *HEAVY], capture_output=True,
                               text=True, check=True).stdout.strip()
        packages = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze",
                                   "--disable-pip-version-check"], capture_output=True, text=True).stdout.split()
        walls = []
        for i in range(args.repeats + 1):  # the first run writes the byte-code caches: not counted
            t = time.perf_counter()
            r = subprocess.run([str(venv / "bin" / "assistant"), "run", str(clip), "--no-teacher"],
                               capture_output=True, text=True)
            if r.returncode != 0 or "ACCEPT" not in r.stdout:
                raise SystemExit(f"bench-install: assistant run failed in the device venv: {r.stderr.strip()[-300:]}")
            if i:
                walls.append(time.perf_counter() - t)
        out = {
            "machine": machine(), "date": time.strftime("%Y-%m-%d"), "clip": str(clip.relative_to(ROOT)),
            "venv_mb": round(_size_mb(venv), 1), "venv_mb_without_bytecode": round(_size_mb(venv, True), 1),
            "site_packages_mb": {p.name: round(_size_mb(p), 1) for p in
                                 sorted((venv / "lib").glob("python*/site-packages/*")) if p.is_dir()
                                 and _size_mb(p) >= 1},
            "packages": packages, "heavy_modules_found": [m for m in found.split(",") if m],
            "install_s": round(install_s, 1),
            "start_to_first_decision_s": {"median": round(statistics.median(walls), 3),
                                          "max": round(max(walls), 3), "runs": len(walls)},
        }
    return out


def bench_install(args: argparse.Namespace) -> int:
    from .assistant import write_report

    r = run_bench_install(args)
    big = ", ".join(f"{k} {v:g} MB" for k, v in sorted(r["site_packages_mb"].items(), key=lambda kv: -kv[1])[:6])
    s = r["start_to_first_decision_s"]
    lines = [
        "# The device install (no extras)",
        "",
        f"`pip install` of the checkout into a fresh venv, `-c requirements.lock`; {r['date']}, "
        f"{r['machine'].get('cpu', 'this machine')}, {r['machine'].get('cores', '?')} cores.",
        "",
        "| venv on disk | without byte-code caches | torch or other teacher/training modules | install | "
        "start → first decision (median) |",
        "|---|---|---|---|---|",
        f"| {r['venv_mb']:.0f} MB | {r['venv_mb_without_bytecode']:.0f} MB | "
        f"{', '.join(r['heavy_modules_found']) or 'none'} | {r['install_s']:.0f} s | "
        f"{1000 * s['median']:.0f} ms (max {1000 * s['max']:.0f}, {s['runs']} runs) |",
        "",
        f"Largest parts: {big}. First decision: `assistant run {r['clip']} --no-teacher`, process start to exit "
        "(the decision is its last line), the byte-code caches already written.",
    ]
    return write_report(args, "bench-install", lines, r)

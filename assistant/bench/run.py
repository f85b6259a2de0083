"""``assistant bench``: on-device response time, stage by stage, side by side with the teacher and a peer.

One command, measured on the machine it runs on; writes ``bench.json``, ``bench.md`` and PNG plots.

1. The student per 1 s window (ORT fp32, ORT int8, torch eager; 1 and 2 threads): p50/p95/p99, size,
   peak RSS. Every engine runs alone in its own process (``assistant.bench.worker``; torch and int8,
   which are build-time tools, in ``training.bench.worker`` when that is installed), so memory is its own.
2. Start-up: launching ``assistant listen`` -> ready (model loaded, microphone open) -> first decision
   on a command played into the microphone (a virtual PulseAudio microphone where one can be made).
3. End to end through the real streaming loop at real-time pace (``audio_samples/session``), stage by
   stage: waiting for audio (chunking, hop, evidence), gate, buffer, student, decision, handler; and for
   deferrals: end of speech -> segment closed -> teacher -> answer.
4. The same labelled clips for the student, the teachers (tiny.en / base x CTranslate2 / transformers)
   and pocketsphinx (grammar mode): accuracy, latency per clip, size, memory. Every engine scores a
   balanced sample (``--per-class``); the student and pocketsphinx every clip too.

``--device-profile small`` pins everything to one core with one thread (an emulated small device) and
reports real-time factors. The report itself (Markdown, plots, targets) is :mod:`assistant.bench.report`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE, load_audio
from ..corpus import find_clips, select, truth_label
from ..errors import AssistantError, at_least
from ..labelset import load_labelset
from .measure import apply_profile, machine, session_run, stats
from .report import markdown, plots, summary_rows, targets

PACKAGE = Path(__file__).resolve().parents[1]  # the assistant package
SAMPLES = PACKAGE.parent / "audio_samples"


def pick_clips(args: argparse.Namespace, labels: tuple[str, ...], out: Path) -> dict:
    """The labelled clips the engines are scored on; written to ``out`` for the workers.

    Every clip is listed; a balanced sample (up to ``--per-class`` of each label) is marked ``sample``:
    every engine scores the sample, the fast ones (student, pocketsphinx) every clip."""
    label_set = load_labelset("speech_commands")
    gsc = Path(args.data) / "gsc_v2_test_dev"
    if args.clips:
        folder, clips, what = Path(args.clips), find_clips([args.clips]), f"{args.clips} (all clips)"
    elif gsc.is_dir():
        folder, clips = gsc, select(find_clips([gsc]), "test")
        what = f"{gsc}, test speakers (held out of training and validation)"
    else:
        folder, clips, what = SAMPLES / "commands", find_clips([SAMPLES / "commands"]), \
            f"{SAMPLES / 'commands'} (shipped synthetic clips; ../shared/data absent)"
    by_label: dict[str, list] = {}
    for c in clips:
        t = truth_label(c, label_set)
        if t is not None:
            by_label.setdefault(t, []).append(c)
    if not by_label:
        raise AssistantError(f"{folder}: no labelled clips (expected <label>/<clip> folders)")
    rng = np.random.default_rng(0)
    listed = []
    for lab in sorted(by_label):  # balanced sample: up to --per-class clips of each label, spread over speakers
        cs = by_label[lab]
        idx = set(rng.choice(len(cs), size=min(args.per_class, len(cs)), replace=False).tolist())
        listed += [{"path": str(c.path), "label": lab, "speaker": c.speaker, "sample": i in idx}
                   for i, c in enumerate(cs)]
    out.write_text(json.dumps({"labels": list(labels), "clips": listed}))
    sample = [c for c in listed if c["sample"]]
    return {"source": what, "clips": len(listed), "speakers": len({c["speaker"] for c in listed}),
            "sample_clips": len(sample), "sample_speakers": len({c["speaker"] for c in sample}),
            "per_class": {lab: sum(c["label"] == lab for c in sample) for lab in sorted(by_label)},
            "all_per_class": {lab: len(cs) for lab, cs in sorted(by_label.items())}}


def split_accuracy(r: dict, clips: Path) -> dict:
    """Accuracy on the sample (every engine) and, where the engine scored every clip, on all of them."""
    listed = json.loads(clips.read_text())["clips"]
    pred = r.get("predictions")
    if pred is None:
        return r
    if len(pred) == len(listed):
        r["accuracy_all"] = r["accuracy"]
        pairs = [(c["label"], p) for c, p in zip(listed, pred) if c["sample"]]
    else:
        pairs = list(zip([c["label"] for c in listed if c["sample"]], pred))
    r["accuracy"] = float(np.mean([t == p for t, p in pairs])) if pairs else None
    del r["predictions"]  # the JSON keeps the figures, not 700 labels per engine
    return r


def worker(module: str, kind: str, opts: list[str], profile: str, timeout: float = 600) -> dict:
    """Run one engine in its own process; its JSON, or ``{"error": ...}`` (the bench goes on)."""
    cmd = [sys.executable, "-m", module, kind, "--profile", profile, *opts]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if p.returncode != 0:
        lines = (p.stderr or p.stdout).strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {p.returncode}"}
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["wall_s"] = time.perf_counter() - t0
    return out


def have_training() -> bool:
    """Whether the build-time engines (torch eager, int8 quantisation) can run here."""
    return importlib.util.find_spec("training") is not None and importlib.util.find_spec("torch") is not None


def student_rows(model_dir: Path, clips: Path, threads: list[int], profile: str, runs: int) -> list[dict]:
    """The student per engine and thread count (clips scored at the first thread count only)."""
    rows = []
    engines = [("ORT fp32", "assistant.bench.worker", "student")]
    if have_training():
        engines += [("ORT int8", "training.bench.worker", "int8"), ("torch eager", "training.bench.worker", "torch")]
    for name, module, kind in engines:
        for i, n in enumerate(threads):
            opts = ["--model", str(model_dir), "--threads", str(n), "--window-runs", str(runs)]
            if i == 0:
                opts += ["--clips", str(clips)]
            if kind == "int8":
                opts += ["--calib", str(SAMPLES / "session")]
            r = split_accuracy(worker(module, kind, opts, profile), clips)
            r.update({"engine": name, "threads": n})
            rows.append(r)
            _say(f"  student {name:11s} {n} thread(s): " + (r["error"] if "error" in r else
                 f"p50 {r['window_ms']['median']:.3f} ms, p95 {r['window_ms']['p95']:.3f} ms per window, "
                 f"{r['peak_rss_mb']:.0f} MB peak"))
    if not have_training():
        rows.append({"engine": "ORT int8 / torch eager", "error": "skipped: torch or the training package is not "
                     "installed here (pip install -e . on a build machine)"})
    return rows


def teacher_rows(clips: Path, models: list[str], backends: list[str], threads: int, profile: str) -> list[dict]:
    """Each teacher (model x backend) scoring the label set on the balanced sample (the slow engines)."""
    rows = []
    for m in models:
        for b in backends:
            opts = ["--model", m, "--backend", b, "--threads", str(threads), "--clips", str(clips)]
            r = split_accuracy(worker("assistant.bench.worker", "teacher", opts + ["--sample-only"], profile), clips)
            r.update({"model": m, "backend": b})
            rows.append(r)
            _say(f"  teacher {m} / {b}: " + (r["error"] if "error" in r else
                 f"{r['accuracy']:.1%} on the sample, {r['clip_ms']['median']:.0f} ms per clip, {r['peak_rss_mb']:.0f} MB peak"))
    return rows


def startup(profile: str, timeout: float = 60) -> dict:
    """Launch ``assistant listen`` on a virtual microphone, play a command as soon as it is ready, and time
    launch -> ready and launch -> first decision."""
    from . import virtualmic

    if not virtualmic.available():
        return {"error": "skipped: needs PulseAudio for a virtual microphone (./setup.sh test installs it)"}
    clip = sorted((SAMPLES / "commands" / "yes").glob("*.flac"))[0]
    with tempfile.TemporaryDirectory(prefix="bench-mic-") as tmp, virtualmic.VirtualMic(Path(tmp)) as mic:
        out = Path(tmp) / "decisions.json"
        cmd = [sys.executable, "-m", "assistant.cli", "listen", "--seconds", "8", "--json", str(out)]
        if profile == "small":
            cmd = ["taskset", "-c", str(min(os.sched_getaffinity(0))), *cmd] if _has("taskset") else cmd
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=mic.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        ready = first = None
        for line in proc.stdout:
            now = time.perf_counter() - t0
            if ready is None and line.startswith("listening"):
                ready = now
                mic.play(clip, wait=False)
            elif ready is not None and first is None and ("ACCEPT" in line or "DEFER" in line):
                first = now
                break
        try:
            proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    if ready is None:
        return {"error": "assistant listen never became ready on the virtual microphone"}
    audio_s = load_audio(clip).samples.size / SAMPLE_RATE
    return {"microphone": "virtual PulseAudio source (16 kHz)", "command": str(clip), "command_s": audio_s,
            "ready_s": ready, "first_decision_s": first,
            "note": "first decision = ready + the command's own playback + the decision; the command starts at ready"}


def _has(tool: str) -> bool:
    import shutil

    return shutil.which(tool) is not None


def end_to_end(model_dir: Path, teacher: str, threads: int, profile: str) -> dict:
    """The scripted session through the real loop at real-time pace, stage by stage."""
    from ..intents import IntentSet
    from ..student import Student
    from ..teacher import load_teacher

    session = SAMPLES / "session"
    audio = load_audio(session / "session.flac", max_seconds=None).samples
    script = json.loads((session / "session.json").read_text())["utterances"]
    student = Student(model_dir, threads=1)
    t = load_teacher(teacher, "ctranslate2", threads=threads)
    transcribe = t.hear
    transcribe(np.zeros(SAMPLE_RATE, np.float32))  # a running assistant's teacher is warm
    prof: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    rows = session_run(student, IntentSet.load(), transcribe, audio, script, realtime=True, profile=prof)
    wall = time.perf_counter() - t0
    local = [r for r in rows if r.get("answered_by") == "student"]
    deferred = [r for r in rows if r.get("answered_by") == "teacher"]
    stage_ms = {k: stats(np.array(v) * 1000) for k, v in prof.items()}
    loop_s = sum(sum(v) for v in prof.values())
    audio_s = audio.size / SAMPLE_RATE
    seg_s = [r["end_s"] - r["start_s"] for r in deferred]
    return {
        "session": str(session), "audio_s": audio_s, "wall_s": wall, "teacher": t.id,
        "utterances": rows, "answered_right": sum(r.get("right", False) for r in rows), "utterances_total": len(rows),
        "local": {"response_ms": stats([r["response_ms"] for r in local]),
                  "audio_wait_ms": stats([r["audio_wait_ms"] for r in local]),
                  "compute_ms": stats([r["compute_ms"] for r in local])},
        "deferral": {"response_ms": stats([r["response_ms"] for r in deferred]),
                     "segment_close_ms": stats([r["audio_wait_ms"] for r in deferred]),
                     "teacher_ms": stats([r["teacher_ms"] for r in deferred if r.get("teacher_ms") is not None])},
        "stages_per_hop_ms": stage_ms,
        "loop_real_time_factor": loop_s / audio_s,
        "teacher_real_time_factor": (sum(r["teacher_ms"] or 0 for r in deferred) / 1000 / sum(seg_s)) if seg_s else None,
        "profile": profile,
    }


def _say(text: str) -> None:
    print(text, flush=True)


def run_bench(args: argparse.Namespace) -> int:
    """``assistant bench``."""
    from ..registry import Registry
    from ..student import Student

    started = time.perf_counter()
    prof = apply_profile(args.device_profile)  # children inherit the pinning
    small = args.device_profile == "small"
    model_dir = Path(args.student) if args.student and Path(args.student).is_dir() else \
        Registry().path(args.student or "speech_commands")
    labels = Student(model_dir).labels
    report = Path(args.report_dir)
    report.mkdir(parents=True, exist_ok=True)
    out: dict = {"machine": machine(), "profile": prof, "student_dir": str(model_dir), "per_class": args.per_class}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        clips = Path(tmp) / "clips.json"
        out["clips"] = pick_clips(args, labels, clips)
        _say(f"bench on {out['machine']['cpu']} ({out['machine']['cores']} cores), profile {args.device_profile}; "
             f"{out['clips']['clips']} clips from {out['clips']['source']}")
        threads = [1] if small else [1, 2]
        out["student"] = student_rows(model_dir, clips, threads, args.device_profile, args.window_runs)
        out["startup"] = startup(args.device_profile) if not args.no_startup else {"error": "skipped (--no-startup)"}
        if "error" not in out["startup"]:
            _say(f"  start-up: ready {out['startup']['ready_s']:.2f} s, first decision "
                 f"{out['startup']['first_decision_s'] or float('nan'):.2f} s")
        t_threads = 1 if small else (os.cpu_count() or 1)
        models = [m for m in args.teachers.split(",") if m]
        out["end_to_end"] = end_to_end(model_dir, models[0] if models else "tiny.en", t_threads, args.device_profile) \
            if not args.no_e2e else {"error": "skipped (--no-e2e)"}
        if "local" in out["end_to_end"]:
            e = out["end_to_end"]
            _say(f"  end to end: local {e['local']['response_ms']['median']:.0f} ms median, deferral "
                 f"{e['deferral']['response_ms']['median'] or float('nan'):.0f} ms median")
        out["teachers"] = teacher_rows(clips, models, [b for b in args.backends.split(",") if b], t_threads,
                                       args.device_profile)
        out["pocketsphinx"] = split_accuracy(worker("assistant.bench.worker", "pocketsphinx", ["--clips", str(clips)],
                                                    args.device_profile), clips)
        p = out["pocketsphinx"]
        _say("  pocketsphinx: " + (p["error"] if "error" in p else f"{p['accuracy']:.1%}, {p['clip_ms']['median']:.1f} ms per clip"))
    out["summary"] = summary_rows(out)
    out["seconds"] = time.perf_counter() - started
    out["targets"] = targets(out)
    out["plots"] = plots(out, report)
    for r in out["student"]:  # raw samples fed the histogram; the JSON keeps the statistics
        r.pop("window_samples_ms", None)
    figures = json.dumps(out, indent=2, default=float)
    (report / "bench.json").write_text(figures)
    md = markdown(out)
    (report / "bench.md").write_text(md)
    print(md[md.index("## Student vs teacher"):])
    print(f"report: {report / 'bench.md'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(figures)
        print(f"figures written to {args.json}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``assistant bench`` options."""
    p = sub.add_parser("bench", help="measure response time on this machine: student, loop stages, teacher, peer")
    p.add_argument("--student", default=None, help="model directory or registry name (default: shipped)")
    p.add_argument("--data", default="../shared/data", help="real audio (its gsc_v2_test_dev test speakers) if present")
    p.add_argument("--clips", default=None, help="a labelled folder (<label>/<clip>) to score every engine on")
    p.add_argument("--per-class", type=at_least(1), default=12,
                   help="clips per label in the balanced sample every engine scores (the student and pocketsphinx "
                        "score every clip)")
    p.add_argument("--teachers", default="tiny.en,base")
    p.add_argument("--backends", default="ctranslate2,transformers")
    p.add_argument("--device-profile", default="host", choices=("host", "small"),
                   help="small: one core, one thread (an emulated small device)")
    p.add_argument("--window-runs", type=at_least(1), default=300, help="timed runs per student engine")
    p.add_argument("--no-startup", action="store_true")
    p.add_argument("--no-e2e", action="store_true")
    p.add_argument("--report-dir", default="bench", help="where bench.json, bench.md and the plots go")
    p.add_argument("--json", default=None, help="also write the figures here")
    p.set_defaults(func=run_bench)

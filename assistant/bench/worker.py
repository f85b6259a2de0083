"""One engine of ``assistant bench``, alone in its own process: load it, time it, score it on the bench's
clips, and report its peak memory. Prints one JSON object on stdout.

    python -m assistant.bench.worker student --model DIR [--file model.onnx] --clips clips.json
    python -m assistant.bench.worker teacher --model tiny.en --backend ctranslate2 --clips clips.json
    python -m assistant.bench.worker pocketsphinx --clips clips.json

Each clip is decoded before its timer starts: every engine is timed on the same in-memory audio.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..audio import SAMPLE_RATE, centre_on_energy, load_audio
from ..errors import AssistantError, OneLineParser, at_least, run_command
from .measure import apply_profile, peak_rss_mb, stats, time_calls

WINDOW_RUNS = 300


def read_clips(path: Path, sample_only: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
    """(labels, [(file, true label)]) from the bench's clip list (only its balanced sample if asked)."""
    d = json.loads(Path(path).read_text())
    return d["labels"], [(c["path"], c["label"]) for c in d["clips"] if c.get("sample", True) or not sample_only]


def dir_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def score_clips(clips: list[tuple[str, str]], predict: Callable[[np.ndarray], str]) -> dict:
    """Run ``predict`` on every clip (decoded first, untimed); accuracy and per-clip latency."""
    pairs, times = [], []
    for path, truth in clips:
        audio = load_audio(path, max_seconds=None).samples
        t0 = time.perf_counter()
        got = predict(audio)
        times.append((time.perf_counter() - t0) * 1000)
        pairs.append((truth, got))
    right = [t == g for t, g in pairs]
    per_class: dict[str, list[bool]] = {}
    for (t, _), r in zip(pairs, right):
        per_class.setdefault(t, []).append(r)
    return {"clips": len(pairs), "accuracy": float(np.mean(right)) if right else None,
            "per_class": {k: float(np.mean(v)) for k, v in sorted(per_class.items())},
            "predictions": [g for _, g in pairs], "clip_ms": stats(times)}


def student(args: argparse.Namespace) -> dict:
    """ONNX Runtime student: per-window latency and per-clip accuracy."""
    from ..student import Student

    t0 = time.perf_counter()
    s = Student(args.model, file=args.file, threads=args.threads)
    load_s = time.perf_counter() - t0
    window = s.frontend.window_samples
    x = (np.random.default_rng(0).standard_normal((1, window)) * 0.1).astype(np.float32)
    win = time_calls(lambda: s.probs(x), args.window_runs)
    out = {"load_s": load_s, "window_ms": stats(win), "window_samples_ms": win, "size_bytes": dir_bytes(s.dir / (args.file or s.manifest.default_file))}
    if args.clips:
        labels = s.labels
        out.update(score_clips(read_clips(args.clips, args.sample_only)[1],
                               lambda a: labels[int(np.argmax(s.probs(centre_on_energy(a, window)[None])[0]))]))
    return out


def teacher(args: argparse.Namespace) -> dict:
    """Whisper scoring the label set on each clip (the labelling path): latency and accuracy."""
    from ..labelset import load_labelset
    from ..teacher import load_teacher
    from ..teacher import weights

    t0 = time.perf_counter()
    t = load_teacher(args.model, args.backend, threads=args.threads)
    load_s = time.perf_counter() - t0
    files = weights.resolve(args.model)
    size = dir_bytes(files.ct2_dir) if args.backend == "ctranslate2" and files.ct2_dir else \
        dir_bytes(weights.hf_checkpoint(files) / "model.safetensors")
    names, clips = read_clips(args.clips, args.sample_only)
    label_set = load_labelset(args.labelset)
    t.score(np.zeros(SAMPLE_RATE, np.float32), label_set)  # warm-up, as a running teacher would be
    res = score_clips(clips, lambda a: label_set.labels[int(np.argmax(t.score(a, label_set)))])
    return {"load_s": load_s, "size_bytes": size, "teacher_id": t.id, **res}


def pocketsphinx(args: argparse.Namespace) -> dict:
    """The peer: pocketsphinx (its bundled en-us model) in grammar mode over the command words.

    The grammar is the label set's words; an empty hypothesis counts as ``_silence_``. Grammar mode has
    no out-of-grammar answer, so ``_unknown_`` clips can only be wrong: that is the peer as shipped.
    """
    try:
        from pocketsphinx import Decoder
    except ImportError as e:
        raise AssistantError("pocketsphinx is not installed; pip install pocketsphinx") from e
    names, clips = read_clips(args.clips, args.sample_only)
    words = [w for w in names if not w.startswith("_")]
    with tempfile.TemporaryDirectory() as tmp:
        g = Path(tmp) / "commands.jsgf"
        g.write_text("#JSGF V1.0;\ngrammar commands;\npublic <command> = " + " | ".join(words) + ";\n")
        t0 = time.perf_counter()
        dec = Decoder(samprate=SAMPLE_RATE, jsgf=str(g), loglevel="FATAL")
        load_s = time.perf_counter() - t0

    def predict(audio: np.ndarray) -> str:
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        hyp = dec.hyp()
        said = hyp.hypstr.split() if hyp is not None else []
        if not said:
            return "_silence_" if "_silence_" in names else names[0]
        return said[0] if said[0] in names else ("_unknown_" if "_unknown_" in names else said[0])

    import pocketsphinx as ps

    model = Path(ps.get_model_path()) / "en-us"
    size = dir_bytes(model / "en-us") + (model / "cmudict-en-us.dict").stat().st_size
    return {"load_s": load_s, "size_bytes": size, "mode": "grammar (JSGF) over the command words",
            **score_clips(clips, predict)}


KINDS = {"student": student, "teacher": teacher, "pocketsphinx": pocketsphinx}


def bench_parser(prog: str, kinds: dict) -> argparse.ArgumentParser:
    """The options every bench worker takes."""
    ap = OneLineParser(prog=prog)
    ap.add_argument("kind", choices=sorted(kinds))
    ap.add_argument("--model", default=None)
    ap.add_argument("--file", default=None)
    ap.add_argument("--backend", default="transformers")
    ap.add_argument("--labelset", default="speech_commands")
    ap.add_argument("--threads", type=at_least(1), default=1)
    ap.add_argument("--clips", default=None)
    ap.add_argument("--sample-only", action="store_true", help="score the clip list's balanced sample only")
    ap.add_argument("--window-runs", type=at_least(1), default=WINDOW_RUNS)
    ap.add_argument("--profile", default="host", choices=("host", "small"))
    return ap


def run_worker(kinds: dict, args: argparse.Namespace) -> int:
    """Apply the device profile, run one engine, print its JSON line (errors: one line, exit 2)."""

    def go(a: argparse.Namespace) -> int:
        prof = apply_profile(a.profile)
        out = kinds[a.kind](a)
        out.update({"kind": a.kind, "threads": a.threads, "profile": prof, "peak_rss_mb": peak_rss_mb()})
        print(json.dumps(out, default=float))
        return 0

    return run_command(go, args)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run_worker(KINDS, bench_parser("python -m assistant.bench.worker", KINDS).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""``assistant``: the on-device side. Today: ask the teacher directly (transcribe, score)."""

from __future__ import annotations

import argparse
import json
import sys

from .errors import AssistantError, run_command


def _teacher(args: argparse.Namespace):
    from .teacher import load_teacher

    return load_teacher(args.model, args.backend, threads=args.threads, compute_type=args.compute_type)


def cmd_transcribe(args: argparse.Namespace) -> int:
    from .audio import load_audio

    teacher = _teacher(args)
    failed = 0
    for f in args.files:
        try:
            audio = load_audio(f, max_seconds=args.max_seconds)
        except AssistantError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        t = teacher.transcribe(audio.samples)
        if args.json:
            print(json.dumps({"file": f, **t.to_dict()}))
        else:
            print(f"{f}: {t.text!r}  (no-speech {t.no_speech_prob:.2f}, {1000 * t.seconds:.0f} ms)")
    return 1 if failed else 0


def cmd_score(args: argparse.Namespace) -> int:
    import numpy as np

    from .audio import load_audio
    from .labelset import load_labelset

    label_set = load_labelset(args.labelset)
    teacher = _teacher(args)
    failed = 0
    for f in args.files:
        try:
            audio = load_audio(f)
        except AssistantError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        probs = np.exp(teacher.score(audio.samples, label_set))
        order = np.argsort(-probs)[: args.top]
        if args.json:
            print(json.dumps({"file": f, "probs": dict(zip(label_set.labels, map(float, probs)))}))
        else:
            print(f"{f}: " + ", ".join(f"{label_set.labels[i]} {probs[i]:.2f}" for i in order))
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    """The ``assistant`` command line."""
    ap = argparse.ArgumentParser(prog="assistant", description=__doc__)
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="command", required=True)

    def teacher_opts(p: argparse.ArgumentParser, backend: str) -> None:
        p.add_argument("files", nargs="+")
        p.add_argument("--model", default="tiny.en", help="tiny.en (default), base, or a local Whisper directory")
        p.add_argument("--backend", default=backend, choices=("transformers", "ctranslate2"))
        p.add_argument("--compute-type", default="float32", help="ctranslate2 only: float32 or int8")
        p.add_argument("--threads", type=int, default=None)
        p.add_argument("--json", action="store_true", help="one JSON object per file")

    p = sub.add_parser("transcribe", help="the teacher's transcript of audio files")
    teacher_opts(p, "ctranslate2")
    p.add_argument("--max-seconds", type=float, default=3600.0, help="refuse longer files")
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("score", help="the teacher's posterior over a label set for audio files")
    teacher_opts(p, "transformers")
    p.add_argument("--labelset", default="speech_commands")
    p.add_argument("--top", type=int, default=3)
    p.set_defaults(func=cmd_score)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    return run_command(args.func, args, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())

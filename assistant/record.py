"""``assistant record NAME --count N``: enrol a new phrase from the microphone.

Prompts for each take, keeps the speech the gate finds (plus a short margin) and writes it as FLAC to
``<out>/<NAME>/``; a take with no speech, or one longer than ``--max-seconds``, is asked for again.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from .audio import SAMPLE_RATE
from .errors import AssistantError, at_least, number_in
from .gate import SpeechGate

MARGIN_S = 0.2


def recordings_root() -> Path:
    """Default home of enrolment recordings."""
    from .registry import data_home

    return data_home() / "recordings"


def take(chunks, timeout_s: float, max_s: float) -> np.ndarray | None:
    """Read chunks until one speech segment has ended; its audio with margins, or None (nothing said)."""
    gate = SpeechGate()
    kept: list[np.ndarray] = []
    total, start = 0, None
    deadline = time.monotonic() + timeout_s
    for chunk in chunks:
        kept.append(chunk)
        total += chunk.size
        for ev in gate.process(chunk):
            if ev.kind == "start" and start is None:
                start = ev.sample
            elif ev.kind == "end" and start is not None:
                audio = np.concatenate(kept)
                a = max(0, start - int(MARGIN_S * SAMPLE_RATE))
                b = min(audio.size, ev.sample + int(MARGIN_S * SAMPLE_RATE))
                return audio[a:b]
        if start is not None and total - start > max_s * SAMPLE_RATE:
            return np.zeros(int(max_s * SAMPLE_RATE) + 1, np.float32)  # too long: the caller asks again
        if start is None and time.monotonic() > deadline:
            return None
    return None


def cmd_record(args: argparse.Namespace) -> int:
    """Record ``--count`` takes of a phrase."""
    name = args.name.strip().lower()
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise AssistantError(f"'{args.name}': give a plain name, e.g. marvin or lights_on")
    out = Path(args.out or recordings_root()) / name
    made = next((d for d in reversed([out, *out.parents]) if not d.exists()), None)  # topmost folder we create
    try:  # now, so that an unwritable place fails before anyone speaks
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AssistantError(f"cannot write recordings to {out} ({e.strerror}); choose another place with --out DIR") from e
    try:
        _record(args, name, out)
    finally:
        if made is not None and not any(out.iterdir()):  # no take kept: leave no empty folders behind
            shutil.rmtree(made, ignore_errors=True)
    return 0


def _record(args: argparse.Namespace, name: str, out: Path) -> None:
    """Prompt for and keep ``args.count`` takes in ``out``."""
    import soundfile as sf

    from .mic import Microphone

    phrase = args.phrase or name.replace("_", " ")
    saved: list[Path] = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with Microphone(args.device) as mic:
        chunks = mic.chunks()
        n, tries = 0, 0
        while n < args.count:
            tries += 1
            if tries > args.count * 3:
                raise AssistantError(f"no usable takes after {tries - 1} tries; check the microphone "
                                     "(assistant listen --list-devices) and speak closer to it")
            print(f"({n + 1}/{args.count}) say '{phrase}' now...", flush=True)
            audio = take(chunks, args.timeout, args.max_seconds)
            if audio is None:
                print("  heard nothing; again", flush=True)
                continue
            if audio.size > args.max_seconds * SAMPLE_RATE:
                print(f"  that ran past {args.max_seconds:g} s; again, just the phrase", flush=True)
                continue
            n += 1
            path = out / f"{name}-{stamp}-{n:02d}.flac"
            sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
            saved.append(path)
            print(f"  kept {audio.size / SAMPLE_RATE:.2f} s -> {path}", flush=True)
    print(f"{len(saved)} recordings in {out}\nnext: training add-intent {name} \"{phrase}\" --recordings {out}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``assistant record`` options."""
    p = sub.add_parser("record", help="record a few samples of a new phrase from the microphone (for add-intent)")
    p.add_argument("name", help="the intent's name, e.g. marvin")
    p.add_argument("--phrase", default=None, help="what to say (default: the name)")
    p.add_argument("--count", type=at_least(1), default=5)
    p.add_argument("--out", default=None, help="folder (default: ~/.local/share/voice-assistant/recordings)")
    p.add_argument("--device", default=None, help="capture device index or name")
    p.add_argument("--timeout", type=number_in(0, low_open=True), default=8.0, help="seconds to wait for speech per take")
    p.add_argument("--max-seconds", type=number_in(0, low_open=True), default=3.0, help="longest take kept")
    p.set_defaults(func=cmd_record)

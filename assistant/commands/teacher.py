"""``assistant serve-teacher``, ``transcribe`` and ``score``: the teacher on its own, over HTTP or on files."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import AssistantError
from ..remote import TOKEN_ENV
from .common import intents_for, teacher_of


def cmd_serve_teacher(args: argparse.Namespace) -> int:
    from ..server import LOOPBACK, serve

    from ..registry import Registry
    from ..student import Manifest

    token = args.token or os.environ.get(TOKEN_ENV) or None
    if args.host not in LOOPBACK and not token:
        raise AssistantError(f"serving on {args.host} needs a token: --token SECRET or {TOKEN_ENV}=SECRET "
                             "(devices send it with --teacher-token)")
    teacher = teacher_of(args)
    intents = intents_for(args.intents, Manifest.read(Registry().path()))  # added intents answer deferrals too
    print(f"teacher {teacher.id} on http://{args.host}:{args.port} "
          f"(POST /v1/audio/transcriptions, POST /v1/intent{', bearer token' if token else ''}; "
          "GET /health, GET /metrics)", flush=True)
    serve(teacher, intents, args.host, args.port, int(args.max_mb * 1024 * 1024), args.max_seconds,
          _understander(args, teacher, intents), token=token, max_queue=args.max_queue,
          max_batch=args.max_batch, deadline_s=args.deadline)
    return 0


def _understander(args: argparse.Namespace, teacher, intents):
    """Grammar decoding of requests with ``intents`` (a transformers teacher beside a ctranslate2 one)."""
    if getattr(args, "no_grammar", False):
        return None
    from ..teacher import load_teacher
    from ..understand import Understander

    grammar_teacher = teacher if args.backend == "transformers" else \
        load_teacher(args.model, "transformers", threads=args.threads)
    return Understander(teacher, intents, grammar_teacher)


def cmd_understand(args: argparse.Namespace) -> int:
    """Each file as one spoken request: the intent and slots under the grammar, or why there are none."""
    from ..audio import load_audio
    from ..teacher import load_teacher
    from ..teacher.constrained import understand

    intents = intents_for(args.intents)
    teacher = load_teacher(args.model, "transformers", threads=args.threads)
    grammar = intents.grammar()
    failed = 0
    for f in args.files:
        try:
            audio = load_audio(f, max_seconds=30.0)
        except AssistantError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        u = understand(teacher, audio.samples, grammar)
        if args.json:
            print(json.dumps({"file": f, **u.to_dict()}, default=str))
        elif u.match is not None:
            print(f"{f}: {u.match.intent} {u.match.slots}  ({u.sentence!r}, {1000 * u.seconds:.0f} ms)")
        else:
            print(f"{f}: not a request these intents know (heard {u.free_text!r}; best in grammar "
                  f"{u.sentence!r}, {u.gap:+.2f} nats/token)")
    return 1 if failed else 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from ..audio import load_audio

    teacher = teacher_of(args)
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

    from ..audio import load_audio
    from ..labelset import load_labelset

    label_set = load_labelset(args.labelset)
    teacher = teacher_of(args)
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

"""What the ``assistant`` subcommands share: the teacher their flags name, and the intents a student answers."""

from __future__ import annotations

import argparse


def teacher_of(args: argparse.Namespace):
    """The teacher that ``--model``, ``--backend``, ``--threads`` and ``--compute-type`` name."""
    from ..teacher import load_teacher

    return load_teacher(args.model, args.backend, threads=args.threads, compute_type=args.compute_type)


def intents_for(names_or_paths: str | list[str], manifest=None):
    """The intents files (the first one's student table answers the student's labels) plus the intents the
    student's manifest carries (added with ``training add-intent``)."""
    from ..intents import IntentSet

    names = [names_or_paths] if isinstance(names_or_paths, str) else list(names_or_paths)
    first = IntentSet.load(names[0])
    if manifest is not None:
        first = first.with_student(manifest.extra.get("intents"))
    return first.plus([IntentSet.load(n) for n in names[1:]])

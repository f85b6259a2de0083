"""What the ``assistant`` subcommands share: the teacher their flags name, and the intents a student answers."""

from __future__ import annotations

import argparse


def teacher_of(args: argparse.Namespace):
    """The teacher that ``--model``, ``--backend``, ``--threads`` and ``--compute-type`` name."""
    from ..teacher import load_teacher

    return load_teacher(args.model, args.backend, threads=args.threads, compute_type=args.compute_type)


def intents_for(name_or_path: str, manifest):
    """The intents file plus the intents the student's manifest carries (added with ``training add-intent``)."""
    from ..intents import IntentSet

    return IntentSet.load(name_or_path).with_student(manifest.extra.get("intents"))

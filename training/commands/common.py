"""What several ``training`` commands share: the teacher's flags, and the clips, label set, label cache
and teacher those flags choose, and where the labelling runs (label, teacher-eval, calibrate, evaluate,
cache-merge)."""

from __future__ import annotations

import argparse
from pathlib import Path

from assistant.errors import AssistantError, at_least, number_in
from assistant.labelset import LabelSet, load_labelset

from ..corpus import Clip, find_clips, parse_shard, select


def teacher_args(p: argparse.ArgumentParser) -> None:
    """The teacher's flags and which clips to use (``--split``, ``--shard``, ``--every``, ``--limit``)."""
    p.add_argument("--model", default="tiny.en", help="tiny.en (default), base, or a local Whisper directory")
    p.add_argument("--backend", default="transformers", choices=("transformers", "ctranslate2"))
    p.add_argument("--threads", type=at_least(1), default=None, help="CPU threads (default: all cores)")
    p.add_argument("--min-seconds", type=number_in(0, 30, low_open=True), default=None,
                   help="shortest encoder window in seconds for short clips (default 10)")
    p.add_argument("--labelset", default=None,
                   help="built-in name (speech_commands, digits) or a YAML file; default guessed from the data")
    p.add_argument("--cache", default=None, help="label cache file (default: ~/.cache/voice-assistant/labels.sqlite)")
    p.add_argument("--batch-size", type=at_least(1), default=16)
    p.add_argument("--split", default="all", help="speaker split: all, heldout (not calib), train, calib, test")
    p.add_argument("--shard", default=None, help="i/n: label only every n-th clip starting at i")
    p.add_argument("--limit", type=at_least(1), default=None, help="use only the first N clips (after --every)")
    p.add_argument("--every", type=at_least(1), default=1, help="use every k-th clip (deterministic subsample)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="label on a Ray cluster: HEAD:6379, or no address for one on this machine (needs the "
                        "'cluster' extra; docs/cluster.md)")
    p.add_argument("--ray-actors", type=at_least(1), default=None,
                   help="teacher actors on the cluster (default: its CPUs // --threads)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def labelset_for(args: argparse.Namespace, clips: list[Clip]) -> LabelSet:
    """``--labelset``, else the one the clips imply (digits for FSDD, else speech_commands)."""
    if args.labelset:
        return load_labelset(args.labelset)
    if clips and all(c.dataset == "fsdd" for c in clips):
        return load_labelset("digits")
    return load_labelset("speech_commands")


def clips_of(args: argparse.Namespace) -> list[Clip]:
    """The clips of ``args.dirs`` in ``--split`` and ``--shard``, every ``--every``-th, at most ``--limit``."""
    for d in args.dirs:
        if not Path(d).exists():
            raise AssistantError(f"{d}: no such file or folder")
    clips = select(find_clips(args.dirs), args.split, parse_shard(args.shard))[:: max(1, args.every)]
    if args.limit:
        clips = clips[: args.limit]
    if not clips:
        raise AssistantError(f"no audio files found in {', '.join(args.dirs)} (split {args.split})")
    return clips


def cache_of(args: argparse.Namespace):
    """The label cache: ``--cache``, else ``labels.sqlite`` in the user cache."""
    from assistant.teacher.weights import cache_root

    from ..cache import LabelCache

    return LabelCache(args.cache or cache_root() / "labels.sqlite")


def teacher_spec(args: argparse.Namespace, calibration=None) -> dict:
    """The keywords of :func:`assistant.teacher.load_teacher` the flags name (what a Ray actor loads)."""
    return {"model": args.model, "backend": args.backend, "threads": args.threads, "min_seconds": args.min_seconds,
            "calibration": calibration}


def teacher_of(args: argparse.Namespace, calibration=None):
    """The teacher the flags name (``calibration``: use this one instead of the package's)."""
    from assistant.teacher import load_teacher

    if getattr(args, "ray", None):
        import ray  # noqa: F401  (before the teacher loads: without it, one line names the extra to install)
    return load_teacher(**teacher_spec(args, calibration))


def label_run(args: argparse.Namespace, clips: list[Clip], label_set: LabelSet, cache, teacher, calibration=None):
    """The teacher's labels of ``clips`` through ``cache``: on the Ray cluster of ``--ray``, else in this process
    (``teacher``: the one :func:`teacher_of` gave for the same ``calibration``; its id keys the cache)."""
    if getattr(args, "ray", None):
        from ..cluster import LOCAL, label_clips_ray

        return label_clips_ray(clips, teacher_spec(args, calibration), label_set, cache, teacher_id=teacher.id,
                               address=None if args.ray == LOCAL else args.ray, actors=args.ray_actors,
                               batch_size=args.batch_size, progress=not args.quiet)
    from ..label import label_clips

    return label_clips(clips, teacher, label_set, cache, batch_size=args.batch_size, progress=not args.quiet)


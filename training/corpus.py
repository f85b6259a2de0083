"""Stage 0: the corpus. Its readers live in :mod:`assistant.corpus`, shared with ``assistant bench`` so the
on-device benchmark evaluates on exactly the speakers training holds out."""

from __future__ import annotations

from pathlib import Path

from assistant.corpus import (CALIB_PERCENT, SPLITS, TEST_PERCENT, Clip, Split, describe, find_clips, parse_shard,
                              select, speaker_split, speaker_subset, truth_label)

from .samples import COMMANDS

__all__ = ["CALIB_PERCENT", "NO_COMMAND", "SPLITS", "TEST_PERCENT", "Clip", "Split", "command_clips", "describe",
           "find_clips", "parse_shard", "select", "speaker_split", "speaker_subset", "truth_label"]

NO_COMMAND = ("coffee_orders", "fsdd", "noise")
"""Folders of ``--data`` with no command in them (orders, digits, noise): the audio false accepts are counted
on, so no student trains on it."""


def command_clips(data: Path, split: str, every: int = 1) -> list[Clip]:
    """The command-word clips of ``split``'s speakers in ``data/gsc_v2_test_dev``, one in ``every``. The
    folder name is the truth here: evaluation and bar fitting only, never a training label."""
    clips = select(find_clips([data / "gsc_v2_test_dev"]), split)
    return [c for c in clips if c.folder_label in COMMANDS][::every]

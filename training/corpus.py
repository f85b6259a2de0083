"""Stage 0: the corpus. Its readers live in :mod:`assistant.corpus`, shared with ``assistant bench`` so the
on-device benchmark evaluates on exactly the speakers training holds out."""

from assistant.corpus import (CALIB_PERCENT, SPLITS, TEST_PERCENT, Clip, Split, describe, find_clips, parse_shard,
                              select, speaker_split, speaker_subset, truth_label)

__all__ = ["CALIB_PERCENT", "SPLITS", "TEST_PERCENT", "Clip", "Split", "describe", "find_clips", "parse_shard",
           "select", "speaker_split", "speaker_subset",
           "truth_label"]

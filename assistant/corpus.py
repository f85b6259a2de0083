"""Corpus readers: find clips in folders and know each clip's speaker (for speaker-disjoint splits).

Layouts understood:

- Speech Commands: ``<root>/<word>/<speaker>_nohash_<n>.wav`` (``_unknown_`` clips may be
  ``<word>_<speaker>_nohash_<n>``); ``validation_list.txt`` / ``testing_list.txt`` at the root are
  honoured when present.
- Free Spoken Digit: ``<digit>_<speaker>_<n>.wav``.
- Any folder of audio: the parent folder name is the clip's folder label, the file stem its speaker.

A clip's ``folder_label`` is ground truth for **evaluation only**: labelling never reads it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

from .audio import is_audio_file
from .labelset import LabelSet

Split = Literal["train", "calib", "test"]
SPLITS: tuple[Split, ...] = ("train", "calib", "test")
TEST_PERCENT, CALIB_PERCENT = 30, 15  # of speakers; the rest train

_FSDD = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)$")
_GSC = re.compile(r"^(?:(?P<word>[a-z]+)_)?(?P<speaker>[0-9a-f]{8})_nohash_(?P<n>\d+)$")


@dataclass(frozen=True)
class Clip:
    """One audio file of a corpus."""

    path: Path
    speaker: str
    folder_label: str | None
    """Label implied by folder or file name: for evaluation only, never for training."""
    dataset: str
    official_split: str | None = None
    """``validation``/``testing``/``training`` from a Speech Commands list file, when present."""

    @property
    def split(self) -> Split:
        """This clip's split: the dataset's own list when it has one, else by speaker hash."""
        if self.official_split is not None:
            return {"validation": "calib", "testing": "test"}.get(self.official_split, "train")  # type: ignore[return-value]
        return speaker_split(self.speaker)


def speaker_split(speaker: str) -> Split:
    """Deterministic split by a hash of the speaker id: every clip of a speaker lands together."""
    bucket = int(hashlib.sha1(speaker.encode()).hexdigest()[:8], 16) % 100
    if bucket < TEST_PERCENT:
        return "test"
    if bucket < TEST_PERCENT + CALIB_PERCENT:
        return "calib"
    return "train"


def speaker_subset(clips: list[Clip], fraction: float) -> list[Clip]:
    """The clips of a fixed share of the speakers, by a hash independent of :func:`speaker_split` (a smaller
    share keeps a subset of a larger one's speakers)."""
    if fraction >= 1:
        return clips
    keep = int(fraction * 1000)
    return [c for c in clips if int(hashlib.sha1(f"subset:{c.speaker}".encode()).hexdigest()[:8], 16) % 1000 < keep]


def describe(path: Path, root: Path) -> tuple[str, str | None, str]:
    """(speaker, folder_label, dataset) of one file."""
    stem = path.stem
    if m := _FSDD.match(stem):
        return f"fsdd:{m.group(2)}", m.group(1), "fsdd"
    label = path.parent.name if path.parent != root else None
    if m := _GSC.match(stem):
        return f"gsc:{m.group('speaker')}", label, "speech_commands"
    if label == "_silence_" or (label and label.startswith("_background")):
        return f"noise:{stem}", label, "speech_commands"
    return f"file:{path.relative_to(root).with_suffix('')}", label, "folder"


def _official(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, split in (("validation_list.txt", "validation"), ("testing_list.txt", "testing")):
        f = root / name
        if f.is_file():
            for line in f.read_text().split():
                out[str(Path(line).with_suffix(""))] = split
    return out


def find_clips(roots: Iterable[str | Path]) -> list[Clip]:
    """Every audio file under the given folders (or files), sorted by path."""
    clips: list[Clip] = []
    for root in map(Path, roots):
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and is_audio_file(p))
        base = root.parent if root.is_file() else root
        official = _official(base)
        for p in files:
            speaker, label, dataset = describe(p, base)
            rel = str(p.relative_to(base).with_suffix(""))
            split = official.get(rel, "training" if official else None)
            clips.append(Clip(p, speaker, label, dataset, split))
    return sorted(clips, key=lambda c: str(c.path))


def select(clips: list[Clip], split: str = "all", shard: tuple[int, int] | None = None) -> list[Clip]:
    """Keep one speaker split (``train``/``calib``/``test``, ``heldout`` = not calib, or ``all``) and one shard."""
    if split == "heldout":
        clips = [c for c in clips if c.split != "calib"]
    elif split != "all":
        if split not in SPLITS:
            raise ValueError(f"unknown split '{split}': use all, heldout, {', '.join(SPLITS)}")
        clips = [c for c in clips if c.split == split]
    if shard is not None:
        i, n = shard
        clips = [c for k, c in enumerate(clips) if k % n == i]
    return clips


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` -> (i, n) with 0 <= i < n."""
    if not text:
        return None
    m = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not m or not int(m.group(1)) < int(m.group(2)):
        raise ValueError(f"--shard must be i/n with 0 <= i < n, got '{text}'")
    return int(m.group(1)), int(m.group(2))


def truth_label(clip: Clip, label_set: LabelSet) -> str | None:
    """The evaluation truth of a clip in ``label_set`` terms (None: not evaluable)."""
    lab = clip.folder_label
    if lab is None:
        return None
    if lab in label_set.labels:
        return lab
    if lab in ("_silence_",) and label_set.silence:
        return label_set.silence
    return label_set.unknown  # another word: out-of-set speech (None for a closed set)

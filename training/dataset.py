"""Stage 2: the distillation set — clips cut to the student's window, with the teacher's soft labels.

Sources: real audio (teacher-labelled; human folder names are never read here), synthetic speech of
the commands and of other words (teacher-labelled, so clips it does not hear as the word are
down-weighted by its own posterior), and no-speech clips made from background noise (labelled
``_silence_`` by construction: they hold no speech).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.audio import centre_on_energy, load_audio
from assistant.labelset import LabelSet

from .augment import NoiseBank, silence
from .cache import CachedLabel
from .corpus import Clip

log = logging.getLogger(__name__)

UNKNOWN_WORDS = (
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "zero", "one", "two",
    "three", "four", "five", "six", "seven", "eight", "nine", "learn", "follow", "forward", "backward",
    "visual", "hello", "music", "weather", "play", "pause", "kitchen", "please", "thanks", "coffee",
    "water", "open", "close", "start", "light", "later", "dinner", "window", "yellow", "doing", "often",
    "nope", "yet", "top", "dawn", "gone", "lift", "bright", "ask", "blue",
)


@dataclass
class DistillSet:
    """Arrays ready for training: ``x`` (N, window samples), ``soft`` (N, K) teacher posteriors."""

    labels: tuple[str, ...]
    x: np.ndarray
    soft: np.ndarray
    source: list[str] = field(default_factory=list)
    """Per example: ``real``, ``tts`` or ``noise``."""
    speaker: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.x)

    @classmethod
    def empty(cls, labels: tuple[str, ...], window: int) -> "DistillSet":
        """No examples: as a validation set, training keeps its last epoch."""
        return cls(labels, np.zeros((0, window), np.float32), np.zeros((0, len(labels)), np.float32))

    def counts(self) -> dict[str, int]:
        """Examples per source."""
        return {s: self.source.count(s) for s in sorted(set(self.source))}

    def teacher_top_counts(self) -> dict[str, int]:
        """Examples per teacher argmax label."""
        top = self.soft.argmax(axis=1)
        return {l: int((top == i).sum()) for i, l in enumerate(self.labels)}


def from_labels(clips: list[Clip], labels: dict[str, CachedLabel], label_set: LabelSet, window: int,
                source: str) -> DistillSet:
    """Clips that the teacher labelled, cut/padded to ``window`` samples (centred on the loudest part)."""
    xs, soft, speakers = [], [], []
    for clip in clips:
        lab = labels.get(str(clip.path))
        if lab is None or tuple(lab.labels) != label_set.labels:
            continue
        audio = load_audio(clip.path).samples
        xs.append(centre_on_energy(audio, window))
        soft.append(lab.probs.astype(np.float32))
        speakers.append(clip.speaker)
    x = np.stack(xs) if xs else np.zeros((0, window), np.float32)
    p = np.stack(soft) if soft else np.zeros((0, len(label_set.labels)), np.float32)
    return DistillSet(label_set.labels, x, p, [source] * len(xs), speakers)


def noise_set(label_set: LabelSet, noise: NoiseBank, n: int, window: int, seed: int = 0) -> DistillSet:
    """``n`` no-speech examples (one-hot ``_silence_``)."""
    if not label_set.silence or n <= 0:
        return DistillSet(label_set.labels, np.zeros((0, window), np.float32),
                          np.zeros((0, len(label_set.labels)), np.float32))
    rng = np.random.default_rng(seed)
    x = np.stack([silence(rng, noise, window) for _ in range(n)])
    soft = np.zeros((n, len(label_set.labels)), np.float32)
    soft[:, label_set.labels.index(label_set.silence)] = 1.0
    return DistillSet(label_set.labels, x, soft, ["noise"] * n, [f"noise:{i}" for i in range(n)])


def concat(parts: list[DistillSet]) -> DistillSet:
    """Join sets over the same labels."""
    labels = parts[0].labels
    assert all(p.labels == labels for p in parts)
    return DistillSet(labels, np.concatenate([p.x for p in parts]), np.concatenate([p.soft for p in parts]),
                      sum((p.source for p in parts), []), sum((p.speaker for p in parts), []))


def save(ds: DistillSet, path: Path) -> None:
    """Store as one ``.npz`` (float16 audio)."""
    np.savez_compressed(path, labels=np.array(ds.labels), x=ds.x.astype(np.float16), soft=ds.soft,
                        source=np.array(ds.source), speaker=np.array(ds.speaker))


def load(path: Path) -> DistillSet:
    """Read a set written by :func:`save`."""
    d = np.load(path)
    return DistillSet(tuple(str(s) for s in d["labels"]), d["x"].astype(np.float32), d["soft"],
                      [str(s) for s in d["source"]], [str(s) for s in d["speaker"]])

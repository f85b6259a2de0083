"""Stage 1: the teacher labels clips (soft labels + transcript), through the resumable label cache."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Iterator

from assistant.audio import load_audio
from assistant.errors import AudioError
from assistant.labelset import LabelSet
from assistant.teacher import Teacher

from .cache import CachedLabel, LabelCache
from .corpus import Clip

log = logging.getLogger(__name__)


@dataclass
class LabelRun:
    """What one labelling pass did."""

    labels: dict[str, CachedLabel] = field(default_factory=dict)
    """Clip path -> teacher answer (cached or new)."""
    bad: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) of clips that could not be read."""
    new: int = 0
    cached: int = 0
    wall_seconds: float = 0.0
    teacher_seconds: float = 0.0
    """Teacher compute time of the clips labelled in this run."""

    @property
    def clips_per_second(self) -> float:
        """Teacher throughput of this run (new clips / wall time); 0 when nothing was new."""
        return self.new / self.wall_seconds if self.new and self.wall_seconds else 0.0


def _batches(clips: list[Clip], run: LabelRun, size: int) -> Iterator[list[tuple[Clip, str, object]]]:
    batch: list[tuple[Clip, str, object]] = []
    for clip in clips:
        try:
            audio = load_audio(clip.path)
        except AudioError as e:
            run.bad.append((str(clip.path), str(e)))
            log.warning("skipping %s", e)
            yield []  # keeps the progress bar moving
            continue
        batch.append((clip, audio.sha256, audio.samples))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def label_clips(clips: list[Clip], teacher: Teacher, label_set: LabelSet, cache: LabelCache, *,
                batch_size: int = 16, progress: bool = True) -> LabelRun:
    """Label every clip not yet in ``cache`` and return all answers; unreadable clips are listed, not fatal."""
    from tqdm import tqdm

    run = LabelRun()
    start = time.perf_counter()
    bar = tqdm(total=len(clips), desc=f"labelling ({teacher.name})", unit="clip", disable=not progress,
               dynamic_ncols=True)
    for batch in _batches(clips, run, batch_size):
        if not batch:
            bar.update(1)
            continue
        have = cache.get_many({sha for _, sha, _ in batch}, teacher.id, label_set.id)
        todo: dict[str, object] = {}
        for _, sha, samples in batch:
            if sha not in have:
                todo.setdefault(sha, samples)  # identical audio is labelled once
        if todo:
            t0 = time.perf_counter()
            answers = teacher.label_batch(list(todo.values()), label_set)  # type: ignore[arg-type]
            run.teacher_seconds += time.perf_counter() - t0
            rows = [(sha, CachedLabel(a.labels, a.probs, a.transcript.to_dict(), a.raw, a.seconds))
                    for sha, a in zip(todo, answers)]
            cache.put_many(rows, teacher.id, label_set.id)
            have.update(dict(rows))
        for clip, sha, _ in batch:
            run.labels[str(clip.path)] = have[sha]
        run.new += len(todo)
        run.cached += len(batch) - len(todo)
        bar.update(len(batch))
        bar.set_postfix(new=run.new, cached=run.cached, bad=len(run.bad))
    bar.close()
    run.wall_seconds = time.perf_counter() - start
    return run

"""Speech gate: an energy detector with an adaptive noise floor and a hangover (pure numpy).

Frames are 10 ms. A frame is speech when its level is ``open_db`` above the tracked noise floor and
above ``min_level_db``; a segment opens on the first speech frame and closes ``hangover_s`` after
the last one. Optionally a ``pause`` event marks the moment an open segment has been quiet for
``pause_frames`` frames (the end of a word, long before the hangover closes the segment).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .audio import SAMPLE_RATE

FRAME = SAMPLE_RATE // 100  # 10 ms


@dataclass(frozen=True)
class GateConfig:
    """Detector settings."""

    open_db: float = 12.0
    min_level_db: float = -50.0
    hangover_s: float = 0.3
    floor_rise_db: float = 0.1
    """How fast the noise floor may rise per frame (it falls at once; the first frame sets it)."""


@dataclass(frozen=True)
class GateEvent:
    """A segment boundary: ``kind`` is ``start``, ``pause`` or ``end``; ``sample`` is its position in the stream."""

    kind: str
    sample: int


class SpeechGate:
    """Feed audio in any chunk size; get segment start/end events (identical for any chunking)."""

    def __init__(self, cfg: GateConfig = GateConfig(), pause_frames: int = 0) -> None:
        """``pause_frames`` > 0: also report ``pause`` events after that many quiet frames."""
        self.cfg = cfg
        self.pause_frames = pause_frames
        self.floor_db = -90.0
        self.active = False
        self.silent_frames = 0
        self.start = 0
        self.total = 0
        self._pending = np.zeros(0, np.float32)

    def process(self, chunk: np.ndarray) -> list[GateEvent]:
        """Events caused by this chunk, in order."""
        x = np.concatenate([self._pending, np.asarray(chunk, np.float32).reshape(-1)])
        n = x.size // FRAME
        self._pending = x[n * FRAME:]
        events: list[GateEvent] = []
        hang = int(self.cfg.hangover_s * 100)
        for f in x[: n * FRAME].reshape(n, FRAME):
            level = 10 * np.log10(float(np.mean(f.astype(np.float64) ** 2)) + 1e-12)
            if self.total == 0:
                self.floor_db = level
            speech = level > max(self.floor_db + self.cfg.open_db, self.cfg.min_level_db)
            if not speech:  # track the floor on non-speech frames only
                self.floor_db = min(level, self.floor_db + self.cfg.floor_rise_db) if level > self.floor_db \
                    else level
            frame_start = self.total
            self.total += FRAME
            if speech:
                self.silent_frames = 0
                if not self.active:
                    self.active = True
                    self.start = frame_start
                    events.append(GateEvent("start", frame_start))
            elif self.active:
                self.silent_frames += 1
                if self.silent_frames == self.pause_frames < hang:
                    events.append(GateEvent("pause", self.total))
                if self.silent_frames >= hang:
                    self.active = False
                    events.append(GateEvent("end", self.total))
        return events

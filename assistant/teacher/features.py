"""Whisper's log-mel input, computed the faster-whisper way, over a shortened window for short clips.

The encoder accepts fewer than 3000 frames: a 1 s command padded to ``min_seconds`` keeps the
teacher's accuracy at a fraction of the cost of a full 30 s window.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..audio import SAMPLE_RATE

HOP = 160  # samples per mel frame (10 ms)
FRAMES_PER_SECOND = SAMPLE_RATE // HOP
WINDOW_SECONDS = 30  # Whisper's full window
MAX_FRAMES = WINDOW_SECONDS * FRAMES_PER_SECOND


@lru_cache(maxsize=2)
def _extractor(n_mels: int):
    from faster_whisper.feature_extractor import FeatureExtractor

    return FeatureExtractor(feature_size=n_mels)


def window_frames(n_samples: int, min_seconds: float) -> int:
    """Encoder frames for a clip of ``n_samples``: at least ``min_seconds``, 1 s of margin, <= 30 s, even."""
    seconds = max(min_seconds, math.ceil(n_samples / SAMPLE_RATE + 1.0))
    return min(MAX_FRAMES, int(seconds) * FRAMES_PER_SECOND)


def log_mel(audio: np.ndarray, frames: int, n_mels: int = 80) -> np.ndarray:
    """Log-mel of ``audio`` (16 kHz), trimmed or zero-padded to ``frames``: shape = (n_mels, frames)."""
    feats = _extractor(n_mels)(np.asarray(audio, dtype=np.float32))[:, :-1]  # faster-whisper drops the last frame
    out = np.zeros((n_mels, frames), dtype=np.float32)
    n = min(frames, feats.shape[1])
    out[:, :n] = feats[:, :n]
    return out

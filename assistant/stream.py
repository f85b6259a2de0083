"""Streaming: a ring buffer over incoming audio and the windows the student sees every hop.

:func:`stream_windows` (chunks of any size, as a microphone delivers them) and :func:`batch_windows`
(a whole file at once) yield the same windows at the same sample positions; tests hold them to it.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np


class RingBuffer:
    """The last ``size`` samples of a stream (float32)."""

    def __init__(self, size: int) -> None:
        self.buf = np.zeros(size, np.float32)
        self.pos = 0  # next write index
        self.total = 0  # samples ever pushed

    def push(self, chunk: np.ndarray) -> None:
        """Append samples (any length; longer than the buffer keeps the tail)."""
        x = np.asarray(chunk, dtype=np.float32).reshape(-1)
        size = self.buf.size
        self.total += x.size
        if x.size >= size:
            self.buf[:] = x[-size:]
            self.pos = 0
            return
        end = self.pos + x.size
        if end <= size:
            self.buf[self.pos:end] = x
        else:
            k = size - self.pos
            self.buf[self.pos:] = x[:k]
            self.buf[: x.size - k] = x[k:]
        self.pos = end % size

    def latest(self) -> np.ndarray:
        """The buffer in time order (oldest first): shape (size,)."""
        return np.concatenate([self.buf[self.pos:], self.buf[: self.pos]])

    def tail(self, n: int) -> np.ndarray:
        """The last ``n`` samples in time order (n <= size), copying only those: shape (n,)."""
        n = min(n, self.buf.size)
        start = self.pos - n
        if start >= 0:
            return self.buf[start:self.pos].copy()
        return np.concatenate([self.buf[start:], self.buf[: self.pos]])


def stream_windows(chunks: Iterable[np.ndarray], window: int, hop: int) -> Iterator[tuple[int, np.ndarray]]:
    """(end sample, window) every ``hop`` samples once ``window`` samples have arrived."""
    ring = RingBuffer(window)
    next_end = window
    for chunk in chunks:
        x = np.asarray(chunk, dtype=np.float32).reshape(-1)
        start = 0
        while start < x.size:  # split at window ends so none is skipped inside a long chunk
            need = next_end - ring.total
            take = min(need, x.size - start)
            ring.push(x[start:start + take])
            start += take
            if ring.total == next_end:
                yield next_end, ring.latest()
                next_end += hop


def batch_windows(audio: np.ndarray, window: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """All windows of a whole clip: ends (N,), windows (N, window)."""
    x = np.asarray(audio, dtype=np.float32)
    if x.size < window:
        return np.zeros(0, np.int64), np.zeros((0, window), np.float32)
    ends = np.arange(window, x.size + 1, hop)
    return ends, np.stack([x[e - window:e] for e in ends])

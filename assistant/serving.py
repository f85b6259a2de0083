"""How one teacher serves many devices: a bounded queue, one worker that owns the teacher, batches of
queued utterances through the encoder, per-request deadlines, and the figures ``/metrics`` exports.

Pure threading, no web framework (``assistant.server`` puts HTTP around it). Why one worker: the teacher
already uses every core, so two decodes at once only slow both; why a bounded queue: a device would rather
hear "busy, retry in 2 s" (HTTP 429) at once than wait behind a minute of other devices' audio.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)
"""Upper bounds of the request-latency histogram (seconds, Prometheus ``le`` labels)."""


class Busy(Exception):
    """The queue is full: the caller should answer 429 with ``retry_after_s``."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"the teacher is busy; retry in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class Expired(Exception):
    """The request's deadline passed while it waited in the queue (it never reached the teacher)."""


@dataclass
class _Job:
    kind: str
    """``hear`` (batched with other queued ``hear`` jobs) or ``understand`` (one at a time)."""
    audio: np.ndarray
    deadline: float
    """``time.monotonic()`` after which the result is no use to the caller."""
    future: Future = field(default_factory=Future)


class Metrics:
    """Counters, a gauge and a histogram in Prometheus' text format (no client library needed)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = {}
        self.latency_counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self.latency_sum = 0.0
        self.batches: dict[int, int] = {}
        self.queue_depth: Callable[[], int] = lambda: 0

    def observe(self, endpoint: str, status: int, seconds: float | None = None) -> None:
        """One finished request: its endpoint, HTTP status and (if answered) latency in seconds."""
        with self.lock:
            self.requests[(endpoint, status)] = self.requests.get((endpoint, status), 0) + 1
            if seconds is not None:
                i = next((k for k, b in enumerate(LATENCY_BUCKETS_S) if seconds <= b), len(LATENCY_BUCKETS_S))
                self.latency_counts[i] += 1
                self.latency_sum += seconds

    def batch(self, size: int) -> None:
        with self.lock:
            self.batches[size] = self.batches.get(size, 0) + 1

    def text(self) -> str:
        """The exposition text of ``GET /metrics``."""
        with self.lock:
            lines = ["# HELP teacher_requests_total Requests by endpoint and HTTP status.",
                     "# TYPE teacher_requests_total counter"]
            lines += [f'teacher_requests_total{{endpoint="{e}",code="{c}"}} {n}'
                      for (e, c), n in sorted(self.requests.items())]
            errors = sum(n for (_, c), n in self.requests.items() if c >= 500)
            lines += ["# HELP teacher_errors_total Requests answered with a 5xx status.",
                      "# TYPE teacher_errors_total counter", f"teacher_errors_total {errors}",
                      "# HELP teacher_queue_depth Utterances waiting for the teacher.",
                      "# TYPE teacher_queue_depth gauge", f"teacher_queue_depth {self.queue_depth()}",
                      "# HELP teacher_request_seconds Time from arrival to answer of answered requests.",
                      "# TYPE teacher_request_seconds histogram"]
            total = 0
            for b, n in zip((*LATENCY_BUCKETS_S, float("inf")), self.latency_counts):
                total += n
                lines.append(f'teacher_request_seconds_bucket{{le="{"+Inf" if b == float("inf") else b}"}} {total}')
            lines += [f"teacher_request_seconds_sum {self.latency_sum:.6f}", f"teacher_request_seconds_count {total}",
                      "# HELP teacher_batches_total Encoder batches by size.", "# TYPE teacher_batches_total counter"]
            lines += [f'teacher_batches_total{{size="{s}"}} {n}' for s, n in sorted(self.batches.items())]
        return "\n".join(lines) + "\n"


class TeacherQueue:
    """Requests in, answers out: ``submit(kind, audio, deadline_s)`` returns a :class:`Future`.

    ``hear(audios) -> results`` answers a batch of short utterances (one encoder pass per window length);
    ``understand(audio) -> result`` answers one request (grammar decoding). Both run on one worker thread.
    """

    def __init__(self, hear: Callable[[Sequence[np.ndarray]], list], understand: Callable[[np.ndarray], object],
                 max_queue: int = 16, max_batch: int = 8, metrics: Metrics | None = None) -> None:
        self.hear, self.understand = hear, understand
        self.max_queue, self.max_batch = max_queue, max_batch
        self.jobs: deque[_Job] = deque()
        self._ready = threading.Condition()
        self.metrics = metrics or Metrics()
        self.metrics.queue_depth = lambda: len(self.jobs)
        self._seconds = 0.5
        """Running mean of one job's service time (s), for Retry-After."""
        self._worker = threading.Thread(target=self._run, name="teacher-worker", daemon=True)
        self._worker.start()

    def submit(self, kind: str, audio: np.ndarray, deadline_s: float) -> Future:
        """Queue one utterance; raises :class:`Busy` at once when the queue is full, or when the work
        ahead of it (queued jobs × the running mean service time) would not end within ``deadline_s``:
        a quick 429 beats a 504 after the device has waited the whole deadline."""
        job = _Job(kind, audio, time.monotonic() + deadline_s)
        with self._ready:
            if any(j.future.cancelled() for j in self.jobs):  # given up on (504): no longer ahead of anyone
                self.jobs = deque(j for j in self.jobs if not j.future.cancelled())
            wait_s = (len(self.jobs) + 1) * self._seconds
            if len(self.jobs) >= self.max_queue or (self.jobs and wait_s > 0.8 * deadline_s):
                raise Busy(max(1.0, round(len(self.jobs) * self._seconds)))
            self.jobs.append(job)
            self._ready.notify()
        return job.future

    def _take(self) -> list[_Job]:
        """The next job, and if it is a ``hear``, the ``hear`` jobs right behind it (up to a batch): first
        come, first served, with no job passed over."""
        with self._ready:
            while not self.jobs:
                self._ready.wait()
            batch = [self.jobs.popleft()]
            while batch[0].kind == "hear" and self.jobs and self.jobs[0].kind == "hear" and \
                    len(batch) < self.max_batch:
                batch.append(self.jobs.popleft())
        return batch

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            live = []
            for job in self._take():
                if job.future.set_running_or_notify_cancel() is False:
                    continue
                if now > job.deadline:
                    job.future.set_exception(Expired("the deadline passed while the request waited"))
                else:
                    live.append(job)
            if not live:
                continue
            start = time.monotonic()
            try:
                if live[0].kind == "hear":
                    self.metrics.batch(len(live))
                    results = self.hear([j.audio for j in live])
                else:
                    results = [self.understand(live[0].audio)]
            except Exception as e:  # noqa: BLE001 - one bad batch must not stop the worker
                for job in live:
                    job.future.set_exception(e)
                continue
            for job, r in zip(live, results):
                job.future.set_result(r)
            per_job = (time.monotonic() - start) / len(live)
            self._seconds = 0.8 * self._seconds + 0.2 * per_job

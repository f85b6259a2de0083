"""The streaming loop: audio chunks -> ring buffer -> speech gate -> student every hop -> decision ->
intent handler (instant) | teacher (deferred). One pipeline for files and the microphone.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np

from .audio import SAMPLE_RATE
from .decision import (BOTH_SURE, DISAGREE, MODEL_BARS, TEACHER_NOISE, Action, Decider, Decision, DecisionConfig,
                       posterior_command, student_agrees, with_model_bars)
from .errors import AssistantError, ModelError
from .gate import FRAME, GateConfig, SpeechGate
from .handlers import Home, answer
from .intents import IntentMatch, IntentSet
from .stream import RingBuffer
from .student import Student
from .teacher.base import Transcript

Transcriber = Callable[[np.ndarray], "str | Transcript"]
"""Answers a deferred segment: a transcript, or a :class:`Transcript` that may carry the teacher's label
posterior (:meth:`Teacher.hear`)."""

MAX_WINDOW_S = 4.0  # the longest student window a running loop can switch to
PRE_ROLL_S = 0.3  # audio kept before the gate opens, so deferred segments start before the first loud frame
MAX_SEGMENT_S = 20.0


@dataclass(frozen=True)
class Event:
    """One decision and, unless ignored, its answer."""

    decision: Decision
    segment_s: tuple[float, float | None]
    """Stream time where the speech segment started (and ended, once known)."""
    intent: IntentMatch | None = None
    answer: str | None = None
    transcript: str | None = None
    """What the teacher heard, for deferrals."""
    compute_ms: float = 0.0
    """Processing time from the audio that triggered the decision to the answer."""
    answered_by: str = "-"

    def to_dict(self) -> dict:
        """JSON form (``assistant run --json``)."""
        d = asdict(self)
        d["decision"]["action"] = self.decision.action.value
        return d


@dataclass
class LoopConfig:
    """Loop settings."""

    hop_s: float = 0.05
    """Student every 50 ms: a decision lands at most one hop after the window is convincing (100 ms
    hops put the real-voice median at 100 ms; see README, assistant figures)."""
    gate: GateConfig = field(default_factory=GateConfig)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    model_bars: frozenset[str] = frozenset(MODEL_BARS)
    """Bars a student's manifest may set for itself (its ``"decision"`` entry; ``training fit-bars``) where
    ``decision`` leaves them at their defaults; those left out keep ``decision``'s value whatever it is
    (``assistant run --accept 0.9998`` sets that bar for every student; sweeps leave out both)."""


def student_decision(student: Student, cfg: LoopConfig) -> DecisionConfig:
    """The decision settings for ``student``: its own bars where its manifest has them and ``cfg``'s are at
    their defaults (see ``LoopConfig.model_bars``), else ``cfg``'s. A bad bar is a :class:`ModelError`."""
    default = DecisionConfig()
    keep = frozenset(k for k in MODEL_BARS if k not in cfg.model_bars
                     or getattr(cfg.decision, k) != getattr(default, k))
    try:
        return with_model_bars(cfg.decision, student.manifest.extra.get("decision"), keep)
    except ValueError as e:
        raise ModelError(f"{student.dir}: manifest.json: {e}; run `training fit-bars` on it or re-export it") from None


def word_bars(student: Student) -> dict[str, float]:
    """Words with a bar of their own (``training add-intent --accept``), from the student's manifest."""
    added = student.manifest.extra.get("intents") or {}
    return {l: float(e["accept"]) for l, e in added.items() if isinstance(e, dict) and e.get("accept")}


class Assistant:
    """Feed audio in any chunk size; get :class:`Event`s. ``transcribe`` answers deferrals (None: no teacher)."""

    def __init__(self, student: Student, intents: IntentSet, transcribe: Transcriber | None,
                 cfg: LoopConfig | None = None, home: Home | None = None,
                 defer: Callable[[np.ndarray, Event], None] | None = None,
                 keep: Callable[[np.ndarray, str], object] | None = None) -> None:
        """``defer``, when given, receives each deferred segment instead of the loop waiting for the
        teacher (a microphone must keep listening); it answers later through :meth:`resolve`. ``keep``,
        when given, receives each deferred segment and what the teacher heard in it
        (:class:`assistant.heard.HeardStore`: real voices for the next ``add-intent``)."""
        self.transcribe, self.defer, self.keep = transcribe, defer, keep
        self.lock = threading.Lock()  # handlers may run on the loop and on a teacher worker
        self.cfg = cfg or LoopConfig()
        self.home = home or Home()
        self._use(student, intents)
        self.pause_frames = int(round(self.cfg.decision.min_pause_s * SAMPLE_RATE / FRAME))
        self.gate = SpeechGate(self.cfg.gate, self.pause_frames)
        self.hop = int(round(self.cfg.hop_s * SAMPLE_RATE))
        self.ring = RingBuffer(int((MAX_SEGMENT_S + MAX_WINDOW_S) * SAMPLE_RATE))
        self.seg_start: int | None = None
        self.silence_probs: list[float] = []
        self._next: tuple[Student, IntentSet] | None = None
        self.profile: dict[str, list[float]] | None = None
        """Set to ``{}`` to record seconds per stage and hop (``assistant bench``); None costs nothing."""

    def _lap(self, stage: str, since: float) -> float:
        """Record the time since ``since`` for ``stage`` (only while profiling: no clock read otherwise)."""
        if self.profile is None:
            return since
        now = time.perf_counter()
        self.profile.setdefault(stage, []).append(now - since)
        return now

    def swap(self, student: Student, intents: IntentSet) -> None:
        """Use another student and intents (a newly promoted model) from the next moment no speech
        segment is open; nothing in flight is lost."""
        if student.frontend.window_samples > MAX_WINDOW_S * SAMPLE_RATE:
            raise AssistantError(f"{student.dir}: a {student.frontend.window_seconds:g} s window is longer "
                                 f"than the {MAX_WINDOW_S:g} s a running loop supports")
        student_decision(student, self.cfg)  # a broken manifest is refused now, not when the loop switches
        self._next = (student, intents)

    def _use(self, student: Student, intents: IntentSet) -> None:
        """Set the student, its intents, and what depends on its labels and window."""
        self.student, self.intents = student, intents
        labels = student.labels
        self.decision = student_decision(student, self.cfg)
        self.decider = Decider(labels, tuple(l for l in labels if not l.startswith("_")), self.decision,
                               accept_by_label=word_bars(student))
        self.silence_idx = labels.index("_silence_") if "_silence_" in labels else None
        self.window = student.frontend.window_samples

    @property
    def total(self) -> int:
        """Samples consumed so far."""
        return self.ring.total

    def feed(self, chunk: np.ndarray) -> list[Event]:
        """Consume audio (16 kHz mono float32); returns the events it caused, in order."""
        x = np.asarray(chunk, dtype=np.float32).reshape(-1)
        events: list[Event] = []
        start = 0
        while start < x.size:  # cut at hop boundaries so the student runs at the same positions for any chunking
            take = min(self.hop - self.total % self.hop, x.size - start)
            piece = x[start:start + take]
            start += take
            t0 = time.perf_counter()
            if self._next is not None and not self.decider.in_segment:
                with self.lock:
                    self._use(*self._next)
                self._next = None
            gate_events = self.gate.process(piece)
            t = self._lap("gate", t0)
            self.ring.push(piece)
            t = self._lap("buffer", t)
            for ev in gate_events:
                if ev.kind == "start":
                    self.seg_start = ev.sample
                    self.silence_probs = []
                    self.decider.start()
                elif ev.kind == "pause":
                    speech_s = (ev.sample - self.pause_frames * FRAME - (self.seg_start or 0)) / SAMPLE_RATE
                    if (d := self.decider.pause(ev.sample / SAMPLE_RATE, speech_s)) is not None:
                        events.append(self._local(d, t0))
                else:
                    events += self._end_segment(ev.sample, t0)
            if self.decider.in_segment and self.total - (self.seg_start or 0) >= MAX_SEGMENT_S * SAMPLE_RATE:
                # endless sound (music, a fan): close the segment so the teacher hears it and the gate re-arms
                events += self._end_segment(self.total, t0)
                self.gate.active = False
            if self.total % self.hop == 0 and self.decider.in_segment:  # the ring starts as silence
                t = time.perf_counter()
                probs = self.student.probs(self.ring.tail(self.window))[0]  # copies one window, not the ring
                t = self._lap("student", t)
                if self.silence_idx is not None:
                    self.silence_probs.append(float(probs[self.silence_idx]))
                paused = self.gate.silent_frames >= self.pause_frames
                d = self.decider.window(self.total / SAMPLE_RATE, probs, (self.total - (self.seg_start or 0)) / SAMPLE_RATE,
                                        paused)
                t = self._lap("decision", t)
                if d is not None:
                    events.append(self._local(d, t0, t))
        return events

    def _local(self, d: Decision, t0: float, t: float | None = None) -> Event:
        """The student's instant answer to ``d``."""
        match = self.intents.from_label(d.label) if d.label else None
        with self.lock:
            reply = answer(match, self.home)
        if t is not None:
            self._lap("handler", t)
        return Event(d, (self._seg_time(), None), match, reply, compute_ms=(time.perf_counter() - t0) * 1000,
                     answered_by="student")

    def feed_all(self, audio: np.ndarray, chunk: int = SAMPLE_RATE // 50) -> list[Event]:
        """A whole recording in ``chunk``-sample pieces (20 ms, as a microphone), then :meth:`flush`."""
        events = [e for i in range(0, audio.size, chunk) for e in self.feed(audio[i:i + chunk])]
        return events + self.flush()

    def flush(self) -> list[Event]:
        """End of stream: close an open segment."""
        if self.decider.in_segment:
            return self._end_segment(self.total, time.perf_counter())
        return []

    def _seg_time(self) -> float:
        return (self.seg_start or 0) / SAMPLE_RATE

    def _end_segment(self, end_sample: int, t0: float) -> list[Event]:
        start = self.seg_start or 0
        duration = (end_sample - start) / SAMPLE_RATE
        silence = float(np.mean(self.silence_probs)) if self.silence_probs else 0.0
        d = self.decider.end(end_sample / SAMPLE_RATE, duration, silence)
        if d is None:
            return []
        seg = (start / SAMPLE_RATE, end_sample / SAMPLE_RATE)
        if d.action is Action.IGNORE:
            return [Event(d, seg)]
        pre = int(PRE_ROLL_S * SAMPLE_RATE)
        n = min(self.total - max(0, start - pre), self.ring.buf.size)
        audio = self.ring.tail(n) if n > 0 else np.zeros(0, np.float32)
        if self.defer is not None:
            pending = Event(d, seg, compute_ms=(time.perf_counter() - t0) * 1000, answered_by="teacher (pending)")
            self.defer(audio, pending)
            return [pending]
        if self.transcribe is None:
            return [Event(d, seg, None, "I'm not sure, and no teacher is available to ask.",
                          compute_ms=(time.perf_counter() - t0) * 1000)]
        return [self.resolve(audio, Event(d, seg), t0)]

    def resolve(self, audio: np.ndarray, event: Event, t0: float | None = None) -> Event:
        """Ask the teacher about a deferred segment and answer it (safe to call from a worker thread)."""
        t0 = time.perf_counter() if t0 is None else t0
        if self.transcribe is None:
            return replace(event, answer="I'm not sure, and no teacher is available to ask.", answered_by="-")
        try:
            heard = self.transcribe(audio)
        except AssistantError as e:
            return replace(event, answer=f"The teacher is unavailable ({e}).",
                           compute_ms=(time.perf_counter() - t0) * 1000, answered_by="teacher")
        text, posterior = (heard, None) if isinstance(heard, str) else (heard.text, heard.labels)
        if self.keep is not None and text.strip():
            self.keep(audio, text)
        if isinstance(heard, Transcript) and heard.intent:  # decoded under the grammar: the request as parsed
            name = str(heard.intent["intent"])
            match = IntentMatch(name, dict(heard.intent.get("slots") or {}), self.intents.responses.get(name))
            with self.lock:
                reply = answer(match, self.home)
            return replace(event, intent=match, answer=reply, transcript=text,
                           compute_ms=(time.perf_counter() - t0) * 1000, answered_by="teacher (grammar)")
        if not text.strip():  # the teacher heard no speech (e.g. noise it checked with Teacher.hear): stay quiet
            return replace(event, decision=replace(event.decision, action=Action.IGNORE, reason=TEACHER_NOISE),
                           transcript=text, compute_ms=(time.perf_counter() - t0) * 1000, answered_by="teacher")
        match = self.intents.from_text(text)
        decision = event.decision
        if match is not None and not student_agrees(self.intents.command_word(text), decision,
                                                    self.decision.agree):
            match, decision = None, replace(decision, reason=DISAGREE)
        elif match is None and (label := posterior_command(posterior, decision, self.decision)) is not None:
            match, decision = self.intents.from_label(label), replace(decision, label=label, reason=BOTH_SURE)
        with self.lock:
            reply = answer(match, self.home)
        return replace(event, decision=decision, intent=match, answer=reply, transcript=text,
                       compute_ms=(time.perf_counter() - t0) * 1000, answered_by="teacher")

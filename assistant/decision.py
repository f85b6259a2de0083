"""Pure decision logic: student posteriors over time -> ACCEPT (answer now), DEFER (ask the teacher), IGNORE.

No audio, no model, no clock: inputs are probability vectors with their stream times, and segment
boundaries from the speech gate. Tested as plain functions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np


NOISE = "student hears no speech"
"""Reason of an IGNORE for a segment the student hears as ``_silence_`` (benchmarks count these)."""
TEACHER_NOISE = "teacher hears no speech"
"""Reason of an IGNORE for a deferred segment the teacher found empty (:meth:`Teacher.hear`)."""
DISAGREE = "teacher heard a command word the student did not"
"""Reason of a deferral left unanswered: see :func:`student_agrees`."""
LONG = "longer than a command"
"""Reason of a DEFER for a segment longer than ``max_command_s`` (a query, the teacher's own domain)."""
BOTH_SURE = "teacher's and student's posteriors agree"
"""Reason of a deferral answered by :func:`posterior_command` when the transcript named no intent."""


class Action(str, Enum):
    """What the assistant does with an utterance."""

    ACCEPT = "ACCEPT"
    DEFER = "DEFER"
    IGNORE = "IGNORE"


@dataclass(frozen=True)
class DecisionConfig:
    """Thresholds of the decision."""

    accept: float = 0.9998
    """Smoothed command probability that answers at once (below it, the teacher decides). A student's
    manifest carries its own, with ``instant`` (:data:`MODEL_BARS`, chosen by ``training fit-bars``);
    this default applies to a student without them. Measured: docs/loop.md."""
    ignore: float = 0.95
    """Mean ``_silence_`` probability over a segment at which it is noise: IGNORE, not sent to the
    teacher (Whisper hears "Okay." in kitchen noise). Chosen on the calib speakers: docs/loop.md."""
    smooth: int = 2
    """Hops averaged (moving mean of the student's posteriors; 2 x 50 ms)."""
    min_speech_s: float = 0.15
    """Shorter segments are clicks: IGNORE."""
    max_command_s: float = 1.5
    """Longer segments are not a command: DEFER to the teacher."""
    max_accept_s: float = 1.0
    """No instant answer once the speech has gone on longer than this (a longer query is under way)."""
    min_pause_s: float = 0.08
    """Answer a confident command only once the speaker has paused this long (0: at once), unless it is
    sure beyond ``instant``: a sentence that starts like a keyword ("Brew an iced mocha" heard as
    "right") runs on without a pause. Fewer false accepts in chatter for ~60 ms: docs/loop.md."""
    instant: float = 0.99997
    """With ``min_pause_s`` > 0: a command at least this sure is answered at once all the same (only the
    merely sure wait for the pause). 1: every answer waits."""
    agree: float = 0.1
    """A deferred segment that the teacher hears as just a command word is carried out only if the
    student gave that word at least this (its peak smoothed probability in the segment); else "I didn't
    catch that": both models must agree on a bare word, which stops most spoken digits the teacher takes
    for commands. Chosen on the calib speakers: docs/loop.md."""
    posterior_teacher: float = 0.97
    """When the teacher's transcript names no intent (Whisper writes "of" for "off", "Cry." for "right"),
    a command-length segment is still answered if the teacher's own posterior over the command labels
    puts at least this on one command and the student gave that command at least ``posterior_student``.
    Lower bars let through digits both models hear as commands; 1 turns the fallback off (docs/loop.md)."""
    posterior_student: float = 0.9
    """The student's share for the teacher's command in that fallback (its peak in the segment)."""

    def __post_init__(self) -> None:
        if (not 0 < self.accept <= 1 or not 0 < self.ignore <= 1 or self.smooth < 1 or self.min_speech_s < 0
                or self.max_command_s <= 0 or self.min_pause_s < 0 or not 0 <= self.agree <= 1
                or not 0 < self.posterior_teacher <= 1 or not 0 <= self.posterior_student <= 1
                or not 0 < self.instant <= 1):
            raise ValueError("accept and ignore in (0, 1], smooth >= 1, min_speech_s >= 0, max_command_s > 0, "
                             "min_pause_s >= 0, agree and posterior_student in [0, 1], posterior_teacher and instant in (0, 1]")


@dataclass(frozen=True)
class Decision:
    """One decision about one speech segment."""

    action: Action
    label: str | None
    confidence: float
    time_s: float
    """Stream time at which it was taken."""
    reason: str
    support: Mapping[str, float] | None = None
    """For a DEFER: each command's peak smoothed probability in the segment (what the student heard)."""


class Decider:
    """Per-segment state machine: at most one ACCEPT/DEFER/IGNORE per speech segment."""

    def __init__(self, labels: tuple[str, ...], commands: tuple[str, ...], cfg: DecisionConfig = DecisionConfig(),
                 silence: str | None = "_silence_", accept_by_label: Mapping[str, float] | None = None) -> None:
        """``accept_by_label``: a label's own instant-answer bar instead of ``cfg.accept`` (a word added
        with ``training add-intent --accept P`` carries one in its manifest); below ``cfg.instant`` it
        waits for the speaker's pause like every answer: without that wait an added word at 0.9 fired
        about 40 times an hour in coffee orders (README, add-intent)."""
        self.labels, self.cfg = labels, cfg
        by = dict(accept_by_label or {})
        if any(not 0 < v <= 1 for v in by.values()):
            raise ValueError("every per-label accept threshold must be in (0, 1]")
        self.accept = np.array([by.get(l, cfg.accept) for l in labels])
        self.instant = np.full(len(labels), cfg.instant)  # at or above: no pause wait
        self.command_idx = np.array([labels.index(c) for c in commands])
        self.silence_idx = labels.index(silence) if silence in labels else None
        self.history: deque[np.ndarray] = deque(maxlen=cfg.smooth)
        self.in_segment = False
        self.decided = False
        self.support = np.zeros(len(labels))  # per-label peak of the smoothed probabilities in this segment
        self.pending: Decision | None = None  # confident, waiting for a pause (min_pause_s)

    def start(self) -> None:
        """A speech segment began."""
        self.in_segment, self.decided = True, False
        self.history.clear()
        self.support[:] = 0.0
        self.pending = None

    def window(self, time_s: float, probs: np.ndarray, speech_s: float = 0.0, paused: bool = True) -> Decision | None:
        """A student posterior at ``time_s``, ``speech_s`` into the segment; ACCEPT as soon as a command is
        confident (no waiting for the gate to close), unless the speech is already longer than a command.
        ``paused``: the speaker is quiet now (:meth:`pause` answers a command held back until then)."""
        if not self.in_segment or self.decided:
            return None
        self.history.append(np.asarray(probs, dtype=np.float64))
        mean = np.mean(self.history, axis=0)
        np.maximum(self.support, mean, out=self.support)
        k = int(self.command_idx[np.argmax(mean[self.command_idx])])
        if speech_s > self.cfg.max_accept_s:  # a longer query is under way: no instant answer
            self.pending = None
            return None
        if mean[k] >= self.accept[k]:
            d = Decision(Action.ACCEPT, self.labels[k], float(mean[k]), time_s, "student is confident")
            if self.cfg.min_pause_s > 0 and not paused and mean[k] < self.instant[k]:
                self.pending = d
                return None
            self.decided = True
            return d
        return None

    def pause(self, time_s: float, speech_s: float) -> Decision | None:
        """The speaker has been quiet for ``min_pause_s`` at ``time_s``, after ``speech_s`` of speech:
        ACCEPT the command the student was sure of, if any."""
        if not self.in_segment or self.decided or self.pending is None or speech_s > self.cfg.max_accept_s:
            return None
        self.decided = True
        return Decision(Action.ACCEPT, self.pending.label, self.pending.confidence, time_s,
                        "student is confident, speaker paused")

    def end(self, time_s: float, duration_s: float, silence_prob: float = 0.0) -> Decision | None:
        """The segment ended; if nothing was accepted, DEFER or IGNORE it."""
        self.in_segment = False
        if self.decided:
            return None
        self.decided = True
        if duration_s < self.cfg.min_speech_s:
            return Decision(Action.IGNORE, None, 0.0, time_s, "too short to be speech")
        support = {self.labels[i]: float(self.support[i]) for i in self.command_idx}
        best = max(support, key=support.get) if support else None  # the command the student came closest to
        peak = support[best] if best is not None else 0.0
        if duration_s > self.cfg.max_command_s:
            return Decision(Action.DEFER, None, peak, time_s, LONG, support)
        if silence_prob >= self.cfg.ignore:
            return Decision(Action.IGNORE, None, silence_prob, time_s, NOISE)
        return Decision(Action.DEFER, best if peak > 0 else None, peak, time_s, "student is unsure", support)


MODEL_BARS = ("accept", "instant", "agree", "posterior_student")
"""The bars a student's manifest may carry (``"decision"``: chosen for that student by ``training fit-bars``):
how sure it must be to answer at once, and how much it must give a teacher's bare word or the teacher's
posterior's command, differ from one student to the next."""


def with_model_bars(cfg: DecisionConfig, bars: object, keep: frozenset[str] = frozenset()) -> DecisionConfig:
    """``cfg`` with the bars a student's manifest carries (its ``"decision"`` entry), except those in ``keep``
    (set by the user). Raises ValueError naming the bad entry."""
    if bars is None:
        return cfg
    if not isinstance(bars, Mapping):
        raise ValueError("'decision' must be a mapping of bars")
    new = {}
    for k in MODEL_BARS:
        v = bars.get(k)
        if v is None or k in keep:
            continue
        zero_ok = k == "agree"  # 0 turns that check off; a 0 answer bar would answer anything
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 <= v if zero_ok else 0 < v) or v > 1:
            raise ValueError(f"decision bar {k!r} is {v!r}, not a number in {'[0' if zero_ok else '(0'}, 1]")
        new[k] = float(v)
    return replace(cfg, **new)


def student_agrees(word: str | None, decision: Decision, floor: float) -> bool:
    """May the teacher's answer to a deferred segment be carried out? Only a transcript that is just a
    command ``word`` is checked: the student must have given that word at least ``floor`` in the segment.
    Digits the teacher mishears as commands ("four" -> "go") get almost nothing from the student, while
    real commands it was merely unsure of keep a share. Longer transcripts (the teacher's own domain)
    and words the student does not know always pass."""
    if word is None or decision.support is None or word not in decision.support:
        return True
    return decision.support[word] >= floor


def posterior_command(posterior: Mapping[str, float] | None, decision: Decision, cfg: DecisionConfig) -> str | None:
    """The command to carry out for a deferred command-length segment whose transcript named no intent:
    the teacher's most probable command when its posterior reaches ``cfg.posterior_teacher`` and the
    student's peak for it reaches ``cfg.posterior_student`` (both models sure of the same word), else None."""
    if not posterior or decision.support is None or decision.reason == LONG or cfg.posterior_teacher >= 1:
        return None
    shared = [c for c in decision.support if c in posterior]
    if not shared:
        return None
    best = max(shared, key=lambda c: posterior[c])
    if posterior[best] >= cfg.posterior_teacher and decision.support[best] >= cfg.posterior_student:
        return best
    return None

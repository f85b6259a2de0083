"""How the teacher answers a deferred segment: requests decoded under the grammar of the active intents,
everything else by free transcription.

A segment long enough to be a request (:data:`REQUEST_S`) is decoded under the grammar; if it is in the
grammar the answer carries the intent and slots, and the sentence the grammar allowed. If not, or if the
segment is short (a command word the student was unsure of), the free transcript goes on to hassil
matching and the teacher's label posterior as before (:meth:`Teacher.hear`).
"""

from __future__ import annotations

import numpy as np

from .audio import SAMPLE_RATE
from .intents import IntentSet
from .teacher.base import Teacher, Transcript

REQUEST_S = 1.6
"""Segments at least this long (s, with the loop's 0.3 s pre-roll and the pause after) are requests: the
shortest spoken order of the coffee benchmark runs 3 s; a deferred command word with its pause is ~1.3 s."""


class Understander:
    """A loop transcriber (``Callable[[audio], Transcript]``) that decodes requests under the grammar."""

    def __init__(self, teacher: Teacher, intents: IntentSet, grammar_teacher: Teacher | None = None,
                 request_s: float = REQUEST_S) -> None:
        """``teacher`` hears short segments; ``grammar_teacher`` (default: ``teacher``) decodes requests and
        must offer batched next-token log-probabilities (the transformers backend)."""
        self.teacher, self.grammar_teacher = teacher, grammar_teacher or teacher
        self.intents, self.request_s = intents, request_s
        self.grammar = intents.grammar()

    def __call__(self, audio: np.ndarray) -> Transcript:
        if audio.size >= self.request_s * SAMPLE_RATE and not self.grammar.empty:
            from .teacher.constrained import understand

            u = understand(self.grammar_teacher, audio[-30 * SAMPLE_RATE:], self.grammar)  # type: ignore[arg-type]
            if u.match is not None:
                return Transcript(u.sentence, 0.0, u.seconds, intent={"intent": u.match.intent,
                                                                      "slots": dict(u.match.slots)})
        return self.teacher.hear(audio)

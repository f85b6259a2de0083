"""``training fit-bars --agree``: a student's own bar for carrying out the teacher's bare command words.

A deferred segment that the teacher transcribes as just a command word ("On.", "go go") is carried out
only if the student gave that word at least ``agree`` (:func:`assistant.decision.student_agrees`): spoken
digits the teacher takes for commands ("four" -> "go", "one" -> "on") then stay unanswered. How much the
student gives such a digit differs from one student to the next (v3 gave "four" -> "go" 0.008-0.04; a
deeper student gives some of them more than 0.1), so the bar is chosen per student, on the same held-out
speakers and audio as its other bars (:mod:`training.bars`):

- command clips of the ``calib`` speakers, each alone in a stream: every deferred one the teacher answers
  with the right bare word is an answer the bar may lose;
- the no-command audio minus its ``test`` part: every bare command word the teacher finds there is a false
  accept the bar may stop.

Rule: the highest bar of the grid that loses at most ``max_lost`` of the calib commands the teacher had
right (2 %: for v3 the loop's 0.1 lost 2 of 104). The ``test`` part of the no-command audio is counted
too and reported, never used for the choice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from assistant.audio import SAMPLE_RATE, load_audio
from assistant.bench.measure import CHUNK
from assistant.decision import Action, DecisionConfig
from assistant.errors import AssistantError
from assistant.intents import IntentSet
from assistant.loop import Assistant, LoopConfig
from assistant.student import Student

AGREE_GRID = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


@dataclass(frozen=True)
class BareWord:
    """One deferred segment the teacher heard as a bare command word."""

    word: str
    """The teacher's word."""
    support: float
    """The student's peak smoothed probability for that word in the segment."""
    said: str | None
    """The command of the clip (None: no-command audio)."""
    part: str
    """``calib`` for command clips, else ``folder:split`` of the no-command file."""


def bare_words(student: Student, audio: np.ndarray, transcribe, cfg: DecisionConfig, intents: IntentSet,
               said: str | None, part: str) -> list[BareWord]:
    """Feed ``audio`` through the loop with the teacher answering deferrals and the check off (``agree`` 0):
    every deferred segment whose transcript is a bare command word the student knows."""
    bot = Assistant(student, intents, transcribe, LoopConfig(decision=replace(cfg, agree=0.0), model_bars=frozenset()))
    out = []
    for e in bot.feed_all(audio, CHUNK):
        word = intents.command_word(e.transcript or "") if e.decision.action is Action.DEFER else None
        support = e.decision.support or {}
        if word is not None and word in support:
            out.append(BareWord(word, float(support[word]), said, part))
    return out


def record_bare_words(student: Student, data: Path, transcribe, cfg: DecisionConfig, no_command: tuple[str, ...],
                      split: str = "calib", every: int = 1, progress: bool = True) -> list[BareWord]:
    """:func:`bare_words` over the ``split`` speakers' command clips (each alone: 0.5 s of faint noise
    before, 1 s after, as ``training bench-assistant`` feeds them) and every file of the ``no_command``
    folders."""
    from tqdm import tqdm

    from .corpus import find_clips, select
    from .samples import COMMANDS

    intents = IntentSet.load()
    rng = np.random.default_rng(0)
    cmd = [c for c in select(find_clips([data / "gsc_v2_test_dev"]), split) if c.folder_label in COMMANDS][::every]
    other = [(n, c) for n in no_command if (data / n).is_dir() for c in find_clips([data / n])][::every]
    todo = [(c, c.folder_label, split) for c in cmd] + [(c, None, f"{n}:{c.split}") for n, c in other]
    out: list[BareWord] = []
    for c, said, part in tqdm(todo, desc="the teacher's bare words", unit="file", disable=not progress):
        try:
            a = load_audio(c.path, max_seconds=None).samples
        except AssistantError:
            continue
        if said is not None:
            before, after = ((rng.standard_normal(n) * 1e-3).astype(np.float32) for n in (8000, 16000))
            a = np.concatenate([before, a, after])
        else:
            a = np.concatenate([a, np.zeros(SAMPLE_RATE, np.float32)])
        out += bare_words(student, a, transcribe, cfg, intents, said, part)
    return out


def agree_rows(words: list[BareWord], grid: tuple[float, ...] = AGREE_GRID) -> list[dict]:
    """Per bar: calib commands the teacher had right that it loses, and bare words it stops in the
    no-command audio outside its ``test`` part (``fit``) and inside it (``held_out``)."""
    right = [w for w in words if w.said is not None and w.word == w.said]
    fit = [w for w in words if w.said is None and not w.part.endswith(":test")]
    held = [w for w in words if w.said is None and w.part.endswith(":test")]
    return [{"agree": b, "teacher_right": len(right), "lost": sum(w.support < b for w in right),
             "fit_words": len(fit), "fit_stopped": sum(w.support < b for w in fit),
             "held_out_words": len(held), "held_out_stopped": sum(w.support < b for w in held)} for b in grid]


def choose_agree(rows: list[dict], max_lost: float = 0.02) -> dict:
    """The highest bar losing at most ``max_lost`` of the teacher's right bare words (the lowest bar if
    none does)."""
    ok = [r for r in rows if r["lost"] <= max_lost * r["teacher_right"]]
    return max(ok, key=lambda r: r["agree"]) if ok else min(rows, key=lambda r: r["agree"])

"""``training fit-bars --agree``: a student's own bars for the teacher's answers to its deferrals.

Two checks stand between the teacher's answer and an action, and both weigh what the student heard, so
both are chosen per student (a deeper student gives spoken digits more than v3 did):

- ``agree``: a deferred segment the teacher transcribes as just a command word ("On.", "go go") is carried
  out only if the student gave that word at least this (:func:`assistant.decision.student_agrees`);
  digits the teacher takes for commands ("four" -> "go") then stay unanswered. Rule: the highest bar of
  the grid that loses at most ``max_lost`` of the calib commands the teacher had right (2 %: for v3 the
  loop's 0.1 lost 2 of 104).
- ``posterior_student``: where the transcript names no intent ("nice." for "nine" or "right"), the
  teacher's posterior still answers when it puts ``posterior_teacher`` on one command and the student gave
  that command at least this (:func:`assistant.decision.posterior_command`). Rule: the most calib commands
  answered right with none wrong and at most ``--max-false-accepts`` (1) answers per hour of the fit part
  of the no-command audio, the limit the instant-answer bars keep too.

Both on the same held-out speakers and audio as the student's other bars (:mod:`training.bars`): command
clips of the ``calib`` speakers each alone in a stream, and the no-command audio minus its ``test`` part;
the ``test`` part is counted too and reported, never used for the choice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from assistant.audio import SAMPLE_RATE, load_audio
from assistant.bench.measure import CHUNK
from assistant.decision import Action, Decision, DecisionConfig, posterior_command
from assistant.errors import AssistantError
from assistant.intents import IntentSet
from assistant.loop import Assistant, LoopConfig
from assistant.student import Student

AGREE_GRID = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


@dataclass(frozen=True)
class TeacherAnswer:
    """One deferred segment the teacher answered, as the two bars after the transcript see it."""

    word: str | None
    """The teacher's bare command word (None: a longer transcript or none)."""
    support: float
    """The student's peak smoothed probability for ``word`` in the segment (0 without one)."""
    said: str | None
    """The command of the clip (None: no-command audio)."""
    part: str
    """``calib`` for command clips, else ``folder:split`` of the no-command file."""
    decision: Decision | None = None
    """The student's DEFER (its ``support``), for replaying the posterior fallback."""
    posterior: dict[str, float] | None = None
    """The teacher's posterior over the command labels, when its transcript named no intent."""


def bare_words(student: Student, audio: np.ndarray, transcribe, cfg: DecisionConfig, intents: IntentSet,
               said: str | None, part: str) -> list[TeacherAnswer]:
    """Feed ``audio`` through the loop with the teacher answering deferrals and both checks off (``agree`` 0,
    no posterior fallback): every deferred segment the teacher heard speech in and the student has support
    for, with the teacher's bare word or, where its transcript named no intent, its posterior."""
    heard: list = []

    def hear(a: np.ndarray):
        heard.append(transcribe(a))
        return heard[-1]

    off = replace(cfg, agree=0.0, posterior_teacher=1.0)
    bot = Assistant(student, intents, hear, LoopConfig(decision=off, model_bars=frozenset()))
    answered = [e for e in bot.feed_all(audio, CHUNK) if e.transcript is not None]
    out = []
    for e, h in zip(answered, heard):
        support = e.decision.support or {}
        if e.decision.action is not Action.DEFER or not support:
            continue
        word = intents.command_word(e.transcript or "")
        if word is not None and word in support:
            out.append(TeacherAnswer(word, float(support[word]), said, part))
        elif e.intent is None and getattr(h, "labels", None):
            out.append(TeacherAnswer(None, 0.0, said, part, e.decision, dict(h.labels)))
    return out


def record_bare_words(student: Student, data: Path, transcribe, cfg: DecisionConfig, no_command: tuple[str, ...],
                      split: str = "calib", every: int = 1, progress: bool = True) -> list[TeacherAnswer]:
    """:func:`bare_words` over the ``split`` speakers' command clips (each alone: 0.5 s of faint noise
    before, 1 s after, as ``training bench-assistant`` feeds them) and every file of the ``no_command``
    folders."""
    from tqdm import tqdm

    from .bench.assistant import quiet_padding
    from .corpus import command_clips, find_clips

    intents = IntentSet.load()
    rng = np.random.default_rng(0)
    cmd = command_clips(data, split, every)
    other = [(n, c) for n in no_command if (data / n).is_dir() for c in find_clips([data / n])][::every]
    todo = [(c, c.folder_label, split) for c in cmd] + [(c, None, f"{n}:{c.split}") for n, c in other]
    out: list[TeacherAnswer] = []
    for c, said, part in tqdm(todo, desc="the teacher's answers to deferrals", unit="file", disable=not progress):
        try:
            a = load_audio(c.path, max_seconds=None).samples
        except AssistantError:
            continue
        if said is not None:
            before, after = quiet_padding(rng)
            a = np.concatenate([before, a, after])
        else:
            a = np.concatenate([a, np.zeros(SAMPLE_RATE, np.float32)])
        out += bare_words(student, a, transcribe, cfg, intents, said, part)
    return out


def agree_rows(words: list[TeacherAnswer], grid: tuple[float, ...] = AGREE_GRID) -> list[dict]:
    """Per bar: calib commands the teacher had right that it loses, and bare words it stops in the
    no-command audio outside its ``test`` part (``fit``) and inside it (``held_out``)."""
    words = [w for w in words if w.word is not None]
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


POSTERIOR_STUDENT_GRID = (0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)


def posterior_rows(words: list[TeacherAnswer], cfg: DecisionConfig,
                   grid: tuple[float, ...] = POSTERIOR_STUDENT_GRID) -> list[dict]:
    """Per ``posterior_student`` bar (``cfg.posterior_teacher`` kept): calib commands the fallback answers
    right / wrong, and answers it gives in the no-command audio outside its ``test`` part and inside it."""
    cases = [w for w in words if w.posterior is not None and w.decision is not None]
    rows = []
    for b in grid:
        c = replace(cfg, posterior_student=b)
        got = [(w, posterior_command(w.posterior, w.decision, c)) for w in cases]
        rows.append({"posterior_student": b, "right": sum(g is not None and g == w.said for w, g in got if w.said),
                     "wrong": sum(g is not None and g != w.said for w, g in got if w.said),
                     "fit_answers": sum(g is not None for w, g in got if w.said is None and not w.part.endswith(":test")),
                     "held_out_answers": sum(g is not None for w, g in got if w.said is None and w.part.endswith(":test"))})
    return rows


def choose_posterior(rows: list[dict], fit_hours: float, max_per_hour: float = 1.0) -> dict:
    """The fallback's student bar: the most calib commands answered right with none wrong and at most
    ``max_per_hour`` answers per hour of the fit part of the no-command audio (``fit_hours``; ties: the
    higher bar); else the highest bar (off in effect)."""
    ok = [r for r in rows if r["wrong"] == 0 and r["fit_answers"] <= max_per_hour * fit_hours]
    if not ok:
        return max(rows, key=lambda r: r["posterior_student"])
    return max(ok, key=lambda r: (r["right"], r["posterior_student"]))

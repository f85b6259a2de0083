"""``training fit-bars``: choose a student's own decision bars (how sure it must be to answer at once) and
write them into its manifest, where the assistant's loop reads them (``"decision"``).

A new student is calibrated differently from the one the loop's default bars were chosen for, so its
bars are chosen for it, on speakers and audio kept out of every reported figure:

- command clips of the ``calib`` speakers of ``gsc_v2_test_dev``, each alone in a stream (as
  ``training bench-assistant`` feeds them): answered at once and right / wrong, time from the word's end;
- audio holding no command, minus its ``test`` part (FSDD jackson/nicolas/theo, the train/calib coffee
  orders and noise files): false accepts per hour.

The loop runs once per clip with the student; its calls to the decision logic do not depend on the bars,
so they are recorded and replayed for every pair of bars (pure :class:`~assistant.decision.Decider`). The
rule: the most commands answered at once and right, with at most ``--max-wrong`` of them wrong, a median
answer at most ``--max-median-ms`` after the word's end (60 ms: the loop's response-time target) and at most
``--max-false-accepts`` per hour; ties go to the stricter bars. When no pair meets all three: the fewest
false accepts, then the fewest wrong, then the most right. The ``test`` part of the no-command audio is
replayed too and reported, never used for the choice. For student v3 this rule picks the bars that had
been chosen for it by hand (0.9998 / 0.99997; docs/loop.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from assistant.audio import SAMPLE_RATE, load_audio
from assistant.bench.measure import CHUNK
from assistant.decision import Action, Decider, DecisionConfig
from assistant.errors import AssistantError, floats
from assistant.intents import IntentSet
from assistant.loop import Assistant, LoopConfig, word_bars
from assistant.student import MANIFEST, Student

from .bench.assistant import fmt_ms, fmt_pct, quiet_padding
from .corpus import NO_COMMAND, command_clips, find_clips


class _Recorder:
    """Stands in for the loop's :class:`Decider`: forwards every call and records it."""

    def __init__(self, inner: Decider) -> None:
        self.inner, self.calls = inner, []

    @property
    def in_segment(self) -> bool:
        return self.inner.in_segment

    def start(self) -> None:
        self.calls.append(("start", ()))
        self.inner.start()

    def window(self, *a):
        self.calls.append(("window", a))
        return self.inner.window(*a)

    def pause(self, *a):
        self.calls.append(("pause", a))
        return self.inner.pause(*a)

    def end(self, *a):
        self.calls.append(("end", a))
        return self.inner.end(*a)


def record(student: Student, audio: np.ndarray, intents: IntentSet | None = None) -> list[tuple]:
    """The loop's calls to its decision logic for ``audio`` (student alone, fed in 20 ms chunks)."""
    bot = Assistant(student, intents or IntentSet.load(), None, LoopConfig())
    rec = _Recorder(bot.decider)
    bot.decider = rec  # type: ignore[assignment]
    bot.feed_all(audio, CHUNK)
    return rec.calls


def accepts(calls: list[tuple], labels: tuple[str, ...], cfg: DecisionConfig,
            accept_by_label: dict[str, float] | None = None) -> list[tuple[float, str]]:
    """Replay recorded calls under ``cfg``: (stream time, label) of every ACCEPT."""
    d = Decider(labels, tuple(l for l in labels if not l.startswith("_")), cfg, accept_by_label=accept_by_label)
    out = []
    for name, args in calls:
        r = getattr(d, name)(*args)
        if r is not None and r.action is Action.ACCEPT:
            out.append((r.time_s, r.label))
    return out


@dataclass(frozen=True)
class Recorded:
    """A clip's recorded calls and what it holds."""

    calls: list
    want: str | None
    """The command said (None: no-command audio)."""
    word_end_s: float | None = None
    seconds: float = 0.0
    part: str = ""


def record_no_command(student: Student, data: Path, progress: bool = True, every: int = 1,
                      intents: IntentSet | None = None) -> list[Recorded]:
    """Record every no-command file under ``data`` (``part``: its folder and split), each with 1 s of
    silence after it; ``every``: one file in that many."""
    from tqdm import tqdm

    intents = intents or IntentSet.load()
    todo = [(n, c) for n in NO_COMMAND if (data / n).is_dir() for c in find_clips([data / n])][::every]
    out: list[Recorded] = []
    for folder, c in tqdm(todo, desc="recording the loop (no-command audio)", unit="file", disable=not progress):
        try:
            a = load_audio(c.path, max_seconds=None).samples
        except AssistantError:
            continue
        a = np.concatenate([a, np.zeros(SAMPLE_RATE, np.float32)])
        out.append(Recorded(record(student, a, intents), None, seconds=a.size / SAMPLE_RATE, part=f"{folder}:{c.split}"))
    return out


def record_data(student: Student, data: Path, split: str, progress: bool = True, every: int = 1) -> list[Recorded]:
    """Record the command clips of ``split`` (each alone in a stream) and every no-command file;
    ``every``: one clip and file in that many (quick looks, tests)."""
    from tqdm import tqdm

    from .samples import speech_bounds

    rng = np.random.default_rng(0)
    intents = IntentSet.load()  # the loop needs one; no answer is looked up
    cmd = command_clips(data, split)
    out: list[Recorded] = []
    for c in tqdm(cmd[::every], desc="recording the loop (commands)", unit="clip", disable=not progress):
        try:
            a = load_audio(c.path, max_seconds=None).samples
        except AssistantError:
            continue
        _, end = speech_bounds(a, -25.0)
        if end >= a.size - SAMPLE_RATE // 100:  # word runs to the clip's end: its end is unknown
            end = None
        before, after = quiet_padding(rng)
        out.append(Recorded(record(student, np.concatenate([before, a, after]), intents), c.folder_label,
                            None if end is None else (8000 + end) / SAMPLE_RATE, part=c.split))
    return out + record_no_command(student, data, progress, every, intents)


def score(recs: list[Recorded], labels: tuple[str, ...], cfg: DecisionConfig, added: dict[str, float]) -> dict:
    """One pair of bars over the recordings: commands at once right / wrong, median ms from the word's end,
    and false accepts on the no-command audio outside its ``test`` part (``held_out``: inside it)."""
    right = wrong = n = 0
    times: list[float] = []
    fa = {"fit": [0, 0.0], "held_out": [0, 0.0]}
    for r in recs:
        acc = accepts(r.calls, labels, cfg, added)
        if r.want is not None:
            n += 1
            if acc:
                ok = acc[0][1] == r.want
                right += ok
                wrong += not ok
                if ok and r.word_end_s is not None:
                    times.append((acc[0][0] - r.word_end_s) * 1000)
        else:
            k = "held_out" if r.part.endswith(":test") else "fit"
            fa[k][0] += len(acc)
            fa[k][1] += r.seconds / 3600
    return {"accept": cfg.accept, "instant": cfg.instant, "commands": n,
            "at_once_right": right / n if n else None, "at_once_wrong": wrong / n if n else None,
            "median_ms": float(np.median(times)) if times else None,
            **{f"false_accepts_{k}": v[0] for k, v in fa.items()},
            **{f"hours_{k}": v[1] for k, v in fa.items()},
            **{f"per_hour_{k}": (v[0] / v[1] if v[1] else None) for k, v in fa.items()}}


def choose(rows: list[dict], max_wrong: float, max_fa: float, max_median_ms: float) -> tuple[dict, bool]:
    """The row with the most right instant answers within the three limits (ties: stricter bars); with
    none within them, the fewest false accepts, then wrong answers, then the most right. Returns (row,
    within limits)."""
    ok = [r for r in rows if (r["at_once_wrong"] or 0) <= max_wrong and (r["per_hour_fit"] or 0) <= max_fa
          and r["median_ms"] is not None and r["median_ms"] <= max_median_ms]
    if not ok:
        return min(rows, key=lambda r: (r["false_accepts_fit"], r["at_once_wrong"] or 0, -(r["at_once_right"] or 0),
                                        -r["accept"], -r["instant"])), False
    return max(ok, key=lambda r: (r["at_once_right"] or 0, r["accept"], r["instant"])), True


def write_bars(model_dir: Path, bars: dict) -> None:
    """Store ``bars`` as the manifest's ``"decision"`` entry (atomic: :func:`~training.export.update_manifest`)."""
    from .export import update_manifest

    update_manifest(model_dir, lambda m: m.update(decision=bars))


ACCEPT_GRID = (0.999, 0.9995, 0.9998, 0.9999, 0.99995)
INSTANT_GRID = (0.9999, 0.99995, 0.99997, 0.99999, 1.0)


def fit_bars(model_dir: Path, data: Path, *, split: str = "calib", accept: list[float] | tuple = ACCEPT_GRID,
             instant: list[float] | tuple = INSTANT_GRID, max_wrong: float = 0.005, max_fa: float = 1.0,
             max_median_ms: float = 60.0, every: int = 1, progress: bool = True) -> tuple[dict, list[dict]]:
    """Record, replay the grid, choose. Returns (the manifest entry, every row)."""
    from datetime import date

    from assistant.bench.measure import machine

    for need in ("gsc_v2_test_dev", "fsdd"):
        if not (data / need).is_dir():
            raise AssistantError(f"{data} has no {need}/: fit-bars needs ../shared/data (give --data)")
    student = Student(model_dir, threads=1)
    added = word_bars(student)
    started = time.perf_counter()
    recs = record_data(student, data, split, progress, every)
    base = DecisionConfig()
    rows = []
    for a, i in itertools.product(accept, instant):
        if i < a:
            continue
        rows.append(score(recs, student.labels, replace(base, accept=a, instant=i), added))
    best, within = choose(rows, max_wrong, max_fa, max_median_ms)
    entry = {"accept": best["accept"], "instant": best["instant"], "chosen_on": {
        "data": str(data), "commands": f"gsc_v2_test_dev, {split} speakers ({best['commands']} clips, each alone)",
        "no_command": f"{', '.join(NO_COMMAND)} minus their test part ({best['hours_fit']:.2f} h)",
        "rule": f"most answered at once and right with <= {max_wrong:g} wrong, median <= {max_median_ms:g} ms "
                f"and <= {max_fa:g} false accepts/h",
        "every": every,
        "within_limits": within, "at_once_right": best["at_once_right"], "at_once_wrong": best["at_once_wrong"],
        "median_ms_from_word_end": best["median_ms"], "false_accepts_per_hour": best["per_hour_fit"],
        "held_out_false_accepts_per_hour": best["per_hour_held_out"], "held_out_hours": best["hours_held_out"],
        "seconds": time.perf_counter() - started, "machine": machine()["cpu"], "date": date.today().isoformat()}}
    return entry, rows


def cmd_fit_bars(args: argparse.Namespace) -> int:
    """``training fit-bars [MODEL_DIR]``: print the grid and the choice; ``--write`` stores it in the manifest."""
    from assistant.registry import Registry

    model_dir = Path(args.student)
    if os.sep in args.student and not model_dir.is_dir():
        raise AssistantError(f"{model_dir}: no such model directory")
    if not model_dir.is_dir():  # a registry name: its promoted version
        model_dir = Registry(args.registry).path(args.student)
    accept, instant = floats(args.accept, "--accept", bars=True), floats(args.instant, "--instant", bars=True)
    if not 0 <= args.max_wrong <= 1 or not args.max_false_accepts >= 0 or not args.max_median_ms > -1000:
        raise AssistantError("--max-wrong must be in [0, 1], --max-false-accepts 0 or more and --max-median-ms a "
                             "number of milliseconds")
    entry, rows = fit_bars(model_dir, Path(args.data), split=args.split, accept=accept, instant=instant,
                           max_wrong=args.max_wrong, max_fa=args.max_false_accepts, max_median_ms=args.max_median_ms,
                           every=args.every, progress=not args.quiet)
    print(f"{model_dir}: bars over {rows[0]['commands']} command clips ({args.split} speakers) and "
          f"{rows[0]['hours_fit']:.2f} h of no-command audio (held out: {rows[0]['hours_held_out']:.2f} h)")
    print("| accept | instant | at once right / wrong | median from word end | false accepts/h (held out) |")
    print("|---|---|---|---|---|")
    for r in rows:
        mark = " ←" if (r["accept"], r["instant"]) == (entry["accept"], entry["instant"]) else ""
        print(f"| {r['accept']:g} | {r['instant']:g} | {fmt_pct(r['at_once_right'])} / {fmt_pct(r['at_once_wrong'])} | "
              f"{fmt_ms(r['median_ms'])} | {r['per_hour_fit']:.1f} ({r['false_accepts_fit']}) "
              f"[{r['per_hour_held_out']:.1f} ({r['false_accepts_held_out']})] |{mark}")
    c = entry["chosen_on"]
    if not c["within_limits"]:
        print(f"warning: no pair of bars met the limits; chose the one with the fewest false accepts "
              f"({entry['accept']:g} / {entry['instant']:g})")
    print(f"chosen: accept {entry['accept']:g}, instant {entry['instant']:g} ({c['seconds']:.0f} s)")
    agree_table = fit_agree_into(entry, model_dir, Path(args.data), args, rows[0]["hours_fit"]) if args.agree else []
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"model": str(model_dir), "chosen": entry, "rows": rows,
                                               "agree_rows": agree_table}, indent=2, default=float))
        print(f"figures written to {args.json}")
    if args.write:
        write_bars(model_dir, entry)
        print(f"written to {model_dir / MANIFEST} (the assistant uses them unless --accept/--instant/--agree are given)")
    return 0


def fit_agree_into(entry: dict, model_dir: Path, data: Path, args: argparse.Namespace, fit_hours: float) -> list[dict]:
    """``--agree``: choose the bars applied to the teacher's answers (:mod:`training.agree`: ``agree`` for its
    bare command words, ``posterior_student`` for its posterior fallback) under the bars just chosen, print
    their tables and add them to ``entry``. Returns the rows of both."""
    from assistant.teacher import load_teacher

    from .agree import agree_rows, choose_agree, choose_posterior, posterior_rows, record_bare_words

    started = time.perf_counter()
    teacher = load_teacher(args.teacher, "ctranslate2", threads=args.threads)
    cfg = replace(DecisionConfig(), accept=entry["accept"], instant=entry["instant"])
    words = record_bare_words(Student(model_dir, threads=1), data, teacher.hear, cfg, NO_COMMAND, args.split, args.every,
                              not args.quiet)
    rows, prows = agree_rows(words), posterior_rows(words, cfg)
    best, pbest = choose_agree(rows, args.max_lost), choose_posterior(prows, fit_hours, args.max_false_accepts)
    print(f"the teacher's bare command words: {rows[0]['teacher_right']} right on {args.split}-speaker commands, "
          f"{rows[0]['fit_words']} in no-command audio (held out: {rows[0]['held_out_words']})")
    print("| agree | commands lost | no-command words stopped (held out) |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['agree']:g} | {r['lost']} | {r['fit_stopped']} of {r['fit_words']} "
              f"[{r['held_out_stopped']} of {r['held_out_words']}] |{' ←' if r is best else ''}")
    print(f"the teacher's posterior where its transcript named no intent (teacher's bar {cfg.posterior_teacher:g}):")
    print("| posterior_student | commands right / wrong | answers in no-command audio (held out) |")
    print("|---|---|---|")
    for r in prows:
        print(f"| {r['posterior_student']:g} | {r['right']} / {r['wrong']} | {r['fit_answers']} "
              f"[{r['held_out_answers']}] |{' ←' if r is pbest else ''}")
    entry["agree"], entry["posterior_student"] = best["agree"], pbest["posterior_student"]
    entry["chosen_on"]["agree"] = {"rule": f"highest bar losing <= {args.max_lost:g} of the teacher's right bare "
                                           f"words on {args.split}-speaker commands", "teacher": teacher.id, **best}
    entry["chosen_on"]["posterior_student"] = {
        "rule": f"most {args.split}-speaker commands answered right by the posterior fallback with none wrong and "
                f"<= {args.max_false_accepts:g} answers/h in the fit part of the no-command audio ({fit_hours:.2f} h)",
        **pbest,
        "seconds": time.perf_counter() - started}
    print(f"chosen: agree {best['agree']:g}, posterior_student {pbest['posterior_student']:g} "
          f"({time.perf_counter() - started:.0f} s)")
    return [*rows, *prows]

"""``training bench-assistant``: the assistant loop's response times and false accepts (the settings sweep
behind its defaults is ``training bench-loop``, :mod:`training.bench.loop`).

- Response time: the scripted session (``audio_samples/session``) is fed at real-time pace in 20 ms
  chunks, as a microphone delivers it; for each utterance, the time from the wall-clock moment its last
  speech sample arrived to the moment its answer exists. Local intents are answered by the student on
  the loop; deferrals by the in-process teacher on a worker thread (the loop never waits).
- False accepts: audio holding no command (``../shared/data`` coffee orders, spoken digits, background
  noise) fed as fast as possible with no teacher; every ACCEPT is a false accept.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from assistant.audio import SAMPLE_RATE, load_audio
from assistant.bench.measure import CHUNK, session_run, stats
from assistant.decision import BOTH_SURE, DISAGREE, NOISE, Action, DecisionConfig
from assistant.intents import IntentSet
from assistant.loop import Assistant
from assistant.registry import Registry
from assistant.student import Student

from ..corpus import NO_COMMAND, command_clips, find_clips


def false_accepts(student: Student, intents: IntentSet, folders: list[Path], cfg=None, every: int = 1,
                  transcribe=None) -> dict:
    """Intents carried out on audio that holds no command, per folder and per hour.

    Without ``transcribe`` only the student's ACCEPTs count; with it, deferred segments go to the teacher
    and every intent it finds counts as a false accept too (``teacher_false_accepts``); ``stopped_by_agree``
    counts the teacher's bare command words the student did not hear (``DecisionConfig.agree``).
    """
    out = {}
    for folder in folders:
        files = [c.path for c in find_clips([folder])][::every]  # none of this audio is in the student's data
        seconds, accepts, by_teacher, stopped, examples = 0.0, 0, 0, 0, []
        for f in files:
            try:
                audio = load_audio(f, max_seconds=None).samples
            except Exception:  # noqa: BLE001 - a corrupt file is not audio to count
                continue
            audio = np.concatenate([audio, np.zeros(SAMPLE_RATE, np.float32)])
            seconds += audio.size / SAMPLE_RATE
            bot = Assistant(student, intents, transcribe, cfg)
            events = bot.feed_all(audio, CHUNK)
            for e in events:
                stopped += e.decision.reason == DISAGREE
                if e.decision.action is Action.ACCEPT or (e.decision.action is Action.DEFER and e.intent):
                    accepts += 1
                    by_teacher += e.decision.action is Action.DEFER
                    if len(examples) < 5:
                        what = e.decision.label if e.decision.action is Action.ACCEPT else f"teacher:{e.transcript!r}"
                        examples.append(f"{f.name}@{e.decision.time_s:.1f}s:{what}")
        out[folder.name] = {"files": len(files), "hours": seconds / 3600, "false_accepts": accepts,
                            "teacher_false_accepts": by_teacher, "stopped_by_agree": stopped,
                            "per_hour": accepts / (seconds / 3600) if seconds else None, "examples": examples}
    total_h = sum(v["hours"] for v in out.values())
    total = sum(v["false_accepts"] for v in out.values())
    out["all"] = {"hours": total_h, "false_accepts": total,
                  "teacher_false_accepts": sum(v["teacher_false_accepts"] for v in out.values()),
                  "stopped_by_agree": sum(v["stopped_by_agree"] for v in out.values()),
                  "per_hour": total / total_h if total_h else None}
    return out


def first_accept(student: Student, intents: IntentSet, audio: np.ndarray, before: np.ndarray, after: np.ndarray,
                 cfg=None):
    """``audio`` alone in a stream (``before`` + audio + ``after``) through the assistant's loop, fed as fast
    as possible: its first ACCEPT event, or None (the student left it to the teacher)."""
    return next((e for e in stream_events(student, intents, audio, before, after, cfg)
                 if e.decision.action is Action.ACCEPT), None)


def stream_events(student: Student, intents: IntentSet, audio: np.ndarray, before: np.ndarray, after: np.ndarray,
                  cfg=None, transcribe=None) -> list:
    """Every event of ``before`` + audio + ``after`` through the assistant's loop (no teacher unless
    ``transcribe``), fed as fast as possible."""
    return Assistant(student, intents, transcribe, cfg).feed_all(np.concatenate([before, audio, after]), CHUNK)


def quiet_padding(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Faint noise to put a command clip alone in a stream: 0.5 s before, 1 s after."""
    return tuple((rng.standard_normal(n) * 1e-3).astype(np.float32) for n in (8000, 16000))  # type: ignore[return-value]


def real_command_response(student: Student, intents: IntentSet, clips: list, cfg=None, seed: int = 0) -> dict:
    """Each real command clip alone in a stream (0.5 s before, 1 s after, faint noise), fed as fast as
    possible: how many the student answers at once, and the response time from the end of the spoken
    word (energy bounds) to the answer = (decision's stream time - word end) + that hop's measured compute.
    Negative: answered before the speaker finished (the student was already sure). The word's end is
    where its 10 ms energy last comes within 25 dB of its peak; clips whose energy runs to the end of the
    file (a cut-off word, or loud noise) are left out, since their end is unknown."""
    from ..samples import speech_bounds

    rng = np.random.default_rng(seed)
    times, right, wrong, speakers, unsure_end, dropped = [], 0, 0, set(), 0, 0
    for c in clips:
        a = load_audio(c.path).samples
        _, end = speech_bounds(a, -25.0)
        if end >= a.size - SAMPLE_RATE // 100:  # the word (or the noise) runs to the clip's end: end unknown
            unsure_end += 1
            continue
        events = stream_events(student, intents, a, *quiet_padding(rng), cfg)
        e = next((x for x in events if x.decision.action is Action.ACCEPT), None)
        speakers.add(c.speaker)
        if e is None:
            dropped += any(x.decision.action is Action.IGNORE and x.decision.reason == NOISE
                           for x in events)
            continue
        if e.decision.label != c.folder_label:
            wrong += 1
            continue
        right += 1
        times.append((e.decision.time_s - (8000 + end) / SAMPLE_RATE) * 1000 + e.compute_ms)
    n = len(clips) - unsure_end
    return {"clips": n, "speakers": len(speakers), "left_out_end_unknown": unsure_end, "answered_at_once_right": right / n if n else None,
            "answered_at_once_wrong": wrong / n if n else None,
            "ignored_as_noise": dropped / n if n else None, "response_ms": stats(times)}


def real_command_outcomes(student: Student, intents: IntentSet, clips: list, transcribe, seed: int = 0) -> dict:
    """The whole assistant (student + teacher) on real command clips, each alone in a stream as in
    :func:`real_command_response`: shares answered right / wrong by the student and by the teacher, and
    left unanswered (heard as noise, nothing matched, or a teacher's bare word the student did not hear:
    ``stopped_by_agree``, with how many of those the teacher had right); ``by_posterior``: answers taken
    from the two posteriors because the transcript named no intent (``DecisionConfig.posterior_teacher``)."""
    rng = np.random.default_rng(seed)
    n = {"student_right": 0, "student_wrong": 0, "teacher_right": 0, "teacher_wrong": 0, "unanswered": 0,
         "stopped_by_agree": 0, "stopped_by_agree_teacher_right": 0, "by_posterior_right": 0, "by_posterior_wrong": 0}
    for c in clips:
        a = load_audio(c.path).samples
        events = stream_events(student, intents, a, *quiet_padding(rng), transcribe=transcribe)
        want = intents.from_label(c.folder_label)
        e = next((x for x in events if x.intent is not None), None)
        if e is None:
            n["unanswered"] += 1
            stopped = [x for x in events if x.decision.reason == DISAGREE]
            n["stopped_by_agree"] += bool(stopped)
            n["stopped_by_agree_teacher_right"] += any(intents.from_text(x.transcript or "") == want for x in stopped)
            continue
        who = "student" if e.decision.action is Action.ACCEPT else "teacher"
        verdict = "right" if e.intent == want else "wrong"
        n[f"{who}_{verdict}"] += 1
        n[f"by_posterior_{verdict}"] += e.decision.reason == BOTH_SURE
    return {"clips": len(clips), **n}


def bench_assistant(args: argparse.Namespace) -> int:
    """Run both parts; prints a summary and writes JSON + Markdown under ``--report-dir``."""
    from assistant.teacher import load_teacher

    from assistant.bench.measure import machine

    student = Student(Registry().path(), threads=1)
    intents = IntentSet.load()
    teacher = load_teacher(args.teacher, "ctranslate2", threads=args.threads)
    transcribe = teacher.hear
    session_dir = Path(args.session)
    audio = load_audio(session_dir / "session.flac", max_seconds=None).samples
    script = json.loads((session_dir / "session.json").read_text())["utterances"]
    transcribe(np.zeros(SAMPLE_RATE, np.float32))  # warm up the teacher once, as a running assistant would be
    rows = [r for _ in range(args.repeats) for r in session_run(student, intents, transcribe, audio, script)]
    local = [r["response_ms"] for r in rows if r.get("answered_by") == "student"]
    deferred = [r["response_ms"] for r in rows if r.get("answered_by") == "teacher"]
    right = sum(r.get("right", False) for r in rows)
    data = Path(args.data)
    folders = [data / n for n in NO_COMMAND if (data / n).is_dir()]
    fa = false_accepts(student, intents, folders) if folders else {}
    fa_teacher = false_accepts(student, intents, folders, transcribe=transcribe) if folders and args.with_teacher else {}
    real = {}
    if (data / "gsc_v2_test_dev").is_dir():
        cmd_clips = command_clips(data, "test")
        real = real_command_response(student, intents, cmd_clips)
        if args.with_teacher:
            real["with_teacher"] = real_command_outcomes(student, intents, cmd_clips, transcribe)

    out = {"student": str(student.dir), "teacher": teacher.id, "session": str(session_dir), "repeats": args.repeats,
           "utterances": rows, "answered_right": right, "utterances_total": len(rows),
           "local_response_ms": stats(local), "deferral_response_ms": stats(deferred), "false_accepts": fa,
           "false_accepts_with_teacher": fa_teacher, "real_commands": real,
           "machine": machine()}
    lines = [f"# Assistant benchmark\n\nMachine: {out['machine']['cpu']}, {out['machine']['cores']} cores. Student "
             f"`{student.dir}` (1 thread), teacher {teacher.id} (worker thread).\n",
             f"Scripted session `{session_dir}` fed in real time, {args.repeats} passes: {right}/{len(rows)} "
             "utterances answered with the right intent.\n",
             "| | n | median | p95 |", "|---|---|---|---|",
             f"| local intent: end of keyword → answer | {len(local)} | {out['local_response_ms']['median']:.0f} ms | "
             f"{out['local_response_ms']['p95']:.0f} ms |" if local else "| local intent | 0 | - | - |",
             f"| deferral: end of speech → answer | {len(deferred)} | {out['deferral_response_ms']['median']:.0f} ms | "
             f"{out['deferral_response_ms']['p95']:.0f} ms |" if deferred else "| deferral | 0 | - | - |"]
    if real:
        r = real["response_ms"]
        lines += [f"\nReal voices: {real['clips']} command clips of the `test` speakers of `{data / 'gsc_v2_test_dev'}` "
                  f"({real['speakers']} speakers; {real['left_out_end_unknown']} more left out: their word or noise "
                  "runs to the end of the file, so its end is unknown), each alone in a stream: the student answers "
                  f"{real['answered_at_once_right']:.1%} at once and right, {real['answered_at_once_wrong']:.1%} at once "
                  f"and wrong, {real['ignored_as_noise']:.1%} not at all (the student heard noise: "
                  f"`ignore` bar); the rest go to the teacher; end of word → answer median **{r['median']:.0f} ms**, "
                  f"p95 {r['p95']:.0f} ms (decision's stream time - word end + measured compute; negative = "
                  "answered before the word's energy ended)."]
        if "with_teacher" in real:
            w = real["with_teacher"]
            k = w["clips"]
            lines += [f"\nThe whole assistant on the same speakers' {k} command clips (all of them, the teacher "
                      f"answering deferrals): right {(w['student_right'] + w['teacher_right']) / k:.1%} "
                      f"(student {w['student_right'] / k:.1%}, teacher {w['teacher_right'] / k:.1%}), wrong "
                      f"{(w['student_wrong'] + w['teacher_wrong']) / k:.1%} (student {w['student_wrong'] / k:.1%}, "
                      f"teacher {w['teacher_wrong'] / k:.1%}), unanswered {w['unanswered'] / k:.1%}. The teacher's "
                      f"answers include {w['by_posterior_right']} right and {w['by_posterior_wrong']} wrong taken from "
                      "its posterior where its transcript named no intent (both models sure of one command). "
                      f"Of the unanswered, "
                      f"{w['stopped_by_agree']} were a bare command word from the teacher that the student did not "
                      f"hear (`--agree` {DecisionConfig().agree:g}; the teacher had {w['stopped_by_agree_teacher_right']} "
                      "of them right)."]
    if fa:
        lines += ["\nFalse accepts on audio with no command (no teacher):\n", "| audio | hours | false accepts | per hour |",
                  "|---|---|---|---|"]
        for name, v in fa.items():
            lines.append(f"| {name} | {v['hours']:.2f} | {v['false_accepts']} | {v['per_hour']:.1f} |")
        lines.append("\nExamples: " + "; ".join(e for v in fa.values() for e in v.get("examples", [])[:3]))
    if fa_teacher:
        lines += ["\nWith the teacher answering every deferral (its intents count as false accepts too):\n",
                  "| audio | hours | false accepts | of them by the teacher | per hour | teacher's word stopped by `--agree` |",
                  "|---|---|---|---|---|---|"]
        for name, v in fa_teacher.items():
            lines.append(f"| {name} | {v['hours']:.2f} | {v['false_accepts']} | {v['teacher_false_accepts']} | "
                         f"{v['per_hour']:.1f} | {v['stopped_by_agree']} |")
        lines.append("\nExamples: " + "; ".join(e for v in fa_teacher.values() for e in v.get("examples", [])[:3]))
    return write_report(args, "assistant-bench", lines, out)


def fmt_ms(x: float | None) -> str:
    """Milliseconds for a report cell (– when unmeasured)."""
    return "–" if x is None else f"{x:.0f} ms"


def fmt_pct(x: float | None) -> str:
    """A share for a report cell (– when unmeasured)."""
    return "–" if x is None else f"{x:.1%}"


def write_report(args: argparse.Namespace, name: str, lines: list[str], out: dict) -> int:
    """``name``.md and .json under ``--report-dir`` (and ``--json``); prints the Markdown."""
    report = Path(args.report_dir)
    report.mkdir(parents=True, exist_ok=True)
    (report / f"{name}.md").write_text("\n".join(lines) + "\n")
    (report / f"{name}.json").write_text(json.dumps(out, indent=2, default=float))
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=float))
        print(f"figures written to {args.json}")
    return 0

"""``assistant run`` and ``listen``: the assistant loop on audio files and on the microphone, with the flags
that set its decisions."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import AssistantError, at_least
from .common import intents_for, teacher_of


def loop_config(args: argparse.Namespace):
    """The loop's settings from ``--accept``, ``--windows``, ``--wait-for-pause``, ``--instant`` and ``--agree``;
    ``--accept``/``--instant`` left out: the student's own bars when its manifest has them."""
    from ..decision import MODEL_BARS, DecisionConfig
    from ..loop import LoopConfig

    given = {k: getattr(args, k, None) for k in MODEL_BARS if getattr(args, k, None) is not None}
    try:
        d = DecisionConfig(smooth=args.windows, min_pause_s=args.wait_for_pause / 1000, **given)
    except ValueError:
        raise AssistantError("--accept and --instant must be in (0, 1], --windows at least 1, --wait-for-pause 0 "
                             "or more milliseconds and --agree in [0, 1]") from None
    return LoopConfig(decision=d, model_bars=frozenset(MODEL_BARS) - set(given))


def add_loop_flags(p: argparse.ArgumentParser) -> None:
    """The loop's decision flags, shared by ``run`` and ``listen`` (read by :func:`loop_config`)."""
    from ..decision import DecisionConfig

    d = DecisionConfig()
    p.add_argument("--wait-for-pause", type=float, default=d.min_pause_s * 1000, metavar="MS",
                   help="answer a command only after the speaker pauses this long (fewer false accepts in "
                        "chatter, slower answers: see README)")
    p.add_argument("--instant", type=float, default=None,
                   help=f"answer at once all the same from this confidence (default: the student's own bar from "
                        f"its manifest, else {d.instant:g}; 1: always wait)")
    p.add_argument("--accept", type=float, default=None,
                   help=f"the student's instant-answer bar (default: its own from its manifest, else {d.accept:g}; "
                        "higher: fewer false accepts, more deferrals)")
    p.add_argument("--windows", type=at_least(1), default=d.smooth,
                   help="student windows averaged before deciding (default %(default)s)")
    p.add_argument("--agree", type=float, default=None,
                   help="a teacher's bare command word is carried out only if the student gave that word "
                        f"at least this (default: the student's own bar from its manifest, else {d.agree:g}; "
                        "0: always)")


def _transcriber(args: argparse.Namespace, intents=None):
    """How deferrals are answered: a teacher server (--teacher-url), the in-process teacher, or none. Requests
    (long segments) are decoded under the grammar of ``intents``, on the server or here (a transformers
    teacher beside a ctranslate2 one: grammar decoding needs batched decoder steps)."""
    if getattr(args, "no_teacher", False):
        return None
    if getattr(args, "teacher_url", None):
        from ..remote import RemoteTeacher

        remote = RemoteTeacher(args.teacher_url, args.teacher_timeout, getattr(args, "teacher_token", None))
        return remote.understand if intents is not None and not getattr(args, "no_grammar", False) \
            else remote.transcribe
    teacher = teacher_of(args)
    if intents is None or getattr(args, "no_grammar", False):
        return teacher.hear  # transcript + the teacher's label posterior, one encoder pass
    from ..teacher import load_teacher
    from ..understand import Understander

    grammar_teacher = teacher if args.backend == "transformers" else \
        load_teacher(args.model, "transformers", threads=args.threads)
    return Understander(teacher, intents, grammar_teacher)


def _heard_store(args: argparse.Namespace):
    """The store of ``--keep-heard`` (its default folder for a bare flag), or None; its first write error is
    printed once."""
    if getattr(args, "keep_heard", None) is None:
        return None
    from ..heard import HeardStore, heard_root

    store = HeardStore(args.keep_heard or heard_root(),
                       on_error=lambda why: print(f"  {why}; answering goes on, nothing more is kept", flush=True))
    print(f"keeping short deferred segments and what the teacher heard in {store.folder}", flush=True)
    return store


def _student(name_or_dir: str | None):
    """The student: a model directory, or a registry name (default: the shipped one)."""
    import os

    from ..registry import Registry
    from ..student import Student

    if name_or_dir and (os.sep in name_or_dir or os.path.isdir(name_or_dir)):
        return Student(name_or_dir, threads=1)
    return Student(Registry().path(name_or_dir or "speech_commands"), threads=1)


def cmd_run(args: argparse.Namespace) -> int:
    """The assistant loop fed from files (real-time pace with --realtime, else as fast as possible)."""
    import time

    import numpy as np

    from ..audio import SAMPLE_RATE, load_audio
    from ..loop import Assistant, student_decision

    student = _student(args.student)
    intents = intents_for(args.intents, student.manifest)
    transcribe = _transcriber(args, intents)
    store = _heard_store(args)
    from pathlib import Path

    d = student_decision(student, loop_config(args))  # a bad bar stops here, once
    print(f"student {student.manifest.name}/{student.manifest.version}: answers at once from {d.accept:g} "
          f"(without waiting for a pause from {d.instant:g}); "
          f"{'no teacher: deferrals stay unanswered' if transcribe is None else 'the teacher answers deferrals'}",
          flush=True)

    from ..audio import is_audio_file

    files: list[str] = []
    for f in args.files:  # folders are walked in name order
        p = Path(f)
        files += sorted(str(x) for x in p.rglob("*") if x.is_file() and is_audio_file(x)) if p.is_dir() else [f]
    records, failed = [], 0
    for f in files:
        try:
            audio = load_audio(f, max_seconds=args.max_seconds).samples
            audio = np.concatenate([audio, np.zeros(SAMPLE_RATE, np.float32)])  # the stream goes on after the file
        except AssistantError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        bot = Assistant(student, intents, transcribe, loop_config(args), keep=store.keep if store else None)
        chunk = int(0.02 * SAMPLE_RATE)  # 20 ms, as a microphone delivers it
        began = time.perf_counter()
        events = []
        for i in range(0, audio.size, chunk):
            if args.realtime:
                time.sleep(max(0.0, began + i / SAMPLE_RATE - time.perf_counter()))
            events += bot.feed(audio[i:i + chunk])
        events += bot.flush()
        print(f"{f}:")
        for ev in events:
            _print_event(ev, "  ")
            records.append({"file": f, **ev.to_dict()})
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(records, indent=2, default=str))
        print(f"decisions written to {args.json}")
    if store is not None:
        print(f"{store.kept} segments kept in {store.folder}")
    return 1 if failed else 0


def _print_event(ev, prefix: str = "") -> None:
    from ..decision import BOTH_SURE, DISAGREE

    d = ev.decision
    conf = f"{d.confidence:.4f}" if 0.99 <= d.confidence < 0.99995 else f"{d.confidence:4.2f}"  # 0.9996 < 0.9998
    what = f"{d.action.value:6s} {d.label or '':9s} {conf}"
    heard = f" heard {ev.transcript!r}" if ev.transcript is not None else ""
    if d.reason in (BOTH_SURE, DISAGREE):  # the answer did not come from the transcript alone: say why
        heard += f" ({d.reason})"
    intent = f" -> {ev.intent.intent}{ev.intent.slots or ''}" if ev.intent else ""
    reply = f": {ev.answer}" if ev.answer else f" ({d.reason})"
    print(f"{prefix}[{d.time_s:6.2f} s] {what}{heard}{intent}{reply}  ({ev.compute_ms:.1f} ms, {ev.answered_by})",
          flush=True)


def swap_student(bot, model_dir, intents_name: str | list[str]) -> None:
    """Hand the loop a newly promoted student (and its intents); a broken one is reported and skipped."""
    from ..errors import AssistantError
    from ..student import Student

    try:
        student = Student(model_dir, threads=1)
        bot.swap(student, intents_for(intents_name, student.manifest))
    except AssistantError as e:
        print(f"  not switching to {model_dir}: {e}", flush=True)
        return
    print(f"  now using student {student.manifest.name}/{student.manifest.version} "
          f"({', '.join(l for l in student.labels if not l.startswith('_'))})", flush=True)


def cmd_listen(args: argparse.Namespace) -> int:
    """The assistant on the microphone; deferrals go to a teacher worker so listening never stops."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from ..loop import Assistant
    from ..mic import Microphone, list_devices

    if args.list_devices:
        for d in list_devices():
            print(f"{d['index']:3d} {'*' if d['default'] else ' '} {d['name']} ({d['channels']} ch, {d['rate']:.0f} Hz)")
        return 0
    student = _student(args.student)
    intents = intents_for(args.intents, student.manifest)
    transcribe = _transcriber(args, intents)
    store = _heard_store(args)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="teacher")
    records: list[dict] = []
    speaker = None
    voice_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="speaker")
    if args.speak:
        from ..speak import Speaker

        speaker = Speaker(args.output_device)

    def say(ev) -> None:
        if speaker is not None and ev.answer:
            voice_worker.submit(speaker.say, ev.answer)

    def answered(future) -> None:
        ev = future.result()
        _print_event(ev, "  ")
        records.append(ev.to_dict())
        say(ev)

    bot: Assistant

    def defer(audio, pending) -> None:
        worker.submit(bot.resolve, audio, pending).add_done_callback(answered)

    bot = Assistant(student, intents, transcribe, loop_config(args), defer=defer, keep=store.keep if store else None)
    watcher = None
    if not (args.student and (os.sep in args.student or os.path.isdir(args.student))):
        from ..registry import Watcher

        watcher = Watcher(args.student or "speech_commands")
    started = time.perf_counter()
    from ..mic import MicrophoneError

    stats = {"chunks": 0, "overflows": 0, "reconnects": 0, "opened": 0}
    try:
        lost_since: float | None = None
        while True:
            mic = Microphone(args.device)
            try:
                with mic:
                    if not stats["opened"]:  # models loaded, microphone open
                        stats["opened"] = 1
                        print(f"listening (student {student.manifest.name}/{student.manifest.version}, answers "
                              f"at once from {bot.decision.accept:g}, without a pause from {bot.decision.instant:g}); "
                              "Ctrl-C to stop", flush=True)
                    if lost_since is not None:
                        print("  microphone is back", flush=True)
                        stats["reconnects"] += 1
                        lost_since = None
                    for chunk in mic.chunks():
                        if watcher is not None and (new_dir := watcher.poll()) is not None:
                            swap_student(bot, new_dir, args.intents)
                        if speaker is not None and speaker.busy.is_set():
                            chunk = np.zeros_like(chunk)  # half duplex: do not listen to our own answer
                        for ev in bot.feed(chunk):
                            if ev.answered_by != "teacher (pending)":
                                _print_event(ev, "  ")
                                records.append(ev.to_dict())
                                say(ev)
                        if args.seconds and time.perf_counter() - started >= args.seconds:
                            break
                break
            except MicrophoneError as e:
                never_worked = stats["chunks"] + mic.stats.chunks == 0
                gave_up = lost_since is not None and time.perf_counter() - lost_since > args.reconnect_s
                if never_worked or not args.reconnect_s or gave_up:
                    raise
                if lost_since is None:  # it worked, then went away: keep trying for a while
                    lost_since = time.perf_counter()
                    print(f"  microphone lost ({e}); reconnecting for up to {args.reconnect_s:g} s", flush=True)
                time.sleep(1.0)
            finally:
                stats["chunks"] += mic.stats.chunks
                stats["overflows"] += mic.stats.overflows
            if args.seconds and time.perf_counter() - started >= args.seconds:
                break
    except KeyboardInterrupt:
        pass
    finally:
        worker.shutdown(wait=True)
        voice_worker.shutdown(wait=True)
        print(f"stopped: {stats['chunks']} chunks, {stats['overflows']} overflows, {stats['reconnects']} reconnects",
              flush=True)
        if store is not None:
            print(f"{store.kept} segments kept in {store.folder}", flush=True)
        if args.json:
            from pathlib import Path

            Path(args.json).write_text(json.dumps(records, indent=2, default=str))
    return 0

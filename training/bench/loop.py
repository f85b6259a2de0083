"""``training bench-loop``: the loop's decision settings side by side, the student alone, on real command
clips of one speaker split and on audio that holds no command (the sweep behind the shipped settings)."""

from __future__ import annotations

import argparse
from pathlib import Path

from assistant.decision import DecisionConfig
from assistant.errors import AssistantError, floats
from assistant.intents import IntentSet
from assistant.registry import Registry
from assistant.student import Student

from .assistant import fmt_ms, fmt_pct, false_accepts, real_command_response, write_report


def bench_loop(args: argparse.Namespace) -> int:
    """``training bench-loop``: the loop's decision settings side by side, student alone — real command
    clips of one speaker split (answered at once right / wrong, ignored as noise, response time) and false
    accepts per hour on no-command audio; writes ``loop-sweep.json`` and ``.md`` under ``--report-dir``."""
    import itertools

    from assistant.bench.measure import machine
    from assistant.loop import LoopConfig

    from ..corpus import NO_COMMAND, command_clips

    if args.every < 1:
        raise AssistantError(f"--every must be 1 or more, got {args.every}")
    grid = list(itertools.product(floats(args.accept, "--accept"), floats(args.smooth, "--smooth"),
                                  floats(args.wait_for_pause, "--wait-for-pause"), floats(args.instant, "--instant")))
    data = Path(args.data)
    gsc = data / "gsc_v2_test_dev"
    folders = [data / n for n in NO_COMMAND if (data / n).is_dir()]
    if not gsc.is_dir() or not folders:
        raise AssistantError(f"{data} lacks gsc_v2_test_dev/ or the no-command audio "
                             f"({', '.join(n + '/' for n in NO_COMMAND)}); give --data")
    student = Student(Registry().path() if args.student is None else Path(args.student), threads=1)
    intents = IntentSet.load()
    clips = command_clips(data, args.split, args.every)
    if not clips:
        raise AssistantError(f"no command clips of the {args.split!r} speakers in {gsc} (with --every {args.every})")
    rows = []
    for accept, smooth, pause_ms, instant in grid:
        try:
            dec = DecisionConfig(accept=accept, smooth=int(smooth), ignore=args.ignore, min_pause_s=pause_ms / 1000,
                                 instant=instant)
        except ValueError as e:
            raise AssistantError(f"bad loop setting: {e}") from None
        cfg = LoopConfig(decision=dec, model_bars=frozenset())  # each row's bars, not the student's own
        real = real_command_response(student, intents, clips, cfg)
        fa = false_accepts(student, intents, folders, cfg, every=args.every)
        rows.append({"accept": accept, "smooth": int(smooth), "ignore": args.ignore, "wait_for_pause_ms": pause_ms,
                     "instant": instant, "real_commands": real, "false_accepts": fa})
        print(f"accept {accept:g}, {int(smooth)} windows, pause {pause_ms:g} ms unless >= {instant:g}: "
              f"median {fmt_ms(real['response_ms']['median'])}, at once {fmt_pct(real['answered_at_once_right'])} right / "
              f"{fmt_pct(real['answered_at_once_wrong'])} wrong, "
              f"false accepts {fa['all']['per_hour']:.1f}/h", flush=True)
    out = {"student": str(student.dir), "split": args.split, "every": args.every, "rows": rows, "machine": machine()}
    lines = [f"# Loop settings, student alone\n\nMachine: {out['machine']['cpu']}, {out['machine']['cores']} cores. "
             f"Student `{student.dir}`; command clips: `{args.split}` speakers of `{gsc}`"
             f"{f' (1 in {args.every})' if args.every > 1 else ''}; false accepts on "
             f"{', '.join(f.name for f in folders)}; hop {LoopConfig().hop_s * 1000:.0f} ms, noise bar {args.ignore:g}.\n",
             "| accept | windows | wait for pause (unless at least) | median / p95 | at once right / wrong | ignored as noise | false accepts / h |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        real, r = row["real_commands"], row["real_commands"]["response_ms"]
        pause = f"{row['wait_for_pause_ms']:g} ms" + (f" ({row['instant']:g})" if row["wait_for_pause_ms"] and row["instant"] < 1 else "")
        lines.append(f"| {row['accept']:g} | {row['smooth']} | {pause} | {fmt_ms(r['median'])} / "
                     f"{fmt_ms(r['p95'])} | {fmt_pct(real['answered_at_once_right'])} / {fmt_pct(real['answered_at_once_wrong'])} | "
                     f"{fmt_pct(real['ignored_as_noise'])} | {row['false_accepts']['all']['per_hour']:.1f} "
                     f"({row['false_accepts']['all']['false_accepts']}) |")
    return write_report(args, "loop-sweep", lines, out)

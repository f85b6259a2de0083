"""``training bench-assistant``, ``bench-loop``, ``fit-bars`` and ``bench-server``: the assistant loop's response
times, false accepts and decision bars, and the teacher server under load and through a crash."""

from __future__ import annotations

import argparse

from assistant.errors import at_least, number_in


def cmd_bench_assistant(args: argparse.Namespace) -> int:
    from ..bench.assistant import bench_assistant

    return bench_assistant(args)


def cmd_bench_loop(args: argparse.Namespace) -> int:
    from ..bench.loop import bench_loop

    return bench_loop(args)


def cmd_bench_server(args: argparse.Namespace) -> int:
    from ..bench.server import bench_server

    return bench_server(args)


def cmd_bench_install(args: argparse.Namespace) -> int:
    from ..bench.install import bench_install

    return bench_install(args)


def cmd_fit_bars(args: argparse.Namespace) -> int:
    from ..bars import cmd_fit_bars

    return cmd_fit_bars(args)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The loop's subcommands."""
    from assistant.decision import DecisionConfig

    p = sub.add_parser("bench-assistant", help="assistant loop: response times (real-time session) and false accepts")
    p.add_argument("--session", default="audio_samples/session")
    p.add_argument("--data", default="../shared/data", help="coffee_orders/, fsdd/, noise/ for false accepts")
    p.add_argument("--teacher", default="tiny.en")
    p.add_argument("--threads", type=at_least(1), default=1, help="teacher threads (the loop keeps one core)")
    p.add_argument("--repeats", type=at_least(1), default=2)
    p.add_argument("--with-teacher", action="store_true",
                   help="also count false accepts with the teacher answering deferrals (slower)")
    p.add_argument("--report-dir", default="docs/assistant")
    p.add_argument("--json", default=None)
    p.set_defaults(func=cmd_bench_assistant)

    p = sub.add_parser("bench-loop", help="the loop's decision settings side by side (student alone): response "
                                          "time and instant answers on real commands, false accepts per hour")
    p.add_argument("--accept", default="0.999,0.9998", help="instant-answer bars, comma-separated")
    p.add_argument("--smooth", default="4,2", help="windows averaged, comma-separated")
    p.add_argument("--wait-for-pause", default=f"0,{DecisionConfig().min_pause_s * 1000:g}",
                   help="milliseconds, comma-separated")
    p.add_argument("--instant", default=f"{DecisionConfig().instant:g}",
                   help="with a pause wait: answer at once all the same from this confidence (comma-separated; "
                        "1: always wait)")
    p.add_argument("--ignore", type=number_in(0, 1), default=DecisionConfig().ignore, help="noise bar (default %(default)s)")
    p.add_argument("--split", default="calib", choices=("calib", "test", "train"),
                   help="speakers whose command clips are used (choose settings on calib, report on test)")
    p.add_argument("--every", type=at_least(1), default=1, help="use every Nth clip and file (quick looks)")
    p.add_argument("--student", default=None, help="model directory (default: the shipped student)")
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--report-dir", default="docs/assistant")
    p.add_argument("--json", default=None)
    p.set_defaults(func=cmd_bench_loop)

    from ..bars import ACCEPT_GRID, INSTANT_GRID

    p = sub.add_parser("fit-bars", help="choose a student's own decision bars on held-out speakers and audio "
                                        "(--write: store them in its manifest, where the assistant reads them)")
    p.add_argument("student", nargs="?", default="speech_commands",
                   help="model directory or registry name (default: %(default)s, the version in force)")
    p.add_argument("--registry", default=None, help="registry root (default: your models folder)")
    p.add_argument("--data", default="../shared/data", help="gsc_v2_test_dev/ (calib speakers) and coffee_orders/, "
                                                           "fsdd/, noise/ (their non-test parts)")
    p.add_argument("--split", default="calib", choices=("calib", "train"), help="speakers whose command clips are used")
    p.add_argument("--accept", default=",".join(f"{x:g}" for x in ACCEPT_GRID),
                   help="instant-answer bars to try, comma-separated")
    p.add_argument("--instant", default=",".join(f"{x:g}" for x in INSTANT_GRID),
                   help="answer-without-waiting-for-a-pause bars to try, comma-separated (1: always wait)")
    p.add_argument("--max-wrong", type=float, default=0.005,
                   help="largest share of commands answered at once and wrong (default %(default)s)")
    p.add_argument("--max-false-accepts", type=float, default=1.0,
                   help="most false accepts per hour of no-command audio (default %(default)s)")
    p.add_argument("--max-median-ms", type=float, default=60.0,
                   help="latest median answer after the word's end (default %(default)s)")
    p.add_argument("--every", type=at_least(1), default=1, help="use one clip and file in this many (quick looks)")
    p.add_argument("--agree", action="store_true",
                   help="also choose the bars applied to the teacher's answers: its bare command words and its "
                        "posterior fallback (runs the teacher on deferred segments: a few minutes more)")
    p.add_argument("--max-lost", type=number_in(0, 1), default=0.02,
                   help="with --agree: largest share of the teacher's right bare words the bar may stop "
                        "(default %(default)s)")
    p.add_argument("--teacher", default="tiny.en", help="with --agree: the teacher (default %(default)s)")
    p.add_argument("--threads", type=at_least(1), default=1, help="with --agree: teacher threads")
    p.add_argument("--write", action="store_true", help="store the chosen bars in the model's manifest")
    p.add_argument("--json", default=None)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fit_bars)

    p = sub.add_parser("bench-server", help="teacher server under load from simulated devices (latency, throughput, "
                                            "429s, memory), its auth and size checks, and a kill + restart")
    p.add_argument("--clients", default="1,4,16", help="simulated devices per level, comma-separated")
    p.add_argument("--seconds", type=number_in(0, low_open=True), default=20.0, help="length of each level")
    p.add_argument("--requests-share", type=number_in(0, 1), default=0.3,
                   help="share of sends that are whole requests (/v1/intent); the rest command clips")
    p.add_argument("--max-queue", type=at_least(1), default=16, help="server: utterances waiting before 429")
    p.add_argument("--max-batch", type=at_least(1), default=8, help="server: utterances per encoder batch")
    p.add_argument("--deadline", type=number_in(0, low_open=True), default=10.0, help="server: seconds per request")
    p.add_argument("--max-mb", type=number_in(0, low_open=True), default=2.0,
                   help="server: largest request body (the size check sends 1 MiB more)")
    p.add_argument("--threads", type=at_least(1), default=2, help="server: teacher threads")
    p.add_argument("--no-restart", action="store_true", help="skip the kill + restart phase")
    p.add_argument("--url", default=None, help="benchmark this running server instead of spawning one (no restart "
                                               "phase, no memory figures)")
    p.add_argument("--token", default=None, help="bearer token of --url's server")
    p.add_argument("--samples", default="audio_samples", help="commands/ and session/ clips to send")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report-dir", default="docs/server")
    p.add_argument("--json", default=None)
    p.set_defaults(func=cmd_bench_server)

    p = sub.add_parser("bench-install", help="the device install (no extras) in a fresh venv: disk, no torch, "
                                             "start to first decision")
    p.add_argument("--clip", default=None, help="clip for `assistant run` (default: a shipped 'yes')")
    p.add_argument("--repeats", type=at_least(1), default=5)
    p.add_argument("--report-dir", default="docs/server")
    p.add_argument("--json", default=None)
    p.set_defaults(func=cmd_bench_install)

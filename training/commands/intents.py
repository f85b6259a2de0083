"""``training add-intent``, ``bench-add-intent``, ``remove-intent`` and ``intents``: teach the student a new
phrase, measure how well that works, take one back, list what it knows."""

from __future__ import annotations

import argparse

from .add_intent_options import PASSED_TO_ADD_INTENT, add_options


def cmd_add_intent(args: argparse.Namespace) -> int:
    from assistant.teacher.weights import cache_root

    from ..add_intent import add_intents

    args.run_dir = args.run_dir or str(cache_root() / "runs")
    return add_intents(args)


def cmd_bench_add_intent(args: argparse.Namespace) -> int:
    from ..bench.add_intent import bench_add_intent

    return bench_add_intent(args)


def cmd_remove_intent(args: argparse.Namespace) -> int:
    from ..intents import remove_intent

    return remove_intent(args)


def cmd_intents(args: argparse.Namespace) -> int:
    from ..intents import list_intents

    return list_intents(args)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The intents' subcommands."""
    p = sub.add_parser("add-intent", help="teach the student a new phrase (synthetic voices + your recordings)")
    add_options(p)
    p.set_defaults(func=cmd_add_intent)

    p = sub.add_parser("bench-add-intent", help="add-intent on words with real recordings: recall, false accepts")
    p.add_argument("--words", default="marvin,sheila,house,happy,bird")
    p.add_argument("--data", default="../shared/data")
    for flag, kind in PASSED_TO_ADD_INTENT:
        if kind is bool:
            p.add_argument(flag, action="store_true", help="passed to add-intent")
        else:
            p.add_argument(flag, type=kind, default=None, help="passed to add-intent (default: add-intent's)")
    p.add_argument("--report-dir", default="reports")
    p.add_argument("--json", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_bench_add_intent)

    p = sub.add_parser("remove-intent", help="drop an intent added with add-intent")
    p.add_argument("name")
    p.add_argument("--student", default="speech_commands")
    p.add_argument("--registry", default=None)
    p.set_defaults(func=cmd_remove_intent)

    p = sub.add_parser("intents", help="the current student's labels and what each does")
    p.add_argument("--student", default="speech_commands")
    p.add_argument("--registry", default=None)
    p.set_defaults(func=cmd_intents)

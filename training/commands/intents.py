"""``training add-intent``, ``bench-add-intent``, ``remove-intent``, ``intents`` and ``bench-intents``: teach the
student a new phrase, measure how well that works, take one back, list what it knows; measure how well the
teacher understands whole spoken requests under an intent grammar."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.errors import at_least

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


def cmd_bench_intents(args: argparse.Namespace) -> int:
    from ..bench.intents import plot_bench_intents, print_bench_intents, run_bench_intents, write_markdown

    r = run_bench_intents(args)
    report = Path(args.report_dir)
    r["plot"] = str(plot_bench_intents(r, report / "intents-acceptance.png"))
    r["markdown"] = str(write_markdown(r, report / "bench-intents.md"))
    print_bench_intents(r)
    path = Path(args.json) if args.json else report / "bench-intents.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r, indent=1) + "\n")
    print(f"figures: {path}, {r['markdown']}, plot: {r['plot']}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The intents' subcommands."""
    p = sub.add_parser("add-intent", help="teach the student a new phrase (synthetic voices + your recordings)")
    add_options(p)
    p.set_defaults(func=cmd_add_intent)

    p = sub.add_parser("bench-add-intent", help="add-intent on words with real recordings: recall, false accepts")
    p.add_argument("--words", default="marvin,sheila,house,happy,bird")
    p.add_argument("--student", default=None,
                   help="model directory of the student to extend (default: the shipped student)")
    p.add_argument("--data", default="../shared/data")
    for flag, kind in PASSED_TO_ADD_INTENT:
        if kind is bool:
            p.add_argument(flag, action="store_true", help="passed to add-intent")
        else:
            p.add_argument(flag, type=kind, default=None, help="passed to add-intent (default: add-intent's)")
    p.add_argument("--household", type=at_least(0), default=0, metavar="N",
                   help="a third run per word: the text-only student in the loop with the teacher and "
                        "--keep-heard, hearing N train speakers say the word (and 2N other words), then the word "
                        "learnt again from what it kept (0: not run)")
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

    p = sub.add_parser("bench-intents", help="spoken requests understood under an intent grammar: command "
                       "acceptance clean and in noise, free transcription beside it, latency, out-of-grammar")
    p.add_argument("--clips", required=True, help="folder of request recordings")
    p.add_argument("--labels", required=True, help="JSON {file: {intent, slots}} (Picovoice's form)")
    p.add_argument("--intents", required=True, nargs="+", help="grammar file(s): our YAML or a Rhino context")
    p.add_argument("--noise", default=None, help="a noise recording mixed over each whole clip at each --snr")
    p.add_argument("--snr", default="24,18,12,6", help="SNRs in dB, comma-separated (with --noise)")
    p.add_argument("--out-of-grammar", nargs="*", default=[], metavar="DIR",
                   help="folders of speech or noise that is no request (how often no order comes out)")
    p.add_argument("--oog-clips", type=at_least(1), default=200, help="clips drawn from each such folder")
    p.add_argument("--teacher", default="tiny.en")
    p.add_argument("--threads", type=at_least(1), default=2)
    p.add_argument("--beam", type=at_least(1), default=None, help="beam width (default: the teacher's)")
    p.add_argument("--margin", type=float, default=None, help="out-of-grammar margin, nats per token "
                   "(default: the teacher's)")
    p.add_argument("--floor", type=float, default=None, help="least mean log-probability per token of an "
                   "accepted sentence, nats (default: the teacher's)")
    p.add_argument("--seed", type=at_least(0), default=0, help="noise offsets and out-of-grammar draws")
    p.add_argument("--every", type=at_least(1), default=1, help="use every k-th clip (default: all)")
    p.add_argument("--report-dir", default="reports")
    p.add_argument("--json", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_bench_intents)

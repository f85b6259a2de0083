"""``training``: the offline side — label with the teacher, calibrate it, evaluate it, benchmark it."""

from __future__ import annotations

import argparse
import sys

from assistant.errors import OneLineParser, extra_for, run_command


def build_parser() -> argparse.ArgumentParser:
    """The ``training`` command line."""
    from .commands import intents, loop, store, student, teacher

    ap = OneLineParser(prog="training", description=__doc__)
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="command", required=True)
    for area in (teacher, intents, student, loop, store):  # in this order in ``training --help``
        area.add_parsers(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    try:
        parser = build_parser()
    except ModuleNotFoundError as e:  # a base (device) install: training needs its extra
        if (line := extra_for(e, "training")) is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    return run_command(args.func, args, verbose=args.verbose, user_errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())

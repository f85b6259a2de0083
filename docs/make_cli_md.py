"""Write docs/cli.md, the full command reference, from the argparse parsers themselves (so it cannot drift).

Run ``python docs/make_cli_md.py`` after changing a flag; ``tests/test_docs.py`` fails while the page is stale.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "cli.md"


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def render() -> str:
    """The page's text: each program, then each subcommand's ``--help`` verbatim."""
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal: fix it so the page is stable
    sys.path.insert(0, str(PAGE.parents[1]))
    from assistant.cli import build_parser as assistant_parser
    from training.cli import build_parser as training_parser

    out = ["# Command reference", "",
           "Generated from the argument parsers by `python docs/make_cli_md.py`; do not edit by hand.", ""]
    for name, build in (("assistant", assistant_parser), ("training", training_parser)):
        parser = build()
        parser.prog = name
        out += [f"## `{name}`", "", "```text", parser.format_help().rstrip(), "```", ""]
        for sub, p in _subcommands(parser):
            p.prog = f"{name} {sub}"
            out += [f"### `{name} {sub}`", "", "```text", p.format_help().rstrip(), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    PAGE.write_text(render())
    print(f"wrote {PAGE}")

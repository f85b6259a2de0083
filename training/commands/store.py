"""``training promote``, ``models`` and ``cache-merge``: what is kept between runs (the registry's students,
the teacher's label cache)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.errors import AssistantError

from .common import cache_of


def cmd_promote(args: argparse.Namespace) -> int:
    from assistant.registry import Registry
    from assistant.student import Student

    reg = Registry(args.registry)
    Student(reg.root / args.name / args.version)  # refuse to promote a broken directory
    reg.promote(args.name, args.version)
    print(f"{args.name}: {args.version} is now current")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from assistant.registry import Registry

    reg = Registry(args.registry)
    names = sorted(p.name for p in reg.root.iterdir() if p.is_dir()) if reg.root.is_dir() else []
    for name in names:
        cur = reg.current(name)
        for v in reg.versions(name):
            m = json.loads((reg.root / name / v / "manifest.json").read_text())
            acc = m.get("metrics", {}).get("test_accuracy")
            bars = m.get("decision") if isinstance(m.get("decision"), dict) else {}
            print(f"{name}/{v}{' *' if v == cur else ''}  {m.get('default_file')}  "
                  + (f"test accuracy {acc:.1%}  " if acc is not None else "")
                  + (f"bars {bars.get('accept')} / {bars.get('instant')}" if bars else "the loop's default bars"))
    if not names:
        print(f"no models in {reg.root}")
    return 0


def cmd_cache_merge(args: argparse.Namespace) -> int:
    cache = cache_of(args)
    for src in args.sources:
        if not Path(src).is_file():
            raise AssistantError(f"{src}: no such cache file")
        print(f"{src}: {cache.merge(src)} rows added to {cache.path}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The registry's and the cache's subcommands."""
    p = sub.add_parser("promote", help="make a registered version current (atomic)")
    p.add_argument("name")
    p.add_argument("version")
    p.add_argument("--registry", default=None)
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("models", help="list registered students")
    p.add_argument("--registry", default=None)
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("cache-merge", help="merge label caches labelled elsewhere (e.g. other shards)")
    p.add_argument("sources", nargs="+")
    p.add_argument("--cache", default=None)
    p.set_defaults(func=cmd_cache_merge)

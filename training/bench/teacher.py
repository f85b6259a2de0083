"""``training bench-teacher``: the teacher's accuracy and speed on the real dev data, as JSON + Markdown.

Each (model, dataset) row labels its clips afresh (a temporary cache), so clips/s is measured, not
read back. Speech Commands accuracy is reported on the speakers *not* used to calibrate the teacher
(split ``heldout``); the time to label all 2.5 k dev clips is measured on the whole folder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from assistant.errors import AssistantError
from assistant.labelset import load_labelset

from ..corpus import find_clips, select


def _row(model: str, backend: str, folder: Path, labelset: str, split: str, every: int, threads: int,
         report_dir: Path, quiet: bool, cache_dir: Path) -> dict:
    from assistant.teacher import load_teacher

    from ..cache import LabelCache
    from ..evaluate import evaluate_teacher

    t0 = time.perf_counter()
    teacher = load_teacher(model, backend, threads=threads)
    load_s = time.perf_counter() - t0
    label_set = load_labelset(labelset)
    every_clips = find_clips([folder])[::every]
    args = argparse.Namespace(dirs=[str(folder)], split=split, batch_size=16, quiet=quiet, report_dir=str(report_dir))
    cache = LabelCache(cache_dir / f"{model}-{backend}-{folder.name}.sqlite")
    # Label everything first (timed: the "label the dev set" figure), then score the reported split.
    from ..label import label_clips

    run = label_clips(every_clips, teacher, label_set, cache, progress=not quiet)
    result = evaluate_teacher(args, select(every_clips, split), label_set, teacher, cache)
    result.update({"load_seconds": load_s, "labelled_clips": len(run.labels), "label_wall_seconds": run.wall_seconds,
                   "label_clips_per_second": run.clips_per_second, "every": every, "threads": threads})
    return result


def _md(rows: list[dict], machine: dict) -> str:
    def pct(pc: dict, key: str) -> str:
        return f"{pc[key]:.1%}" if key in pc else "-"

    lines = [f"# Teacher benchmark\n\nMachine: {machine['cpu']}, {machine['cores']} cores; "
             f"threads per run: {rows[0]['threads'] if rows else '-'}.\n",
             "| model | backend | data (split) | clips | overall | commands | _unknown_ | _silence_ | "
             "labelled | wall s | clips/s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pc = r["accuracy"]["per_class"]
        sub = f", every {r['every']}" if r["every"] > 1 else ""
        lines.append(f"| {r['model']} | {r['backend']} | {Path(r['data'][0]).name} ({r['split']}{sub}) | "
                     f"{r['clips']} | {r['accuracy']['overall']:.1%} | {r['commands_accuracy']:.1%} | "
                     f"{pct(pc, '_unknown_')} | {pct(pc, '_silence_')} | {r['labelled_clips']} | "
                     f"{r['label_wall_seconds']:.0f} | {r['label_clips_per_second']:.2f} |")
    lines.append("\nPer class:\n")
    for r in rows:
        pc = r["accuracy"]["per_class"]
        lines.append(f"- {r['model']} / {Path(r['data'][0]).name}: " + ", ".join(f"{k} {v:.1%}" for k, v in pc.items()))
    lines.append("\nConfusion matrices: " + ", ".join(f"`{r['confusion_png']}`" for r in rows))
    return "\n".join(lines) + "\n"


def bench_teacher(args: argparse.Namespace) -> int:
    """Run the benchmark; prints a table, writes ``teacher-bench.json`` / ``.md`` under ``--report-dir``."""
    from ..evaluate import print_eval
    from assistant.bench.measure import machine

    data = Path(args.data)
    gsc, fsdd = data / "gsc_v2_test_dev", data / "fsdd"
    if not gsc.is_dir() or not fsdd.is_dir():
        raise AssistantError(f"{data}: needs gsc_v2_test_dev/ and fsdd/ (the shared real-audio folder)")
    report = Path(args.report_dir)
    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="teacher-bench-") as tmp:
        for model in [m.strip() for m in args.models.split(",") if m.strip()]:
            every = args.base_every if (model == "base" and args.base_every) else args.every
            for folder, labelset, split in ((gsc, "speech_commands", "heldout"), (fsdd, "digits", "all")):
                r = _row(model, "transformers", folder, labelset, split, every, args.threads, report,
                         args.quiet, Path(tmp))
                print_eval(r)
                print(f"  labelled {r['labelled_clips']} clips in {r['label_wall_seconds']:.0f} s "
                      f"({r['label_clips_per_second']:.2f} clips/s)")
                rows.append(r)
    m = machine()
    out = {"rows": rows, "machine": m, "total_seconds": time.perf_counter() - started}
    report.mkdir(parents=True, exist_ok=True)
    (report / "teacher-bench.json").write_text(json.dumps(out, indent=2, default=float))
    (report / "teacher-bench.md").write_text(_md(rows, m))
    print(f"report: {report / 'teacher-bench.md'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2, default=float))
        print(f"figures written to {args.json}")
    return 0

"""``training label``, ``teacher-eval``, ``calibrate`` and ``bench-teacher``: the teacher's soft labels, its
accuracy against folder labels, its calibration and its speed."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from importlib import resources
from pathlib import Path

import numpy as np

from assistant.bench.measure import machine
from assistant.errors import at_least

from ..corpus import truth_label
from ..evaluate import evaluate_teacher, print_eval, write_json
from .common import cache_of, clips_of, label_run, labelset_for, teacher_args, teacher_of


def cmd_label(args: argparse.Namespace) -> int:
    clips = clips_of(args)
    label_set = labelset_for(args, clips)
    teacher = teacher_of(args)
    run = label_run(args, clips, label_set, cache_of(args), teacher)
    print(f"labelled {len(run.labels)} clips with {teacher.id} over {label_set.name} "
          f"({run.new} new, {run.cached} from cache, {len(run.bad)} unreadable) in {run.wall_seconds:.1f} s"
          + (f", {run.clips_per_second:.1f} clips/s" if run.new else ""))
    for path, reason in run.bad:
        print(f"  skipped: {reason}")
    if args.out:
        rows = [{"path": p, "labels": list(c.labels), "probs": [round(float(x), 5) for x in c.probs],
                 "top": c.top, "transcript": c.transcript["text"]} for p, c in run.labels.items()]
        Path(args.out).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        print(f"soft labels written to {args.out} (JSON lines)")
    write_json(args.json, {"teacher": teacher.id, "labelset": label_set.id, "clips": len(run.labels),
                            "new": run.new, "cached": run.cached, "bad": run.bad,
                            "clips_per_second": run.clips_per_second, "machine": machine()})
    return 0


def cmd_teacher_eval(args: argparse.Namespace) -> int:
    clips = clips_of(args)
    label_set = labelset_for(args, clips)
    teacher, cache = teacher_of(args), cache_of(args)
    r = evaluate_teacher(args, clips, label_set, teacher, cache, run=label_run(args, clips, label_set, cache, teacher))
    print_eval(r)
    write_json(args.json, r)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from assistant.teacher.posterior import Calibration

    from ..calibrate import fit

    args.split = "calib"
    clips = clips_of(args)
    label_set = labelset_for(args, clips)
    teacher = teacher_of(args, calibration=Calibration())  # raw scores do not depend on calibration
    run = label_run(args, clips, label_set, cache_of(args), teacher, calibration=Calibration())
    rows = [(run.labels[str(c.path)], truth_label(c, label_set)) for c in clips if str(c.path) in run.labels]
    rows = [(lab, t) for lab, t in rows if t is not None]
    scores = np.array([lab.raw["scores"] for lab, _ in rows])
    nonspeech = np.array([lab.raw["nonspeech"] for lab, _ in rows])
    level = np.array([lab.raw["level_db"] for lab, _ in rows])
    truth = np.array([label_set.labels.index(t) for _, t in rows])
    cal, info = fit(scores, nonspeech, level, truth, label_set)
    from assistant.teacher.posterior import calibration_key

    key = calibration_key(teacher.name, teacher.whole_phrase)
    entry = {**asdict(cal), "fitted_on": {"data": [str(d) for d in args.dirs], "split": "calib",
                                          "clips": info["clips"], "speakers": len({c.speaker for c in clips}),
                                          "labelset": label_set.name, "balanced_accuracy": round(info["balanced_accuracy"], 4),
                                          "nll": round(info["nll"], 4), "date": time.strftime("%Y-%m-%d")}}
    print(json.dumps({key: entry}, indent=2))
    if args.write:
        path = Path(str(resources.files("assistant.teacher").joinpath("calibration.json")))
        table = json.loads(path.read_text())
        table[key] = entry
        path.write_text(json.dumps(table, indent=2) + "\n")
        print(f"calibration for {key} written to {path}")
    write_json(args.json, {key: entry})
    return 0


def cmd_bench_teacher(args: argparse.Namespace) -> int:
    from ..bench.teacher import bench_teacher

    return bench_teacher(args)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The teacher's subcommands."""
    # --shard i/n + cache-merge split a job over machines without Ray (air-gapped ones, or no 'cluster' extra)
    p = sub.add_parser("label", help="label audio folders with the teacher (resumable, shardable, --ray)")
    p.add_argument("dirs", nargs="+")
    teacher_args(p)
    p.add_argument("--out", default=None, help="also write the soft labels as JSON lines here")
    p.add_argument("--json", default=None, help="write run figures here")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("teacher-eval", help="teacher accuracy per class against folder labels, confusion PNG")
    p.add_argument("dirs", nargs="+")
    teacher_args(p)
    p.add_argument("--report-dir", default="reports")
    p.add_argument("--json", default=None)
    p.set_defaults(func=cmd_teacher_eval)

    p = sub.add_parser("calibrate", help="fit the teacher posterior on calibration speakers")
    p.add_argument("dirs", nargs="+")
    teacher_args(p)
    p.add_argument("--write", action="store_true", help="store the fit in the package's calibration.json")
    p.add_argument("--json", default=None)
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("bench-teacher", help="teacher accuracy and speed for tiny.en and base, report + JSON")
    p.add_argument("--data", default="../shared/data", help="folder holding gsc_v2_test_dev and fsdd")
    p.add_argument("--models", default="tiny.en,base")
    p.add_argument("--threads", type=at_least(1), default=2)
    p.add_argument("--every", type=at_least(1), default=1, help="subsample every k-th clip (default: all)")
    p.add_argument("--base-every", type=at_least(1), default=None, help="subsample for base only (default: --every)")
    p.add_argument("--report-dir", default="reports")
    p.add_argument("--json", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_bench_teacher)

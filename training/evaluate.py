"""Stage 4: evaluate a student on labelled folders, with the teacher scored on the same clips in the same run.

Truth comes from folder / file names (evaluation only). "False accepts" are out-of-set clips (truth
``_unknown_`` or ``_silence_``) that a model calls a command.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from assistant.audio import centre_on_energy, load_audio
from assistant.bench.measure import machine
from assistant.errors import AssistantError
from assistant.labelset import LabelSet
from assistant.student import Student

from .corpus import Clip, truth_label
from .metrics import accuracy, plot_confusion


def student_predictions(student: Student, clips: list[Clip]) -> tuple[list[Clip], np.ndarray, list[tuple[str, str]]]:
    """Student argmax per readable clip (windows centred on the clip's energy)."""
    window = student.frontend.window_samples
    xs, kept, bad = [], [], []
    for c in clips:
        try:
            xs.append(centre_on_energy(load_audio(c.path).samples, window))
            kept.append(c)
        except AssistantError as e:
            bad.append((str(c.path), str(e)))
    if not xs:
        return kept, np.zeros(0, np.int64), bad
    x = np.stack(xs)
    logits = np.concatenate([student.logits(x[i:i + 256]) for i in range(0, len(x), 256)])
    return kept, logits.argmax(1), bad


def false_accepts(truth: list[str], pred: list[str], label_set: LabelSet) -> dict:
    """Out-of-set clips predicted as a command."""
    out_of_set = [p for t, p in zip(truth, pred) if t not in label_set.commands]
    n_fa = sum(p in label_set.commands for p in out_of_set)
    return {"clips": len(out_of_set), "false_accepts": n_fa, "rate": n_fa / len(out_of_set) if out_of_set else None}


def evaluate(student: Student, clips: list[Clip], label_set: LabelSet, teacher_labels: dict | None,
             report_dir: Path, name: str) -> dict:
    """Student (and teacher, when its labels are given) accuracy against folder truth."""
    if student.labels != label_set.labels:
        raise AssistantError(f"the student's labels {student.labels} differ from the label set's {label_set.labels}")
    kept, pred_idx, bad = student_predictions(student, clips)
    rows = [(c, truth_label(c, label_set), student.labels[int(p)]) for c, p in zip(kept, pred_idx)]
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        raise AssistantError("no clip has a folder or file-name label to evaluate against")
    truth = [t for _, t, _ in rows]
    pred = [p for _, _, p in rows]
    acc = accuracy(truth, pred, label_set.labels)
    png = plot_confusion(acc, report_dir / f"{name}-student-confusion.png", f"student {student.manifest.name}/"
                         f"{student.manifest.version} ({student.file})")
    result = {"student": {"model": str(student.dir), "file": student.file, "accuracy": acc.to_dict(),
                          "commands_accuracy": acc.subset(list(label_set.commands)),
                          "false_accepts": false_accepts(truth, pred, label_set), "confusion_png": str(png),
                          "bytes": {f: (student.dir / f).stat().st_size for f in student.manifest.files}},
              "clips": len(rows), "speakers": len({c.speaker for c, _, _ in rows}), "unreadable": bad,
              "machine": machine()}
    if teacher_labels is not None:
        tpred = [teacher_labels[str(c.path)].top for c, _, _ in rows if str(c.path) in teacher_labels]
        ttruth = [t for c, t, _ in rows if str(c.path) in teacher_labels]
        tacc = accuracy(ttruth, tpred, label_set.labels)
        tpng = plot_confusion(tacc, report_dir / f"{name}-teacher-confusion.png", "teacher on the same clips")
        spred = [p for c, _, p in rows if str(c.path) in teacher_labels]
        result["teacher"] = {"accuracy": tacc.to_dict(), "commands_accuracy": tacc.subset(list(label_set.commands)),
                             "false_accepts": false_accepts(ttruth, tpred, label_set), "confusion_png": str(tpng),
                             "clips": len(ttruth),
                             # how far the student is from its teacher on these speakers, and where it loses
                             "student_agreement": float(np.mean([a == b for a, b in zip(spred, tpred)])) if tpred else None,
                             "student_wrong_teacher_right": int(sum(s != h and t == h for s, t, h in zip(spred, tpred, ttruth)))}
    return result


def print_result(r: dict) -> None:
    """Student vs teacher, per class, side by side."""
    s = r["student"]["accuracy"]["per_class"]
    t = r.get("teacher", {}).get("accuracy", {}).get("per_class", {})
    print(f"{r['clips']} clips, {r['speakers']} speakers")
    print(f"  {'label':>10s}  {'student':>8s}  {'teacher':>8s}")
    for label in s:
        print(f"  {label:>10s}  {s[label]:8.1%}  " + (f"{t[label]:8.1%}" if label in t else "       -"))
    so = r["student"]["accuracy"]["overall"]
    to = r.get("teacher", {}).get("accuracy", {}).get("overall")
    print(f"  {'overall':>10s}  {so:8.1%}  " + (f"{to:8.1%}" if to is not None else "       -"))
    if r.get("teacher", {}).get("student_agreement") is not None:
        print(f"  student agrees with the teacher on {r['teacher']['student_agreement']:.1%}; wrong where the teacher "
              f"is right on {r['teacher']['student_wrong_teacher_right']} of {r['teacher']['clips']} clips")
    fa = r["student"]["false_accepts"]
    if fa["clips"]:
        print(f"  false accepts of out-of-set clips: student {fa['false_accepts']}/{fa['clips']}"
              + (f", teacher {r['teacher']['false_accepts']['false_accepts']}/{r['teacher']['false_accepts']['clips']}"
                 if "teacher" in r else ""))
    print(f"  confusion matrices: {r['student']['confusion_png']}"
          + (f", {r['teacher']['confusion_png']}" if "teacher" in r else ""))


def write_json(path: str | None, data: dict) -> None:
    """--json output."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, indent=2, default=float))
        print(f"figures written to {path}")


def evaluate_teacher(args: argparse.Namespace, clips: list[Clip], label_set: LabelSet, teacher, cache, *,
                     run=None) -> dict:
    """Label (through the cache) and score the teacher's argmax against the folder truth (``run``: the
    teacher's :class:`~training.label.LabelRun` of ``clips`` when already labelled, e.g. on a Ray cluster)."""
    from .label import label_clips

    if run is None:
        run = label_clips(clips, teacher, label_set, cache, batch_size=args.batch_size, progress=not args.quiet)
    truth, pred = [], []
    for clip in clips:
        t = truth_label(clip, label_set)
        got = run.labels.get(str(clip.path))
        if t is not None and got is not None:
            truth.append(t)
            pred.append(got.top)
    if not truth:
        raise AssistantError("no clip has a folder or file-name label to evaluate against")
    acc = accuracy(truth, pred, label_set.labels)
    secs = [c.seconds for c in run.labels.values()]
    out_dir = Path(args.report_dir)
    name = f"teacher-{teacher.name}-{teacher.backend}-{label_set.name}"
    png = plot_confusion(acc, out_dir / f"{name}-confusion.png", f"teacher {teacher.name} ({teacher.backend})")
    speakers = sorted({c.speaker for c in clips})
    return {
        "teacher": teacher.id, "model": teacher.name, "backend": teacher.backend,
        "labelset": label_set.name, "labelset_id": label_set.id, "data": [str(d) for d in args.dirs],
        "split": args.split, "clips": len(truth), "speakers": len(speakers), "unreadable": run.bad,
        "accuracy": acc.to_dict(), "commands_accuracy": acc.subset(list(label_set.commands)),
        "teacher_seconds_per_clip_median": float(np.median(secs)) if secs else None,
        "clips_per_second": (1.0 / float(np.mean(secs))) if secs else None,
        "run_clips_per_second": run.clips_per_second, "run_wall_seconds": run.wall_seconds,
        "new": run.new, "cached": run.cached, "confusion_png": str(png), "machine": machine(),
    }


def print_eval(r: dict) -> None:
    """The teacher-eval table for people."""
    acc = r["accuracy"]
    print(f"teacher {r['model']} ({r['backend']}) on {', '.join(r['data'])} [split {r['split']}]: "
          f"{r['clips']} clips, {r['speakers']} speakers")
    for label, a in acc["per_class"].items():
        print(f"  {label:>10s}  {a:6.1%}  ({acc['counts'][label]} clips)")
    print(f"  {'overall':>10s}  {acc['overall']:6.1%}   commands only {r['commands_accuracy']:.1%}")
    print(f"  teacher throughput {r['clips_per_second']:.2f} clips/s "
          f"(median {1000 * r['teacher_seconds_per_clip_median']:.0f} ms/clip); confusion matrix: {r['confusion_png']}")

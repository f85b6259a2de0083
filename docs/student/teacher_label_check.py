"""How often the teacher's label of each real training clip matches its folder (evaluation only).

Folder names never reach training; this check reads them to ask whether the teacher's labels are noisy
enough to hold the student back, and whether the teacher's confidence would find the wrong ones.
Needs the label cache filled by ``training pipeline`` (otherwise it labels, ~10 clips/s).

Usage: python docs/student/teacher_label_check.py DATA JSON
"""
import collections
import json
import sys
from pathlib import Path

import numpy as np

from assistant.bench.measure import machine
from assistant.labelset import load_labelset
from assistant.teacher import load_teacher
from assistant.teacher.weights import cache_root
from training.cache import LabelCache
from training.label import label_clips
from training.pipeline import COMMAND_FOLDERS, real_corpus


def main(data: str, out: str) -> None:
    """Per folder: share right, right among the kept / dropped at confidence bars, and what each teacher class holds."""
    ls = load_labelset("speech_commands")
    real = real_corpus(Path(data))
    teacher = load_teacher("tiny.en", threads=2)
    cache = LabelCache(cache_root() / "labels.sqlite")
    report = {"what": __doc__.splitlines()[0], "data": f"train speakers of {', '.join(COMMAND_FOLDERS)} under {data}",
              "machine": machine(), "folders": {}}
    for name in COMMAND_FOLDERS:
        clips = real.train.get(name, [])
        if not clips:
            continue
        labs = label_clips(clips, teacher, ls, cache, progress=False).labels
        truth = [c.path.parent.name if c.path.parent.name in ls.labels else "_unknown_" for c in clips]
        top = [labs[str(c.path)].top for c in clips]
        conf = np.array([labs[str(c.path)].probs.max() for c in clips])
        right = np.array([a == b for a, b in zip(top, truth)])
        held: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for t, p in zip(truth, top):
            held[p][t] += 1
        report["folders"][name] = {
            "clips": len(clips), "teacher_right": round(float(right.mean()), 4),
            "confidence_bars": {str(q): {"kept": round(float((conf >= q).mean()), 4),
                                         "right_among_kept": round(float(right[conf >= q].mean()), 4),
                                         "right_among_dropped": round(float(right[conf < q].mean()), 4)
                                         if (conf < q).any() else None} for q in (0.5, 0.7, 0.9)},
            "teacher_class_holds": {p: dict(held[p].most_common()) for p in ls.labels if held[p]}}
        print(name, report["folders"][name]["teacher_right"], report["folders"][name]["confidence_bars"])
    Path(out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""Probe (2026-11-29, not built into the loop): could the teacher itself tell a spoken digit it hears as a
command ("one" -> "On.") from the real command, if it were asked to weigh the word against the other
Speech Commands words?

Every clip of ``gsc_v2_test_dev`` (all splits), ``fsdd`` and ``gsc_v01_sample`` goes alone through the
assistant's loop with the shipped student and the tiny.en CTranslate2 teacher (``Teacher.hear``), fed as
``training bench-assistant`` feeds them. For each deferred segment whose transcript is just a command word,
the teacher also scores 35 words (the 10 commands and the 25 other Speech Commands words: digits, names,
animals...; first-token scores, all that CTranslate2 exposes) and the probe records the word's *contrast*
P(word) / (P(word) + sum of the 25 others). Then: how many right answers and how many false accepts each
contrast bar would stop.

Usage: PYTHONPATH=. python docs/assistant/runs/contrast_probe.py DATA_DIR OUT_JSON OUT_PNG   (~20 min on 2 cores)
       PYTHONPATH=. python docs/assistant/runs/contrast_probe.py --plot JSON PNG          (redraw the plot)
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

from assistant.audio import SAMPLE_RATE, load_audio
from assistant.bench.measure import machine
from assistant.intents import IntentSet
from assistant.labelset import LabelSet
from assistant.registry import Registry
from assistant.student import Student
from assistant.teacher import load_teacher
from training.bench.assistant import _quiet, stream_events
from training.corpus import find_clips
from training.samples import COMMANDS

OTHER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "bed", "bird", "cat",
               "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "backward", "forward", "follow", "learn",
               "visual")
BARS = (0.5, 0.85, 0.9, 0.95, 0.98, 0.981, 0.99, 0.992)


def contrast(scores: np.ndarray, k: int, n_commands: int) -> float:
    """P(word k) against the other words' total, from log-scores whose first ``n_commands`` are commands."""
    p = np.exp(scores - scores.max())
    return float(p[k] / (p[k] + p[n_commands:].sum()))


def collect(data: Path) -> tuple[list[dict], dict]:
    """Run every clip through the loop; one row per deferred segment the teacher heard as a bare command."""
    student, intents = Student(Registry().path(), threads=1), IntentSet.load()
    teacher = load_teacher("tiny.en", "ctranslate2", threads=2)
    words = tuple(COMMANDS) + OTHER_WORDS
    vocab = LabelSet("speech_commands_words", words, tuple((w,) for w in words), "_unknown_", "_silence_")
    scored: list[np.ndarray] = []

    def transcribe(audio: np.ndarray):
        scored.append(np.asarray(teacher.label_batch([audio], vocab, with_transcript=False)[0].raw["scores"]).ravel())
        return teacher.hear(audio)

    rng = np.random.default_rng(0)
    jobs = [("gsc_v2_test_dev", c) for c in find_clips([data / "gsc_v2_test_dev"])]
    jobs += [("fsdd", c) for c in find_clips([data / "fsdd"])] + [("gsc_v01_sample", c) for c in find_clips([data / "gsc_v01_sample"])]
    rows, t0, deferred = [], time.time(), 0
    for i, (src, c) in enumerate(jobs):
        a = load_audio(c.path).samples
        before, after = (np.zeros(0, np.float32), np.zeros(SAMPLE_RATE, np.float32)) if src == "fsdd" else _quiet(rng)
        n0 = len(scored)
        events = [e for e in stream_events(student, intents, a, before, after, transcribe=transcribe)
                  if e.transcript is not None]
        deferred += len(events)
        for e, s in zip(events, scored[n0:]):
            word = intents.command_word(e.transcript)
            if word is None or word not in COMMANDS:
                continue
            rows.append({"source": src, "file": c.path.name, "speaker": c.speaker, "split": c.split, "truth": c.folder_label,
                         "heard": word, "carried_out": e.intent is not None,
                         "contrast": contrast(s, words.index(word), len(COMMANDS)),
                         "student_support": (e.decision.support or {}).get(word)})
        if i % 500 == 0:
            print(f"{i}/{len(jobs)} clips, {time.time() - t0:.0f} s", flush=True)
    return rows, {"clips": len(jobs), "deferred_segments": deferred, "teacher": teacher.id, "student": str(student.dir),
                  "seconds": time.time() - t0}


def summarise(rows: list[dict]) -> dict:
    """Per bar: right bare-word answers refused and false accepts stopped (only those the loop carried out)."""
    said = [r for r in rows if r["carried_out"]]
    right = [r for r in said if r["truth"] == r["heard"]]
    false = [r for r in said if r["truth"] not in COMMANDS]
    return {"right_answers": len(right), "false_accepts": [{k: r[k] for k in ("source", "file", "heard", "contrast")}
                                                            for r in false],
            "right_contrast_quantiles": {str(q): float(np.quantile([r["contrast"] for r in right], q))
                                         for q in (0.01, 0.02, 0.05, 0.1, 0.25, 0.5)},
            "bars": [{"bar": b, "right_refused": sum(r["contrast"] < b for r in right),
                      "right_refused_share": float(np.mean([r["contrast"] < b for r in right])),
                      "false_accepts_stopped": sum(r["contrast"] < b for r in false),
                      "fsdd_false_accepts_left": sum(r["contrast"] >= b for r in false if r["source"] == "fsdd")}
                     for b in BARS]}


def plot(rows: list[dict], png: str) -> None:
    """Contrast of the right answers (histogram) and of the false accepts (marks)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    said = [r for r in rows if r["carried_out"]]
    right = [r["contrast"] for r in said if r["truth"] == r["heard"]]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.hist(np.log10(1 - np.clip(right, 0, 1 - 1e-6)), bins=40, color="tab:blue",
            label=f"right bare-word answers of real commands ({len(right)})")
    for r in said:
        if r["truth"] not in COMMANDS:
            x = np.log10(1 - min(r["contrast"], 1 - 1e-6))
            ax.axvline(x, color="tab:red", lw=1.5)
            said_word = r["file"].split("_")[0] if r["truth"] == "_unknown_" else r["truth"]
            ax.text(x, ax.get_ylim()[1] * 0.55, f"{said_word}→{r['heard']} ", rotation=90, fontsize=7, ha="right",
                    va="top", color="tab:red")
    ax.set_xlabel("log10(1 − contrast)   (left: the teacher prefers the command word; right: a digit or other word)")
    ax.set_ylabel("deferred segments")
    ax.set_title("Teacher's contrast, command word vs the 25 other Speech Commands words (red: false accepts)",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main(data: str, out_json: str, png: str) -> None:
    if data == "--plot":  # redraw from a written JSON
        plot(json.loads(Path(out_json).read_text())["rows"], png)
        return
    rows, meta = collect(Path(data))
    result = {**meta, "machine": machine(), "summary": summarise(rows), "rows": rows}
    Path(out_json).write_text(json.dumps(result, indent=1, default=float))
    plot(rows, png)
    s = result["summary"]
    print(f"{s['right_answers']} right bare-word answers; false accepts carried out: "
          + ", ".join(f"{f['file']} {f['heard']} {f['contrast']:.3f}" for f in s["false_accepts"]))
    for b in s["bars"]:
        print(f"bar {b['bar']}: refuses {b['right_refused']} right ({b['right_refused_share']:.1%}), stops "
              f"{b['false_accepts_stopped']} false accepts, {b['fsdd_false_accepts_left']} FSDD ones left")


if __name__ == "__main__":
    main(*sys.argv[1:4])

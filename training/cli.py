"""``training``: the offline side — label with the teacher, calibrate it, evaluate it, benchmark it."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from importlib import resources
from pathlib import Path

import numpy as np

from assistant.errors import AssistantError, OneLineParser, at_least, number_in, run_command
from assistant.labelset import LabelSet, load_labelset

from .corpus import Clip, find_clips, parse_shard, select, truth_label
from .evaluate import evaluate_teacher, print_eval, write_json
from assistant.bench.measure import machine


def block_counts(text: str) -> tuple[int, ...]:
    """An argparse ``type``: BC-ResNet blocks per stage, four whole numbers from 1 to 6 ("3,3,3,3")."""
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not four comma-separated whole numbers") from None
    if len(counts) != 4 or not all(1 <= n <= 6 for n in counts):
        raise argparse.ArgumentTypeError(f"must be four block counts from 1 to 6, e.g. 3,3,3,3, not {text}")
    return counts


def _teacher_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="tiny.en", help="tiny.en (default), base, or a local Whisper directory")
    p.add_argument("--backend", default="transformers", choices=("transformers", "ctranslate2"))
    p.add_argument("--threads", type=at_least(1), default=None, help="CPU threads (default: all cores)")
    p.add_argument("--min-seconds", type=number_in(0, 30, low_open=True), default=None,
                   help="shortest encoder window in seconds for short clips (default 10)")
    p.add_argument("--labelset", default=None,
                   help="built-in name (speech_commands, digits) or a YAML file; default guessed from the data")
    p.add_argument("--cache", default=None, help="label cache file (default: ~/.cache/voice-assistant/labels.sqlite)")
    p.add_argument("--batch-size", type=at_least(1), default=16)
    p.add_argument("--split", default="all", help="speaker split: all, heldout (not calib), train, calib, test")
    p.add_argument("--shard", default=None, help="i/n: label only every n-th clip starting at i")
    p.add_argument("--limit", type=at_least(1), default=None, help="use only the first N clips (after --every)")
    p.add_argument("--every", type=at_least(1), default=1, help="use every k-th clip (deterministic subsample)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _labelset_for(args: argparse.Namespace, clips: list[Clip]) -> LabelSet:
    if args.labelset:
        return load_labelset(args.labelset)
    if clips and all(c.dataset == "fsdd" for c in clips):
        return load_labelset("digits")
    return load_labelset("speech_commands")


def _clips(args: argparse.Namespace) -> list[Clip]:
    for d in args.dirs:
        if not Path(d).exists():
            raise AssistantError(f"{d}: no such file or folder")
    clips = select(find_clips(args.dirs), args.split, parse_shard(args.shard))[:: max(1, args.every)]
    if args.limit:
        clips = clips[: args.limit]
    if not clips:
        raise AssistantError(f"no audio files found in {', '.join(args.dirs)} (split {args.split})")
    return clips


def _cache(args: argparse.Namespace):
    from assistant.teacher.weights import cache_root

    from .cache import LabelCache

    return LabelCache(args.cache or cache_root() / "labels.sqlite")


def _teacher(args: argparse.Namespace, calibration=None):
    from assistant.teacher import load_teacher

    return load_teacher(args.model, args.backend, threads=args.threads, min_seconds=args.min_seconds,
                        calibration=calibration)


# -- commands ----------------------------------------------------------------------------------
def cmd_label(args: argparse.Namespace) -> int:
    from .label import label_clips

    clips = _clips(args)
    label_set = _labelset_for(args, clips)
    teacher = _teacher(args)
    run = label_clips(clips, teacher, label_set, _cache(args), batch_size=args.batch_size, progress=not args.quiet)
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
    clips = _clips(args)
    label_set = _labelset_for(args, clips)
    r = evaluate_teacher(args, clips, label_set, _teacher(args), _cache(args))
    print_eval(r)
    write_json(args.json, r)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from assistant.teacher.posterior import Calibration

    from .calibrate import fit
    from .label import label_clips

    args.split = "calib"
    clips = _clips(args)
    label_set = _labelset_for(args, clips)
    teacher = _teacher(args, calibration=Calibration())  # raw scores do not depend on calibration
    run = label_clips(clips, teacher, label_set, _cache(args), batch_size=args.batch_size, progress=not args.quiet)
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


def cmd_cache_merge(args: argparse.Namespace) -> int:
    cache = _cache(args)
    for src in args.sources:
        if not Path(src).is_file():
            raise AssistantError(f"{src}: no such cache file")
        print(f"{src}: {cache.merge(src)} rows added to {cache.path}")
    return 0


def cmd_bench_teacher(args: argparse.Namespace) -> int:
    from .bench.teacher import bench_teacher

    return bench_teacher(args)


def cmd_bench_student(args: argparse.Namespace) -> int:
    from .bench.student import bench_student

    return bench_student(args)


def cmd_bench_noise(args: argparse.Namespace) -> int:
    from .bench.noise import plot_bench_noise, print_bench_noise, run_bench_noise
    from .evaluate import write_json

    from assistant.errors import floats

    args.snr = floats(args.snr, "--snr")
    r = run_bench_noise(args)
    r["plot"] = str(plot_bench_noise(r, Path(args.report_dir) / "noise-accuracy.png"))
    print_bench_noise(r)
    print(f"plot: {r['plot']}")
    write_json(args.json, r)
    return 0


def cmd_bench_assistant(args: argparse.Namespace) -> int:
    from .bench.assistant import bench_assistant

    return bench_assistant(args)


def cmd_bench_loop(args: argparse.Namespace) -> int:
    from .bench.loop import bench_loop

    return bench_loop(args)


def cmd_fit_bars(args: argparse.Namespace) -> int:
    from .bars import cmd_fit_bars

    return cmd_fit_bars(args)


def cmd_add_intent(args: argparse.Namespace) -> int:
    from assistant.teacher.weights import cache_root

    from .add_intent import add_intents

    args.run_dir = args.run_dir or str(cache_root() / "runs")
    return add_intents(args)


def cmd_bench_add_intent(args: argparse.Namespace) -> int:
    from .bench.add_intent import bench_add_intent

    return bench_add_intent(args)


def cmd_remove_intent(args: argparse.Namespace) -> int:
    from .add_intent import remove_intent

    return remove_intent(args)


def cmd_intents(args: argparse.Namespace) -> int:
    from .add_intent import list_intents

    return list_intents(args)


def cmd_pipeline(args: argparse.Namespace) -> int:
    from .pipeline import run_pipeline

    return run_pipeline(args)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from assistant.registry import Registry
    from assistant.student import Student

    from .evaluate import evaluate, print_result, write_json
    from .label import label_clips

    model_dir = Path(args.student)
    if not model_dir.is_dir():  # a registry name: its promoted version
        model_dir = Registry(args.registry).path(args.student)
    student = Student(model_dir, file=args.file)
    clips = _clips(args)
    label_set = load_labelset(args.labelset or "speech_commands")
    teacher_labels = None
    if not args.no_teacher:
        teacher_labels = label_clips(clips, _teacher(args), label_set, _cache(args), batch_size=args.batch_size,
                                     progress=not args.quiet).labels
    r = evaluate(student, clips, label_set, teacher_labels, Path(args.report_dir), model_dir.parent.name)
    print_result(r)
    write_json(args.json, r)
    return 0


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


PASSED_TO_ADD_INTENT = (("--voices", int), ("--epochs", int), ("--pos-weight", float), ("--hard-epochs", int),
                        ("--lr", float), ("--threads", int), ("--accept", float), ("--mel-shift", float),
                        ("--chatter", int), ("--branch", int), ("--whole", bool))
"""add-intent settings that ``bench-add-intent`` takes and passes on."""


def build_parser() -> argparse.ArgumentParser:
    """The ``training`` command line."""
    from assistant.decision import DecisionConfig

    from .add_intent import ADDED_ACCEPT, BRANCH_AT
    from .distill import DistillConfig

    ap = OneLineParser(prog="training", description=__doc__)
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("label", help="label audio folders with the teacher (resumable, shardable)")
    p.add_argument("dirs", nargs="+")
    _teacher_args(p)
    p.add_argument("--out", default=None, help="also write the soft labels as JSON lines here")
    p.add_argument("--json", default=None, help="write run figures here")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("teacher-eval", help="teacher accuracy per class against folder labels, confusion PNG")
    p.add_argument("dirs", nargs="+")
    _teacher_args(p)
    p.add_argument("--report-dir", default="reports")
    p.add_argument("--json", default=None)
    p.set_defaults(func=cmd_teacher_eval)

    p = sub.add_parser("calibrate", help="fit the teacher posterior on calibration speakers")
    p.add_argument("dirs", nargs="+")
    _teacher_args(p)
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

    p = sub.add_parser("add-intent", help="teach the student a new phrase (synthetic voices + your recordings)")
    p.add_argument("name", nargs="?", help="the new label, e.g. marvin or kitchen_lights_on")
    p.add_argument("phrases", nargs="*", help="what people say for it (default: the name)")
    p.add_argument("--recordings", default=None, help="a folder of your recordings of the phrase (assistant record)")
    p.add_argument("--intents-file", default=None,
                   help="learn every new student entry of this intents YAML (entries with phrases:)")
    p.add_argument("--intent", default=None, help="intent it triggers (default: from the name), e.g. HassTurnOn")
    p.add_argument("--slot", action="append", default=[], help="slot value for the intent, e.g. name='kitchen lights'")
    p.add_argument("--response", default=None, help="what the assistant answers (intents without a built-in handler)")
    p.add_argument("--accept", type=float, default=ADDED_ACCEPT,
                   help="the new word's own instant-answer bar, still with the pause wait (default: the "
                        "student's bars, as for its other words; a lower bar answers it at once more often, and "
                        "for some words in chatter too: see README)")
    p.add_argument("--voices", type=at_least(1), default=24, help="synthetic voices per phrase")
    p.add_argument("--epochs", type=at_least(1), default=12)
    p.add_argument("--lr", type=number_in(0, low_open=True), default=2e-3)
    p.add_argument("--pos-weight", type=number_in(0, low_open=True), default=None,
                   help="the new phrase's examples per epoch, as a multiple of an average class's (default 3 "
                        "for a side branch, 2 with --whole)")
    p.add_argument("--hard-epochs", type=at_least(0), default=0,
                   help="epochs of a second phase on clips the new student confuses with the phrase")
    p.add_argument("--chatter", type=at_least(0), default=0,
                   help="everyday sentences read by synthetic voices, held at the current student's outputs "
                        "(running speech is not the new word; 0: none)")
    p.add_argument("--mel-shift", type=number_in(0, 8), default=DistillConfig.mel_shift,
                   help="shift each fine-tuning example up to this many mel bins up or down (0: off)")
    p.add_argument("--branch", type=at_least(0), default=BRANCH_AT,
                   help=f"the new word is learnt by a side branch that splits from the student after this block "
                        f"(0-7; default {BRANCH_AT}): only the branch trains, so every old output stays as "
                        "it was (a student that already has branches splits where they do)")
    p.add_argument("--whole", action="store_true",
                   help="fine-tune the whole student instead of a side branch (the old words drift a little; "
                        "docs/add-intent/README.md)")
    p.add_argument("--teacher", default="tiny.en")
    p.add_argument("--threads", type=at_least(1), default=2)
    p.add_argument("--data", default="../shared/data", help="real audio for rehearsal (train speakers) if present")
    p.add_argument("--student", default="speech_commands", help="registry name of the student to extend")
    p.add_argument("--registry", default=None, help="registry root (default: your models folder)")
    p.add_argument("--cache", default=None)
    p.add_argument("--run-dir", default=None, help="checkpoints (default: ~/.cache/voice-assistant/runs)")
    p.add_argument("--eval-old", action="append", default=[], help="labelled folder for the old classes")
    p.add_argument("--eval-new", action="append", default=[], help="folder of real recordings of the new phrase")
    p.add_argument("--eval-other", action="append", default=[], help="folder of other words (false accepts)")
    p.add_argument("--seed", type=at_least(0), default=0)
    p.add_argument("--stop-after", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", default=None)
    p.add_argument("--quiet", action="store_true")
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

    p = sub.add_parser("pipeline", help="build a student end to end: TTS + real audio -> teacher -> distil -> export")
    p.add_argument("--data", default="../shared/data", help="real audio folder (used when present)")
    p.add_argument("--no-real", action="store_true", help="synthetic speech only, even when --data exists")
    p.add_argument("--real-speakers", type=number_in(0, 1, low_open=True), default=1.0,
                   help="learn from this share of the real train speakers only (a learning curve; 1: all)")
    p.add_argument("--no-fit-bars", action="store_true",
                   help="with real audio: do not choose the new student's decision bars (training fit-bars, ~2 min)")
    p.add_argument("--teacher", default="tiny.en")
    p.add_argument("--threads", type=at_least(1), default=2)
    p.add_argument("--epochs", type=at_least(1), default=None,
                   help="passes of --epoch-size examples (default: 20 with real audio, else 100)")
    p.add_argument("--epoch-size", type=at_least(0), default=None,
                   help="examples drawn per epoch (default: 12000 with real audio; 0: each example once)")
    p.add_argument("--balance", type=number_in(0, 1), default=None,
                   help="draw the teacher's classes evenly: 1 equally often, 0 as the data has them "
                        "(default: 1 with real audio, else 0)")
    p.add_argument("--unknown-weight", type=number_in(0, 10, low_open=True), default=None,
                   help="extra draw weight of what the teacher calls _unknown_ (default: 2 with real audio, else 1)")
    p.add_argument("--width", type=at_least(1), default=DistillConfig.width)
    p.add_argument("--blocks", type=block_counts, default=DistillConfig.blocks,
                   help="BC-ResNet blocks in each of the 4 stages, e.g. 3,3,3,3 (default: 2,2,2,2)")
    p.add_argument("--voices", type=at_least(1), default=24, help="synthetic voices per command")
    p.add_argument("--kokoro", type=at_least(0), default=None,
                   help="Kokoro-82M style blends per command on top of --voices (a fifth as many per other word; "
                        "~0.8 s a clip to synthesise, cached); default: 0 with real audio, 16 without")
    p.add_argument("--views", type=at_least(0), default=0,
                   help="augmented copies of each clip that the teacher labels too (0: clean labels only)")
    p.add_argument("--ema", type=number_in(0, 1, high_open=True), default=DistillConfig.ema,
                   help="keep a moving average of the weights with this decay (0: off)")
    p.add_argument("--mel-shift", type=number_in(0, 8), default=DistillConfig.mel_shift,
                   help="shift each training example up to this many mel bins up or down (0: off)")
    p.add_argument("--eq-db", type=number_in(0, 20), default=DistillConfig.eq_db,
                   help="colour each training example's spectrum by a random smooth curve of up to this many dB "
                        "(microphones differ; 0: off)")
    p.add_argument("--seed", type=at_least(0), default=0)
    p.add_argument("--run-dir", default="runs/student")
    p.add_argument("--report-dir", default="reports")
    p.add_argument("--registry", default=None,
                   help="registry root (default: $ASSISTANT_MODELS or your models folder; "
                        "assistant/models rebuilds the shipped student)")
    p.add_argument("--name", default="speech_commands")
    p.add_argument("--cache", default=None)
    p.add_argument("--no-register", action="store_true")
    p.add_argument("--no-promote", action="store_true")
    p.add_argument("--force", action="store_true",
                   help="promote even a student that agrees with the teacher less than the one in force")
    p.add_argument("--json", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_pipeline)

    p = sub.add_parser("evaluate", help="student vs teacher on labelled folders: per class, confusion, false accepts")
    p.add_argument("student", help="a model directory, or a registry name (its promoted version)")
    p.add_argument("dirs", nargs="+")
    _teacher_args(p)
    p.add_argument("--file", default=None, help="model.onnx or model.int8.onnx (default: the manifest's)")
    p.add_argument("--registry", default=None)
    p.add_argument("--no-teacher", action="store_true", help="skip scoring the teacher on the same clips")
    p.add_argument("--report-dir", default="reports")
    p.add_argument("--json", default=None)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("bench-student", help="student vs teacher on held-out speakers; latency fp32/int8/torch")
    p.add_argument("model", nargs="?", default="speech_commands", help="model directory or registry name")
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--teacher", default="tiny.en")
    p.add_argument("--threads", type=at_least(1), default=2, help="teacher threads (the student runs on 1)")
    p.add_argument("--runs", type=at_least(1), default=500, help="timed runs per latency figure")
    p.add_argument("--registry", default=None)
    p.add_argument("--cache", default=None)
    p.add_argument("--report-dir", default="docs/student")
    p.add_argument("--json", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_bench_student)

    p = sub.add_parser("bench-noise", help="student vs teacher on the test speakers with real noise mixed in at set SNRs")
    p.add_argument("model", nargs="?", default="speech_commands", help="model directory or registry name")
    p.add_argument("--data", default="../shared/data", help="folder holding gsc_v2_test_dev and noise")
    p.add_argument("--snr", default="20,10,5", help="SNRs in dB, comma-separated")
    p.add_argument("--teacher", default="tiny.en")
    p.add_argument("--threads", type=at_least(1), default=2)
    p.add_argument("--seed", type=at_least(0), default=0, help="which noise stretch each clip gets")
    p.add_argument("--every", type=at_least(1), default=1, help="use every k-th test clip (default: all)")
    p.add_argument("--registry", default=None)
    p.add_argument("--cache", default=None)
    p.add_argument("--report-dir", default="docs/student")
    p.add_argument("--json", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_bench_noise)

    p = sub.add_parser("bench-assistant", help="assistant loop: response times (real-time session) and false accepts")
    p.add_argument("--session", default="audio_samples/session")
    p.add_argument("--data", default="../shared/data", help="coffee_orders/, fsdd/, noise/ for false accepts")
    p.add_argument("--teacher", default="tiny.en")
    p.add_argument("--threads", type=at_least(1), default=1, help="teacher threads (the loop keeps one core)")
    p.add_argument("--repeats", type=at_least(1), default=2)
    p.add_argument("--with-teacher", action="store_true",
                   help="also count false accepts with the teacher answering deferrals (slower)")
    p.add_argument("--report-dir", default="docs/assistant")
    p.add_argument("--json", default=None)
    p.set_defaults(func=cmd_bench_assistant)

    p = sub.add_parser("bench-loop", help="the loop's decision settings side by side (student alone): response "
                                          "time and instant answers on real commands, false accepts per hour")
    p.add_argument("--accept", default="0.999,0.9998", help="instant-answer bars, comma-separated")
    p.add_argument("--smooth", default="4,2", help="windows averaged, comma-separated")
    p.add_argument("--wait-for-pause", default=f"0,{DecisionConfig().min_pause_s * 1000:g}",
                   help="milliseconds, comma-separated")
    p.add_argument("--instant", default=f"{DecisionConfig().instant:g}",
                   help="with a pause wait: answer at once all the same from this confidence (comma-separated; "
                        "1: always wait)")
    p.add_argument("--ignore", type=number_in(0, 1), default=DecisionConfig().ignore, help="noise bar (default %(default)s)")
    p.add_argument("--split", default="calib", choices=("calib", "test", "train"),
                   help="speakers whose command clips are used (choose settings on calib, report on test)")
    p.add_argument("--every", type=at_least(1), default=1, help="use every Nth clip and file (quick looks)")
    p.add_argument("--student", default=None, help="model directory (default: the shipped student)")
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--report-dir", default="docs/assistant")
    p.add_argument("--json", default=None)
    p.set_defaults(func=cmd_bench_loop)

    from .bars import ACCEPT_GRID, INSTANT_GRID

    p = sub.add_parser("fit-bars", help="choose a student's own decision bars on held-out speakers and audio "
                                        "(--write: store them in its manifest, where the assistant reads them)")
    p.add_argument("student", nargs="?", default="speech_commands",
                   help="model directory or registry name (default: %(default)s, the version in force)")
    p.add_argument("--registry", default=None, help="registry root (default: your models folder)")
    p.add_argument("--data", default="../shared/data", help="gsc_v2_test_dev/ (calib speakers) and coffee_orders/, "
                                                           "fsdd/, noise/ (their non-test parts)")
    p.add_argument("--split", default="calib", choices=("calib", "train"), help="speakers whose command clips are used")
    p.add_argument("--accept", default=",".join(f"{x:g}" for x in ACCEPT_GRID),
                   help="instant-answer bars to try, comma-separated")
    p.add_argument("--instant", default=",".join(f"{x:g}" for x in INSTANT_GRID),
                   help="answer-without-waiting-for-a-pause bars to try, comma-separated (1: always wait)")
    p.add_argument("--max-wrong", type=float, default=0.005,
                   help="largest share of commands answered at once and wrong (default %(default)s)")
    p.add_argument("--max-false-accepts", type=float, default=1.0,
                   help="most false accepts per hour of no-command audio (default %(default)s)")
    p.add_argument("--max-median-ms", type=float, default=60.0,
                   help="latest median answer after the word's end (default %(default)s)")
    p.add_argument("--every", type=at_least(1), default=1, help="use one clip and file in this many (quick looks)")
    p.add_argument("--write", action="store_true", help="store the chosen bars in the model's manifest")
    p.add_argument("--json", default=None)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fit_bars)

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
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    return run_command(args.func, args, verbose=args.verbose, user_errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())

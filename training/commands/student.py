"""``training pipeline``, ``evaluate``, ``bench-student`` and ``bench-noise``: build a student, and measure it
against the teacher."""

from __future__ import annotations

import argparse
from pathlib import Path

from assistant.errors import at_least, number_in
from assistant.labelset import load_labelset

from .common import cache_of, clips_of, label_run, teacher_args, teacher_of


def block_counts(text: str) -> tuple[int, ...]:
    """An argparse ``type``: BC-ResNet blocks per stage, four whole numbers from 1 to 6 ("3,3,3,3")."""
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not four comma-separated whole numbers") from None
    if len(counts) != 4 or not all(1 <= n <= 6 for n in counts):
        raise argparse.ArgumentTypeError(f"must be four block counts from 1 to 6, e.g. 3,3,3,3, not {text}")
    return counts


def cmd_pipeline(args: argparse.Namespace) -> int:
    from ..pipeline import run_pipeline

    return run_pipeline(args)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from assistant.registry import Registry
    from assistant.student import Student

    from ..evaluate import evaluate, print_result, write_json

    model_dir = Path(args.student)
    if not model_dir.is_dir():  # a registry name: its promoted version
        model_dir = Registry(args.registry).path(args.student)
    student = Student(model_dir, file=args.file)
    clips = clips_of(args)
    label_set = load_labelset(args.labelset or "speech_commands")
    teacher_labels = None
    if not args.no_teacher:
        teacher_labels = label_run(args, clips, label_set, cache_of(args), teacher_of(args)).labels
    r = evaluate(student, clips, label_set, teacher_labels, Path(args.report_dir), model_dir.parent.name)
    print_result(r)
    write_json(args.json, r)
    return 0


def cmd_bench_student(args: argparse.Namespace) -> int:
    from ..bench.student import bench_student

    return bench_student(args)


def cmd_bench_noise(args: argparse.Namespace) -> int:
    from ..bench.noise import plot_bench_noise, print_bench_noise, run_bench_noise
    from ..evaluate import write_json

    from assistant.errors import floats

    args.snr = floats(args.snr, "--snr")
    r = run_bench_noise(args)
    r["plot"] = str(plot_bench_noise(r, Path(args.report_dir) / "noise-accuracy.png"))
    print_bench_noise(r)
    print(f"plot: {r['plot']}")
    write_json(args.json, r)
    return 0


def _report_options(p: argparse.ArgumentParser) -> None:
    """Where a student-vs-teacher benchmark finds its model and cache and writes its report."""
    p.add_argument("--registry", default=None)
    p.add_argument("--cache", default=None)
    p.add_argument("--report-dir", default="docs/student")
    p.add_argument("--json", default=None)
    p.add_argument("--quiet", action="store_true")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The student's subcommands."""
    from ..distill import DistillConfig

    p = sub.add_parser("pipeline", help="build a student end to end: TTS + real audio -> teacher -> distil -> export")
    p.add_argument("--data", default="../shared/data", help="real audio folder (used when present)")
    p.add_argument("--no-real", action="store_true", help="synthetic speech only, even when --data exists")
    p.add_argument("--real-speakers", type=number_in(0, 1, low_open=True), default=1.0,
                   help="learn from this share of the real train speakers only (a learning curve; 1: all)")
    p.add_argument("--no-fit-bars", action="store_true",
                   help="with real audio: do not choose the new student's decision bars (training fit-bars, ~2 min)")
    p.add_argument("--teacher", default="tiny.en")
    p.add_argument("--threads", type=at_least(1), default=2)
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="label on a Ray cluster: HEAD:6379, or no address for one on this machine (docs/cluster.md)")
    p.add_argument("--ray-actors", type=at_least(1), default=None,
                   help="teacher actors on the cluster (default: its CPUs // --threads)")
    p.add_argument("--epochs", type=at_least(1), default=None,
                   help="passes of --epoch-size examples (default: 30 with real audio, else 100)")
    p.add_argument("--epoch-size", type=at_least(0), default=None,
                   help="examples drawn per epoch (default: 12000 with real audio; 0: each example once)")
    p.add_argument("--balance", type=number_in(0, 1), default=None,
                   help="draw the teacher's classes evenly: 1 equally often, 0 as the data has them "
                        "(default: 1 with real audio, else 0)")
    p.add_argument("--unknown-weight", type=number_in(0, 10, low_open=True), default=None,
                   help="extra draw weight of what the teacher calls _unknown_ (default: 3 with real audio, else 1)")
    p.add_argument("--min-confidence", type=number_in(0, 1), default=DistillConfig.min_confidence,
                   help="never train on a clip whose teacher's top probability is under this (0: train on all)")
    p.add_argument("--ce-confidence", type=number_in(0, 8), default=DistillConfig.ce_confidence, metavar="GAMMA",
                   help="weigh each clip's cross-entropy on the teacher's top label by the teacher's top "
                        "probability ** GAMMA (0: off): a soft form of --min-confidence")
    p.add_argument("--width", type=at_least(1), default=DistillConfig.width)
    p.add_argument("--blocks", type=block_counts, default=None,
                   help="BC-ResNet blocks in each of the 4 stages, e.g. 2,2,2,2 (default: 3,3,3,3 with real audio, "
                        "else 2,2,2,2)")
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
    teacher_args(p)
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
    _report_options(p)
    p.set_defaults(func=cmd_bench_student)

    p = sub.add_parser("bench-noise", help="student vs teacher on the test speakers with real noise mixed in at set SNRs")
    p.add_argument("model", nargs="?", default="speech_commands", help="model directory or registry name")
    p.add_argument("--data", default="../shared/data", help="folder holding gsc_v2_test_dev and noise")
    p.add_argument("--snr", default="20,10,5", help="SNRs in dB, comma-separated")
    p.add_argument("--teacher", default="tiny.en")
    p.add_argument("--threads", type=at_least(1), default=2)
    p.add_argument("--seed", type=at_least(0), default=0, help="which noise stretch each clip gets")
    p.add_argument("--every", type=at_least(1), default=1, help="use every k-th test clip (default: all)")
    _report_options(p)
    p.set_defaults(func=cmd_bench_noise)

"""``training bench-student``: the shipped student against the teacher on held-out speakers, and its speed.

Accuracy: ``test`` speakers of ``gsc_v2_test_dev`` (never trained or validated on), student and teacher
on the same clips in the same run. Latency: one 1 s window at 1 thread, p50/p95 over many runs, for
ONNX Runtime fp32 (the shipped file), ONNX Runtime int8 (quantised here from the fp32 file, calibrated
on ``train``-speaker windows) and torch eager (rebuilt from ``weights.safetensors``), side by side.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from assistant.audio import centre_on_energy, load_audio
from assistant.errors import AssistantError
from assistant.labelset import load_labelset
from assistant.registry import Registry
from assistant.student import Student

from ..corpus import find_clips, select


def _torch_latency(model_dir: Path, window: int, runs: int) -> dict:
    import torch

    from assistant.bench.measure import stats, time_calls

    from ..model import load_dir

    torch.set_num_threads(1)
    net = load_dir(model_dir).eval()
    x = torch.randn(1, window) * 0.1
    with torch.inference_mode():
        s = stats(time_calls(lambda: net(x), runs))
    return {"p50": s["median"], "p95": s["p95"], "p99": s["p99"]}


def bench_student(args: argparse.Namespace) -> int:
    """Run the benchmark; prints a table and writes JSON + Markdown under ``--report-dir``."""
    from assistant.teacher import load_teacher
    from assistant.teacher.weights import cache_root

    from ..cache import LabelCache
    from assistant.bench.measure import machine
    from ..evaluate import evaluate, print_result, write_json
    from ..export import latency_ms, quantize_int8
    from ..label import label_clips

    model_dir = Path(args.model) if Path(args.model).is_dir() else Registry(args.registry).path(args.model)
    student = Student(model_dir, file="model.onnx")
    data = Path(args.data) / "gsc_v2_test_dev"
    if not data.is_dir():
        raise AssistantError(f"{data}: missing; the student benchmark needs the shared real-audio folder")
    label_set = load_labelset("speech_commands")
    clips = find_clips([data])
    test, train = select(clips, "test"), select(clips, "train")
    teacher = load_teacher(args.teacher, threads=args.threads)
    cache = LabelCache(args.cache or cache_root() / "labels.sqlite")
    teacher_labels = label_clips(test, teacher, label_set, cache, progress=not args.quiet).labels
    report = Path(args.report_dir)
    result = evaluate(student, test, label_set, teacher_labels, report, "bench")
    print_result(result)

    window = student.frontend.window_samples
    calib = np.stack([centre_on_energy(load_audio(c.path).samples, window) for c in train[:: max(1, len(train) // 200)]])
    latency = {"ort_fp32": latency_ms(model_dir / "model.onnx", window, 1, args.runs)}
    sizes = {"onnx_fp32_bytes": (model_dir / "model.onnx").stat().st_size}
    with tempfile.TemporaryDirectory() as tmp:
        int8 = model_dir / "model.int8.onnx"
        if not int8.is_file():
            int8 = Path(tmp) / "model.int8.onnx"
            quantize_int8(model_dir / "model.onnx", int8, calib)
        latency["ort_int8"] = latency_ms(int8, window, 1, args.runs)
        sizes["onnx_int8_bytes"] = int8.stat().st_size
        import onnxruntime as ort

        sess = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
        from ..corpus import truth_label

        rows = [(c, truth_label(c, label_set)) for c in test]
        xs = np.stack([centre_on_energy(load_audio(c.path).samples, window) for c, _ in rows])
        pred = np.concatenate([sess.run(None, {"audio": xs[i:i + 256]})[0].argmax(1) for i in range(0, len(xs), 256)])
        int8_acc = float(np.mean([label_set.labels[p] == t for p, (_, t) in zip(pred, rows)]))
    if (model_dir / "weights.safetensors").is_file():
        latency["torch_eager"] = _torch_latency(model_dir, window, args.runs)
    t_ms = [teacher_labels[str(c.path)].seconds * 1000 for c in test if str(c.path) in teacher_labels]
    out = {"model": str(model_dir), "data": f"{data} test speakers", **result, "latency_ms_per_window_1thread": latency,
           "sizes": sizes, "int8_accuracy": int8_acc, "teacher_ms_per_clip_median": float(np.median(t_ms)),
           "machine": machine()}
    s, t = result["student"], result["teacher"]
    lines = [
        f"# Student benchmark\n\nModel `{model_dir}`; data: {data}, **test** speakers only "
        f"({result['clips']} clips, {result['speakers']} speakers), never used in training or validation. "
        f"Machine: {out['machine']['cpu']}, {out['machine']['cores']} cores.\n",
        "| | student (ORT fp32) | student (ORT int8) | teacher (tiny.en) |", "|---|---|---|---|",
        f"| accuracy, 12 classes | {s['accuracy']['overall']:.1%} | {int8_acc:.1%} | {t['accuracy']['overall']:.1%} |",
        f"| commands only | {s['commands_accuracy']:.1%} | - | {t['commands_accuracy']:.1%} |",
        f"| false accepts of out-of-set clips | {s['false_accepts']['false_accepts']}/{s['false_accepts']['clips']} | - | "
        f"{t['false_accepts']['false_accepts']}/{t['false_accepts']['clips']} |",
        f"| latency per 1 s window, 1 thread, p50 / p95 | {latency['ort_fp32']['p50']:.3f} / {latency['ort_fp32']['p95']:.3f} ms | "
        f"{latency['ort_int8']['p50']:.3f} / {latency['ort_int8']['p95']:.3f} ms | "
        f"{out['teacher_ms_per_clip_median']:.0f} ms per clip (2 threads) |",
        f"| size | {sizes['onnx_fp32_bytes'] / 1024:.0f} KB | {sizes['onnx_int8_bytes'] / 1024:.0f} KB | 75 MB (fp16 CTranslate2) |",
    ]
    if "torch_eager" in latency:
        lines.append(f"\ntorch eager, same window, 1 thread: p50 {latency['torch_eager']['p50']:.3f} ms, "
                     f"p95 {latency['torch_eager']['p95']:.3f} ms.")
    lines.append("\nPer class (student / teacher): " + ", ".join(
        f"{k} {v:.0%}/{t['accuracy']['per_class'].get(k, float('nan')):.0%}" for k, v in s["accuracy"]["per_class"].items()))
    lines.append(f"\nThe student agrees with the teacher on {t['student_agreement']:.1%} of these clips and is wrong where the "
                 f"teacher is right on {t['student_wrong_teacher_right']} of {t['clips']}.")
    lines.append(f"\nConfusion matrices: `{s['confusion_png']}`, `{t['confusion_png']}`")
    report.mkdir(parents=True, exist_ok=True)
    (report / "student-bench.md").write_text("\n".join(lines) + "\n")
    (report / "student-bench.json").write_text(json.dumps(out, indent=2, default=float))
    print("\n".join(lines[1:7]))
    print(f"report: {report / 'student-bench.md'}")
    write_json(args.json, out)
    return 0

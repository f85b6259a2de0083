"""The build-time engines of ``assistant bench``, each alone in its own process (the runtime never imports
torch or this package; ``assistant bench`` starts these as ``python -m training.bench.worker``):

- ``torch``: the student in torch eager, rebuilt from the model directory's ``weights.safetensors``;
- ``int8``: the student's ONNX file quantised here (static QDQ, front end in float), calibrated on
  windows of ``--calib`` (default: the shipped synthetic ``audio_samples/commands``, never the bench's clips),
  unless the model directory already ships ``model.int8.onnx``.

Same options and JSON as :mod:`assistant.bench.worker`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from assistant.audio import SAMPLE_RATE, centre_on_energy, fit_window, load_audio
from assistant.bench.measure import stats, time_calls
from assistant.bench.worker import bench_parser, dir_bytes, read_clips, run_worker, score_clips
from assistant.corpus import find_clips
from assistant.errors import AssistantError
from assistant.student import MANIFEST, Manifest, file_sha256


def torch_eager(args: argparse.Namespace) -> dict:
    """Per-window latency and clip accuracy of the student in torch eager mode."""
    import torch

    from ..model import load_dir

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model_dir = Path(args.model)
    manifest = Manifest.read(model_dir)
    net = load_dir(model_dir).eval()
    weights = model_dir / "weights.safetensors"
    load_s = time.perf_counter() - t0
    window = manifest.frontend.window_samples
    x = torch.from_numpy((np.random.default_rng(0).standard_normal((1, window)) * 0.1).astype(np.float32))
    with torch.inference_mode():
        win = time_calls(lambda: net(x), args.window_runs)
        out = {"load_s": load_s, "window_ms": stats(win), "window_samples_ms": win, "size_bytes": dir_bytes(weights)}
        if args.clips:
            labels = manifest.labels
            out.update(score_clips(read_clips(args.clips, args.sample_only)[1], lambda a: labels[int(
                net(torch.from_numpy(centre_on_energy(a, window)[None])).argmax(1)[0])]))
    return out


def calibration_windows(folder: Path, window: int, limit: int = 200) -> np.ndarray:
    """Windows every quarter window across every recording in ``folder`` (at most ``limit``)."""
    out = []
    for c in find_clips([folder]):
        a = load_audio(c.path, max_seconds=None).samples
        out += [fit_window(a[i:i + window], window / SAMPLE_RATE) for i in range(0, max(1, a.size - window + 1), window // 4)]
    return np.stack(out[:: max(1, len(out) // limit)][:limit])


def int8(args: argparse.Namespace) -> dict:
    """The ORT int8 student (quantised here when the directory has none), through the runtime's own loader."""
    from assistant.bench.worker import student

    from ..export import quantize_int8, update_manifest

    model_dir = Path(args.model)
    if (model_dir / "model.int8.onnx").is_file():
        return {**student(argparse.Namespace(**{**vars(args), "file": "model.int8.onnx"})), "quantised_here": False}
    if not Path(args.calib).exists():
        raise AssistantError(f"{args.calib}: no calibration audio for int8; pass --calib DIR")
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        work = Path(tmp) / model_dir.name
        shutil.copytree(model_dir, work)
        window = Manifest.read(work).frontend.window_samples
        calib = calibration_windows(Path(args.calib), window)
        quantize_int8(work / "model.onnx", work / "model.int8.onnx", calib)
        update_manifest(work, lambda m: m["files"].update({"model.int8.onnx": file_sha256(work / "model.int8.onnx")}))
        res = student(argparse.Namespace(**{**vars(args), "model": str(work), "file": "model.int8.onnx"}))
    return {**res, "quantised_here": True, "calibration": f"{args.calib} ({len(calib)} windows)"}


KINDS = {"torch": torch_eager, "int8": int8}


def main(argv: list[str] | None = None) -> int:
    """Entry point; the JSON goes to stdout, errors as one line to stderr."""
    ap = bench_parser("python -m training.bench.worker", KINDS)
    ap.add_argument("--calib", default="audio_samples/session", help="recordings to calibrate int8 on")
    return run_worker(KINDS, ap.parse_args(argv))

if __name__ == "__main__":
    sys.exit(main())

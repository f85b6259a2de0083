"""Stage 5: export the student to a self-describing ONNX model directory and register it.

``model.onnx`` holds the whole student, log-mel front end included (opset 17; the DFT is a
mixed-radix product of small matrices, ``training.model.LogMel``). ``model.int8.onnx`` quantises the
CNN only (static QDQ, per channel; the front end stays float, since quantising it ruins the log-mel) and becomes the default file when it is faster and within
``max_int8_drop`` of the float model's accuracy on the evaluation windows.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from assistant.registry import Registry
from assistant.student import FORMAT, MANIFEST, Student, file_sha256

log = logging.getLogger(__name__)


def update_manifest(model_dir: Path, change: Callable[[dict], None]) -> dict:
    """Apply ``change`` to the manifest of ``model_dir`` in place (written beside it, then renamed: a crash
    leaves the old or the new manifest, never half of one). Only unhashed entries may change (metrics,
    bars, file hashes it sets itself). Returns the new manifest."""
    path = model_dir / MANIFEST
    m = json.loads(path.read_text())
    change(m)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(m, indent=2, default=float))
    os.replace(tmp, path)
    return m


def fold_batchnorm(model):
    """An eval-mode copy with every Conv2d -> BatchNorm2d pair folded into one Conv2d (exact in float).

    Fewer nodes for ONNX Runtime, and convolutions that quantise as a whole in int8.
    """
    import copy

    import torch
    from torch import nn

    model = copy.deepcopy(model).eval()
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        mods = list(seq)
        for i in range(len(mods) - 1):
            conv, bn = mods[i], mods[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                  conv.padding, conv.dilation, conv.groups, bias=True)
                with torch.no_grad():
                    fused.weight.copy_(conv.weight * scale[:, None, None, None])
                    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
                    fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
                seq[i], seq[i + 1] = fused, nn.Identity()
    return model


def export_onnx(model, path: Path, window: int) -> None:
    """Write the float ONNX graph: input ``audio`` (B, window) float32, output ``logits`` (B, K)."""
    import onnx
    import torch

    model = fold_batchnorm(model)
    dummy = torch.zeros(1, window)
    with warnings.catch_warnings():  # the window is fixed per graph: its length checks are constants
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(model, (dummy,), str(path), input_names=["audio"], output_names=["logits"],
                          dynamic_axes={"audio": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                          dynamo=False)
    onnx.checker.check_model(onnx.load(str(path)))


def _quantisable(fp32: Path, out: Path) -> None:
    """Write ``fp32`` as the quantiser needs it: every node named (it excludes the front end by name) and
    every initializer dense - undoing :func:`compact`, so an exported (compacted) model can be quantised."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(fp32))
    g = m.graph
    used = {n.name for n in g.node}
    for i, node in enumerate(g.node):
        if not node.name:
            name = f"node{i}"
            while name in used:
                name += "_"
            node.name = name
            used.add(name)
    for sp in g.sparse_initializer:
        dense = np.zeros(int(np.prod(sp.dims)), np.float32)
        dense[numpy_helper.to_array(sp.indices).reshape(-1)] = numpy_helper.to_array(sp.values)
        g.initializer.append(numpy_helper.from_array(dense.reshape(tuple(sp.dims)), sp.values.name))
    del g.sparse_initializer[:]
    onnx.save(m, str(out))


def _frontend_nodes(path: Path) -> list[str]:
    """Names of the graph nodes that compute the log-mel (everything up to the first Log)."""
    import onnx

    graph = onnx.load(str(path)).graph
    names = []
    for node in graph.node:
        names.append(node.name)
        if node.op_type == "Log":
            break
    return names


def quantize_int8(fp32: Path, out: Path, calibration: np.ndarray, small: bool = True) -> None:
    """Static QDQ int8 of the CNN (per channel), the front end left in float. Activations are unsigned
    (u8 x s8, ONNX Runtime's fast x86 path: faster than s8 activations at the same agreement, though still
    slower than float on this CNN; docs/bench/bench.md). ``small``: then :func:`compact` it (about half
    the size, the same logits)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(calibration[i:i + 1] for i in range(len(calibration)))

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"audio": x.astype(np.float32)}

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs advice on the root logger
    try:
        with tempfile.TemporaryDirectory(prefix="quantise-") as tmp:  # per call: parallel exports never collide
            named = Path(tmp) / "named.onnx"
            _quantisable(fp32, named)
            quantize_static(str(named), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=_frontend_nodes(named))
    finally:
        root.setLevel(level)
    if small:
        compact(out)


def compact(path: Path) -> None:
    """Rewrite an ONNX file smaller, computing the same: tensor names shortened (the quantiser's long
    names were a third of the int8 file), node names and doc strings dropped, and mostly-zero float
    constants (the mel table) stored as sparse initializers, which ONNX Runtime densifies at load."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(path))
    g = m.graph
    keep = {i.name for i in g.input} | {o.name for o in g.output}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        return name if not name or name in keep else names.setdefault(name, format(len(names), "x"))

    for t in g.initializer:
        t.name = short(t.name)
    for node in g.node:
        node.name, node.doc_string = "", ""
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    del g.value_info[:]
    dense = []
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and a.size >= 1024 and np.count_nonzero(a) < a.size / 4:
            idx = np.flatnonzero(a).astype(np.int64)
            g.sparse_initializer.append(helper.make_sparse_tensor(
                numpy_helper.from_array(a.reshape(-1)[idx], t.name), numpy_helper.from_array(idx, t.name + "i"),
                list(a.shape)))
        else:
            dense.append(t)
    del g.initializer[:]
    g.initializer.extend(dense)
    m.doc_string = ""
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def latency_ms(session_path: Path, window: int, threads: int = 1, runs: int = 300) -> dict:
    """Per-window latency of an ONNX file at ``threads``: p50/p95/p99 in ms."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(session_path), opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, window)).astype(np.float32) * 0.1
    for _ in range(20):
        sess.run(None, {"audio": x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {"audio": x})
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)),
            "p99": float(np.percentile(times, 99))}


def _accuracy(path: Path, x: np.ndarray, truth: np.ndarray) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    pred = np.concatenate([sess.run(None, {"audio": x[i:i + 256]})[0].argmax(1) for i in range(0, len(x), 256)])
    return float(np.mean(pred == truth))


def build_model_dir(model, out_dir: Path, manifest: dict, calib_x: np.ndarray, eval_x: np.ndarray,
                    eval_targets: np.ndarray, max_int8_drop: float = 0.005) -> dict:
    """Export float + int8 (both compacted), choose the default file, write the manifest; returns the manifest dict.

    ``eval_targets`` are the class indices the int8 decision is judged against (the teacher's argmax
    on held-out speakers, so no human label decides anything here).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    window = manifest["frontend"]["window_seconds"] * manifest["frontend"]["sample_rate"]
    window = int(round(window))
    fp32, int8 = out_dir / "model.onnx", out_dir / "model.int8.onnx"
    export_onnx(model, fp32, window)
    from safetensors.torch import save_file

    weights = out_dir / "weights.safetensors"  # for torch benchmarks and fine-tuning; the runtime never reads it
    save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()},
              str(weights))  # float16 halves the shipped size
    weights.chmod(0o644)  # safetensors writes it private; a model directory is read by the runtime's user
    export: dict = {}
    try:
        quantize_int8(fp32, int8, calib_x)
    except Exception as e:  # noqa: BLE001 - int8 is optional; the float model still ships
        log.warning("int8 quantisation failed (%s); shipping float only", e)
        export["int8"] = {"error": str(e)}
        int8.unlink(missing_ok=True)
    compact(fp32)
    files = {"model.onnx": file_sha256(fp32), "weights.safetensors": file_sha256(weights)}
    export["fp32"] = {"bytes": fp32.stat().st_size, "latency_ms_1thread": latency_ms(fp32, window),
                      "agreement": _accuracy(fp32, eval_x, eval_targets) if len(eval_x) else None}
    default = "model.onnx"
    if int8.is_file():
        export["int8"] = {"bytes": int8.stat().st_size, "latency_ms_1thread": latency_ms(int8, window),
                          "agreement": _accuracy(int8, eval_x, eval_targets) if len(eval_x) else None}
        faster = export["int8"]["latency_ms_1thread"]["p50"] < export["fp32"]["latency_ms_1thread"]["p50"]
        close = (export["int8"]["agreement"] is None or
                 export["int8"]["agreement"] >= export["fp32"]["agreement"] - max_int8_drop)
        export["int8"]["chosen"] = bool(faster and close)
        if faster and close:
            default = "model.int8.onnx"
            files["model.int8.onnx"] = file_sha256(int8)
        else:  # int8 did not pay: ship the float model only (figures stay in the manifest)
            int8.unlink()
    manifest = {"format": FORMAT, **manifest, "files": files, "default_file": default, "export": export,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, default=float))
    Student(out_dir)  # refuse to register anything the runtime cannot load
    return manifest


def register(model, registry: Registry, name: str, manifest: dict, calib_x: np.ndarray, eval_x: np.ndarray,
             eval_targets: np.ndarray, promote: bool = True) -> Path:
    """Export into ``<root>/<name>/<new version>`` (built in a temp dir, then renamed) and promote it."""
    version = registry.next_version(name)
    final = registry.root / name / version
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=final.parent))
    try:
        build_model_dir(model, tmp, {**manifest, "name": name, "version": version}, calib_x, eval_x, eval_targets)
        tmp.chmod(0o755)  # mkdtemp makes it private
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if promote:
        registry.promote(name, version)
    return final

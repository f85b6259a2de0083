"""The on-device student: a self-describing model directory run by ONNX Runtime (numpy + onnxruntime only).

A model directory holds ``model.onnx`` (16 kHz float waveform (B, samples) in, logits (B, K) out; the
log-mel front end is inside the graph), optionally ``model.int8.onnx``, and ``manifest.json``: labels,
front end, architecture, teacher, data provenance, metrics and the sha256 of every file. Loading checks
all of it and refuses a corrupt or mismatched directory with one clear line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError
from .frontend import FrontEnd

MANIFEST = "manifest.json"
FORMAT = "voice-assistant-student/1"


@dataclass(frozen=True)
class Manifest:
    """What a model directory says about itself."""

    name: str
    version: str
    labels: tuple[str, ...]
    frontend: FrontEnd
    files: dict[str, str]
    """File name -> sha256."""
    default_file: str
    """The ONNX file the runtime loads by default (int8 when it paid off)."""
    extra: dict
    """Everything else: dims, teacher, data provenance, metrics, training settings."""

    @classmethod
    def read(cls, model_dir: Path) -> Manifest:
        """Parse and validate ``manifest.json``."""
        path = model_dir / MANIFEST
        if not path.is_file():
            raise ModelError(f"{model_dir}: no {MANIFEST}; not a student model directory")
        try:
            d = json.loads(path.read_text())
            if not isinstance(d, dict):
                raise TypeError("not a JSON object")
            if d.get("format") != FORMAT:
                raise ModelError(f"{model_dir}: manifest format {d.get('format')!r} is not {FORMAT!r}; "
                                 "retrain or update the assistant")
            fe = FrontEnd.from_dict(d["frontend"])
            labels = tuple(d["labels"])
            files = dict(d["files"])
            default = d["default_file"]
            if not isinstance(default, str) or not all(isinstance(x, str) for x in (*labels, *files)):
                raise TypeError("labels and file names must be text")
        except ModelError:
            raise
        except (ValueError, KeyError, TypeError) as e:
            raise ModelError(f"{model_dir}: manifest.json is damaged ({e}); re-export the model") from e
        if default not in files or not labels:
            raise ModelError(f"{model_dir}: manifest names no usable model file; re-export the model")
        extra = {k: v for k, v in d.items() if k not in ("frontend", "labels", "files", "default_file", "name", "version")}
        return cls(d.get("name", model_dir.parent.name), str(d.get("version", model_dir.name)), labels, fe, files,
                   default, extra)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Student:
    """ONNX Runtime session over one model directory; ``logits(windows)`` and ``probs(windows)``."""

    def __init__(self, model_dir: str | Path, *, file: str | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        self.dir = Path(model_dir)
        if not self.dir.is_dir():
            raise ModelError(f"{self.dir}: no such model directory")
        self.manifest = Manifest.read(self.dir)
        name = file or self.manifest.default_file
        if name not in self.manifest.files:
            raise ModelError(f"{self.dir}: {name} is not listed in the manifest")
        path = self.dir / name
        if not path.is_file():
            raise ModelError(f"{path}: missing; the model directory is incomplete, re-export or reinstall it")
        if file_sha256(path) != self.manifest.files[name]:
            raise ModelError(f"{path}: checksum does not match the manifest; the file is corrupt, re-export it")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelError(f"{path}: ONNX Runtime cannot load it ({str(e).splitlines()[0]})") from e
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        self.input_name = inp.name
        width = inp.shape[-1]
        if isinstance(width, int) and width != self.frontend.window_samples:
            raise ModelError(f"{path}: takes {width} samples but the manifest says "
                             f"{self.frontend.window_samples}; the directory is mismatched")
        n_out = out.shape[-1]
        if isinstance(n_out, int) and n_out != len(self.labels):
            raise ModelError(f"{path}: outputs {n_out} classes but the manifest lists {len(self.labels)} labels")
        self.file = name

    @property
    def labels(self) -> tuple[str, ...]:
        """Output labels in order."""
        return self.manifest.labels

    @property
    def frontend(self) -> FrontEnd:
        """Front-end settings (window length)."""
        return self.manifest.frontend

    def logits(self, windows: np.ndarray) -> np.ndarray:
        """(B, window samples) float32 at 16 kHz -> (B, K) logits."""
        x = np.ascontiguousarray(windows, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        return self.session.run(None, {self.input_name: x})[0]

    def probs(self, windows: np.ndarray) -> np.ndarray:
        """(B, window samples) -> (B, K) probabilities."""
        z = self.logits(windows)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

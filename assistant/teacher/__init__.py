"""The teacher: Whisper, from weights installed by pip, behind one small interface.

``load_teacher("tiny.en")`` gives the labelling backend (transformers on torch);
``load_teacher("tiny.en", backend="ctranslate2")`` the fast CPU one. Heavy libraries are imported only
when a backend is chosen.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError
from .base import Teacher, TeacherLabel, Transcript
from .posterior import Calibration, default_calibration

__all__ = ["Teacher", "TeacherLabel", "Transcript", "Calibration", "load_teacher", "BACKENDS"]

BACKENDS = ("transformers", "ctranslate2")
DEFAULT_MODEL = "tiny.en"
DEFAULT_MIN_SECONDS = 10.0


def load_teacher(model: str | Path = DEFAULT_MODEL, backend: str = "transformers", *,
                 calibration: Calibration | None = None, min_seconds: float | None = None,
                 threads: int | None = None, device: str | None = None,
                 compute_type: str = "float32") -> Teacher:
    """Load a teacher by model name (``tiny.en``, ``base``) or local Whisper directory; never uses the network."""
    from . import weights

    files = weights.resolve(model)
    secs = DEFAULT_MIN_SECONDS if min_seconds is None else float(min_seconds)
    if backend == "transformers":
        from .hf import HFTeacher

        cal = calibration or default_calibration(files.name, whole_phrase=True)
        return HFTeacher(files.name, weights.hf_checkpoint(files), cal, secs, device=device, threads=threads)
    if backend == "ctranslate2":
        if files.ct2_dir is None:
            raise ModelError(f"{model}: the ctranslate2 backend needs a CTranslate2 directory (model.bin); "
                             "use --backend transformers for a Hugging Face directory")
        from .ct2 import CT2Teacher

        cal = calibration or default_calibration(files.name, whole_phrase=False)
        return CT2Teacher(files.name, files.ct2_dir, cal, secs, threads=threads, compute_type=compute_type)
    raise ModelError(f"unknown teacher backend '{backend}': use one of {', '.join(BACKENDS)}")
